"""Tenant jobs: started in the caller's transaction, tracked by the worker, read through RLS.

`start` enqueues a task and records it for the tenant in one transaction. The task wraps its
work in `running`, which records each attempt, progress and the last error, publishes progress
to live clients, and after the last failed attempt leaves the job `failed`, visible, until an
admin retries it (`retry`: the same queue job, one more attempt).

What a job produced is another package's business: `job_failed` fires when a job fails for
good and `job_retried` when an admin puts it back, in that transaction (documents connects
both: its pending documents fail with their job and come back with it).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.jobs import attempts
from prorata.platform import audit, db, errors, events, hooks
from prorata.platform.ids import new_id
from prorata.tenant_jobs.models import JobStatus, TenantJob

job_failed: hooks.Hook[TenantJob] = hooks.Hook("tenant_jobs.job_failed")
job_retried: hooks.Hook[TenantJob] = hooks.Hook("tenant_jobs.job_retried")


async def start(
    session: AsyncSession,
    task: procrastinate.tasks.Task[Any, Any, Any],
    *,
    org_id: uuid.UUID,
    kind: str,
    fund_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
    document_id: uuid.UUID | None = None,
    **ids: Any,
) -> TenantJob:
    """Enqueue `task(org_id=…, tenant_job_id=…, [document_id=…,] **ids)` and record it for the
    tenant, both in `session`'s transaction."""
    job_id = new_id()
    if document_id is not None:
        ids["document_id"] = str(document_id)
    queue_job_id = await jobs.defer(
        session, task, org_id=str(org_id), tenant_job_id=str(job_id), **ids
    )
    job = TenantJob(
        id=job_id,
        org_id=org_id,
        fund_id=fund_id,
        kind=kind,
        queue_job_id=queue_job_id,
        status=JobStatus.queued,
        progress=0,
        attempts=0,
        document_id=document_id,
        created_by=created_by,
    )
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, *, job_id: uuid.UUID, for_update: bool = False) -> TenantJob:
    statement = sa.select(TenantJob).where(TenantJob.id == job_id)
    if for_update:
        statement = statement.with_for_update()
    job = (await session.scalars(statement)).one_or_none()
    if job is None:
        raise errors.NotFound("no such job")
    return job


async def page(
    session: AsyncSession,
    *,
    params: PageParams,
    fund_id: uuid.UUID | None = None,
    status: JobStatus | None = None,
) -> Page[TenantJob]:
    """The organisation's jobs, newest first (ids are time-ordered), of one fund or status."""
    statement = sa.select(TenantJob)
    if fund_id is not None:
        statement = statement.where(TenantJob.fund_id == fund_id)
    if status is not None:
        statement = statement.where(TenantJob.status == status)
    return await keyset(
        session, statement, key=[TenantJob.id], params=params, item=lambda j: j, descending=True
    )


async def retry(session: AsyncSession, *, actor: Principal, job_id: uuid.UUID) -> TenantJob:
    """A failed job goes back to the queue for one more attempt (its record is kept)."""
    job = await get(session, job_id=job_id, for_update=True)
    if job.status is not JobStatus.failed:
        raise errors.Conflict(f"only a failed job can be retried; this job is {job.status}")
    if not await jobs.requeue(session, job.queue_job_id):
        raise errors.Conflict(
            "the job's last attempt is still finishing; retry it in a moment",
            headers={"Retry-After": "5"},
        )
    job.status = JobStatus.queued
    job.finished_at = None
    await session.flush()
    await job_retried.fire(session, job)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="job.retry",
        entity="job",
        entity_id=job.id,
        after={"kind": job.kind, "attempts": job.attempts},
    )
    await _publish(session, job)
    return job


def event_data(job: TenantJob) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "kind": job.kind,
        "status": str(job.status),
        "progress": job.progress,
        "document_id": str(job.document_id) if job.document_id else None,
    }


async def _publish(session: AsyncSession, job: TenantJob) -> None:
    await events.publish(
        session,
        org_id=job.org_id,
        fund_id=job.fund_id,
        kind=events.Progress.job_progress,
        data=event_data(job),
    )


class Running:
    """The worker's handle on the tenant job it runs: reports progress in short transactions
    of their own (the task's work transaction commits only at the end)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, org_id: uuid.UUID, job_id: uuid.UUID
    ) -> None:
        self.sessions = sessions
        self.org_id = org_id
        self.job_id = job_id
        # The percent shown so far, by this attempt or an earlier one (see `progress`).
        self.shown = -1

    async def update(self, **values: Any) -> TenantJob:
        async with db.tenant_transaction(self.sessions, self.org_id) as session:
            job = await get(session, job_id=self.job_id, for_update=True)
            for name, value in values.items():
                setattr(job, name, value)
            await session.flush()
            await session.refresh(job)
            await _publish(session, job)
            if job.status is JobStatus.failed:
                await job_failed.fire(session, job)
                await events.announce(
                    session,
                    org_id=job.org_id,
                    fund_id=job.fund_id,
                    kind=events.Announcement.job_failed,
                    data=event_data(job),
                )
            return job

    async def progress(self, done: int, total: int) -> None:
        """Record `done` of `total` as a percentage (0–99: 100 is for success only); only
        gains of a whole percent are written and published. An attempt after a crash or a
        failure may start over (a report renders from its first page again): what it shows
        stays where the earlier attempt got until this one passes it, never going back."""
        percent = min(99, done * 100 // total) if total > 0 else 0
        if percent > self.shown:
            self.shown = percent
            await self.update(progress=percent)


class WorkerLost(RuntimeError):
    """The attempt before this one never recorded its end: its worker was killed or lost."""


def _lost_for_good(context: JobContext) -> WorkerLost | None:
    """The error ending a job whose last attempt died with its worker, if the task's retry
    strategy would not have retried that attempt had it raised. Housekeeping puts back every
    stalled job, whatever its retries: without this, a job that kills its worker each time (a
    render that runs out of memory) would run, and take its worker down, forever."""
    lost = WorkerLost("the worker running the previous attempt stopped (killed or lost)")
    # procrastinate counted the dead attempt when it put the job back: judge it as it stood.
    previous = context.job.evolve(attempts=max(context.job.attempts - 1, 0))
    return lost if context.task.get_retry_exception(lost, previous) is None else None


@contextlib.asynccontextmanager
async def running(
    context: JobContext, *, org_id: str, tenant_job_id: str
) -> AsyncIterator[Running]:
    """Wrap one attempt of a tenant job: status, attempts, progress, last error."""
    tracker = Running(
        jobs.sessions_of(context), org_id=uuid.UUID(org_id), job_id=uuid.UUID(tenant_job_id)
    )
    async with db.tenant_transaction(tracker.sessions, tracker.org_id) as session:
        job = await get(session, job_id=tracker.job_id, for_update=True)
        lost = _lost_for_good(context) if job.status is JobStatus.running else None
        job.status = JobStatus.running
        job.attempts += 1
        job.started_at = sa.func.now()
        job.finished_at = None
        await session.flush()
        await session.refresh(job)
        await _publish(session, job)
        tracker.shown = job.progress
    try:
        if lost is not None:
            raise lost
        yield tracker
    except Exception as exc:
        ended = attempts.failure(context, exc)
        await tracker.update(
            status=JobStatus.queued if ended.retried else JobStatus.failed,
            last_error=ended.error,
            finished_at=None if ended.retried else sa.func.now(),
        )
        raise
    await tracker.update(status=JobStatus.succeeded, progress=100, finished_at=sa.func.now())
