"""Background jobs: the procrastinate app, transactional `defer`, housekeeping and the worker.

A job is enqueued on the caller's own database connection, inside its transaction, so a job
exists if and only if the data it refers to committed. Jobs take ids, never objects, and every
handler is idempotent: delivery is at least once (a stalled job is retried by housekeeping).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import os
import signal
from collections.abc import Sequence
from typing import Any, cast

import procrastinate
import procrastinate.sql
import psycopg_pool
import sqlalchemy as sa
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import db, storage
from prorata.config import Settings

log = logging.getLogger(__name__)

# Modules whose tasks every worker must know. `PRORATA_JOB_MODULES` adds more (plugins, tests).
TASK_MODULES: tuple[str, ...] = (
    "prorata.jobs",
    "prorata.webhooks.tasks",
    "prorata.notifications.tasks",
    "prorata.documents.tasks",
)

# The connector holds no connection until the app is opened with a pool (in the worker) or a
# job is deferred on a caller's connection (in the web process): nothing connects at import.
app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)

HOUSEKEEPING_QUEUE = "housekeeping"


class WorkerConfigError(RuntimeError):
    """The worker cannot run: said plainly, and the process exits non-zero."""


async def defer(
    session: AsyncSession, task: procrastinate.tasks.Task[Any, Any, Any], **kwargs: Any
) -> int:
    """Enqueue `task(**kwargs)` inside `session`'s transaction; return the job id.

    If the transaction rolls back, the job never existed.
    """
    connection = await db.driver_connection(session)
    job_id: int = await task.configure(connection=connection).defer_async(**kwargs)
    return job_id


async def requeue(session: AsyncSession, queue_job_id: int) -> None:
    """Put a failed job back in the queue (same job id, one more attempt), inside `session`'s
    transaction: procrastinate's own query, on the caller's connection."""
    connection = await db.driver_connection(session)
    await connection.execute(
        procrastinate.sql.queries["retry_job"],
        {
            "job_id": queue_job_id,
            "retry_at": dt.datetime.now(dt.UTC),
            "new_priority": None,
            "new_queue_name": None,
            "new_lock": None,
        },
    )


def sessions_of(context: JobContext) -> async_sessionmaker[AsyncSession]:
    """The worker's app-role session factory, handed to every task through its context."""
    return cast(async_sessionmaker[AsyncSession], context.additional_context["sessions"])


def settings_of(context: JobContext) -> Settings:
    return cast(Settings, context.additional_context["settings"])


def blobs_of(context: JobContext) -> storage.BlobStore:
    """The worker's object store (one per process, shared by its tasks)."""
    return cast(storage.BlobStore, context.additional_context["blobs"])


# Every 10 seconds: a job whose worker stopped sending heartbeats (killed, machine lost) is put
# back in the queue. procrastinate defers each periodic run once, whatever the number of workers.
@app.periodic(cron="* * * * * */10", periodic_id="retry-stalled")
@app.task(name="housekeeping.retry_stalled_jobs", queue=HOUSEKEEPING_QUEUE, pass_context=True)
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    settings = settings_of(context)
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
        retried += 1
    await manager.prune_stalled_workers(settings.worker_stalled_after_seconds)
    return retried


@app.periodic(cron="17 * * * *", periodic_id="purge-finished")
@app.task(name="housekeeping.purge_finished_jobs", queue=HOUSEKEEPING_QUEUE, pass_context=True)
async def purge_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Succeeded jobs are kept a week for inspection, then deleted; failed ones are kept."""
    await context.app.job_manager.delete_old_jobs(nb_hours=24 * 7, include_failed=False)


@app.periodic(cron="41 * * * *", periodic_id="purge-idempotency")
@app.task(name="housekeeping.purge_idempotency_keys", queue=HOUSEKEEPING_QUEUE, pass_context=True)
async def purge_idempotency_keys(context: JobContext, timestamp: int) -> int:
    """Idempotency records live 24 h; an hourly sweep keeps the table small."""
    from prorata import idempotency

    async with sessions_of(context)() as session, session.begin():
        return await idempotency.purge_expired(session)


def task_modules() -> Sequence[str]:
    extra = os.environ.get("PRORATA_JOB_MODULES", "")
    return TASK_MODULES + tuple(name.strip() for name in extra.split(",") if name.strip())


async def _open_pool(url: str, size: int) -> psycopg_pool.AsyncConnectionPool:
    pool = psycopg_pool.AsyncConnectionPool(
        url,
        min_size=1,
        max_size=size,
        open=False,
        check=psycopg_pool.AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except psycopg_pool.PoolTimeout as exc:
        await pool.close()
        raise WorkerConfigError(
            "cannot connect to PostgreSQL with the app role "
            "(check DATABASE_URL / PRORATA_APP_DATABASE_URL and PRORATA_DB_APP_PASSWORD)"
        ) from exc
    return pool


async def _check_schema(pool: psycopg_pool.AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
    if found is None or found[0] is None:
        raise WorkerConfigError("the database is not migrated: run `prorata migrate` first")


class WorkerStopped(RuntimeError):
    """procrastinate stopped by itself (a failed listener, a lost database): exit non-zero."""


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM/SIGINT.

    Raises `WorkerConfigError` when the worker cannot start and `WorkerStopped` when it stopped
    without being asked to: procrastinate on its own would log the failure and exit 0.
    """
    # Every model, so the ORM can resolve foreign keys between tables tasks touch.
    importlib.import_module("prorata.models")
    for module in task_modules():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise WorkerConfigError(f"cannot import task module {module!r}: {exc}") from exc
    url = db.app_url(settings)
    pool = await _open_pool(url, settings.worker_concurrency + 2)
    engine = db.create_engine(url, pool_size=settings.worker_concurrency)
    try:
        await _check_schema(pool)
        async with app.open_async(pool):
            await _run_until_signalled(
                settings, db.sessionmaker(engine), storage.open_store(settings)
            )
    finally:
        await engine.dispose()
        await pool.close()


async def _run_until_signalled(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], blobs: storage.BlobStore
) -> None:
    run = asyncio.ensure_future(
        app.run_worker_async(
            concurrency=settings.worker_concurrency,
            additional_context={"sessions": sessions, "settings": settings, "blobs": blobs},
            update_heartbeat_interval=max(settings.worker_stalled_after_seconds / 3, 0.5),
            stalled_worker_timeout=settings.worker_stalled_after_seconds,
            shutdown_graceful_timeout=30,
            install_signal_handlers=False,
        )
    )
    signalled = asyncio.Event()

    def stop() -> None:
        # Cancelling run_worker_async is procrastinate's graceful stop: running jobs finish.
        signalled.set()
        run.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    try:
        await run
    except asyncio.CancelledError:
        if not signalled.is_set():
            raise
        return
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    raise WorkerStopped("the worker stopped without being asked to (see the error logged above)")


async def last_worker_heartbeat_age(session: AsyncSession) -> float | None:
    """Seconds since the freshest worker heartbeat, or None when no worker ever registered."""
    age = await session.scalar(
        sa.text("SELECT extract(epoch FROM now() - max(last_heartbeat)) FROM procrastinate_workers")
    )
    return None if age is None else float(age)
