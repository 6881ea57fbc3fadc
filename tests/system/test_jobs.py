"""Jobs run by worker processes: a committed job runs, a killed worker's job is retried by
another, a worker without a usable database exits non-zero, the worker's CPU share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from tests import job_tasks
from tests.job_support import expected_session_group_nice, queue_job_status, session_group_nice
from tests.support import (
    QUICK_STALL,
    TestDatabase,
    free_port,
    metric_value,
    process_env,
    prorata_process,
    stop,
    wait_until,
)


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def worker_env(database: TestDatabase, metrics_port: int) -> dict[str, str]:
    # One worker at a time serves metrics on this port (a second one starts after the first died).
    return process_env(
        PRORATA_APP_DATABASE_URL=database.app_url,
        PRORATA_JOB_MODULES="tests.job_tasks",
        **QUICK_STALL,
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


async def test_a_committed_job_is_run_by_a_worker_process(
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    tmp_path: Path,
    start_worker: object,
) -> None:
    marker = tmp_path / "marker"
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.touch, path=str(marker))
    assert queue_job_status(database.owner_url, job_id) == "todo"
    worker = start_worker()  # type: ignore[operator]
    wait_until(marker.exists, timeout=30, what="the worker to run the job")
    wait_until(
        lambda: queue_job_status(database.owner_url, job_id) == "succeeded",
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
    assert queue_job_status(database.owner_url, job_id) == "doing"

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    (tmp_path / "release").write_text("go")
    start_worker()  # type: ignore[operator]
    wait_until(
        lambda: queue_job_status(database.owner_url, job_id) == "succeeded",
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


_YIELD_AND_REPORT = """
import os
from pathlib import Path
from prorata.jobs import worker
worker.yield_cpu(0, 6)
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
    before = session_group_nice(os.getpid())
    child = subprocess.run(
        [sys.executable, "-c", _YIELD_AND_REPORT],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=own_session,
    )
    nice, _, session_nice = child.stdout.strip().partition(" ")
    assert int(nice) == 6
    expected = expected_session_group_nice(6) if own_session else before
    assert (int(session_nice) if session_nice else None) == expected
    assert session_group_nice(os.getpid()) == before
