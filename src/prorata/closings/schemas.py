"""API shapes of subsequent closes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from pydantic import BaseModel, Field

from prorata.capital_calls.models import Purpose
from prorata.closings.models import ClosingStatus
from prorata.funds.models import InterestTo
from prorata.http.schemas import DecimalString, RateString, RequestModel


class ClosingCreate(RequestModel):
    closing_date: dt.date = Field(
        description="Commitments made after the previous closing (the fund's first closing "
        "date for the first subsequent close) and on or before this date are equalized."
    )
    due_date: dt.date | None = Field(
        default=None,
        description="When the new investors pay and the earlier ones are paid back. Default "
        "and minimum: the fund's notice period in business days after the closing date.",
    )


class Role(enum.StrEnum):
    new = "new"  # committed at this closing
    earlier = "earlier"  # committed at an earlier one


class ClosingItemOut(BaseModel):
    """One investor's part of one earlier call's item: + paid (equalization), − paid back
    (rebalancing return)."""

    call_id: uuid.UUID
    item_id: uuid.UUID
    purpose: Purpose
    deal_id: uuid.UUID | None
    amount: DecimalString


class ClosingLineOut(BaseModel):
    investor_id: uuid.UUID
    role: Role
    commitment: DecimalString
    equalization: dict[Purpose, DecimalString] = Field(
        description="A new investor's share of the earlier calls, by purpose."
    )
    fee_catch_up: DecimalString = Field(
        description="A new investor's management fee from the first closing date to the "
        "closing date (its own rate; none for the GP's commitment)."
    )
    interest_paid: DecimalString
    rebalancing_return: dict[Purpose, DecimalString] = Field(
        description="An earlier investor's excess contribution paid back, by purpose (it "
        "restores its unfunded commitment)."
    )
    interest_received: DecimalString
    total_due: DecimalString = Field(
        description="What the investor pays: equalization + fee catch-up + interest."
    )
    total_returned: DecimalString = Field(
        description="What the investor is paid: rebalancing return + interest received."
    )
    items: list[ClosingItemOut]


class ClosingOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    number: int | None = Field(description="Subsequent close No. n, given at issue.")
    status: ClosingStatus
    previous_closing_date: dt.date = Field(
        description="Commitments made after this date (and by closing_date) are new."
    )
    closing_date: dt.date
    due_date: dt.date
    currency: str
    equalization_rate: RateString
    interest_to: InterestTo
    equalization: DecimalString = Field(description="Σ the new investors' equalization.")
    fee_catch_up: DecimalString
    interest: DecimalString = Field(description="Σ interest paid (= Σ received).")
    interest_to_fund: DecimalString
    rebalancing_return: DecimalString = Field(description="Σ paid back: = equalization.")
    call_id: uuid.UUID | None = Field(
        description="The capital call that asks the new investors for their equalization and "
        "fee catch-up (issued with the closing)."
    )
    lines: list[ClosingLineOut]
    created_at: dt.datetime
    issued_at: dt.datetime | None
    issued_by: uuid.UUID | None


class ClosingSummary(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    number: int | None
    status: ClosingStatus
    previous_closing_date: dt.date
    closing_date: dt.date
    due_date: dt.date
    call_id: uuid.UUID | None
    created_at: dt.datetime
