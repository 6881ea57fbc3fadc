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
