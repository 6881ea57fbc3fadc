"""Releasing a call's notices for mailing: the hook documents listens to, and the scheduled
release the worker runs (shared by the service and its task, which must not import each other).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CallStatus, CapitalCall, NoticeRelease
from prorata.platform import audit as audit_log
from prorata.platform import hooks


@dataclasses.dataclass(frozen=True)
class Released:
    call: CapitalCall


# Fired in the transaction that releases a call's notices (approved, or their scheduled time
# came): documents connects the mailing of the notices already rendered.
notices_released: hooks.Hook[Released] = hooks.Hook("capital_calls.notices_released")


async def release(session: AsyncSession, call: CapitalCall) -> None:
    call.notices = NoticeRelease.released
    await session.flush()
    await notices_released.fire(session, Released(call=call))


async def audit(
    session: AsyncSession, actor_user_id: uuid.UUID | None, call: CapitalCall, action: str
) -> None:
    await audit_log.record(
        session,
        org_id=call.org_id,
        actor_user_id=actor_user_id,
        action=action,
        entity="capital_call",
        entity_id=call.id,
        after={
            "notices": str(call.notices),
            "send_at": call.notices_send_at.isoformat() if call.notices_send_at else None,
        },
    )


async def release_scheduled(session: AsyncSession, *, call_id: uuid.UUID, send_at: str) -> bool:
    """The scheduled time came: release the notices, unless the schedule changed meanwhile
    (approved at once, rescheduled, or the call cancelled). True when released now."""
    call = (
        await session.scalars(
            sa.select(CapitalCall).where(CapitalCall.id == call_id).with_for_update()
        )
    ).one_or_none()
    if (
        call is None
        or call.notices is not NoticeRelease.scheduled
        or call.status is CallStatus.cancelled
        or call.notices_send_at != dt.datetime.fromisoformat(send_at)
    ):
        return False
    await release(session, call)
    await audit(session, None, call, "capital_call.notices_release")
    return True
