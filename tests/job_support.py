"""Jobs for tests: a queue job's status, a tenant job started and read through the API, the CPU
share of a process's session."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
from httpx import AsyncClient
from procrastinate.tasks import Task
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db
from prorata.tenant_jobs import service as job_service
from tests import job_tasks
from tests.support import bearer


def queue_job_status(owner_url: str, job_id: int) -> str | None:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,)
        ).fetchone()
    return None if row is None else str(row[0])


async def start_test_job(
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    fund_id: str,
    directory: Path,
    task: Task[Any, Any, Any] = job_tasks.tracked,
) -> str:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        job = await job_service.start(
            session,
            task,
            org_id=org.org_id,
            kind=f"test.{task.name.rsplit('.', 1)[-1]}",
            fund_id=uuid.UUID(fund_id),
            directory=str(directory),
        )
    return str(job.id)


async def get_job(client: AsyncClient, api_key: str, job_id: str) -> Any:
    response = await client.get(f"/api/v1/jobs/{job_id}", headers=bearer(api_key))
    assert response.status_code == 200, response.text
    return response.json()


def session_group_nice(pid: int) -> int | None:
    """The nice of `pid`'s session group where Linux shares the CPU by session (autogroup):
    None without autogroup, and for a process still in the session the machine booted with
    (session 0: a CI runner's processes), whose autogroup file the kernel leaves empty."""
    try:
        fields = (Path("/proc") / str(pid) / "autogroup").read_text().split()
    except OSError:
        return None
    return int(fields[-1]) if fields else None


def expected_session_group_nice(nice: int) -> int | None:
    """For a session leader: every new session gets a group of its own where autogroup exists."""
    return nice if Path("/proc/self/autogroup").exists() else None
