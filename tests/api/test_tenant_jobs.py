"""Tenant jobs in process: recorded per organisation behind RLS; a retry is refused while the
last attempt is still finishing. (Tracked by worker processes: tests/system.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db
from prorata.tenant_jobs import service as job_service
from prorata.tenant_jobs.models import JobStatus
from tests.fund_support import FundApi
from tests.job_support import get_job, start_test_job
from tests.support import TestDatabase, bearer


async def test_another_orgs_job_is_not_found(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    fund_id = await FundApi(client, org.api_key).fund()
    job_id = await start_test_job(sessions, org, fund_id, tmp_path)
    assert (await get_job(client, org.api_key, job_id))["id"] == job_id
    for method, path in (
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("POST", f"/api/v1/jobs/{job_id}/retry"),
    ):
        response = await client.request(method, path, headers=bearer(other_org.api_key))
        assert response.status_code == 404, (method, response.text)


def _queue_status(database: TestDatabase, queue_job_id: int, status: str | None = None) -> str:
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        if status is not None:
            conn.execute(
                "UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, queue_job_id)
            )
        row = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s", (queue_job_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_a_retry_while_the_last_attempt_is_still_finishing_is_refused(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """A task records its final failure, then its worker marks the queue job failed. An admin's
    retry in between would be overwritten by that mark: the job left failed in the queue and its
    record `queued` forever. The retry is refused until the queue says failed too."""
    fund_id = await FundApi(client, org.api_key).fund()
    job_id = await start_test_job(sessions, org, fund_id, tmp_path)
    async with db.tenant_transaction(sessions, org.org_id) as session:
        queue_job_id = (await job_service.get(session, job_id=uuid.UUID(job_id))).queue_job_id
    _queue_status(database, queue_job_id, "doing")  # the worker's last attempt
    tracker = job_service.Running(sessions, org_id=org.org_id, job_id=uuid.UUID(job_id))
    await tracker.update(status=JobStatus.failed, last_error="RuntimeError: boom")

    path = f"/api/v1/jobs/{job_id}/retry"
    early = await client.post(path, headers=bearer(org.api_key))
    assert early.status_code == 409, early.text
    assert early.headers["content-type"].startswith("application/problem+json")
    assert _queue_status(database, queue_job_id) == "doing"
    assert (await get_job(client, org.api_key, job_id))["status"] == "failed"

    _queue_status(database, queue_job_id, "failed")  # the worker's mark
    retried = await client.post(path, headers=bearer(org.api_key))
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued"
    assert _queue_status(database, queue_job_id) == "todo"


async def test_jobs_list_newest_first_by_fund_and_status_and_never_another_orgs(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    api = FundApi(client, org.api_key)
    fund_a, fund_b = await api.fund(), await api.fund()
    first = await start_test_job(sessions, org, fund_a, tmp_path / "1")
    second = await start_test_job(sessions, org, fund_b, tmp_path / "2")
    third = await start_test_job(sessions, org, fund_a, tmp_path / "3")
    listed = await api.request("GET", "/jobs?limit=2")
    rest = await api.request("GET", f"/jobs?limit=2&cursor={listed['next_cursor']}")
    assert [j["id"] for j in listed["items"] + rest["items"]] == [third, second, first]
    mine = await api.request("GET", f"/jobs?fund_id={fund_a}")
    assert [j["id"] for j in mine["items"]] == [third, first]
    status = mine["items"][0]["status"]
    same = await api.request("GET", f"/jobs?fund_id={fund_a}&status={status}")
    assert third in [j["id"] for j in same["items"]]
    theirs = await client.get("/api/v1/jobs", headers=bearer(other_org.api_key))
    assert theirs.json()["items"] == []
