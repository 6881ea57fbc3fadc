"""API shapes of the fund's carry position and its clawback."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.funds.models import WaterfallStyle
from prorata.http.schemas import DecimalString, RateString, RequestModel

_MEASURE = (
    "What the GP would give back if the fund ended on `as_of` with no further proceeds: carry "
    "earned − the carry a whole-fund waterfall of all flows to date allows (never more than "
    "carry × net profit), if positive, per investor; less what a booked clawback gave back."
)


class ClawbackBook(RequestModel):
    as_of: dt.date = Field(
        description="The wind-down date: on or after the fund's last distribution."
    )


class CarryLineOut(BaseModel):
    investor_id: uuid.UUID
    carry_earned: DecimalString = Field(description="The GP's part of its distributions.")
    carry_paid: DecimalString = Field(description="Paid to the GP (net of any given back).")
    escrow_held: DecimalString = Field(description="Held in escrow from its carry.")
    entitled: DecimalString = Field(description="The carry a whole-fund waterfall allows.")
    clawback: DecimalString = Field(description=_MEASURE)


class BookedLineOut(BaseModel):
    investor_id: uuid.UUID
    owed: DecimalString
    from_escrow: DecimalString = Field(description="Escrow released to the investor (cash).")
    escrow_to_gp: DecimalString = Field(description="Escrow left over, paid to the GP.")
    gp_owes: DecimalString = Field(description="owed − from_escrow, before the assumed tax.")
    receivable: DecimalString = Field(description="gp_owes × (1 − tax rate): due from the GP.")


class ClawbackBookedOut(BaseModel):
    id: uuid.UUID
    as_of: dt.date
    owed: DecimalString
    from_escrow: DecimalString
    escrow_to_gp: DecimalString
    gp_owes: DecimalString
    tax_rate: RateString
    receivable: DecimalString
    created_at: dt.datetime
    made_by: uuid.UUID | None
    lines: list[BookedLineOut]


class CarryOut(BaseModel):
    fund_id: uuid.UUID
    as_of: dt.date
    currency: str
    waterfall_style: WaterfallStyle
    carry_holdback: RateString
    clawback_tax_rate: RateString
    carry_earned: DecimalString = Field(description="Σ the GP parts of distributions to date.")
    carry_paid: DecimalString = Field(
        description="Paid to the GP (carry earned − escrow held − given back)."
    )
    carry_escrowed: DecimalString = Field(description="Held in escrow on `as_of`.")
    given_back: DecimalString = Field(
        description="Given back by a booked clawback on or before `as_of` (escrow released to "
        "the investors + owed by the GP before tax)."
    )
    clawback: DecimalString = Field(description=_MEASURE)
    lines: list[CarryLineOut] = Field(description="Per investor bearing carry.")
    booked: ClawbackBookedOut | None = Field(
        description="The clawback booked at wind-down (once per fund), if any."
    )
