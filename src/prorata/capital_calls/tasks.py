"""Jobs of capital calls: releasing notices at the time they were scheduled for."""

from __future__ import annotations

import uuid

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.capital_calls.models import CallStatus, CapitalCall
from prorata.jobs import attempts
from prorata.notices import release
from prorata.platform import db

blueprint = procrastinate.Blueprint()


async def release_scheduled(session: AsyncSession, *, call_id: uuid.UUID, send_at: str) -> bool:
    """The task's body: release the call's notices if they are still scheduled for `send_at`
    and the call stands. True when released now."""
    return await release.release_scheduled(
        session,
        subject=release.CALL,
        model=CapitalCall,
        id=call_id,
        send_at=send_at,
        standing=lambda call: call.status is not CallStatus.cancelled,
    )


@blueprint.task(
    name="capital_calls.release_scheduled_notices",
    queue="notifications",
    retry=attempts.Retry(),
    pass_context=True,
)
async def release_scheduled_notices(
    context: procrastinate.JobContext, org_id: str, call_id: str, send_at: str
) -> None:
    async with db.tenant_transaction(jobs.sessions_of(context), uuid.UUID(org_id)) as session:
        await release_scheduled(session, call_id=uuid.UUID(call_id), send_at=send_at)
