"""API shape of a management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.funds.models import DayCount, FeeBasis
from prorata.http.schemas import LABEL, DecimalString, RateString, RequestModel, ResponseModel
from prorata.management_fees.models import FeeIncomeKind


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
    amount: DecimalString = Field(description="The investor's fee before offsets and waivers.")
    offset: DecimalString = Field(description="Its part of the period's offset.")
    waived: DecimalString = Field(description="Its part of the period's waivers.")
    net: DecimalString = Field(description="amount − offset − waived: what it owes.")


class FeeReductionOut(BaseModel):
    """How offsets and waivers reduce the period's fee (fees are charged by calendar quarter:
    the offset carried in is computed over the consecutive quarters before `from`)."""

    fee_offset_rate: RateString
    fee_income: DecimalString = Field(description="Fee income dated in the period.")
    carried_in: DecimalString = Field(description="Offset carried forward from earlier periods.")
    credit: DecimalString = Field(
        description="fee_offset_rate × each fee income dated in the period, each rounded."
    )
    waived: DecimalString = Field(description="The period's waivers, at most the fee.")
    offset: DecimalString = Field(
        description="min(fee − waived, carried_in + credit): the offset applied."
    )
    carried_forward: DecimalString = Field(
        description="carried_in + credit − offset: carried to the next period."
    )


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
    reduction: FeeReductionOut
    net_amount: DecimalString = Field(description="amount − waived − offset, never below zero.")
    lines: list[FeeLineOut] = Field(
        description="Split across investors by commitment, each from the day it committed; "
        "the offset and the waiver split over them in proportion to their fees (the GP's own "
        "commitment pays no fee and gets no part)."
    )
    called: list[CalledFeeOut] = Field(
        description="The fee calls that count whose period overlaps this one, oldest first, "
        "with the figures they were called at. The figures above are recomputed now on the "
        "fund's current terms and records; a fee call keeps what it called (see `differs`)."
    )


class FeeIncomeCreate(RequestModel):
    date: dt.date = Field(
        description="The day the GP received it: not after today, not before 1 January of "
        "the fund's vintage year."
    )
    deal_id: uuid.UUID | None = Field(default=None, description="The portfolio company's deal.")
    kind: FeeIncomeKind
    amount: DecimalString


class FeeIncomeOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    deal_id: uuid.UUID | None
    date: dt.date
    kind: FeeIncomeKind
    amount: DecimalString
    offset_rate: RateString = Field(
        description="The fund's fee_offset_rate when it was recorded: its credit is this rate "
        "× amount, whatever the term says later."
    )
    cancelled: bool = Field(default=False, description="Cancelled: it no longer counts.")
    created_at: dt.datetime


class FeeWaiverCreate(RequestModel):
    period_start: dt.date
    period_end: dt.date = Field(description="Within the calendar quarter of period_start.")
    amount: DecimalString = Field(description="The part of the period's fee the GP forgoes.")


class FeeWaiverOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    period_start: dt.date
    period_end: dt.date
    amount: DecimalString
    cancelled: bool = Field(default=False, description="Cancelled: it no longer counts.")
    created_at: dt.datetime


class FeeCancel(RequestModel):
    reason: str = Field(
        min_length=1, max_length=500, pattern=LABEL, description="Why (recorded by mistake)."
    )


class FeeCancellationOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    fee_income_id: uuid.UUID | None
    fee_waiver_id: uuid.UUID | None
    fee_call_id: uuid.UUID | None
    reason: str
    created_at: dt.datetime


class FeeCallCreate(RequestModel):
    period_start: dt.date
    period_end: dt.date = Field(description="Within the calendar quarter of period_start.")
    notice_date: dt.date
    due_date: dt.date | None = Field(
        default=None,
        description="Default and minimum: the fund's notice period in business days after "
        "the notice date.",
    )


class FeeCallOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    call_id: uuid.UUID | None = Field(
        description="The issued capital call of the net fees (one management_fee item); null "
        "when offsets and waivers left nothing to call."
    )
    period_start: dt.date
    period_end: dt.date
    amount: DecimalString = Field(description="The period's fee before offsets and waivers.")
    waived: DecimalString
    offset: DecimalString
    net_amount: DecimalString = Field(description="amount − waived − offset: what was called.")
    carried_forward: DecimalString = Field(description="The offset left for the next periods.")
    cancelled: bool = Field(
        default=False,
        description="Cancelled, or its capital call was: it no longer counts (its period may "
        "be called again).",
    )
    created_at: dt.datetime


class FeeCallLineOut(BaseModel):
    investor_id: uuid.UUID
    net: DecimalString = Field(
        description="Its management_fee line in the capital call: its fee less its parts of "
        "the offset and the waivers, as called."
    )


class FeeCallDetailOut(FeeCallOut):
    lines: list[FeeCallLineOut] = Field(
        description="Each investor called, as called (none when nothing was called)."
    )


class CalledFeeOut(FeeCallDetailOut):
    """A standing fee call whose period overlaps the calculation's."""

    differs: bool | None = Field(
        description="For a fee call of exactly the calculation's period: whether the fee "
        "recomputed now (amount, waived, offset, carried_forward, an investor's net) differs "
        "from what was called — the call keeps what was called. Null for a fee call of "
        "another period (the figures are not comparable)."
    )


ManagementFeeOut.model_rebuild()  # `called` names a model defined after it
