"""API shape of a management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.funds.models import DayCount, FeeBasis
from prorata.http.schemas import DecimalString, RateString


class FeePartOut(BaseModel):
    """Days over which the basis and the rate are constant."""

    period_from: dt.date = Field(serialization_alias="from")
    period_to: dt.date = Field(serialization_alias="to")
    basis: FeeBasis
    basis_amount: DecimalString
    rate: RateString
    fraction: str = Field(
        description="Year fraction of the part under the fund's day count, `to` inclusive: "
        '"0.25", or "1/12" when it has no finite decimal.'
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
    day_count: DayCount = Field(description="The fund's day count, by which the days are weighed.")
    amount: DecimalString = Field(
        description="Σ over the parts of rate × basis × fraction, rounded once: any cut of the "
        "period into two adds up to it before rounding."
    )
    parts: list[FeePartOut]
    lines: list[FeeLineOut] = Field(
        description="Split across investors by commitment, each from the day it committed."
    )
