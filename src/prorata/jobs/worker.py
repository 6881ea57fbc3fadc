"""The worker process: runs jobs until SIGTERM/SIGINT, yielding the CPU to the web process.

It exits non-zero when it cannot start (`WorkerConfigError`) and when procrastinate stopped by
itself (`WorkerStopped`): procrastinate alone would log such a failure and exit 0, which a
supervisor reads as a clean stop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg_pool
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from prorata import jobs
from prorata.config import Settings
from prorata.jobs import observe, stats
from prorata.observability import instruments
from prorata.platform import db, replica, storage

log = logging.getLogger(__name__)

WORKER_TEMP_BUFFERS = "256MB"


class WorkerConfigError(RuntimeError):
    """The worker cannot run: said plainly, and the process exits non-zero."""


class WorkerStopped(RuntimeError):
    """procrastinate kept stopping by itself while the database answered: exit non-zero."""


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
            "(check DATABASE_URL / PRORATA_APP_DATABASE_URL / PRORATA_WORKER_DATABASE_URL "
            "and PRORATA_DB_APP_PASSWORD)"
        ) from exc
    return pool


async def _check_schema(pool: psycopg_pool.AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
    if found is None or found[0] is None:
        raise WorkerConfigError("the database is not migrated: run `prorata migrate` first")


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM/SIGINT.

    Raises `WorkerConfigError` when the worker cannot start and `WorkerStopped` when it stopped
    without being asked to: procrastinate on its own would log the failure and exit 0.
    The caller has registered the packages' blueprints (`prorata.wiring.connect`); the modules
    of `PRORATA_JOB_MODULES` are registered here.
    """
    try:
        jobs.register_modules(settings.job_modules)
    except jobs.UnknownJobModule as exc:
        raise WorkerConfigError(str(exc)) from exc
    # Direct, past any transaction pooler: procrastinate LISTENs and takes session advisory
    # locks, and the job engine sets temp_buffers at connection start.
    url = db.worker_url(settings)
    # procrastinate's connections: one per job running at once, its LISTEN connection, and one
    # for heartbeats and periodic defers; plus one for our queue figures (`stats.refresh`).
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
    sessions = db.sessionmaker(engine)
    reads = replica.open_replica(settings, primary=sessions, pool_size=settings.worker_concurrency)
    try:
        await _check_schema(pool)
        async with (
            jobs.app.open_async(pool),
            instruments.event_loop_lag(),
            instruments.every(settings.queue_metrics_seconds, lambda: stats.refresh(pool)),
        ):
            with (
                instruments.pool_usage("worker", lambda: db.pool_usage(engine)),
                instruments.pool_usage("queue", lambda: _psycopg_usage(pool)),
            ):
                context = {
                    "sessions": sessions,
                    "settings": settings,
                    "blobs": storage.open_store(settings),
                    "replica": reads,
                }
                await _run_until_signalled(settings, context, pool)
    finally:
        if reads is not None:
            await reads.close()
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


async def _run_until_signalled(
    settings: Settings,
    context: dict[str, Any],
    pool: psycopg_pool.AsyncConnectionPool,
) -> None:
    """Run procrastinate's worker until SIGTERM/SIGINT, through database outages.

    When the database goes away, procrastinate stops its worker (its listener or its fetch
    fails). We then wait for the database with capped backoff, saying so once when it is lost
    and once when it is back, and start the worker again in this same process. Jobs that were
    running when the connection died are retried by the stalled-job path (their worker's
    heartbeat stopped with it); every handler is idempotent. A worker that keeps stopping while
    the database answers has another problem: `WorkerStopped`, and the supervisor decides."""
    signalled = asyncio.Event()
    current: asyncio.Future[None] | None = None

    def stop() -> None:
        # Cancelling run_worker_async is procrastinate's graceful stop: running jobs finish.
        signalled.set()
        if current is not None:
            current.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    unexplained: collections.deque[float] = collections.deque()
    try:
        while not signalled.is_set():
            current = asyncio.ensure_future(_run_once(settings, context))
            try:
                await current
            except asyncio.CancelledError:
                if signalled.is_set():
                    return
                raise
            except Exception as exc:  # the database going away mid-fetch, mostly
                log.warning("the worker stopped: %s", type(exc).__name__)
            if signalled.is_set():
                return
            if not await _database_answers(pool):
                log.warning("database lost: the worker waits for it and resumes when it is back")
                if not await _wait_for_database(pool, signalled):
                    return
                log.info("database back: the worker resumes")
                continue
            _count_unexplained_stop(unexplained)
            log.warning("the worker stopped by itself while the database answers; restarting it")
            await asyncio.sleep(1)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _run_once(settings: Settings, context: dict[str, Any]) -> None:
    """One run of procrastinate's worker; `context` (sessions, settings, blobs, replica) is
    what every task reads through `jobs.sessions_of` and its kin."""
    await jobs.app.run_worker_async(
        concurrency=settings.worker_concurrency,
        additional_context=context,
        update_heartbeat_interval=max(settings.worker_stalled_after_seconds / 3, 0.5),
        stalled_worker_timeout=settings.worker_stalled_after_seconds,
        shutdown_graceful_timeout=settings.worker_shutdown_seconds,
        install_signal_handlers=False,
        worker_middleware=[observe.observe_job],
    )


# More unexplained stops than this within the window, with the database answering: give up.
UNEXPLAINED_STOPS = 3
UNEXPLAINED_WINDOW_SECONDS = 60.0


def _count_unexplained_stop(stops: collections.deque[float]) -> None:
    now = time.monotonic()
    stops.append(now)
    while stops and stops[0] < now - UNEXPLAINED_WINDOW_SECONDS:
        stops.popleft()
    if len(stops) >= UNEXPLAINED_STOPS:
        raise WorkerStopped(
            "the worker stopped by itself again and again while the database answers "
            "(see the errors logged above)"
        )


async def _database_answers(pool: psycopg_pool.AsyncConnectionPool) -> bool:
    try:
        async with asyncio.timeout(5), pool.connection() as connection:
            await connection.execute("SELECT 1")
    except Exception:  # any failure to answer is "not now"
        return False
    return True


BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0


async def _wait_for_database(
    pool: psycopg_pool.AsyncConnectionPool, signalled: asyncio.Event
) -> bool:
    """Probe with capped exponential backoff until the database answers (True) or a signal
    asks the worker to stop (False)."""
    delay = BACKOFF_FIRST_SECONDS
    while not signalled.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await signalled.wait()
        if signalled.is_set():
            return False
        if await _database_answers(pool):
            return True
        delay = min(delay * 2, BACKOFF_MAX_SECONDS)
    return False
