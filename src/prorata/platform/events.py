"""Domain events for live clients: published inside the writer's transaction, delivered on commit.

`publish` is a PostgreSQL NOTIFY on one channel; PostgreSQL delivers it only if the transaction
commits, so a client never hears of a change that rolled back. The payload names ids and counts,
never documents or personal data (NOTIFY payloads are limited to 8,000 bytes). Subscribers (the
fund event stream) filter by org and fund: a listener never forwards another tenant's event.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "prorata_events"


def encode(*, org_id: uuid.UUID, fund_id: uuid.UUID | None, kind: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "org_id": str(org_id),
            "fund_id": str(fund_id) if fund_id else None,
            "kind": kind,
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
    kind: str,
    data: dict[str, Any],
) -> None:
    """Queue `kind` (e.g. "import.progress", "call.issued") for delivery when `session` commits."""
    payload = encode(org_id=org_id, fund_id=fund_id, kind=kind, data=data)
    await session.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))
