"""Investors (LPs)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class InvestorKind(enum.StrEnum):
    individual = "individual"
    entity = "entity"


class Investor(Base):
    __tablename__ = "investors"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "id"),
        # The investor's id in the manager's own systems (CRM, fund accounting): imports
        # match on it first, so it names one investor per organisation.
        sa.Index(
            "uq_investors_org_id_external_ref",
            "org_id",
            "external_ref",
            unique=True,
            postgresql_where=sa.text("external_ref IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[InvestorKind] = mapped_column(str_enum(InvestorKind, "investor_kind"))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    tax_id: Mapped[str | None] = mapped_column(sa.String(64))
    external_ref: Mapped[str | None] = mapped_column(sa.String(100))
    # The addressee block of its letters: postal address (lines) and whom they are for.
    address: Mapped[str | None] = mapped_column(sa.String(500))
    attention: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class MailKind(enum.StrEnum):
    """What an investor is sent: each contact chooses which."""

    notices = "notices"  # capital call notices
    statements = "statements"  # capital account statements
    distributions = "distributions"  # distribution notices


class InvestorContact(Base):
    """A person who receives an investor's mail (its finance team, an adviser)."""

    __tablename__ = "investor_contacts"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "investor_id"],
            ["investors.org_id", "investors.id"],
            ondelete="CASCADE",
        ),
        sa.Index(
            "uq_investor_contacts_investor_id_email",
            "investor_id",
            sa.text("lower(email)"),
            unique=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(320))
    notices: Mapped[bool] = mapped_column(server_default=sa.true())
    statements: Mapped[bool] = mapped_column(server_default=sa.true())
    distributions: Mapped[bool] = mapped_column(server_default=sa.true())
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
