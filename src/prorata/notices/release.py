"""Notices go out only when approved: the rule calls and distributions share.

When the fund says so (`notices_need_approval`), the notices of an issued call or a made
distribution are rendered for preview and their mail held (`awaiting_approval`) until an admin
other than the one who issued or made it approves them (mailed now) or schedules them (a job
releases them at `notices_send_at`). Releasing fires `notices_released`, which documents
connects to the mailing of the notices already rendered.

Each domain keeps its own checks of state (a draft call, a cancelled distribution) and passes
them in as `refusal`; the rest (four eyes, the states of the release, audit, events, the
scheduled job) is here, once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.http.tenancy import Principal
from prorata.notices.models import NoticeRelease, ReleasedNotices
from prorata.platform import audit as audit_log
from prorata.platform import errors, events, hooks

# How far ahead notices may be scheduled.
MAX_SCHEDULE_AHEAD = dt.timedelta(days=366)

R = TypeVar("R", bound=ReleasedNotices)


@dataclasses.dataclass(frozen=True)
class Subject:
    """What the notices are of."""

    entity: str  # the audit entity, and the prefix of its actions
    key: str  # the id's name in events and jobs
    noun: str  # for messages
    made: str  # what the person who cannot approve did


CALL = Subject(entity="capital_call", key="call_id", noun="call", made="issued")
DISTRIBUTION = Subject(
    entity="distribution", key="distribution_id", noun="distribution", made="made"
)


@dataclasses.dataclass(frozen=True)
class Released:
    subject: Subject
    org_id: uuid.UUID
    id: uuid.UUID  # the call's or the distribution's


# Fired in the transaction that releases notices (approved, or their scheduled time came):
# documents connects the mailing of the notices already rendered.
notices_released: hooks.Hook[Released] = hooks.Hook("notices.released")


def held(need_approval: bool) -> NoticeRelease:
    """The state of new notices on a fund that does or does not need approval."""
    return NoticeRelease.awaiting_approval if need_approval else NoticeRelease.not_required


async def release(session: AsyncSession, subject: Subject, row: ReleasedNotices) -> None:
    row.notices = NoticeRelease.released
    await session.flush()
    await notices_released.fire(session, Released(subject=subject, org_id=row.org_id, id=row.id))


async def audit(
    session: AsyncSession,
    actor_user_id: uuid.UUID | None,
    subject: Subject,
    row: ReleasedNotices,
    action: str,
) -> None:
    await audit_log.record(
        session,
        org_id=row.org_id,
        actor_user_id=actor_user_id,
        action=f"{subject.entity}.{action}",
        entity=subject.entity,
        entity_id=row.id,
        after={
            "notices": str(row.notices),
            "send_at": row.notices_send_at.isoformat() if row.notices_send_at else None,
        },
    )


def _releasable(
    actor: Principal,
    subject: Subject,
    row: ReleasedNotices,
    made_by: uuid.UUID | None,
    refusal: str | None,
) -> None:
    """The checks of approving or scheduling notices (the role is the route's)."""
    if refusal is not None:
        raise errors.Conflict(refusal)
    if row.notices is NoticeRelease.not_required:
        raise errors.Conflict(
            f"this {subject.noun}'s notices need no approval: they are mailed as rendered"
        )
    if made_by == actor.user_id:
        raise errors.Forbidden(
            f"the person who {subject.made} {errors.a(subject.noun)} cannot approve its "
            "notices: another admin must (four eyes)"
        )


async def _announce(
    session: AsyncSession, subject: Subject, row: ReleasedNotices, send_at: dt.datetime | None
) -> None:
    await events.announce(
        session,
        org_id=row.org_id,
        fund_id=row.fund_id,
        kind=events.Announcement.notices_approved,
        data={subject.key: str(row.id), "send_at": send_at.isoformat() if send_at else None},
    )


async def approve(
    session: AsyncSession,
    *,
    actor: Principal,
    subject: Subject,
    row: ReleasedNotices,
    made_by: uuid.UUID | None,
    refusal: str | None,
) -> None:
    """Release the notices now (`row` locked by the caller). Approving again changes nothing
    (they are released once)."""
    if row.notices is NoticeRelease.released:
        return
    _releasable(actor, subject, row, made_by, refusal)
    row.notices_approved_by = actor.user_id
    row.notices_approved_at = dt.datetime.now(dt.UTC)
    row.notices_send_at = None
    await release(session, subject, row)
    await audit(session, actor.user_id, subject, row, "notices_approve")
    await _announce(session, subject, row, None)


async def schedule(
    session: AsyncSession,
    *,
    actor: Principal,
    subject: Subject,
    row: ReleasedNotices,
    made_by: uuid.UUID | None,
    refusal: str | None,
    send_at: dt.datetime,
    task: jobs.Task,
) -> None:
    """Approve the notices to be mailed at `send_at` by `task` (a later schedule replaces an
    earlier one; approving meanwhile sends them at once)."""
    if row.notices is NoticeRelease.released:
        raise errors.Conflict("the notices were released already")
    _releasable(actor, subject, row, made_by, refusal)
    now = dt.datetime.now(dt.UTC)
    if not now < send_at <= now + MAX_SCHEDULE_AHEAD:
        raise errors.RuleViolation("send_at must be in the future, at most a year ahead")
    row.notices = NoticeRelease.scheduled
    row.notices_send_at = send_at
    row.notices_approved_by = actor.user_id
    row.notices_approved_at = now
    await session.flush()
    await jobs.defer(
        session,
        task,
        schedule_at=send_at,
        org_id=str(row.org_id),
        send_at=send_at.isoformat(),
        **{subject.key: str(row.id)},
    )
    await audit(session, actor.user_id, subject, row, "notices_schedule")
    await _announce(session, subject, row, send_at)


async def release_scheduled(
    session: AsyncSession,
    *,
    subject: Subject,
    model: type[R],
    id: uuid.UUID,
    send_at: str,
    standing: Callable[[R], bool],
) -> bool:
    """The scheduled time came: release the notices, unless the schedule changed meanwhile
    (approved at once, rescheduled, or the call or distribution cancelled). True when
    released now."""
    row = (
        await session.scalars(sa.select(model).where(model.id == id).with_for_update())
    ).one_or_none()
    if (
        row is None
        or row.notices is not NoticeRelease.scheduled
        or not standing(row)
        or row.notices_send_at != dt.datetime.fromisoformat(send_at)
    ):
        return False
    await release(session, subject, row)
    await audit(session, None, subject, row, "notices_release")
    return True
