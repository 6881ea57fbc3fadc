"""Capital calls, their itemised purposes, per-investor lines (partitioned) and payments."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prorata.notices.models import ReleasedNotices
from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id


class CallStatus(enum.StrEnum):
    draft = "draft"
    issued = "issued"
    partially_paid = "partially_paid"
    paid = "paid"
    cancelled = "cancelled"


class Purpose(enum.StrEnum):
    investment = "investment"
    management_fee = "management_fee"
    fund_expenses = "fund_expenses"


class CapitalCall(ReleasedNotices, Base):
    """A capital call; its notices' release (`notices`, None while a draft) is
    `prorata.notices`'."""

    __tablename__ = "capital_calls"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "id"),
        sa.UniqueConstraint("fund_id", "number"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    # "Capital Call No. 4": the fund's calls numbered 1, 2, … as they are issued (under the
    # fund's row lock); a draft has none, so a discarded draft leaves no gap.
    number: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"))
    notice_date: Mapped[dt.date] = mapped_column(sa.Date)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    issued_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The fund's capital_version the lines were computed at (see Fund.capital_version).
    lines_version: Mapped[int | None] = mapped_column(sa.BigInteger)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    issued_by: Mapped[uuid.UUID | None] = mapped_column()


class CallItem(Base):
    __tablename__ = "capital_call_items"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID] = mapped_column()
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "call_purpose"))
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    excused_investor_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(sa.Uuid()))


class CallLine(Base):
    """One investor's amount for one item of a call."""

    __tablename__ = "capital_call_lines"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        {"postgresql_partition_by": "HASH (fund_id)"},
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "call_purpose"))
    amount: Mapped[Decimal] = mapped_column(MONEY)


class Payment(Base):
    __tablename__ = "capital_call_payments"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_capital_call_payments_call_id", "call_id"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    received_on: Mapped[dt.date] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
