"""API shapes of funds and commitments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from prorata.finance import calendars
from prorata.funds.models import DayCount, FeeBasis, FundStatus, InterestTo, WaterfallStyle
from prorata.http.schemas import (
    LABEL,
    NO_CONTROL,
    Currency,
    DecimalString,
    RateString,
    RequestModel,
    ResponseModel,
)

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]
Year = Annotated[int, Field(ge=1900, le=2200)]
NoticeDays = Annotated[int, Field(ge=1, le=60)]
GraceDays = Annotated[int, Field(ge=0, le=120)]
Wire = Annotated[str, Field(max_length=2000, pattern=NO_CONTROL)]
_LATE = "Late-payment and default provisions, printed on call notices (the LPA's words)."


_CALENDAR = (
    "The holidays business days skip (due dates, notice periods): a country (`US`, `GB`, `DE`, "
    "…) or a market (`NYSE`, `ECB`, …); null: weekdays only."
)
HolidayCalendar = Annotated[
    str,
    AfterValidator(calendars.check_calendar),
    Field(description=_CALENDAR, json_schema_extra={"enum": sorted(calendars.supported())}),
]


_GRACE = (
    "Business days after a call's due date (on the holiday calendar) before an unpaid line may "
    "be declared in default."
)
_DEFAULT_RATE = (
    "Annual simple interest a line in default bears on its unpaid amount from the due date "
    "(on `day_count`); 0: none."
)
_FIRST_CLOSE = (
    "The fund's first closing date: commitments made after it belong to a later closing, "
    "equalized by POST /funds/{fund_id}/closings; null: the earliest commitment's date."
)
_EQ_RATE = (
    "Annual rate of the equalization interest a later closer pays (simple, on the fund's "
    "day_count), from each earlier call's due date to the closing's due date."
)
_EQ_TO = (
    "Who receives the equalization interest: the earlier investors (pro rata to their "
    "rebalancing returns) or the fund."
)
_HOLDBACK = (
    "Share of each carry payment held in escrow until the clawback at wind-down (0.25: a "
    "quarter of the GP's carry is held back)."
)
_CLAWBACK_TAX = (
    "Tax rate assumed paid by the GP on its carry: what the GP owes back beyond the escrow "
    "at the clawback is net of it."
)
_DAYS = "How days are counted for the preferred return and interest."
_OFFSET = (
    "Share (0 to 1) of the fee income the GP receives from portfolio companies (transaction, "
    "monitoring, director fees) that reduces the management fee; the excess over a period's "
    "fee is carried forward."
)
_FEE_DAYS = (
    "How days are counted for the management fee: 30/360 (a quarter is a quarter of the annual "
    "fee), or act/365 or act/360 (a quarter is its 90 to 92 days)."
)


class FundCreate(RequestModel):
    name: Name
    currency: Currency
    vintage_year: Year | None = None
    status: FundStatus = FundStatus.raising
    management_fee_rate: RateString = Decimal("0.02")
    management_fee_basis: FeeBasis = FeeBasis.committed
    post_investment_period_fee_rate: RateString | None = Field(
        default=None,
        description="Annual fee rate after the investment period; null: management_fee_rate.",
    )
    investment_period_end: dt.date | None = None
    preferred_return_rate: RateString = Decimal("0.08")
    catch_up_share: RateString = Decimal("1")
    carry_share: RateString = Decimal("0.20")
    waterfall_style: WaterfallStyle = WaterfallStyle.european
    day_count: DayCount = Field(default=DayCount.act_365, description=_DAYS)
    fee_day_count: DayCount = Field(default=DayCount.thirty_360, description=_FEE_DAYS)
    fee_offset_rate: RateString = Field(default=Decimal(0), description=_OFFSET)
    notice_business_days: NoticeDays = Field(
        default=10, description="Minimum days between notice and due date (ILPA: 10)."
    )
    holiday_calendar: HolidayCalendar | None = None
    grace_days: GraceDays = Field(default=10, description=_GRACE)
    default_interest_rate: RateString = Field(default=Decimal(0), description=_DEFAULT_RATE)
    wire_instructions: Wire | None = None
    late_payment_terms: Wire | None = Field(default=None, description=_LATE)
    first_closing_date: dt.date | None = Field(default=None, description=_FIRST_CLOSE)
    equalization_rate: RateString = Field(default=Decimal(0), description=_EQ_RATE)
    carry_holdback: RateString = Field(default=Decimal(0), description=_HOLDBACK)
    clawback_tax_rate: RateString = Field(default=Decimal(0), description=_CLAWBACK_TAX)
    equalization_interest_to: InterestTo = Field(default=InterestTo.investors, description=_EQ_TO)
    notices_need_approval: bool = Field(
        default=True,
        description="Call notices are mailed only once an admin other than the one who issued "
        "the call approves them (or schedules them).",
    )


class FundUpdate(RequestModel):
    """Every field but the currency (amounts already recorded are in it)."""

    name: Name | None = None
    vintage_year: Year | None = None
    status: FundStatus | None = None
    management_fee_rate: RateString | None = None
    management_fee_basis: FeeBasis | None = None
    post_investment_period_fee_rate: RateString | None = None
    investment_period_end: dt.date | None = None
    preferred_return_rate: RateString | None = None
    catch_up_share: RateString | None = None
    carry_share: RateString | None = None
    waterfall_style: WaterfallStyle | None = None
    day_count: DayCount | None = None
    fee_day_count: DayCount | None = None
    fee_offset_rate: RateString | None = Field(default=None, description=_OFFSET)
    notice_business_days: NoticeDays | None = None
    holiday_calendar: HolidayCalendar | None = None
    grace_days: GraceDays | None = Field(default=None, description=_GRACE)
    default_interest_rate: RateString | None = Field(default=None, description=_DEFAULT_RATE)
    wire_instructions: Wire | None = None
    late_payment_terms: Wire | None = Field(default=None, description=_LATE)
    notices_need_approval: bool | None = None
    first_closing_date: dt.date | None = Field(default=None, description=_FIRST_CLOSE)
    equalization_rate: RateString | None = Field(default=None, description=_EQ_RATE)
    carry_holdback: RateString | None = Field(default=None, description=_HOLDBACK)
    clawback_tax_rate: RateString | None = Field(default=None, description=_CLAWBACK_TAX)
    equalization_interest_to: InterestTo | None = Field(default=None, description=_EQ_TO)


class FundOut(ResponseModel):
    id: uuid.UUID
    name: str
    currency: str
    vintage_year: int | None
    status: FundStatus
    management_fee_rate: RateString
    management_fee_basis: FeeBasis
    post_investment_period_fee_rate: RateString | None
    investment_period_end: dt.date | None
    preferred_return_rate: RateString
    catch_up_share: RateString
    carry_share: RateString
    waterfall_style: WaterfallStyle
    day_count: DayCount = Field(description=_DAYS)
    fee_day_count: DayCount = Field(description=_FEE_DAYS)
    fee_offset_rate: RateString = Field(description=_OFFSET)
    notice_business_days: int
    holiday_calendar: str | None = Field(description=_CALENDAR)
    grace_days: int = Field(description=_GRACE)
    default_interest_rate: RateString = Field(description=_DEFAULT_RATE)
    wire_instructions: str | None
    late_payment_terms: str | None = Field(description=_LATE)
    notices_need_approval: bool
    first_closing_date: dt.date | None = Field(description=_FIRST_CLOSE)
    equalization_rate: RateString = Field(description=_EQ_RATE)
    carry_holdback: RateString = Field(description=_HOLDBACK)
    clawback_tax_rate: RateString = Field(description=_CLAWBACK_TAX)
    equalization_interest_to: InterestTo = Field(description=_EQ_TO)
    created_at: dt.datetime


_GP = (
    "The GP's own commitment: called and distributed pro rata like any other, but charged no "
    "management fee and no carried interest on its own capital."
)
_SIDE_FEE = "Side-letter management fee rate for this investor (null: the fund's rate)."
_SIDE_CARRY = "Side-letter carried-interest share for this investor (null: the fund's)."


class CommitmentCreate(RequestModel):
    investor_id: uuid.UUID
    amount: DecimalString
    committed_on: dt.date
    general_partner: bool = Field(default=False, description=_GP)
    management_fee_rate: RateString | None = Field(default=None, description=_SIDE_FEE)
    carry_share: RateString | None = Field(default=None, description=_SIDE_CARRY)


class CommitmentTermsUpdate(RequestModel):
    """The commitment's own terms (a side letter); only the fields sent change."""

    general_partner: bool | None = Field(default=None, description=_GP)
    management_fee_rate: RateString | None = Field(default=None, description=_SIDE_FEE)
    carry_share: RateString | None = Field(default=None, description=_SIDE_CARRY)


class CommitmentOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    investor_id: uuid.UUID
    amount: DecimalString
    committed_on: dt.date
    general_partner: bool = Field(description=_GP)
    management_fee_rate: RateString | None = Field(description=_SIDE_FEE)
    carry_share: RateString | None = Field(description=_SIDE_CARRY)
    called: DecimalString = Field(
        description="Capital called (net of cancelled calls and releases)."
    )
    contributed: DecimalString = Field(
        description="Contributed capital: the cash received for called lines (`called` − "
        "`contributed` is still receivable)."
    )
    distributed: DecimalString
    recallable: DecimalString = Field(description="The recallable part of `distributed`.")
    unfunded: DecimalString
