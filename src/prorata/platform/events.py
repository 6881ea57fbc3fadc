"""Domain events: published inside the writer's transaction, delivered only if it commits.

Two verbs:
- `publish` tells live clients (the fund event stream): a PostgreSQL NOTIFY on one channel,
  which PostgreSQL delivers only if the transaction commits, so a client never hears of a
  change that rolled back. Transient progress (`Progress`) goes only there.
- `announce` is for events a system integrates with (`Announcement`: a call issued, a report
  ready, a job that failed): published, and handed to every subscriber of the `announced` hook
  (webhooks connects its dispatch there), in the same transaction.

Kinds are enums, so a misspelt kind fails the type check instead of silently reaching nobody.

A fund's events are kept a while (`FundEvent`, purged by housekeeping) and numbered per fund in
commit order (migration 0014: a deferred trigger numbers each at COMMIT and sends the NOTIFY),
so a client that lost its stream resumes from the last number it saw, on any web process.
Payloads name ids and counts, never documents or personal data (NOTIFY payloads are limited to
8,000 bytes). Subscribers of the stream filter by org and fund: a listener never forwards
another tenant's event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base
from prorata.platform.hooks import Hook

CHANNEL = "prorata_events"
# How long a fund's events are kept for clients that reconnect (the purge policy of 0014).
RETENTION = dt.timedelta(minutes=10)


class Announcement(enum.StrEnum):
    """Events live clients and webhooks hear of (the kinds a webhook may subscribe to)."""

    call_issued = "call.issued"
    distribution_created = "distribution.created"
    distribution_cancelled = "distribution.cancelled"
    notices_ready = "notices.ready"
    notices_approved = "notices.approved"  # approved to go out now, or scheduled
    notices_sent = "notices.sent"  # every notice's e-mail sent or given up
    report_ready = "report.ready"
    statements_ready = "statements.ready"  # a run of capital account statements
    job_failed = "job.failed"


class Progress(enum.StrEnum):
    """Transient events for live clients only."""

    job_progress = "job.progress"
    import_progress = "import.progress"
    import_finished = "import.finished"
    payment_recorded = "payment.recorded"
    payment_reversed = "payment.reversed"
    call_closed = "call.closed"
    default_declared = "default.declared"


EventKind = Announcement | Progress


@dataclasses.dataclass(frozen=True)
class Announced:
    org_id: uuid.UUID
    fund_id: uuid.UUID | None
    kind: Announcement
    data: dict[str, Any]


announced: Hook[Announced] = Hook("events.announced")


def encode(
    *, org_id: uuid.UUID, fund_id: uuid.UUID | None, kind: EventKind, data: dict[str, Any]
) -> str:
    return json.dumps(
        {
            "org_id": str(org_id),
            "fund_id": str(fund_id) if fund_id else None,
            "kind": str(kind),
            "data": data,
        },
        default=str,
        separators=(",", ":"),
    )


class FundEvent(Base):
    """A fund's event as live clients got it: kept for replay to clients that reconnect."""

    __tablename__ = "fund_events"
    __table_args__ = (
        sa.Index("ix_fund_events_org_id_fund_id_seq", "org_id", "fund_id", "seq", unique=True),
        sa.Index("ix_fund_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    fund_id: Mapped[uuid.UUID] = mapped_column()
    seq: Mapped[int | None] = mapped_column(sa.BigInteger)  # given at commit
    kind: Mapped[str] = mapped_column(sa.String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class FundEventCounter(Base):
    """The last number given to a fund's events; its row lock orders the fund's commits."""

    __tablename__ = "fund_event_counters"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    )
    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(sa.BigInteger)


async def publish(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    fund_id: uuid.UUID | None,
    kind: EventKind,
    data: dict[str, Any],
) -> None:
    """Queue `kind` for live clients, delivered (and numbered) when `session` commits."""
    if fund_id is None:  # no fund stream wants it, and none keeps it
        payload = encode(org_id=org_id, fund_id=None, kind=kind, data=data)
        await session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))
        return
    await session.execute(
        sa.insert(FundEvent).values(
            org_id=org_id, fund_id=fund_id, kind=str(kind), data=_json_ready(data)
        )
    )


def _json_ready(data: dict[str, Any]) -> dict[str, Any]:
    """As JSON carries it: ids, dates and amounts as strings (what `encode` sent before)."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


async def last_number(session: AsyncSession, *, fund_id: uuid.UUID) -> int:
    """The number of the fund's last committed event (0 before its first).

    A page that shows live data reads this before its data and opens its stream after it:
    an event committed in between is then replayed to it, never lost (a number is given at
    commit, under the counter's row lock, so a later commit always has a larger one)."""
    number = await session.scalar(
        sa.select(FundEventCounter.last_seq).where(FundEventCounter.fund_id == fund_id)
    )
    return number or 0


async def replay(
    session: AsyncSession, *, fund_id: uuid.UUID, after: int, limit: int
) -> list[FundEvent]:
    """The fund's kept events numbered after `after`, oldest first (the tenant's own: RLS)."""
    rows = await session.scalars(
        sa.select(FundEvent)
        .where(
            FundEvent.fund_id == fund_id,
            FundEvent.seq > after,
            FundEvent.created_at > sa.func.now() - RETENTION,
        )
        .order_by(FundEvent.seq)
        .limit(limit)
    )
    return list(rows)


async def purge(session: AsyncSession) -> int:
    """Delete every organisation's events older than `RETENTION`.

    No WHERE clause on purpose: with no tenant set, the `purge_old` RLS policy (DELETE only,
    older than ten minutes) is the filter; a WHERE clause would make PostgreSQL apply the
    SELECT policies too, which show no row without a tenant."""
    await session.execute(sa.text("SELECT set_config('app.org_id', '', true)"))
    result = await session.execute(sa.text("DELETE FROM fund_events"))
    return int(getattr(result, "rowcount", 0) or 0)


async def announce(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    fund_id: uuid.UUID | None,
    kind: Announcement,
    data: dict[str, Any],
) -> None:
    """Tell live clients and every integration (webhooks) that `kind` happened."""
    await publish(session, org_id=org_id, fund_id=fund_id, kind=kind, data=data)
    await announced.fire(session, Announced(org_id=org_id, fund_id=fund_id, kind=kind, data=data))
