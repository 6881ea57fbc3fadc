"""Tenant jobs run by worker processes: attempts, progress and last error tracked, a failed job
kept and retried by an admin, a killed attempt started over, a job that kills its worker ended."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from pathlib import Path

import psutil
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests import job_tasks
from tests.fund_support import FundApi
from tests.job_support import get_job, start_test_job
from tests.servers import worker
from tests.support import QUICK_STALL, TestDatabase, bearer, eventually


async def test_a_failed_job_stays_visible_and_an_admin_retries_it(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    org: NewOrg,
    role_keys: dict[Role, str],
    tmp_path: Path,
) -> None:
    fund_id = await FundApi(client, org.api_key).fund()
    job_id = await start_test_job(sessions, org, fund_id, tmp_path)
    queued = await get_job(client, role_keys[Role.viewer], job_id)
    assert (queued["status"], queued["attempts"], queued["progress"]) == ("queued", 0, 0)
    assert queued["kind"] == "test.tracked"
    assert queued["fund_id"] == fund_id

    async def failed() -> bool:
        return bool((await get_job(client, org.api_key, job_id))["status"] == "failed")

    with worker(database, log=tmp_path / "worker.log") as process:
        await eventually(failed, timeout=60, what="all three attempts to fail")
        # The worker yields the CPU to the web process (PRORATA_WORKER_NICE, default 19), and
        # is batch-scheduled: it never preempts the web process on wake-up.
        assert psutil.Process(process.pid).nice() == 19
        assert os.sched_getscheduler(process.pid) == os.SCHED_BATCH
        job = await get_job(client, org.api_key, job_id)
        assert job["attempts"] == 3  # the first run and the retry strategy's two retries
        assert job["last_error"].startswith("RuntimeError: render failed")
        assert "prorata-dev-app-password" not in job["last_error"]  # secrets are redacted
        assert job["finished_at"] is not None

        path = f"/api/v1/jobs/{job_id}/retry"
        assert (await client.post(path, headers=bearer(role_keys[Role.manager]))).status_code == 403
        (tmp_path / "release").write_text("go")
        retried = await client.post(path, headers=bearer(role_keys[Role.admin]))
        # The job's record says failed an instant before the queue does: 409 with Retry-After
        # then, and a retry after the time it names works, as the answer says it will.
        for _ in range(10):
            if retried.status_code != 409:
                break
            await asyncio.sleep(min(int(retried.headers["retry-after"]), 5))
            retried = await client.post(path, headers=bearer(role_keys[Role.admin]))
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "queued"

        async def succeeded() -> bool:
            return bool((await get_job(client, org.api_key, job_id))["status"] == "succeeded")

        await eventually(succeeded, timeout=60, what="the retried job to succeed")
    job = await get_job(client, org.api_key, job_id)
    assert (job["attempts"], job["progress"]) == (4, 100)
    again = await client.post(path, headers=bearer(org.api_key))
    assert again.status_code == 409  # only failed jobs are retried


async def test_progress_never_goes_back_when_a_killed_job_starts_over(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """A worker killed at 75 %: the job's next attempt starts over (a report renders again
    from its first page), and the progress shown stays at 75 % until that attempt passes it."""
    fund_id = await FundApi(client, org.api_key).fund()
    job_id = await start_test_job(sessions, org, fund_id, tmp_path, job_tasks.tracked_steps)
    step, release = tmp_path / "step", tmp_path / "release"
    step.write_text("go")

    async def at(progress: int, attempts: int) -> bool:
        job = await get_job(client, org.api_key, job_id)
        return bool((job["progress"], job["attempts"]) == (progress, attempts))

    with worker(database, log=tmp_path / "first.log", **QUICK_STALL) as first:
        await eventually(lambda: at(75, 1), timeout=60, what="the first attempt to reach 75 %")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    step.unlink()
    with worker(database, log=tmp_path / "second.log", **QUICK_STALL):
        await eventually(
            lambda: _running(client, org.api_key, job_id, attempts=2),
            timeout=60,
            what="the second attempt to start",
        )
        await asyncio.sleep(1)  # its 25 % is written (at once) by now
        assert (await get_job(client, org.api_key, job_id))["progress"] == 75
        step.write_text("go")
        release.write_text("go")

        async def succeeded() -> bool:
            return bool((await get_job(client, org.api_key, job_id))["status"] == "succeeded")

        await eventually(succeeded, timeout=60, what="the second attempt to succeed")
    job = await get_job(client, org.api_key, job_id)
    assert (job["progress"], job["attempts"]) == (100, 2)


async def _running(client: AsyncClient, api_key: str, job_id: str, *, attempts: int) -> bool:
    job = await get_job(client, api_key, job_id)
    return bool((job["status"], job["attempts"]) == ("running", attempts))


async def test_a_job_whose_worker_dies_on_every_attempt_ends_failed(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """Housekeeping puts back every job of a dead worker. A job that kills its worker each time
    (a render out of memory) gets the retries its task allows for failures, then ends failed,
    visible, for an admin to retry — instead of running, and killing workers, forever."""
    fund_id = await FundApi(client, org.api_key).fund()
    job_id = await start_test_job(sessions, org, fund_id, tmp_path, job_tasks.tracked_steps)
    (tmp_path / "step").write_text("go")
    for attempt in (1, 2):  # the first run and its one retry die with their workers
        with worker(database, log=tmp_path / f"worker-{attempt}.log", **QUICK_STALL) as process:
            await eventually(
                functools.partial(_running, client, org.api_key, job_id, attempts=attempt),
                timeout=60,
                what=f"attempt {attempt} to start",
            )
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    async def status_is(status: str) -> bool:
        return bool((await get_job(client, org.api_key, job_id))["status"] == status)

    with worker(database, log=tmp_path / "worker-3.log", **QUICK_STALL):
        await eventually(lambda: status_is("failed"), timeout=60, what="the job to end failed")
        job = await get_job(client, org.api_key, job_id)
        assert job["attempts"] == 3
        assert job["last_error"].startswith("WorkerLost: ")
        assert job["finished_at"] is not None

        (tmp_path / "release").write_text("go")

        async def retried() -> bool:
            path = f"/api/v1/jobs/{job_id}/retry"
            return (await client.post(path, headers=bearer(org.api_key))).status_code == 200

        # The worker marks the queue job failed just after the record says so (409 until then).
        await eventually(retried, timeout=10, what="the admin's retry to be accepted")
        await eventually(lambda: status_is("succeeded"), timeout=60, what="the retry to succeed")
    assert (await get_job(client, org.api_key, job_id))["attempts"] == 4
