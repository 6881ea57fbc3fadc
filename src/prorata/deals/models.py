"""Deals."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id


class DealStatus(enum.StrEnum):
    open = "open"
    closed = "closed"
    exited = "exited"
    written_off = "written_off"


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "id"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    company: Mapped[str | None] = mapped_column(sa.String(200))
    instrument: Mapped[str | None] = mapped_column(sa.String(100))
    invested_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    invested_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    status: Mapped[DealStatus] = mapped_column(str_enum(DealStatus, "deal_status"))
    # The day the deal was realised in full (its last standing realisation's date), set and
    # cleared by its realisations: metrics on an earlier date see it held.
    realised_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class Realisation(Base):
    """A full or partial exit of a deal, or a write-down (proceeds 0): the realised gain or
    loss, proceeds − cost_realised, is booked to the ledger (`gain_loss`) on `realised_on`.
    `distributed`: what of its proceeds standing distributions naming it have taken."""

    __tablename__ = "deal_realisations"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
        sa.CheckConstraint("proceeds >= 0", name="proceeds"),
        sa.CheckConstraint("cost_realised >= 0", name="cost_realised"),
        sa.CheckConstraint("distributed >= 0 AND distributed <= proceeds", name="distributed"),
        sa.UniqueConstraint("fund_id", "id"),
        sa.Index("ix_deal_realisations_deal_id", "deal_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    deal_id: Mapped[uuid.UUID] = mapped_column()
    realised_on: Mapped[dt.date] = mapped_column(sa.Date)
    proceeds: Mapped[Decimal] = mapped_column(MONEY)
    cost_realised: Mapped[Decimal] = mapped_column(MONEY)
    gain: Mapped[Decimal] = mapped_column(MONEY)
    distributed: Mapped[Decimal] = mapped_column(
        MONEY, server_default=sa.text("0"), default=Decimal(0)
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    # Set when cancelled: its ledger entries are reversed and nothing counts it any more.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    @property
    def undistributed(self) -> Decimal:
        return self.proceeds - self.distributed
