"""API shapes of the fund's carry position and its clawback."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.funds.models import WaterfallStyle
from prorata.http.schemas import DecimalString, RateString, RequestModel

_MEASURE = (
    "What the GP would give back if the fund ended on `as_of` with no further proceeds: carry "
    "earned − the carry the fund's waterfall of all flows to date allows (European: the whole "
    "fund; American: deal by deal, realised losses and write-downs netted before carry; never "
    "more than carry × net profit), if positive, per investor; less what a booked clawback "
    "gave back."
)

_RELEASABLE = (
    "Escrow that may be paid to the GP before wind-down: escrow held − the interim clawback "
    "measure, if positive (per investor; 0 once the clawback is booked)."
)
_RECEIVABLE = "The clawback receivable still owed by the GP on `as_of` (net of the assumed tax)."


class ClawbackBook(RequestModel):
    as_of: dt.date = Field(
        description="The wind-down date: on or after the fund's last distribution."
    )


class ClawbackRepayment(RequestModel):
    date: dt.date = Field(description="The day the GP's cash is received and paid on.")
    amount: DecimalString = Field(
        description="What the GP repays: at most the clawback receivable outstanding."
    )


class EscrowRelease(RequestModel):
    date: dt.date = Field(
        description="The day of the release: on or after the fund's latest distribution and "
        "latest release."
    )
    amount: DecimalString | None = Field(
        default=None,
        description="At most the escrow releasable on `date` (escrow held − the interim "
        "clawback measure, per investor); default: all of it.",
    )


class CarryLineOut(BaseModel):
    investor_id: uuid.UUID
    carry_earned: DecimalString = Field(description="The GP's part of its distributions.")
    carry_paid: DecimalString = Field(description="Paid to the GP (net of any given back).")
    escrow_held: DecimalString = Field(description="Held in escrow from its carry.")
    entitled: DecimalString = Field(
        description="The carry the GP is entitled to on `as_of` (see `clawback`)."
    )
    clawback: DecimalString = Field(description=_MEASURE)
    releasable: DecimalString = Field(description=_RELEASABLE)
    receivable: DecimalString = Field(description=_RECEIVABLE)


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
    escrow_released: DecimalString = Field(
        description="Escrow paid to the GP before wind-down (`escrow/releases`) to `as_of`."
    )
    escrow_releasable: DecimalString = Field(description=_RELEASABLE)
    clawback_repaid: DecimalString = Field(
        description="Repaid by the GP of the clawback receivable (`clawback/repayments`), "
        "paid on to the investors, to `as_of`."
    )
    clawback_receivable: DecimalString = Field(description=_RECEIVABLE)
    lines: list[CarryLineOut] = Field(description="Per investor bearing carry.")
    booked: ClawbackBookedOut | None = Field(
        description="The clawback booked at wind-down (once per fund), if any."
    )
