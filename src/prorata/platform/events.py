"""Domain events: published inside the writer's transaction, delivered only if it commits.

Two verbs:
- `publish` tells live clients (the fund event stream): a PostgreSQL NOTIFY on one channel,
  which PostgreSQL delivers only if the transaction commits, so a client never hears of a
  change that rolled back. Transient progress (`Progress`) goes only there.
- `announce` is for events a system integrates with (`Announcement`: a call issued, a report
  ready, a job that failed): published, and handed to every subscriber of the `announced` hook
  (webhooks connects its dispatch there), in the same transaction.

Kinds are enums, so a misspelt kind fails the type check instead of silently reaching nobody.
Payloads name ids and counts, never documents or personal data (NOTIFY payloads are limited to
8,000 bytes). Subscribers of the stream filter by org and fund: a listener never forwards
another tenant's event.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.platform.hooks import Hook

CHANNEL = "prorata_events"


class Announcement(enum.StrEnum):
    """Events live clients and webhooks hear of (the kinds a webhook may subscribe to)."""

    call_issued = "call.issued"
    distribution_created = "distribution.created"
    distribution_cancelled = "distribution.cancelled"
    notices_ready = "notices.ready"
    report_ready = "report.ready"
    statements_ready = "statements.ready"  # a run of capital account statements
    job_failed = "job.failed"


class Progress(enum.StrEnum):
    """Transient events for live clients only."""

    job_progress = "job.progress"
    import_progress = "import.progress"
    import_finished = "import.finished"


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


async def publish(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    fund_id: uuid.UUID | None,
    kind: EventKind,
    data: dict[str, Any],
) -> None:
    """Queue `kind` for live clients, delivered when `session` commits."""
    payload = encode(org_id=org_id, fund_id=fund_id, kind=kind, data=data)
    await session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))


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
