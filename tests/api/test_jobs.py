"""Jobs are enqueued in the caller's transaction and run by a worker in another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.jobs import queue as jobs
from prorata.platform import db
from tests import job_tasks
from tests.support import (
    TestDatabase,
    free_port,
    metric_value,
    process_env,
    prorata_process,
    stop,
    wait_until,
)


def _job_status(owner_url: str, job_id: int) -> str | None:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
        ).fetchone()
    return None if row is None else str(row[0])


def _count_jobs(owner_url: str, task_name: str) -> int:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (task_name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def worker_env(database: TestDatabase, metrics_port: int) -> dict[str, str]:
    # One worker at a time serves metrics on this port (a second one starts after the first died).
    return process_env(
        PRORATA_APP_DATABASE_URL=database.app_url,
        PRORATA_JOB_MODULES="tests.job_tasks",
        PRORATA_WORKER_STALLED_AFTER_SECONDS="2",
        PRORATA_LOG_LEVEL="WARNING",
        PRORATA_WORKER_METRICS_PORT=str(metrics_port),
    )


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = prorata_process("worker", env=worker_env)
        started.append(process)
        return process

    yield start
    stop(*started, timeout=20)


async def test_a_job_deferred_in_a_rolled_back_transaction_never_exists(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.touch, path=str(tmp_path / "x"))
        assert job_id > 0
        await session.rollback()
    assert _job_status(database.owner_url, job_id) is None
    assert _count_jobs(database.owner_url, "tests.touch") == 0


async def test_a_committed_job_is_run_by_a_worker_process(
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    tmp_path: Path,
    start_worker: object,
) -> None:
    marker = tmp_path / "marker"
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.touch, path=str(marker))
    assert _job_status(database.owner_url, job_id) == "todo"
    worker = start_worker()  # type: ignore[operator]
    wait_until(marker.exists, timeout=30, what="the worker to run the job")
    wait_until(
        lambda: _job_status(database.owner_url, job_id) == "succeeded",
        timeout=10,
        what="the job to be marked succeeded",
    )
    assert worker.pid != os.getpid()


async def test_a_job_of_a_killed_worker_is_retried_by_another(
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    tmp_path: Path,
    start_worker: object,
    metrics_port: int,
) -> None:
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.wait_for_release, directory=str(tmp_path))
    first = start_worker()  # type: ignore[operator]
    starts = tmp_path / "starts"
    wait_until(starts.exists, timeout=30, what="the first worker to start the job")
    assert _job_status(database.owner_url, job_id) == "doing"

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (tmp_path / "release").write_text("go")
    start_worker()  # type: ignore[operator]
    wait_until(
        lambda: _job_status(database.owner_url, job_id) == "succeeded",
        timeout=60,
        what="housekeeping to retry the stalled job on the second worker",
    )
    assert len(starts.read_text().splitlines()) == 2  # ran once per worker, completed once
    assert (tmp_path / "done").read_text() == "ok"
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    labels = {"task": "tests.wait_for_release"}
    assert metric_value(metrics, "prorata_job_stalled_recovered_total", **labels) == 1
    assert metric_value(metrics, "prorata_job_retries_total", **labels) == 1


def test_worker_exits_non_zero_when_the_database_is_unreachable() -> None:
    env = process_env(
        PRORATA_APP_DATABASE_URL="postgresql://prorata_app:x@127.0.0.1:1/nowhere",
    )
    process = prorata_process("worker", env=env)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"cannot connect to PostgreSQL" in stderr


def test_worker_exits_non_zero_when_the_database_is_not_migrated(
    server_url: str, database: TestDatabase
) -> None:
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        conn.execute("DROP TABLE procrastinate_jobs CASCADE")
    process = prorata_process("worker", env=process_env(PRORATA_APP_DATABASE_URL=database.app_url))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"not migrated" in stderr


async def test_the_workers_local_database_backends_yield_the_cpu(settings: Settings) -> None:
    """Ingesting is mostly the backend's work: on the embedded server (same host, same user, a
    Unix socket) the worker's backends get its niceness; over TCP (another host, as far as the
    worker can tell) and for other engines nothing changes."""
    niced = db.create_engine(db.app_url(settings), pool_size=1)
    plain = db.create_engine(db.app_url(settings), pool_size=1)
    jobs.nice_local_backends(niced, 7)
    try:
        found = []
        for engine in (niced, plain):
            async with engine.connect() as connection:
                row = await connection.execute(
                    sa.text("SELECT pg_backend_pid(), inet_server_addr() IS NULL")
                )
                found.append(tuple(row.one()))
        (niced_pid, over_socket), (plain_pid, _) = found
        assert os.getpriority(os.PRIO_PROCESS, niced_pid) == (7 if over_socket else 0)
        assert os.getpriority(os.PRIO_PROCESS, plain_pid) == 0
        # Each backend leads its own session: where Linux shares the CPU by session first,
        # the session's group yields too, or the nice would change nothing.
        assert _session_nice(niced_pid) == _expected_session_nice(7 if over_socket else 0)
        assert _session_nice(plain_pid) == _expected_session_nice(0)
    finally:
        await niced.dispose()
        await plain.dispose()


def _session_nice(pid: int) -> int | None:
    """The nice of `pid`'s session group where Linux shares the CPU by session (autogroup):
    None without autogroup, and for a process still in the session the machine booted with
    (session 0: a CI runner's processes), whose autogroup file the kernel leaves empty."""
    try:
        fields = (Path("/proc") / str(pid) / "autogroup").read_text().split()
    except OSError:
        return None
    return int(fields[-1]) if fields else None


def _expected_session_nice(nice: int) -> int | None:
    """For a session leader: every new session gets a group of its own where autogroup exists."""
    return nice if Path("/proc/self/autogroup").exists() else None


_YIELD_AND_REPORT = """
import os
from pathlib import Path
from prorata.jobs import queue as jobs
jobs.yield_cpu(0, 6)
group = Path("/proc/self/autogroup")
fields = group.read_text().split() if group.exists() else []
print(os.getpriority(os.PRIO_PROCESS, 0), fields[-1] if fields else "")
"""


@pytest.mark.parametrize("own_session", [True, False])
def test_the_worker_lowers_its_sessions_cpu_share_only_when_it_leads_the_session(
    own_session: bool,
) -> None:
    """`prorata up` starts the worker in a session of its own: that session yields the CPU
    with it. A worker started from a shell leaves the shell's session as it is."""
    before = _session_nice(os.getpid())
    child = subprocess.run(
        [sys.executable, "-c", _YIELD_AND_REPORT],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=own_session,
    )
    nice, _, session_nice = child.stdout.strip().partition(" ")
    assert int(nice) == 6
    expected = _expected_session_nice(6) if own_session else before
    assert (int(session_nice) if session_nice else None) == expected
    assert _session_nice(os.getpid()) == before
