"""API shapes of fund metrics."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from prorata.http.schemas import DecimalString

# A computed figure (multiple, rate): a decimal string with up to 10 decimals.
Figure = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,10})?$"}),
]


class MetricsOut(BaseModel):
    fund_id: uuid.UUID
    investor_id: uuid.UUID | None
    as_of: dt.date
    currency: str
    committed: DecimalString = Field(
        description="Commitments: the fund's total, or the investor's commitment."
    )
    called: DecimalString = Field(
        description="Capital called up to `as_of`: what issued calls asked for (paid or not)."
    )
    paid_in: DecimalString
    distributions: DecimalString
    nav: DecimalString
    nav_as_of: dt.date | None = Field(description="Date of the valuation used (latest ≤ as_of).")
    dpi: Figure | None
    rvpi: Figure | None
    tvpi: Figure | None
    irr: Figure | None = Field(description="XIRR, ACT/365; null without a sign change.")
