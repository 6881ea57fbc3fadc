"""API shapes of capital calls (fields follow the ILPA capital call template where it applies)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from prorata.capital_calls.models import CallStatus, Purpose
from prorata.http.schemas import LABEL, DecimalString, RequestModel
from prorata.notices.models import NoticeRelease


class ItemIn(RequestModel):
    purpose: Purpose
    amount: DecimalString
    deal_id: uuid.UUID | None = Field(default=None, description="Required for `investment`.")
    excused_investor_ids: Annotated[list[uuid.UUID], Field(max_length=10_000)] = Field(
        default_factory=list
    )


class CallCreate(RequestModel):
    notice_date: dt.date
    due_date: dt.date | None = Field(
        default=None,
        description="Default and minimum: the fund's notice period in business days "
        "after the notice date (ILPA: 10).",
    )
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=20)]


class PaymentIn(RequestModel):
    investor_id: uuid.UUID
    amount: DecimalString
    received_on: dt.date


class PaymentReverseIn(RequestModel):
    reversed_on: dt.date
    reason: str = Field(
        min_length=1, max_length=500, pattern=LABEL, description="Why (a bounced wire, say)."
    )


class CallCloseIn(RequestModel):
    closed_on: dt.date = Field(
        description="The date of the release entries (on or after the notice date)."
    )


class DefaultIn(RequestModel):
    declared_on: dt.date = Field(
        description="The day the line is declared in default: after the due date plus the "
        "fund's grace days (business days on its holiday calendar)."
    )


class ShortfallIn(RequestModel):
    notice_date: dt.date
    due_date: dt.date | None = Field(
        default=None,
        description="Default and minimum: the fund's notice period in business days after the "
        "notice date.",
    )


class CreditRefundIn(RequestModel):
    amount: DecimalString
    refunded_on: dt.date


class PaymentOut(BaseModel):
    id: uuid.UUID
    investor_id: uuid.UUID
    amount: DecimalString = Field(description="What was received.")
    applied: DecimalString = Field(description="The part that paid the line.")
    interest: DecimalString = Field(
        default=Decimal(0),
        description="On a line in default: the part that paid default interest (first).",
    )
    credit: DecimalString = Field(
        description="The excess over what remained due: kept as the investor's credit."
    )
    distribution_id: uuid.UUID | None = Field(
        default=None,
        description="A set-off: the distribution whose cash, withheld from the investor, "
        "made this payment.",
    )
    received_on: dt.date
    reversed_on: dt.date | None
    reversal_reason: str | None


class CreditMovement(BaseModel):
    amount: DecimalString = Field(description="+ kept from an overpayment, − applied or refunded.")
    effective_on: dt.date
    source_type: str = Field(
        description="`payment` (an overpayment, or its reversal), `call_credit` (applied to "
        "a call) or `credit_refund`."
    )
    source_id: uuid.UUID


class CreditOut(BaseModel):
    fund_id: uuid.UUID
    investor_id: uuid.UUID
    currency: str
    balance: DecimalString
    movements: list[CreditMovement]


class ItemOut(BaseModel):
    id: uuid.UUID
    purpose: Purpose
    amount: DecimalString
    deal_id: uuid.UUID | None
    excused_investor_ids: list[uuid.UUID]


class LineOut(BaseModel):
    investor_id: uuid.UUID
    amounts: dict[Purpose, DecimalString]
    total: DecimalString
    paid: DecimalString = Field(description="Cash received for the line (net of reversals).")
    credit_applied: DecimalString = Field(
        description="The investor's earlier credit applied when the call was issued."
    )
    released: DecimalString = Field(
        description="The unpaid rest released when the call was closed (no longer due)."
    )
    outstanding: DecimalString = Field(description="total − credit_applied − paid − released.")
    credit_kept: DecimalString = Field(
        description="What this line's payments brought beyond what was due: kept as credit."
    )
    defaulted_on: dt.date | None = Field(
        default=None, description="The day the line was declared in default (null: it is not)."
    )
    cured_on: dt.date | None = Field(
        default=None, description="In default: the day its line and interest were fully paid."
    )
    default_interest: DecimalString | None = Field(
        default=None,
        description="In default: the default interest accrued from the due date to the view's "
        "date (`as_of`, today by default) on what was unpaid.",
    )
    default_interest_paid: DecimalString | None = Field(
        default=None, description="In default: the part of `default_interest` paid by then."
    )
    default_interest_due: DecimalString | None = Field(
        default=None, description="In default: default_interest − default_interest_paid."
    )
    payments: list[PaymentOut]


class CallOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    number: int | None = Field(
        description="The call's number in its fund (Capital Call No. 4), given when it is "
        "issued; null for a draft."
    )
    status: CallStatus
    notice_date: dt.date
    due_date: dt.date
    amount: DecimalString
    currency: str
    items: list[ItemOut]
    lines: list[LineOut]
    created_at: dt.datetime
    issued_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    issued_by: uuid.UUID | None
    notices: NoticeRelease | None = Field(
        description="Whether the notices may be mailed: `not_required` (the fund needs no "
        "approval), `awaiting_approval`, `scheduled` (for `notices_send_at`) or `released`; "
        "null for a draft."
    )
    notices_approved_by: uuid.UUID | None
    notices_approved_at: dt.datetime | None
    notices_send_at: dt.datetime | None
    notices_sent_at: dt.datetime | None = Field(
        description="When every notice's e-mail had been sent or given up (`notices.sent`)."
    )
    closed_on: dt.date | None = Field(
        default=None, description="Closed out: the date its unpaid rest was released."
    )
    shortfall_of: uuid.UUID | None = Field(
        default=None,
        description="A shortfall call: the call whose defaulted amount it calls from the "
        "non-defaulting investors (pro rata to their unfunded commitments).",
    )
    as_of: dt.date | None = Field(
        default=None, description="The date the lines' default interest is accrued to."
    )
    payment: PaymentOut | None = Field(
        default=None, description="The payment just recorded or reversed (in that response)."
    )


class CallSummary(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    status: CallStatus
    notice_date: dt.date
    due_date: dt.date
    amount: DecimalString
    created_at: dt.datetime
