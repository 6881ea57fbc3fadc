"""API shapes of valuations."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from prorata.http.schemas import DecimalString, RequestModel, ResponseModel


class ValuationCreate(RequestModel):
    as_of: dt.date
    nav: DecimalString = Field(description="Net asset value of the whole fund on `as_of`.")


class ValuationOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    as_of: dt.date
    nav: DecimalString
    created_at: dt.datetime
