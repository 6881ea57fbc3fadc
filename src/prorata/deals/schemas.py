"""API shapes of deals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field

from prorata.deals.models import DealStatus
from prorata.http.schemas import LABEL, DecimalString, RequestModel, ResponseModel

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]
Instrument = Annotated[str, Field(min_length=1, max_length=100, pattern=LABEL)]


class DealCreate(RequestModel):
    name: Name
    company: Name | None = None
    instrument: Instrument | None = None
    invested_amount: DecimalString | None = None
    invested_on: dt.date | None = None
    status: DealStatus = DealStatus.open


class DealUpdate(RequestModel):
    name: Name | None = None
    company: Name | None = None
    instrument: Instrument | None = None
    invested_amount: DecimalString | None = None
    invested_on: dt.date | None = None
    status: DealStatus | None = None


class DealOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    name: str
    company: str | None
    instrument: str | None
    invested_amount: DecimalString | None
    invested_on: dt.date | None
    status: DealStatus
    created_at: dt.datetime
