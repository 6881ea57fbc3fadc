"""The fault suite: PostgreSQL, a worker, the object store and the mail server fail under real
processes, and Prorata answers 503 (never 500), loses nothing, applies nothing twice, and
recovers by itself. Each test prints its figures (docs/reliability.md keeps the last run's).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from prorata.orgs.service import NewOrg
from tests import seaweed, servers
from tests.import_support import allocation_file, seed_fund, upload
from tests.support import QUICK_STALL, TestDatabase, bearer, eventually, free_port, wait_until

pytestmark = pytest.mark.faults

# The rate limits are not what these tests are about: far above the load they make.
UNLIMITED = {
    "PRORATA_RATE_LIMIT_API": "1000000/minute",
    "PRORATA_RATE_LIMIT_HEAVY": "1000000/minute",
    "PRORATA_RATE_LIMIT_PUBLIC": "1000000/minute",
}
MANAGEMENT_FEE_200K = {"purpose": "management_fee", "amount": "200000.00"}
MANAGEMENT_FEE_30K = {"purpose": "management_fee", "amount": "30000.00"}
MANAGEMENT_FEE_4K = {"purpose": "management_fee", "amount": "4000.00"}


def _figures(name: str, figures: dict[str, Any]) -> None:
    print(f"\nfigures {name}: {json.dumps(figures, sort_keys=True)}")  # noqa: T201


def _owner(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[servers.Stack]:
    with servers.up(tmp_path, **UNLIMITED, **QUICK_STALL) as running:
        yield running


# --------------------------------------------------------------------------------------------
# PostgreSQL stopped for ~10 s under load
# --------------------------------------------------------------------------------------------


class Load:
    """Mixed requests from a few concurrent clients: reads, and writes each with its own
    Idempotency-Key. Records every answer; keeps the ids of acknowledged writes."""

    def __init__(self, base: str, api_key: str, fund_id: str) -> None:
        self.base = base
        self.headers = bearer(api_key)
        self.fund_id = fund_id
        self.answers: list[tuple[float, str, int, bool]] = []  # (time, kind, status, retry-after)
        self.created: list[str] = []
        self.stopping = asyncio.Event()

    async def client(self, number: int) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as http:
            step = 0
            while not self.stopping.is_set():
                step += 1
                kind = ("read-funds", "read-investors", "write")[(number + step) % 3]
                if kind == "write":
                    response = await http.post(
                        "/api/v1/investors",
                        json={"name": f"LP {number}-{step}", "kind": "entity"},
                        headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())},
                    )
                    if response.status_code == 201:
                        self.created.append(response.json()["id"])
                else:
                    path = "/api/v1/funds" if kind == "read-funds" else "/api/v1/investors"
                    response = await http.get(path, headers=self.headers)
                retry_after = "retry-after" in response.headers
                self.answers.append((time.monotonic(), kind, response.status_code, retry_after))
                await asyncio.sleep(0.02)


async def test_postgresql_stopped_under_load_gives_503s_and_everything_comes_back(
    stack: servers.Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
        fund = await http.post(
            "/api/v1/funds",
            json={"name": "Outage Fund", "currency": "USD"},
            headers=bearer(stack.api_key),
        )
        assert fund.status_code == 201
    worker = stack.child("worker")
    assert worker is not None
    load = Load(stack.base, stack.api_key, fund.json()["id"])
    clients = [asyncio.create_task(load.client(n)) for n in range(4)]
    await asyncio.sleep(5)
    database = stack.database()
    stopped_at = time.monotonic()
    await asyncio.to_thread(database.stop)
    await asyncio.sleep(10)
    await asyncio.to_thread(stack.database)  # started again, on the same data
    back_at = time.monotonic()
    await eventually(
        lambda: _answered_since(load, back_at, at_least=300),
        timeout=120,
        what="300 answers after PostgreSQL is back",
    )
    load.stopping.set()
    await asyncio.gather(*clients)

    statuses = collections.Counter(status for _, _, status, _ in load.answers)
    during = collections.Counter(
        status for at, _, status, _ in load.answers if stopped_at <= at <= back_at
    )
    assert len(load.answers) >= 500
    assert set(statuses) <= {200, 201, 503}, statuses
    assert all(retry for _, _, status, retry in load.answers if status == 503)
    assert during[503] > 0  # the outage was seen
    first_ok = min(at for at, _, status, _ in load.answers if at > back_at and status < 300)
    recovery = first_ok - back_at
    assert recovery <= 5.0
    # The worker lived through it (same process) and runs a job queued after the restart.
    assert stack.child("worker") is not None
    assert stack.child("worker").pid == worker.pid  # type: ignore[union-attr]
    async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
        report = await http.post(
            f"/api/v1/funds/{load.fund_id}/reports",
            json={"kind": "allocations", "as_of": "2026-12-31"},
            headers=bearer(stack.api_key),
        )
        assert report.status_code == 202
        job = report.headers["location"]

        async def done() -> bool:
            status = (await http.get(job, headers=bearer(stack.api_key))).json()["status"]
            assert status != "failed"
            return bool(status == "succeeded")

        await eventually(done, timeout=90, what="a job queued after the restart to succeed")
        # Every acknowledged write is there.
        present = 0
        for investor_id in load.created:
            found = await http.get(
                f"/api/v1/investors/{investor_id}", headers=bearer(stack.api_key)
            )
            present += found.status_code == 200
    assert present == len(load.created)
    _figures(
        "postgresql-outage",
        {
            "requests": len(load.answers),
            "by_status": dict(statuses),
            "during_outage_by_status": dict(during),
            "outage_seconds": round(back_at - stopped_at, 1),
            "recovery_seconds": round(recovery, 2),
            "writes_acknowledged": len(load.created),
            "writes_present": present,
            "worker_pid_unchanged": True,
        },
    )


async def _answered_since(load: Load, since: float, *, at_least: int) -> bool:
    return sum(1 for at, *_ in load.answers if at > since) >= at_least


# --------------------------------------------------------------------------------------------
# kill -9 of the worker during a 300k-row import and during 2,000 notices
# --------------------------------------------------------------------------------------------


async def test_a_worker_killed_during_an_import_and_during_notices_is_restarted_and_both_finish(
    stack: servers.Stack,
) -> None:
    database = stack.database()
    owner_url = database.url()
    org_id = uuid.UUID(_one(owner_url, "SELECT id FROM orgs ORDER BY created_at LIMIT 1"))
    imported = seed_fund(owner_url, org_id, investors=300, deals=1000)  # 300,000 allocations
    # No e-mail addresses: 2,000 notices, not 2,000 mails competing for the worker too.
    noticed = seed_fund(owner_url, org_id, investors=2000, deals=0)
    content, total = allocation_file(imported)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.base, timeout=120) as http:
        upload_response = await upload(http, stack.api_key, imported["id"], "allocations", content)
        assert upload_response.status_code == 202
        import_id = upload_response.json()["id"]
        kills = 0
        # Killed while it loads the file.
        wait_until(
            lambda: _import_phase_is(owner_url, import_id, {"loading", "validating", "applying"}),
            timeout=60,
            what="the import to start",
        )
        kills += _kill_worker(stack)
        # And killed again while it renders notices.
        call = await http.post(
            f"/api/v1/funds/{noticed['id']}/capital-calls",
            json={"notice_date": "2026-03-02", "items": [MANAGEMENT_FEE_200K]},
            headers=bearer(stack.api_key),
        )
        assert call.status_code == 201, call.text
        issued = await http.post(
            f"/api/v1/funds/{noticed['id']}/capital-calls/{call.json()['id']}/issue",
            headers={**bearer(stack.api_key), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert issued.status_code == 200, issued.text
        call_id = call.json()["id"]
        wait_until(
            lambda: (
                _count(owner_url, "SELECT count(*) FROM documents WHERE call_id = %s", call_id)
                >= 50
            ),
            timeout=120,
            what="notices to be rendering",
        )
        kills += _kill_worker(stack)
        wait_until(
            lambda: (
                _one(owner_url, "SELECT status FROM imports WHERE id = %s", import_id)
                == "succeeded"
            ),
            timeout=300,
            what="the import to succeed",
        )
        wait_until(
            lambda: (
                _count(owner_url, "SELECT count(*) FROM documents WHERE call_id = %s", call_id)
                == 2000
            ),
            timeout=300,
            what="2,000 notices",
        )
    duplicates = _rows(
        owner_url,
        "SELECT fund_id, investor_id, deal_id, count(*) FROM allocations "
        "GROUP BY 1, 2, 3 HAVING count(*) > 1",
    )
    assert duplicates == []
    assert _rows(
        owner_url,
        "SELECT count(*), sum(amount) FROM allocations WHERE fund_id = %s",
        imported["id"],
    ) == [(300_000, total)]
    assert (
        _count(
            owner_url,
            "SELECT count(DISTINCT investor_id) FROM documents WHERE call_id = %s",
            call_id,
        )
        == 2000
    )
    assert kills == 2
    # Each job ran again after its worker was killed (the kill did land mid-job).
    import_runs = _count(
        owner_url,
        "SELECT attempts FROM procrastinate_jobs WHERE args->>'import_id' = %s",
        import_id,
    )
    notice_runs = _count(
        owner_url,
        "SELECT attempts FROM tenant_jobs WHERE kind = 'call.notices' AND fund_id = %s",
        noticed["id"],
    )
    assert import_runs >= 2
    assert notice_runs >= 2
    _figures(
        "worker-killed",
        {
            "kills": kills,
            "import_runs": import_runs,
            "notice_job_runs": notice_runs,
            "allocations": 300_000,
            "duplicate_allocations": len(duplicates),
            "notices": 2000,
            "seconds_to_both_done": round(time.monotonic() - started, 1),
        },
    )


def _kill_worker(stack: servers.Stack) -> int:
    worker = stack.child("worker")
    assert worker is not None
    worker.kill()
    wait_until(
        lambda: getattr(stack.child("worker"), "pid", worker.pid) != worker.pid,
        timeout=30,
        what="the supervisor to start a new worker",
    )
    return 1


# --------------------------------------------------------------------------------------------
# The object store stopped during an upload and during notice rendering
# --------------------------------------------------------------------------------------------


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[seaweed.S3Server]:
    directory = tmp_path / "s3"
    directory.mkdir()
    with seaweed.running(directory) as server:
        yield server


async def test_the_object_store_stopped_gives_503_uploads_and_jobs_that_finish_when_it_is_back(
    client: httpx.AsyncClient,
    database: TestDatabase,
    org: NewOrg,
    s3: seaweed.S3Server,
    tmp_path: Path,
) -> None:
    env = {"PRORATA_BLOB_URL": f"s3://{s3.bucket}/outage", **s3.env(), **UNLIMITED}
    owner_url = database.owner_url
    fund = seed_fund(owner_url, org.org_id, investors=300, deals=2)
    content, _ = allocation_file(fund)
    with (
        servers.web(database, tmp_path / "web.log", **env) as base,
        servers.worker(database, log=tmp_path / "worker.log", **env, **QUICK_STALL),
    ):
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            call = await http.post(
                f"/api/v1/funds/{fund['id']}/capital-calls",
                json={"notice_date": "2026-03-02", "items": [MANAGEMENT_FEE_30K]},
                headers=bearer(org.api_key),
            )
            assert call.status_code == 201
            call_id = call.json()["id"]
            with seaweed.outage(s3):
                refused = await upload(http, org.api_key, fund["id"], "allocations", content)
                issued = await http.post(
                    f"/api/v1/funds/{fund['id']}/capital-calls/{call_id}/issue",
                    headers={**bearer(org.api_key), "Idempotency-Key": str(uuid.uuid4())},
                )
                await asyncio.sleep(5)  # the notices job meets the outage
                during = _count(
                    owner_url, "SELECT count(*) FROM documents WHERE call_id = %s", call_id
                )
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["type"] == "urn:prorata:problem:unavailable"
            assert _count(owner_url, "SELECT count(*) FROM imports") == 0  # nothing half-made
            assert issued.status_code == 200  # issuing writes no file: it needs no store
            accepted = await upload(http, org.api_key, fund["id"], "allocations", content)
            assert accepted.status_code == 202
            import_id = accepted.json()["id"]
            wait_until(
                lambda: (
                    _one(owner_url, "SELECT status FROM imports WHERE id = %s", import_id)
                    == "succeeded"
                ),
                timeout=120,
                what="the import after the outage",
            )
            wait_until(
                lambda: (
                    _count(owner_url, "SELECT count(*) FROM documents WHERE call_id = %s", call_id)
                    == 300
                ),
                timeout=240,
                what="every notice once the store is back",
            )
    assert (
        _count(
            owner_url,
            "SELECT count(*) FROM documents WHERE call_id = %s AND blob_id IS NOT NULL",
            call_id,
        )
        == 300
    )
    _figures(
        "object-store-outage",
        {"upload_during_outage": refused.status_code, "notices_during": during, "notices": 300},
    )


# --------------------------------------------------------------------------------------------
# The mail server down while notices are mailed
# --------------------------------------------------------------------------------------------


async def test_notices_mailed_while_the_mail_server_is_down_go_out_once_when_it_is_back(
    client: httpx.AsyncClient,
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    owner_url = database.owner_url
    fund = seed_fund(owner_url, org.org_id, investors=40, deals=0, emails=True)
    mailbox = servers.Mailbox()
    port = free_port()
    env = {
        "PRORATA_SMTP_HOST": "127.0.0.1",
        "PRORATA_SMTP_PORT": str(port),
        "PRORATA_SMTP_SECURITY": "none",
        **UNLIMITED,
    }
    with servers.worker(database, log=tmp_path / "worker.log", **env):
        # Nothing listens on the port yet: the server is down.
        call = await client.post(
            f"/api/v1/funds/{fund['id']}/capital-calls",
            json={"notice_date": "2026-03-02", "items": [MANAGEMENT_FEE_4K]},
            headers=bearer(org.api_key),
        )
        issued = await client.post(
            f"/api/v1/funds/{fund['id']}/capital-calls/{call.json()['id']}/issue",
            headers={**bearer(org.api_key), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert issued.status_code == 200
        wait_until(
            lambda: (
                _count(owner_url, "SELECT count(*) FROM email_outbox WHERE attempts >= 1") == 40
            ),
            timeout=120,
            what="every notice mail to have failed once",
        )
        failed_attempts = _count(owner_url, "SELECT sum(attempts) FROM email_outbox")
        with servers.smtp_server_on(port, mailbox):
            wait_until(
                lambda: (
                    _count(owner_url, "SELECT count(*) FROM email_outbox WHERE status = 'sent'")
                    == 40
                ),
                timeout=180,
                what="every notice mail to be sent",
            )
            await asyncio.sleep(3)  # nothing more arrives
    ids = [envelope.content for envelope in mailbox.messages]
    message_ids = [_message_id(content) for content in ids]
    assert len(message_ids) == 40
    assert len(set(message_ids)) == 40  # none sent twice
    assert _count(owner_url, "SELECT count(*) FROM email_outbox WHERE status <> 'sent'") == 0
    _figures(
        "mail-server-outage",
        {"mails": 40, "attempts_while_down": failed_attempts, "delivered_once": 40},
    )


def _message_id(content: object) -> str:
    text = content.decode() if isinstance(content, bytes) else str(content)
    return next(line for line in text.splitlines() if line.lower().startswith("message-id:"))


# --------------------------------------------------------------------------------------------
# SQL helpers (as the owner: every organisation's rows)
# --------------------------------------------------------------------------------------------


def _rows(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with _owner(url) as conn:
        return list(conn.execute(query, params).fetchall())


def _one(url: str, query: str, *params: object) -> Any:
    rows = _rows(url, query, *params)
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def _count(url: str, query: str, *params: object) -> int:
    rows = _rows(url, query, *params)
    return int(rows[0][0] or 0)


def _import_phase_is(url: str, import_id: str, phases: set[str]) -> bool:
    return _one(url, "SELECT phase FROM imports WHERE id = %s", import_id) in phases
