"""Fee income the GP receives from portfolio companies, and fees the GP waives."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id


class FeeIncomeKind(enum.StrEnum):
    transaction = "transaction"
    monitoring = "monitoring"
    director = "director"
    other = "other"


class FeeIncome(Base):
    """A fee a portfolio company paid the GP (or its affiliates) on `date`: the fund's
    `fee_offset_rate` of it reduces the management fee (`management_fees.offsets`)."""

    __tablename__ = "fee_income"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
        sa.Index("ix_fee_income_fund_id_date", "fund_id", "date"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    date: Mapped[dt.date] = mapped_column(sa.Date)
    kind: Mapped[FeeIncomeKind] = mapped_column(str_enum(FeeIncomeKind, "fee_income_kind"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    # The fund's `fee_offset_rate` when it was recorded: its credit stays what it was when
    # the term changes later (fees already called keep the rate they were reduced at).
    offset_rate: Mapped[Decimal] = mapped_column(sa.Numeric())
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class FeeWaiver(Base):
    """Part of the management fee of `period_start` .. `period_end` the GP forgoes."""

    __tablename__ = "fee_waivers"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.Index("ix_fee_waivers_fund_id_period_start", "fund_id", "period_start"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
        sa.CheckConstraint("period_start <= period_end", name="ordered_period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class FeeCancellation(Base):
    """A fee income, a fee waiver or a fee call made by mistake, cancelled (once): the row
    stays, it no longer counts (append-only, as the ledger)."""

    __tablename__ = "fee_cancellations"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["fee_income_id"], ["fee_income.id"]),
        sa.ForeignKeyConstraint(["fee_waiver_id"], ["fee_waivers.id"]),
        sa.UniqueConstraint("fee_income_id"),
        sa.ForeignKeyConstraint(["fee_call_id"], ["fee_calls.id"]),
        sa.UniqueConstraint("fee_waiver_id"),
        sa.UniqueConstraint("fee_call_id"),
        sa.CheckConstraint(
            "num_nonnulls(fee_income_id, fee_waiver_id, fee_call_id) = 1", name="one_of"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    fee_income_id: Mapped[uuid.UUID | None] = mapped_column()
    fee_waiver_id: Mapped[uuid.UUID | None] = mapped_column()
    fee_call_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str] = mapped_column(sa.String(500))
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class FeeCall(Base):
    """A period's management fee called from the fee calculation: the figures it was called
    at, and its capital call (None when offsets and waivers left nothing to call). A fee call
    counts until it is cancelled (`FeeCancellation`) or its capital call is."""

    __tablename__ = "fee_calls"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.UniqueConstraint("call_id"),
        sa.Index("ix_fee_calls_fund_id_period_end", "fund_id", "period_end"),
        sa.CheckConstraint("period_start <= period_end", name="ordered_period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID | None] = mapped_column()
    period_start: Mapped[dt.date] = mapped_column(sa.Date)
    period_end: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    waived: Mapped[Decimal] = mapped_column(MONEY)
    offset: Mapped[Decimal] = mapped_column(MONEY)
    carried_forward: Mapped[Decimal] = mapped_column(MONEY)
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )

    @property
    def net_amount(self) -> Decimal:
        """What was called: the fee less the waivers and the offset."""
        return self.amount - self.waived - self.offset
