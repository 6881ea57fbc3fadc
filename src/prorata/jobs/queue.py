"""Background jobs: the procrastinate app, transactional `defer`, housekeeping and the worker.

A job is enqueued on the caller's own database connection, inside its transaction, so a job
exists if and only if the data it refers to committed. Jobs take ids, never objects, and every
handler is idempotent: delivery is at least once (a stalled job is retried by housekeeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import importlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

import procrastinate
import procrastinate.sql
import psycopg
import psycopg_pool
import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.observability import instruments, tracing
from prorata.platform import db, storage

log = logging.getLogger(__name__)

# Modules whose tasks every worker must know. `PRORATA_JOB_MODULES` adds more (plugins, tests).
# Only the worker imports them: the web process defers their tasks by name (`TaskRef`), so the
# heavy code paths (CSV ingest, PDF rendering) are never loaded where requests are served.
TASK_MODULES: tuple[str, ...] = (
    "prorata.jobs.queue",
    "prorata.imports.tasks",
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


@dataclasses.dataclass(frozen=True)
class TaskRef:
    """A task named without importing its module: what the web process defers. The worker
    module declares the task with the same name and queue (a test checks they agree)."""

    name: str
    queue: str


# The task keyword that carries the deferring trace context (W3C `traceparent`) to the worker,
# which removes it before the task is called. procrastinate 3 jobs have no metadata field.
TRACE_KWARG = "_trace"
WORKER_TEMP_BUFFERS = "256MB"


async def defer(
    session: AsyncSession,
    task: procrastinate.tasks.Task[Any, Any, Any] | TaskRef,
    **kwargs: Any,
) -> int:
    """Enqueue `task(**kwargs)` inside `session`'s transaction; return the job id.

    If the transaction rolls back, the job never existed. The current trace travels with the
    job, so the worker's run of it is part of the same trace.
    """
    with tracing.span(
        f"defer {task.name}",
        kind=SpanKind.PRODUCER,
        attributes={**_messaging(task.queue), "prorata.job.task": task.name},
    ) as current:
        headers = tracing.carrier()
        if headers:
            kwargs[TRACE_KWARG] = headers
        connection = await db.driver_connection(session)
        if isinstance(task, TaskRef):
            deferrer = procrastinate.tasks.configure_task(
                name=task.name, job_manager=app.job_manager, queue=task.queue, connection=connection
            )
        else:
            deferrer = task.configure(connection=connection)
        job_id: int = await deferrer.defer_async(**kwargs)
        current.set_attribute("messaging.message.id", str(job_id))
    return job_id


def _messaging(queue: str) -> dict[str, str]:
    return {"messaging.system": "procrastinate", "messaging.destination.name": queue}


async def observe_job(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
) -> Any:
    """Worker middleware: each run is a CONSUMER span, child of the trace that deferred the job,
    with a duration measurement and one log line (as each request has)."""
    job = context.job
    # Taken out before the task is called: the task's signature knows only its own arguments.
    headers = job.task_kwargs.pop(TRACE_KWARG, None)
    attempt = job.attempts + 1
    attributes: dict[str, AttributeValue] = {
        **_messaging(job.queue),
        "messaging.operation.type": "process",
        "messaging.message.id": str(job.id),
        "prorata.job.task": job.task_name,
        "prorata.job.attempt": attempt,
    }
    started = time.perf_counter()
    failed = True
    try:
        with tracing.span(
            f"job {job.task_name}",
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            parent=tracing.context_from(_headers(headers)),
        ):
            try:
                result = await call_next()
                failed = False
                return result
            finally:
                _log_job(job, attempt, time.perf_counter() - started, failed)
    finally:
        instruments.record_job(
            task=job.task_name,
            queue=job.queue,
            attempt=attempt,
            seconds=time.perf_counter() - started,
            failed=failed,
        )


def _headers(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(key): str(item) for key, item in value.items()}


def _log_job(job: procrastinate.jobs.Job, attempt: int, seconds: float, failed: bool) -> None:
    log.log(
        logging.WARNING if failed else logging.INFO,
        "job",
        extra={
            "job_id": job.id,
            "task": job.task_name,
            "queue": job.queue,
            "attempt": attempt,
            "outcome": "failed" if failed else "succeeded",
            "duration_ms": round(seconds * 1000, 2),
        },
    )


async def requeue(session: AsyncSession, queue_job_id: int) -> bool:
    """Put a failed job back in the queue (same job id, one more attempt), inside `session`'s
    transaction: procrastinate's own query, on the caller's connection. False, and nothing
    changed, when the queue does not hold it as failed.

    procrastinate's query also takes a job still `doing`: a task records its final failure just
    before its worker marks the job failed, and a retry in between would be overwritten by that
    mark — the job left failed in the queue, its record waiting forever."""
    connection = await db.driver_connection(session)
    found = await (
        await connection.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s FOR UPDATE", (queue_job_id,)
        )
    ).fetchone()
    if found is None or found[0] != "failed":
        return False
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
    return True


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
        instruments.count_stalled_recovered(task=job.task_name)
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
    from prorata.http import idempotency

    async with sessions_of(context)() as session, session.begin():
        return await idempotency.purge_expired(session)


@app.periodic(cron="53 * * * *", periodic_id="sweep-blobs")
@app.task(
    name="housekeeping.sweep_unreferenced_blobs",
    queue=HOUSEKEEPING_QUEUE,
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
        blobs_of(context), sessions_of(context), written_before=written_before
    )
    if swept.objects:
        log.info(
            "unreferenced blobs deleted",
            extra={"objects": swept.objects, "bytes": swept.bytes},
        )
    return swept.objects


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
    # One more than before for the queue figures (`queue_stats`), refreshed in the background.
    pool = await _open_pool(url, settings.worker_concurrency + 3)
    # Imports stage files in temporary tables, which live in a session's own buffers: with
    # the default 8 MB a million-row file goes out to temporary files and is read back.
    # Allocated only as a session uses them.
    engine = db.create_engine(
        url,
        pool_size=settings.worker_concurrency,
        connect_args={"options": f"-c temp_buffers={WORKER_TEMP_BUFFERS}"},
    )
    nice_local_backends(engine, settings.worker_nice)
    try:
        await _check_schema(pool)
        async with (
            app.open_async(pool),
            instruments.event_loop_lag(),
            instruments.every(settings.queue_metrics_seconds, lambda: _refresh_stats(pool)),
        ):
            with (
                instruments.pool_usage("worker", lambda: db.pool_usage(engine)),
                instruments.pool_usage("queue", lambda: _psycopg_usage(pool)),
            ):
                await _run_until_signalled(
                    settings, db.sessionmaker(engine), storage.open_store(settings)
                )
    finally:
        await engine.dispose()
        await pool.close()


def nice_local_backends(engine: AsyncEngine, niceness: int) -> None:
    """The worker's SQL yields the CPU too: each PostgreSQL backend serving `engine` on this
    host (a Unix-socket connection, as the embedded server's are) is given at least `niceness`
    when the OS lets us (our own processes, or any as root). Over TCP nothing changes: the
    server may be another machine. (Ingesting a million rows is mostly the backend's work.)"""
    if not niceness:
        return

    @sa.event.listens_for(engine.sync_engine, "connect")
    def renice(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(
                "SELECT pg_backend_pid(), inet_server_addr() IS NULL, "
                "format('postgres: %s %s ', current_user, current_database())"
            )
            pid, over_socket, title = cursor.fetchone()
        finally:
            cursor.close()
        if over_socket and _is_backend(pid, title):
            yield_cpu(pid, niceness)


def yield_cpu(pid: int, niceness: int) -> None:
    """Process `pid` (0: this one) at least `niceness`, and batch-scheduled where Linux offers
    it (it no longer preempts interactive work on wake-up: the web process answers first)."""
    with contextlib.suppress(OSError):  # not allowed, or gone already
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, max(current, niceness))
        if hasattr(os, "sched_setscheduler"):
            os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))
    _lower_session_group(pid, niceness)


def _lower_session_group(pid: int, niceness: int) -> None:
    """Linux with autogroup on (sched_autogroup_enabled=1, the default outside systemd and
    container cgroups) shares the CPU between sessions first and applies a process's nice only
    within its session. Each PostgreSQL backend and each process `prorata up` starts leads a
    session of its own, so there a nice alone changes nothing against the web process: the
    session's group gets `niceness` too. Only for a session leader: a worker started from a
    shell must not slow the shell's whole session."""
    target = pid or os.getpid()
    path = Path("/proc") / str(target) / "autogroup"  # "/autogroup-42 nice 0"
    with contextlib.suppress(OSError, ValueError, IndexError):
        if os.getsid(target) == target and int(path.read_text().split()[-1]) < niceness:
            path.write_text(str(niceness))


def _is_backend(pid: int, title: str) -> bool:
    """`pid` here is the backend we are talking to: its process title names our role and
    database (read from /proc; elsewhere: never)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().startswith(title)
    except (OSError, UnicodeDecodeError):
        return False


def _psycopg_usage(pool: psycopg_pool.AsyncConnectionPool) -> tuple[int, int]:
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return size - idle, idle


# Waiting jobs and running jobs by task (the partial index on todo/doing serves it; finished
# jobs are not counted: they only grow until purged).
_DEPTH_SQL = """
SELECT task_name, status::text, count(*) FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') GROUP BY task_name, status
"""
# A due job has waited since it last became `todo` (deferred, or put back for a retry) or since
# its scheduled time, whichever is later. Jobs scheduled for later are not waiting yet.
_OLDEST_SQL = """
SELECT j.queue_name, extract(epoch FROM now() - min(greatest(j.scheduled_at, e.at)))::float8
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT max(at) AS at FROM procrastinate_events
    WHERE job_id = j.id AND type IN ('deferred', 'deferred_for_retry', 'retried')
) e ON true
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.queue_name
"""


async def queue_stats(
    connection: psycopg.AsyncConnection[Any],
) -> tuple[dict[tuple[str, str], int], dict[str, float]]:
    """(jobs by (task, status), oldest due job's age in seconds by queue), with zeros for every
    task and queue this worker knows, so an idle queue reads 0 rather than nothing."""
    known = {task.name: task.queue for task in app.tasks.values()}  # app.tasks holds aliases
    depth = {(name, status): 0 for name in known for status in ("todo", "doing")}
    oldest = dict.fromkeys(known.values(), 0.0)
    for task_name, status, count in await (await connection.execute(_DEPTH_SQL)).fetchall():
        depth[(task_name, status)] = count
    for queue, age in await (await connection.execute(_OLDEST_SQL)).fetchall():
        oldest[queue] = max(float(age or 0.0), 0.0)
    return depth, oldest


async def _refresh_stats(pool: psycopg_pool.AsyncConnectionPool) -> None:
    async with pool.connection() as connection:
        depth, oldest = await queue_stats(connection)
    instruments.set_queue_stats(depth=depth, oldest_age=oldest)


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
            worker_middleware=[observe_job],
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
