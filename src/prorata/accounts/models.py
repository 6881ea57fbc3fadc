"""Tables of signing in (migration 0015). Tokens and codes are stored as SHA-256 hashes only."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.http.tenancy import Role
from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


def _timestamp() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True))


def _optional_timestamp() -> Mapped[dt.datetime | None]:
    return mapped_column(sa.DateTime(timezone=True))


def _created() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class BrowserSession(Base):
    """A signed-in browser. Ended by signing out, by a password change, by the member's removal
    (the row goes with the user), or by time: idle or absolute (settings)."""

    __tablename__ = "browser_sessions"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_browser_sessions_org_id_user_id", "org_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The synchronizer token every state-changing request of this session must carry.
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    # The password was right; the second factor is still to come.
    second_factor_pending: Mapped[bool] = mapped_column()
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    # The investor the LP portal was switched to (one of the member's linked investors).
    investor_id: Mapped[uuid.UUID | None] = mapped_column()
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[dt.datetime] = _created()
    last_seen_at: Mapped[dt.datetime] = _created()
    expires_at: Mapped[dt.datetime] = _timestamp()
    ended_at: Mapped[dt.datetime | None] = _optional_timestamp()


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_recovery_codes_org_id_user_id", "org_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[dt.datetime | None] = _optional_timestamp()


class InvitationStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    revoked = "revoked"
    expired = "expired"


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_invitations_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(320))
    role: Mapped[Role] = mapped_column(str_enum(Role, "invitation_role"))
    investor_id: Mapped[uuid.UUID | None] = mapped_column()
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = _created()
    expires_at: Mapped[dt.datetime] = _timestamp()
    accepted_at: Mapped[dt.datetime | None] = _optional_timestamp()
    revoked_at: Mapped[dt.datetime | None] = _optional_timestamp()

    def status(self, now: dt.datetime) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.accepted
        if self.revoked_at is not None:
            return InvitationStatus.revoked
        if self.expires_at <= now:
            return InvitationStatus.expired
        return InvitationStatus.pending


class PasswordReset(Base):
    __tablename__ = "password_resets"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = _created()
    expires_at: Mapped[dt.datetime] = _timestamp()
    used_at: Mapped[dt.datetime | None] = _optional_timestamp()
