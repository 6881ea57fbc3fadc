"""Tables of the identity domain. Every one carries `org_id` and sits behind RLS.

A user belongs to one organisation (a person in two organisations has two user rows): that keeps
every identity row tenant-scoped, so no query can see another tenant's people.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.http.tenancy import Role
from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class StatementDelivery(enum.StrEnum):
    """What a statement run mails each contact who receives statements."""

    link = "link"  # a link to the portal's documents page, where the statement is
    attachment = "attachment"  # the statement's PDF


class PaperSize(enum.StrEnum):
    """The paper the organisation's letters are set on."""

    a4 = "a4"  # 595 x 842 pt
    letter = "letter"  # US Letter, 612 x 792 pt


class DateFormat(enum.StrEnum):
    """How the organisation's letters write a date."""

    iso = "iso"  # 2026-03-04
    us = "us"  # March 4, 2026
    eu = "eu"  # 4 March 2026


def _now() -> sa.ColumnElement[dt.datetime]:
    return sa.func.now()


class Org(Base):
    __tablename__ = "orgs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Owners, admins and managers must use two-factor authentication to sign in.
    require_two_factor: Mapped[bool] = mapped_column(server_default=sa.false())
    # How the organisation signs its documents (notices, statements).
    legal_name: Mapped[str | None] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    signature_block: Mapped[str | None] = mapped_column(sa.String(500))
    statement_delivery: Mapped[StatementDelivery] = mapped_column(
        str_enum(StatementDelivery, "statement_delivery"), server_default=StatementDelivery.link
    )
    # The logo's blob belongs to the org (blobs.org_id) and the org points at it: a cycle,
    # which `use_alter` tells the metadata's table sort about (the migration adds it after).
    logo_blob_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("blobs.id", ondelete="SET NULL", use_alter=True)
    )
    paper_size: Mapped[PaperSize] = mapped_column(
        str_enum(PaperSize, "paper_size", length=10), server_default=PaperSize.a4.value
    )
    date_format: Mapped[DateFormat] = mapped_column(
        str_enum(DateFormat, "date_format", length=10), server_default=DateFormat.iso.value
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now()
    )


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "id"),
        sa.Index("uq_users_org_id_email", "org_id", sa.text("lower(email)"), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(320))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now()
    )
    # Signing in (prorata.accounts): an argon2id hash, never the password; none for a user who
    # signs in with API keys only (a service user).
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    failed_sign_ins: Mapped[int] = mapped_column(server_default=sa.text("0"))
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The TOTP secret, sealed (platform.crypto); enabled once a first code confirmed it.
    totp_secret_sealed: Mapped[str | None] = mapped_column(sa.String(200))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The last time step a code was accepted for: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    # An `investor` member's default investor (never set for other roles); it sees the data of
    # its linked investors only (`InvestorLink`), this one among them.
    investor_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now()
    )


class InvestorLink(Base):
    """An `investor` member may see this investor (migration 0024): a person acting for several
    investors of the organisation (a family office's entities) has one link for each. The
    membership's `investor_id` is the default among them."""

    __tablename__ = "investor_links"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_investor_links_user_id", "user_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now()
    )


class ApiKey(Base):
    """Only the SHA-256 of a key is stored; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=_now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
