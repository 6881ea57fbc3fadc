"""Imports run by real worker processes: end to end, after a kill -9, ten at once; and the web
process never loads the ingest code."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.import_support import allocation_file, seed_fund, upload
from tests.support import (
    QUICK_STALL,
    REPO_ROOT,
    TestDatabase,
    bearer,
    process_env,
    prorata_process,
    stop,
    wait_until,
)

StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(
    database: TestDatabase, settings: Settings, tmp_path: Path
) -> Iterator[StartWorker]:
    """Workers sharing the test's database and blob directory (as web and worker do)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        process = prorata_process(
            "worker",
            env=process_env(
                PRORATA_APP_DATABASE_URL=database.app_url,
                PRORATA_DATA_DIR=str(settings.data_dir),
                **QUICK_STALL,
                PRORATA_LOG_LEVEL="WARNING",
                **env,
            ),
            output=tmp_path / f"worker-{len(started)}.log",
        )
        started.append(process)
        return process

    yield start
    stop(*started)


def _query(owner_url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else (row[0] if len(row) == 1 else row)


def _status(owner_url: str, import_id: str) -> tuple[str, str]:
    found = _query(owner_url, "SELECT status, phase FROM imports WHERE id = %s", import_id)
    assert found is not None
    return str(found[0]), str(found[1])


async def test_a_worker_process_takes_an_upload_to_succeeded(
    client: httpx.AsyncClient, org: NewOrg, database: TestDatabase, start_worker: StartWorker
) -> None:
    fund = seed_fund(database.owner_url, org.org_id, investors=20, deals=10)
    content, total = allocation_file(fund)
    response = await upload(client, org.api_key, fund["id"], "allocations", content)
    assert response.status_code == 202
    import_id = response.json()["id"]
    start_worker()
    wait_until(
        lambda: _status(database.owner_url, import_id) == ("succeeded", "done"),
        timeout=60,
        what="the worker to finish the import",
    )
    body = (await client.get(response.headers["location"], headers=bearer(org.api_key))).json()
    assert (body["rows_total"], body["inserted"]) == (200, 200)
    assert body["progress"]["bytes_read"] == len(content)
    applied = _query(
        database.owner_url,
        "SELECT count(*), sum(amount) FROM allocations WHERE fund_id = %s",
        fund["id"],
    )
    assert applied == (200, total)


async def test_an_import_killed_mid_apply_is_applied_exactly_once_by_the_retry(
    client: httpx.AsyncClient, org: NewOrg, database: TestDatabase, start_worker: StartWorker
) -> None:
    fund = seed_fund(database.owner_url, org.org_id, investors=400, deals=1000)
    content, total = allocation_file(fund)
    response = await upload(client, org.api_key, fund["id"], "allocations", content)
    assert response.status_code == 202
    import_id = response.json()["id"]
    first = start_worker()
    # kill -9 inside the one statement that writes the rows, before its transaction commits.
    writing = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE '%%INSERT INTO allocations%%' AND pid <> pg_backend_pid() "
        "AND datname = current_database()"  # a shared server runs other tests' imports too
    )
    wait_until(
        lambda: _query(database.owner_url, writing) == 1,
        timeout=120,
        what="the first worker to start writing the allocations",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    time.sleep(1)
    assert _status(database.owner_url, import_id)[0] == "running"
    count_sql = "SELECT count(*) FROM allocations WHERE fund_id = %s"
    assert _query(database.owner_url, count_sql, fund["id"]) == 0  # nothing half-applied

    start_worker()  # housekeeping finds the stalled job and hands it to this worker
    wait_until(
        lambda: _status(database.owner_url, import_id)[0] in {"succeeded", "failed", "rejected"},
        timeout=240,
        what="the retried job to finish the import",
    )
    assert _status(database.owner_url, import_id) == ("succeeded", "done")
    applied = _query(
        database.owner_url,
        "SELECT count(*), sum(amount) FROM allocations WHERE fund_id = %s",
        fund["id"],
    )
    assert applied == (400_000, total)
    finished = _query(
        database.owner_url,
        "SELECT inserted, updated, unchanged FROM imports WHERE id = %s",
        import_id,
    )
    assert finished == (400_000, 0, 0)  # the retry found nothing already applied
    audits = _query(
        database.owner_url,
        "SELECT count(*) FROM audit_log WHERE action = 'allocation.bulk_upsert'",
    )
    assert audits == 1
    # The import is done before its queue job is: procrastinate counts the attempt when it marks
    # the job finished, after the task returned. Read the count once that mark is there.
    job_status = "SELECT status FROM procrastinate_jobs WHERE args->>'import_id' = %s"
    wait_until(
        lambda: _query(database.owner_url, job_status, import_id) not in {"todo", "doing"},
        timeout=60,
        what="the queue to mark the import's job finished",
    )
    attempts = _query(
        database.owner_url,
        "SELECT attempts FROM procrastinate_jobs WHERE args->>'import_id' = %s",
        import_id,
    )
    assert attempts >= 2


async def test_ten_imports_into_ten_funds_at_once_all_succeed(
    client: httpx.AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    funds = [seed_fund(database.owner_url, org.org_id, investors=40, deals=50) for _ in range(10)]
    files = [allocation_file(fund) for fund in funds]
    responses = await asyncio.gather(
        *(
            upload(client, org.api_key, fund["id"], "allocations", content)
            for fund, (content, _) in zip(funds, files, strict=True)
        )
    )
    assert [r.status_code for r in responses] == [202] * 10
    ids = [r.json()["id"] for r in responses]
    start_worker(PRORATA_WORKER_CONCURRENCY="10")
    wait_until(
        lambda: all(_status(database.owner_url, i)[1] == "done" for i in ids),
        timeout=180,
        what="ten imports to finish",
    )
    assert [_status(database.owner_url, i)[0] for i in ids] == ["succeeded"] * 10
    for fund, (_, total) in zip(funds, files, strict=True):
        applied = _query(
            database.owner_url,
            "SELECT count(*), sum(amount) FROM allocations WHERE fund_id = %s",
            fund["id"],
        )
        assert applied == (2000, total)
    log = (tmp_path / "worker-0.log").read_text()
    assert "deadlock" not in log.lower()
    assert "lock timeout" not in log.lower()


# Run in a fresh interpreter: what the web process imports while serving an upload.
_WEB_SCRIPT = """
import asyncio, json, sys
from httpx import ASGITransport, AsyncClient
from prorata.app import create_app
from prorata.config import Settings

async def main() -> None:
    app = create_app(Settings(env="test"))
    headers = {"Authorization": "Bearer " + sys.argv[1]}
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://web") as client:
            fund = await client.post(
                "/api/v1/funds", json={"name": "F", "currency": "USD"}, headers=headers
            )
            rows = b"name,email,kind,country\\nAda,ada@x.example,individual,GB\\n"
            uploaded = await client.post(
                f"/api/v1/funds/{fund.json()['id']}/imports?kind=investors",
                files={"file": ("a.csv", rows)},
                headers=headers,
            )
            location = uploaded.headers["location"]
            status = await client.get(location, headers=headers)
            errors = await client.get(location + "/errors.csv", headers=headers)
    answers = [fund, uploaded, status, errors]
    print(json.dumps({
        "statuses": [answer.status_code for answer in answers],
        "modules": sorted(sys.modules),
    }))

asyncio.run(main())
"""


def test_the_web_process_never_loads_the_ingest_code(
    database: TestDatabase, org: NewOrg, settings: Settings
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WEB_SCRIPT, org.api_key],
        env=process_env(
            PRORATA_APP_DATABASE_URL=database.app_url, PRORATA_DATA_DIR=str(settings.data_dir)
        ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [201, 202, 200, 200]  # it served an upload end to end
    modules = set(report["modules"])
    assert "prorata.imports.service" in modules
    # The task's declaration (imports.tasks) is what the web defers; its body's code is not.
    assert not modules & {
        "prorata.imports.ingest",
        "prorata.imports.checks",
    }
