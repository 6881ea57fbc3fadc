"""Both processes stop within the terminationGracePeriodSeconds of deploy/k8s (read from the
rendered manifests, so the two stay in step): web ends its live event streams and finishes the
requests in flight; the worker lets running jobs finish, puts back in the queue the ones still
running when its time is up, and the queue depth KEDA scales on counts them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.orgs.service import NewOrg
from tests import job_tasks, kustomize
from tests.fund_support import FundApi
from tests.job_support import queue_job_status
from tests.servers import worker
from tests.support import (
    TestDatabase,
    bearer,
    free_port,
    process_env,
    prorata_process,
    stop,
    wait_until,
)

MANIFESTS = kustomize.overlay("production-keda")


def _pod(name: str) -> kustomize.Object:
    spec = kustomize.pod_spec(kustomize.find(MANIFESTS, "Deployment", name))
    assert spec is not None
    return spec


def _setting(name: str) -> str:
    value: str = kustomize.find(MANIFESTS, "ConfigMap", "prorata-config")["data"][name]
    return value


def _listening(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/system/health", timeout=1).is_success
    except httpx.HTTPError:
        return False


async def test_web_ends_streams_and_finishes_requests_in_flight_within_its_grace_period(
    database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    spec = _pod("prorata-web")
    [container] = spec["containers"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    # Kubernetes sends SIGTERM once preStop is over; the rest of the grace period is the process's.
    budget = spec["terminationGracePeriodSeconds"] - pre_stop
    port = free_port()
    env = process_env(PRORATA_APP_DATABASE_URL=database.app_url, PRORATA_PORT=str(port))
    process = prorata_process("web", env=env, output=tmp_path / "web.log")
    base = f"http://127.0.0.1:{port}"
    try:
        async with AsyncClient(base_url=base, timeout=60) as client:
            wait_until(lambda: _listening(base), timeout=60, what="the web process")
            fund = await FundApi(client, org.api_key).fund()
            body = b'{"name": "Slow fund", "currency": "EUR", "notices_need_approval": false}'
            signalled = asyncio.Event()

            async def slowly() -> AsyncIterator[bytes]:
                yield body[:10]  # the request is in flight: headers and a part of its body
                await signalled.wait()
                await asyncio.sleep(1)
                yield body[10:]

            headers = {**bearer(org.api_key), "Content-Type": "application/json"}
            headers["Content-Length"] = str(len(body))
            in_flight = asyncio.create_task(
                client.post("/api/v1/funds", content=slowly(), headers=headers)
            )
            path = f"/api/v1/funds/{fund}/events"
            async with client.stream("GET", path, headers=bearer(org.api_key)) as response:
                lines = response.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                await asyncio.sleep(0.5)  # the slow request's headers have reached the server
                assert not in_flight.done()
                process.send_signal(signal.SIGTERM)
                asked = time.monotonic()
                signalled.set()
                async with asyncio.timeout(budget):
                    rest = [line async for line in lines]  # a cut response raises here
            assert not [line for line in rest if line.startswith(("event:", "data:"))]
            created = await in_flight
            assert created.status_code == 201, created.text
            assert created.json()["name"] == "Slow fund"
        code = await asyncio.to_thread(process.wait, budget)
        assert time.monotonic() - asked < budget
        assert code in {0, -signal.SIGTERM}  # uvicorn re-raises the SIGTERM it handled
    finally:
        stop(process)


async def test_worker_finishes_or_releases_its_jobs_within_its_grace_period(
    database: TestDatabase, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    grace = _pod("prorata-worker")["terminationGracePeriodSeconds"]
    shutdown = _setting("PRORATA_WORKER_SHUTDOWN_SECONDS")
    [trigger] = kustomize.find(MANIFESTS, "ScaledObject", "prorata-worker")["spec"]["triggers"]
    depth_sql = trigger["metadata"]["query"]

    def depth() -> int:
        # As KEDA asks it: the app role's connection (prorata-app's PRORATA_APP_DATABASE_URL).
        with psycopg.connect(database.app_url) as conn:
            row = conn.execute(depth_sql).fetchone()
        assert row is not None
        return int(row[0])

    short, long = tmp_path / "short", tmp_path / "long"
    short.mkdir()
    long.mkdir()
    async with sessions() as session, session.begin():
        short_job = await jobs.defer(session, job_tasks.wait_for_release, directory=str(short))
        long_job = await jobs.defer(session, job_tasks.wait_for_release, directory=str(long))
    assert depth() == 2  # due, waiting

    log = tmp_path / "worker.log"
    with worker(database, log, PRORATA_WORKER_SHUTDOWN_SECONDS=shutdown) as first:
        for folder in (short, long):
            wait_until((folder / "starts").exists, timeout=60, what="the worker to start a job")
        assert depth() == 2  # running
        first.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        (short / "release").write_text("go")  # this one ends within the shutdown time
        try:
            code = await asyncio.to_thread(first.wait, grace)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker outlived its grace period ({grace} s)") from None
        assert time.monotonic() - asked < grace
        assert code == 0, log.read_text()

    assert (short / "done").read_text() == "ok"
    assert queue_job_status(database.owner_url, short_job) == "succeeded"
    # The other was cancelled when the shutdown time was up, and is back in the queue, due now.
    assert not (long / "done").exists()
    assert queue_job_status(database.owner_url, long_job) == "todo"

    assert len((long / "starts").read_text().splitlines()) == 1
    # Due now (the depth counts only due jobs): the next worker to fetch takes it up.
    assert depth() == 1
