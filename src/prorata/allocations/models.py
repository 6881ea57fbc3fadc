"""The allocations table: HASH-partitioned by fund, one row per (fund, investor, deal)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.db import Base
from prorata.funds.models import MONEY


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        {"postgresql_partition_by": "HASH (fund_id)"},
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
