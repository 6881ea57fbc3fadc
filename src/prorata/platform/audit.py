"""The audit log: an append-only record of every mutation (who, what, before, after).

The app role may only INSERT and SELECT here; a trigger refuses UPDATE and DELETE for everyone.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base

# The address of the client whose request is being served (set by the web middleware; None in
# the worker), recorded with every entry: sign-ins above all.
CLIENT_IP: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_org_id_created_at", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(sa.String(100))
    entity: Mapped[str] = mapped_column(sa.String(100))
    entity_id: Mapped[str] = mapped_column(sa.String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


async def record(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor_user_id: uuid.UUID | None,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction (so it exists iff the change does)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    client_ip = CLIENT_IP.get()
    session.add(
        AuditEntry(
            org_id=org_id,
            actor_user_id=actor_user_id,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=before,
            after=after,
            request_id=request_id,
            client_ip=client_ip,
        )
    )
    await session.flush()


def snapshot(row: Any, fields: list[str]) -> dict[str, Any]:
    """A JSON-ready view of some of a row's fields, for the audit log."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = value if isinstance(value, str | int | bool | None) else str(value)
    return out
