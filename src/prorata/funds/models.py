"""Funds and their commitments."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id

# Unconstrained NUMERIC keeps the scale it is given: amounts are quantized to their currency's
# minor unit before they are written, so they come back as "14.29", not "14.290000".
RATE = sa.Numeric()


class FundStatus(enum.StrEnum):
    raising = "raising"
    investing = "investing"
    harvesting = "harvesting"
    closed = "closed"


class FeeBasis(enum.StrEnum):
    committed = "committed"  # commitments during the investment period, invested cost after
    invested = "invested"  # invested cost throughout


class WaterfallStyle(enum.StrEnum):
    european = "european"
    american = "american"


class DayCount(enum.StrEnum):
    act_365 = "act/365"
    act_360 = "act/360"
    thirty_360 = "30/360"


class InterestTo(enum.StrEnum):
    """Who receives the equalization interest new investors pay at a subsequent close."""

    investors = "investors"  # the earlier investors, pro rata to their rebalancing returns
    fund = "fund"


class Fund(Base):
    __tablename__ = "funds"
    __table_args__ = (sa.UniqueConstraint("org_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    currency: Mapped[str] = mapped_column(sa.String(3))
    vintage_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    status: Mapped[FundStatus] = mapped_column(str_enum(FundStatus, "fund_status"))
    management_fee_rate: Mapped[Decimal] = mapped_column(RATE)
    management_fee_basis: Mapped[FeeBasis] = mapped_column(str_enum(FeeBasis, "fee_basis"))
    # After the investment period (null: `management_fee_rate` throughout).
    post_investment_period_fee_rate: Mapped[Decimal | None] = mapped_column(RATE)
    investment_period_end: Mapped[dt.date | None] = mapped_column(sa.Date)
    preferred_return_rate: Mapped[Decimal] = mapped_column(RATE)
    catch_up_share: Mapped[Decimal] = mapped_column(RATE)
    carry_share: Mapped[Decimal] = mapped_column(RATE)
    waterfall_style: Mapped[WaterfallStyle] = mapped_column(
        str_enum(WaterfallStyle, "waterfall_style")
    )
    # The preferred return's and interest's day count; fees have their own (30/360 by default).
    day_count: Mapped[DayCount] = mapped_column(str_enum(DayCount, "day_count"))
    fee_day_count: Mapped[DayCount] = mapped_column(
        str_enum(DayCount, "fee_day_count"), server_default="30/360"
    )
    notice_business_days: Mapped[int] = mapped_column(sa.SmallInteger)
    # The holidays business days skip (`prorata.finance.calendars`); None: weekdays only.
    holiday_calendar: Mapped[str | None] = mapped_column(sa.String(8))
    # Defaults: a line may be declared in default once `grace_days` business days (on the
    # holiday calendar) have passed after its due date; it then bears simple interest at
    # `default_interest_rate` (on `day_count`) from the due date.
    grace_days: Mapped[int] = mapped_column(sa.SmallInteger, server_default="10", default=10)
    default_interest_rate: Mapped[Decimal] = mapped_column(
        RATE, server_default="0", default=Decimal(0)
    )
    wire_instructions: Mapped[str | None] = mapped_column(sa.String(2000))
    # The late-payment and default provisions printed on call notices (the LPA's words).
    late_payment_terms: Mapped[str | None] = mapped_column(sa.String(2000))
    # Call notices wait for a second person's approval before they are mailed (four eyes).
    notices_need_approval: Mapped[bool] = mapped_column(server_default=sa.false())
    # Bumped by every change to commitments or unfunded capital (commitment, issue, cancel,
    # distribution): a draft call computed at the current version is still right at issue.
    # Subsequent closes: commitments made after the first closing date (None: the earliest
    # commitment's date) belong to a later closing, which equalizes them (`prorata.closings`).
    first_closing_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    equalization_rate: Mapped[Decimal] = mapped_column(RATE, server_default="0")
    # Carry settled (`prorata.carry`): the share of each carry payment held in escrow until
    # the clawback at wind-down, and the tax rate assumed paid on carry, netted from what the
    # GP itself gives back beyond the escrow.
    carry_holdback: Mapped[Decimal] = mapped_column(RATE, server_default="0", default=Decimal(0))
    clawback_tax_rate: Mapped[Decimal] = mapped_column(RATE, server_default="0", default=Decimal(0))
    equalization_interest_to: Mapped[InterestTo] = mapped_column(
        str_enum(InterestTo, "equalization_interest_to"), server_default="investors"
    )
    # The share of fee income from portfolio companies that reduces the management fee
    # (`management_fees.offsets`).
    fee_offset_rate: Mapped[Decimal] = mapped_column(RATE, server_default="0", default=Decimal(0))
    capital_version: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class Commitment(Base):
    """One investor's commitment to one fund (one row per pair; amend by PATCH in future)."""

    __tablename__ = "commitments"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "investor_id"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    committed_on: Mapped[dt.date] = mapped_column(sa.Date)
    # The GP's own commitment: called and distributed pro rata, but no management fee and no
    # carried interest on it. Side-letter terms: None = the fund's.
    general_partner: Mapped[bool] = mapped_column(server_default=sa.false(), default=False)
    management_fee_rate: Mapped[Decimal | None] = mapped_column(RATE)
    carry_share: Mapped[Decimal | None] = mapped_column(RATE)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
