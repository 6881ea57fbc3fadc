"""Subsequent closes and their equalization lines."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.capital_calls.models import Purpose
from prorata.funds.models import RATE, InterestTo
from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id

# Ledger source type of a closing's own entries (source_id: the closing's id): the rebalancing
# returns (contribution −x, payment −x) and the equalization interest.
SOURCE = "closing"


class ClosingStatus(enum.StrEnum):
    draft = "draft"
    issued = "issued"


class LineKind(enum.StrEnum):
    """What one line of a closing is; every amount is stored positive, its kind says who pays."""

    equalization = "equalization"  # a new investor pays its share of an earlier call's item
    fee_catch_up = "fee_catch_up"  # a new investor pays its management fee since first close
    rebalancing = "rebalancing"  # an earlier investor is paid back its excess of an item
    interest_paid = "interest_paid"  # a new investor pays equalization interest
    interest_received = "interest_received"  # an earlier investor receives it


class Closing(Base):
    """A subsequent close: the commitments made after `previous_date` up to `closing_date`,
    equalized with the earlier investors (lines computed at draft and again at issue)."""

    __tablename__ = "closings"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "id"),
        sa.UniqueConstraint("fund_id", "number"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    # The fund's subsequent closes numbered 1, 2, … as they are issued (none for a draft).
    number: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[ClosingStatus] = mapped_column(str_enum(ClosingStatus, "closing_status"))
    # Commitments made after `previous_date` (the previous closing's date, or the fund's first
    # closing date) and on or before `closing_date` are this closing's new investors.
    previous_date: Mapped[dt.date] = mapped_column(sa.Date)
    closing_date: Mapped[dt.date] = mapped_column(sa.Date)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    # The fund's terms when the lines were computed.
    equalization_rate: Mapped[Decimal] = mapped_column(RATE)
    interest_to: Mapped[InterestTo] = mapped_column(
        str_enum(InterestTo, "equalization_interest_to")
    )
    # The equalization interest the fund keeps (interest_to = fund), else 0.
    interest_to_fund: Mapped[Decimal] = mapped_column(MONEY)
    # The capital call that asks the new investors for their equalization and fee catch-up.
    call_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    issued_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    issued_by: Mapped[uuid.UUID | None] = mapped_column()


class ClosingLine(Base):
    """One amount of one investor in a closing: per earlier call item for equalization and
    rebalancing (`call_id`, `item_id`, `purpose`, `deal_id`), else per investor."""

    __tablename__ = "closing_lines"
    __table_args__ = (
        sa.ForeignKeyConstraint(["fund_id", "closing_id"], ["closings.fund_id", "closings.id"]),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_closing_lines_closing_id", "closing_id"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    closing_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[LineKind] = mapped_column(str_enum(LineKind, "closing_line_kind"))
    call_id: Mapped[uuid.UUID | None] = mapped_column()
    item_id: Mapped[uuid.UUID | None] = mapped_column()
    purpose: Mapped[Purpose | None] = mapped_column(str_enum(Purpose, "call_purpose"))
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
