"""Allocated gains kept per investor (migration 0020): see `capital_accounts.kept`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base


class KeptBook(Base):
    """The state of the fund the kept gains were allocated from."""

    __tablename__ = "capital_account_books"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "fund_id"], ["funds.org_id", "funds.id"], ondelete="CASCADE"
        ),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    state: Mapped[str] = mapped_column(sa.String(200))
    computed_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class KeptGains(Base):
    """One investor's allocated gains and losses, by valuation date."""

    __tablename__ = "capital_account_gains"

    fund_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("capital_account_books.fund_id", ondelete="CASCADE"), primary_key=True
    )
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    days: Mapped[list[dt.date]] = mapped_column(ARRAY(sa.Date))
    amounts: Mapped[list[Decimal]] = mapped_column(ARRAY(MONEY))
