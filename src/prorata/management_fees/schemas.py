"""API shape of a management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.funds.models import FeeBasis
from prorata.http.schemas import DecimalString, RateString


class FeePartOut(BaseModel):
    period_from: dt.date = Field(serialization_alias="from")
    period_to: dt.date = Field(serialization_alias="to")
    basis: FeeBasis
    basis_amount: DecimalString
    rate: RateString
    fraction: str = Field(
        description='30/360 year fraction of the part, `to` inclusive: "0.25", or "1/12" when '
        "it has no finite decimal."
    )
    amount: DecimalString


class FeeLineOut(BaseModel):
    investor_id: uuid.UUID
    amount: DecimalString


class ManagementFeeOut(BaseModel):
    fund_id: uuid.UUID
    currency: str
    period_from: dt.date = Field(serialization_alias="from")
    period_to: dt.date = Field(serialization_alias="to")
    amount: DecimalString
    parts: list[FeePartOut]
    lines: list[FeeLineOut] = Field(description="Split across investors by commitment.")
