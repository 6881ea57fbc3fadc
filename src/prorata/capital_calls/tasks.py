"""Jobs of capital calls: releasing notices at the time they were scheduled for."""

from __future__ import annotations

import uuid

import procrastinate

from prorata import jobs
from prorata.capital_calls import release
from prorata.jobs import attempts
from prorata.platform import db

blueprint = procrastinate.Blueprint()


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
        await release.release_scheduled(session, call_id=uuid.UUID(call_id), send_at=send_at)
