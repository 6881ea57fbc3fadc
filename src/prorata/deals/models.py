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
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
