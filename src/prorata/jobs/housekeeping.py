"""Housekeeping: periodic tasks every worker runs (procrastinate defers each periodic run
once, whatever the number of workers).

- every 10 s, jobs whose worker stopped sending heartbeats go back in the queue;
- every minute, live events past their retention (ten minutes) are deleted;
- hourly, succeeded jobs older than a week, expired idempotency records, and stored objects no
  transaction kept (a day after they were written) are deleted.
"""

from __future__ import annotations

import datetime as dt
import logging

import procrastinate
from procrastinate import JobContext

from prorata import jobs
from prorata.http import idempotency
from prorata.observability import instruments
from prorata.platform import events, storage

log = logging.getLogger(__name__)

QUEUE = "housekeeping"
blueprint = procrastinate.Blueprint()


# Every 10 seconds: a job whose worker stopped sending heartbeats (killed, machine lost) is put
# back in the queue. procrastinate defers each periodic run once, whatever the number of workers.
@blueprint.periodic(cron="* * * * * */10", periodic_id="retry-stalled")
@blueprint.task(name="housekeeping.retry_stalled_jobs", queue=QUEUE, pass_context=True)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    settings = jobs.settings_of(context)
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.worker_stalled_after_seconds
    )
    retried = 0
    for job in stalled:
        log.warning(
            "retrying stalled job",
            extra={"job_id": job.id, "task": job.task_name, "attempts": job.attempts},
        )
        await manager.retry_job(job)
        instruments.count_stalled_recovered(task=job.task_name)
        retried += 1
    await manager.prune_stalled_workers(settings.worker_stalled_after_seconds)
    return retried


@blueprint.periodic(cron="17 * * * *", periodic_id="purge-finished")
@blueprint.task(name="housekeeping.purge_finished_jobs", queue=QUEUE, pass_context=True)
async def purge_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Succeeded jobs are kept a week for inspection, then deleted; failed ones are kept."""
    await context.app.job_manager.delete_old_jobs(nb_hours=24 * 7, include_failed=False)


@blueprint.periodic(cron="41 * * * *", periodic_id="purge-idempotency")
@blueprint.task(name="housekeeping.purge_idempotency_keys", queue=QUEUE, pass_context=True)
async def purge_idempotency_keys(context: JobContext, timestamp: int) -> int:
    """Idempotency records live 24 h; an hourly sweep keeps the table small."""
    async with jobs.sessions_of(context)() as session, session.begin():
        return await idempotency.purge_expired(session)


@blueprint.periodic(cron="53 * * * *", periodic_id="sweep-blobs")
@blueprint.task(
    name="housekeeping.sweep_unreferenced_blobs",
    queue=QUEUE,
    pass_context=True,
    # One sweep at a time (a periodic one and one deferred by hand, or two workers): two would
    # list the same orphans, and both would count the objects they deleted.
    lock="housekeeping.sweep_unreferenced_blobs",
)
async def sweep_unreferenced_blobs(context: JobContext, timestamp: int) -> int:
    """Hourly: objects no `blobs` row names, a day after they were written — an upload whose
    transaction rolled back, a report whose job failed after writing it, retried renders."""
    written_before = dt.datetime.fromtimestamp(timestamp, dt.UTC) - storage.UNREFERENCED_AFTER
    swept = await storage.sweep_unreferenced(
        jobs.blobs_of(context), jobs.sessions_of(context), written_before=written_before
    )
    if swept.objects:
        log.info(
            "unreferenced blobs deleted",
            extra={"objects": swept.objects, "bytes": swept.bytes},
        )
    return swept.objects


@blueprint.periodic(cron="* * * * *", periodic_id="purge-events")
@blueprint.task(name="housekeeping.purge_fund_events", queue=QUEUE, pass_context=True)
async def purge_fund_events(context: JobContext, timestamp: int) -> int:
    """Every minute: live events older than their retention (ten minutes) are deleted."""
    async with jobs.sessions_of(context)() as session, session.begin():
        return await events.purge(session)
