"""Bank accounts (one current per investor) and the changes made to them, held or applied.

The account number and routing code are sealed together (AES-256-GCM, `platform.crypto`, bound
to `bank:<investor id>`); only the last characters of the account number are kept in clear, to
show it masked without opening anything.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class ChangeStatus(enum.StrEnum):
    pending = "pending"  # an LP's change, held until a GP admin decides
    applied = "applied"  # a GP member's change: in effect at once
    approved = "approved"  # an LP's change a GP admin approved: in effect
    rejected = "rejected"  # an LP's change a GP admin refused: never in effect
    withdrawn = "withdrawn"  # replaced by a newer change of the LP before a decision


def _investor_key() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id", "investor_id"], ["investors.org_id", "investors.id"], ondelete="CASCADE"
    )


class BankAccount(Base):
    __tablename__ = "bank_accounts"
    __table_args__ = (_investor_key(),)

    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    bank_name: Mapped[str] = mapped_column(sa.String(200))
    account_name: Mapped[str] = mapped_column(sa.String(200))
    reference: Mapped[str | None] = mapped_column(sa.String(140))
    details_sealed: Mapped[str] = mapped_column(sa.String(1000))  # a sealed JSON of ~100 chars
    last4: Mapped[str] = mapped_column(sa.String(4))
    updated_by: Mapped[uuid.UUID | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class BankAccountChange(Base):
    __tablename__ = "bank_account_changes"
    __table_args__ = (
        _investor_key(),
        sa.Index("ix_bank_account_changes_investor_id", "investor_id", "requested_at"),
        # At most one change of an investor waits for a decision.
        sa.Index(
            "uq_bank_account_changes_pending",
            "investor_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    bank_name: Mapped[str] = mapped_column(sa.String(200))
    account_name: Mapped[str] = mapped_column(sa.String(200))
    reference: Mapped[str | None] = mapped_column(sa.String(140))
    details_sealed: Mapped[str] = mapped_column(sa.String(1000))  # a sealed JSON of ~100 chars
    last4: Mapped[str] = mapped_column(sa.String(4))
    status: Mapped[ChangeStatus] = mapped_column(str_enum(ChangeStatus, "status"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    requested_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
