"""Jobs are enqueued in the caller's transaction (run by a worker process: tests/system); the
worker's backends on the local server yield the CPU."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.config import Settings
from prorata.jobs import worker
from prorata.platform import db
from tests import job_tasks
from tests.job_support import expected_session_group_nice, queue_job_status, session_group_nice
from tests.support import TestDatabase


def _count_jobs(owner_url: str, task_name: str) -> int:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (task_name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_job_deferred_in_a_rolled_back_transaction_never_exists(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.touch, path=str(tmp_path / "x"))
        assert job_id > 0
        await session.rollback()
    assert queue_job_status(database.owner_url, job_id) is None
    assert _count_jobs(database.owner_url, "tests.touch") == 0


async def test_the_workers_local_database_backends_yield_the_cpu(settings: Settings) -> None:
    """Ingesting is mostly the backend's work: on the embedded server (same host, same user, a
    Unix socket) the worker's backends get its niceness; over TCP (another host, as far as the
    worker can tell) and for other engines nothing changes."""
    niced = db.create_engine(db.worker_url(settings), pool_size=1)
    plain = db.create_engine(db.worker_url(settings), pool_size=1)
    worker.nice_local_backends(niced, 7)
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
        assert session_group_nice(niced_pid) == expected_session_group_nice(7 if over_socket else 0)
        assert session_group_nice(plain_pid) == expected_session_group_nice(0)
    finally:
        await niced.dispose()
        await plain.dispose()
