"""`prorata web` and `prorata worker` processes configured for PgBouncer in transaction mode:
the app's transactions through ONE pooled server connection, the worker's queue and the
live-event LISTEN on their direct URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests import servers
from tests.conftest import base_settings
from tests.fund_support import FundApi
from tests.job_support import get_job, start_test_job
from tests.support import TestDatabase, bearer, eventually


async def test_web_and_worker_behind_pgbouncer_keep_tenants_apart_and_events_flowing(
    server_url: str,
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    if servers.pgbouncer_path() is None:
        pytest.skip(servers.PGBOUNCER_MISSING)  # CI installs it (.ci/run)
    defaults = base_settings()
    app_role = {defaults.db_app_role: defaults.db_app_password.get_secret_value()}
    with servers.pgbouncer(server_url, app_role, pool_size=1) as pooler:
        env = {
            "PRORATA_APP_DATABASE_URL": pooler.url(database.app_url),
            "PRORATA_WORKER_DATABASE_URL": database.app_url,
            "PRORATA_DB_POOLER": "pgbouncer",
        }
        with (
            servers.web(database, tmp_path / "web.log", **env) as base,
            servers.worker(database, tmp_path / "worker.log", **env),
        ):
            async with AsyncClient(base_url=base, timeout=30) as client:
                mine, theirs = FundApi(client, org.api_key), FundApi(client, other_org.api_key)
                fund, their_fund = await mine.fund(), await theirs.fund()
                await mine.investors_with(fund, ["1000.00"])
                stream = client.stream(
                    "GET", f"/api/v1/funds/{fund}/events", headers=bearer(org.api_key)
                )
                async with stream as response:
                    assert response.status_code == 200
                    lines = response.aiter_lines()
                    assert await anext(lines) == "retry: 3000"  # LISTEN is on
                    call = await mine.draft(fund, [{"purpose": "management_fee", "amount": "5"}])
                    await mine.issue(fund, call["id"])
                    async with asyncio.timeout(20):
                        async for line in lines:
                            if line == "event: call.issued":
                                break

                # A job of each organisation, run by the worker on its direct connection.
                (tmp_path / "release").write_text("go")
                jobs = {
                    org.api_key: await start_test_job(sessions, org, fund, tmp_path),
                    other_org.api_key: await start_test_job(
                        sessions, other_org, their_fund, tmp_path
                    ),
                }

                async def done() -> bool:
                    found = [await get_job(client, key, job) for key, job in jobs.items()]
                    return all(job["status"] == "succeeded" for job in found)

                await eventually(done, timeout=60, what="both organisations' jobs")
                for key, own, other in (
                    (org.api_key, fund, their_fund),
                    (other_org.api_key, their_fund, fund),
                ):
                    listed = await client.get("/api/v1/funds", headers=bearer(key))
                    assert [item["id"] for item in listed.json()["items"]] == [own]
                    assert (
                        await client.get(f"/api/v1/funds/{other}", headers=bearer(key))
                    ).status_code == 404
                    other_job = jobs[org.api_key if key != org.api_key else other_org.api_key]
                    refused = await client.get(f"/api/v1/jobs/{other_job}", headers=bearer(key))
                    assert refused.status_code == 404
            # Every web request's transactions went through the one server connection.
            assert len(pooler.server_pids(database.name)) == 1
