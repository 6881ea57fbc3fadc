"""Domain events, told to everyone who listens: live clients and subscribed webhooks.

`announce` is for events a system integrates with (a call issued, a report ready, a job that
failed): the fund event stream gets it (`events.publish`) and so does every webhook subscribed
to its kind (`webhooks.service.dispatch`), both only if the caller's transaction commits.
Transient progress goes to live clients alone, with `events.publish`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prorata.platform import events
from prorata.webhooks import service as webhook_service


async def announce(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    fund_id: uuid.UUID | None,
    kind: str,
    data: dict[str, Any],
) -> None:
    await events.publish(session, org_id=org_id, fund_id=fund_id, kind=kind, data=data)
    await webhook_service.dispatch(
        session, org_id=org_id, kind=kind, data={"fund_id": fund_id, **data}
    )
