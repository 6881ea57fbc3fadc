"""The allocations table: HASH-partitioned by fund, one row per (fund, investor, deal).

No foreign keys (migration 0009 says why): the one allocation service checks the investor's
commitment and the deal's fund for every row it writes, a whole set per statement."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = ({"postgresql_partition_by": "HASH (fund_id)"},)

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
