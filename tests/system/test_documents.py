"""Documents end to end: issuing a call renders one notice per investor in a worker process, mails
it (aiosmtpd) and tells a webhook; reports and statements render on request; the web process
never loads the PDF code."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from prorata.tenant_jobs import service as job_service
from prorata.tenant_jobs.models import JobStatus
from tests import pdf_reader
from tests.conftest import add_member
from tests.document_support import WIRE, document_content, fund_with_investors, list_documents
from tests.fund_support import FundApi
from tests.servers import Receiver, smtp_server, worker
from tests.support import REPO_ROOT, TestDatabase, bearer, eventually


def _worker_env(settings: Settings, smtp_port: int) -> dict[str, str]:
    """The worker shares the web's object store (the data dir) and mails the test server."""
    return {
        "PRORATA_DATA_DIR": str(settings.data_dir),
        "PRORATA_SMTP_HOST": "127.0.0.1",
        "PRORATA_SMTP_PORT": str(smtp_port),
        "PRORATA_SMTP_SECURITY": "none",
        "PRORATA_WEBHOOK_ALLOW_LOOPBACK": "true",
    }


async def test_issuing_a_call_renders_mails_and_announces_every_notice(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    with Receiver() as receiver, smtp_server() as (port, mailbox):
        hook = await api.request(
            "POST",
            "/webhooks",
            json={"url": receiver.url, "events": ["call.issued", "notices.ready", "notices.sent"]},
            expect=201,
        )
        # Alpha routes its notices to its finance team; its adviser receives statements only.
        for name, address, wants_notices in (
            ("Finance", "finance@alpha.example", True),
            ("Adviser", "adviser@alpha.example", False),
        ):
            await api.request(
                "POST",
                f"/investors/{investors[0]}/contacts",
                json={"name": name, "email": address, "notices": wants_notices},
                expect=201,
            )
        deal_id = await api.deal(fund_id, "Acme Robotics A")
        call = await api.draft(
            fund_id,
            [
                {"purpose": "investment", "amount": "400000.00", "deal_id": deal_id},
                {"purpose": "management_fee", "amount": "100000.00"},
            ],
        )
        await api.issue(fund_id, call["id"])

        async def rendered() -> bool:
            docs = await list_documents(client, org.api_key, f"call_id={call['id']}")
            return len(docs) == 3 and all(d["status"] == "ready" for d in docs)

        async def delivered() -> bool:
            return len(mailbox.messages) == 2 and len(receiver.requests) == 3

        with worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)):
            await eventually(rendered, timeout=90, what="three notices")
            await eventually(delivered, timeout=60, what="two mails and three webhook calls")

    notices = await list_documents(client, org.api_key, f"call_id={call['id']}")
    assert sorted(d["investor_id"] for d in notices) == sorted(investors)
    beta = next(d for d in notices if d["investor_id"] == investors[1])
    assert (beta["kind"], beta["fund_id"], beta["pages"]) == ("call_notice", fund_id, 1)
    pdf = await document_content(client, org.api_key, beta)
    assert hashlib.sha256(pdf).hexdigest() == beta["sha256"]
    assert len(pdf) == beta["size"]
    pdf_reader.check_structure(pdf)
    text = pdf_reader.text(pdf)
    # Beta holds 3/5 of the commitments: 240,000.00 of the investment, 60,000.00 of the fee.
    for expected in (
        "Capital Call Notice",
        "Beta Endowment",
        "Investment: Acme Robotics A",
        "240,000.00 USD",
        "60,000.00 USD",
        "300,000.00 USD",  # total due; also contributions after this call
        "3,000,000.00 USD",  # commitment; also unfunded before this call
        "2,700,000.00 USD",  # unfunded after
        "Bank of Example, IBAN GB00 EXAM 0000 0000 0000 00, ref. as below",
        f"CALL-{call['id'][-12:].upper()}",
        "2026-03-02",
    ):
        assert expected in text, expected

    recipients = sorted(m.rcpt_tos[0] for m in mailbox.messages)
    # Alpha's to the contact who receives notices; Beta's to its own address; Gamma has none.
    assert recipients == ["finance@alpha.example", "treasury@beta.example"]
    to_beta = next(m for m in mailbox.messages if m.rcpt_tos == ["treasury@beta.example"])
    assert isinstance(to_beta.content, bytes)
    message = email.message_from_bytes(to_beta.content, policy=email.policy.default)
    [attached] = list(message.iter_attachments())
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == pdf  # the very document, byte for byte

    kinds = sorted(json.loads(r.body)["type"] for r in receiver.requests)
    assert kinds == ["call.issued", "notices.ready", "notices.sent"]
    sent = next(json.loads(r.body) for r in receiver.requests if b"notices.sent" in r.body)
    # Three notices, two mailed: Gamma has no address to mail to.
    summary = {"call_id": call["id"], "fund_id": fund_id, "notices": 3, "sent": 2, "failed": 0}
    assert sent["data"] == summary
    issued = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call['id']}")
    assert issued["notices_sent_at"] is not None
    ready = next(json.loads(r.body) for r in receiver.requests if b"notices.ready" in r.body)
    assert ready["data"] | {"documents": 3, "call_id": call["id"]} == ready["data"]
    job = await api.request("GET", f"/jobs/{ready['data']['job_id']}")
    assert (job["kind"], job["status"], job["progress"], job["attempts"]) == (
        "call.notices",
        "succeeded",
        100,
        1,
    )
    deliveries = await api.request("GET", f"/webhooks/{hook['id']}/deliveries")
    assert {d["status"] for d in deliveries["items"]} == {"succeeded"}

    # Beta's own LP user sees Beta's notice, and nothing else.
    lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(investors[1]))
    assert [d["id"] for d in await list_documents(client, lp, f"call_id={call['id']}")] == [
        beta["id"]
    ]
    assert await document_content(client, lp, beta) == pdf
    alpha = next(d for d in notices if d["investor_id"] == investors[0])
    for path in (f"/documents/{alpha['id']}", f"/documents/{alpha['id']}/content"):
        response = await client.get(f"/api/v1{path}", headers=bearer(lp))
        assert response.status_code == 404, path
    response = await client.get(f"/api/v1/documents?investor_id={investors[0]}", headers=bearer(lp))
    assert response.status_code == 404


async def test_a_fund_report_renders_on_request_and_its_requester_is_told(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    role_keys: dict[Role, str],
    tmp_path: Path,
) -> None:
    api, fund_id, _ = await fund_with_investors(client, org.api_key)
    deals = [await api.deal(fund_id, f"Deal {n}") for n in range(3)]
    for deal in deals:
        await api.request(
            "POST", f"/funds/{fund_id}/deals/{deal}/allocations/prorata", json={"amount": "1000.01"}
        )
    body = {"kind": "allocations", "as_of": "2026-06-30"}
    refused = await client.post(
        f"/api/v1/funds/{fund_id}/reports", json=body, headers=bearer(role_keys[Role.viewer])
    )
    assert refused.status_code == 403
    response = await client.post(
        f"/api/v1/funds/{fund_id}/reports", json=body, headers=bearer(org.api_key)
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["status"], job["kind"]) == ("queued", "report.allocations")
    pending = await api.request("GET", f"/documents/{job['document_id']}")
    assert (pending["status"], pending["sha256"]) == ("pending", None)
    early = await client.get(
        f"/api/v1/documents/{job['document_id']}/content", headers=bearer(org.api_key)
    )
    assert early.status_code == 409

    async def done() -> bool:
        return bool((await api.request("GET", f"/jobs/{job['id']}"))["status"] == "succeeded")

    async def mailed() -> bool:
        return len(mailbox.messages) == 1

    with (
        smtp_server() as (port, mailbox),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(done, timeout=90, what="the report job")
        await eventually(mailed, timeout=60, what="the report-ready mail")
    document = await api.request("GET", f"/documents/{job['document_id']}")
    assert (document["status"], document["kind"], document["pages"]) == (
        "ready",
        "allocations_report",
        1,
    )
    pdf = await document_content(client, org.api_key, document)
    pdf_reader.check_structure(pdf)
    text = pdf_reader.text(pdf)
    assert "Allocations: 9" in text
    assert "Total: 3,000.03 USD" in text  # Σ of three prorata splits of 1,000.01, exact
    assert "Page 1 of 1" in text
    assert mailbox.messages[0].rcpt_tos == ["owner@a.example"]
    assert document["id"].encode() in mailbox.messages[0].content  # type: ignore[operator]


async def test_a_capital_account_statement_rolls_the_ledger_forward(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "50000.00"}])
    await api.issue(fund_id, call["id"])
    await api.pay(fund_id, call["id"], investors[1], "30000.00")
    job = await api.request(
        "POST",
        f"/funds/{fund_id}/reports",
        json={
            "kind": "capital_account_statement",
            "as_of": "2026-12-31",
            "investor_id": investors[1],
        },
        expect=202,
    )

    async def done() -> bool:
        return bool((await api.request("GET", f"/jobs/{job['id']}"))["status"] == "succeeded")

    with (
        smtp_server() as (port, _),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(done, timeout=90, what="the statement job")
    document = await api.request("GET", f"/documents/{job['document_id']}")
    assert document["investor_id"] == investors[1]
    assert document["period_start"] == "2026-01-01"
    text = pdf_reader.text(await document_content(client, org.api_key, document))
    for expected in (
        "Capital Account Statement",
        "Beta Endowment",
        "2026-12-31 (2026-Q4)",
        "Quarter to date\nYear to date\nInception to date",
        "Contributions: management fees\n0.00\n30,000.00\n30,000.00",  # 3/5 of the fee
        "Management fees\n0.00\n(30,000.00)\n(30,000.00)",  # charged as it is called
        "Paid in\n30,000.00 USD",
        "2,970,000.00 USD",  # unfunded
    ):
        assert expected in text, expected
    # The statement is the API's, figure for figure.
    assert await _ending_balances(api, fund_id, investors[1]) in text


async def _ending_balances(api: FundApi, fund_id: str, investor: str) -> str:
    """The ILPA table's last row as the PDF's text has it, from the API's statement."""
    found = await api.request(
        "GET",
        f"/funds/{fund_id}/investors/{investor}/capital-account/statement?as_of=2026-12-31",
    )
    endings = [f"{Decimal(found['columns'][p]['ending_balance']):,}" for p in ("qtd", "ytd", "itd")]
    return "Ending balance\n" + "\n".join(endings)


async def test_statements_for_every_investor_render_in_one_run(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """Without an investor: a statement per investor, one job, one mail, each statement the
    same bytes as the one asked alone; a retried run renders only what is still pending."""
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "50000.00"}])
    await api.issue(fund_id, call["id"])
    await api.pay(fund_id, call["id"], investors[0], "10000.00")
    for body, why in (
        ({"as_of": "2026-12-31", "period_start": "2027-01-01"}, "period_start must not be after"),
        ({"as_of": "2026-12-31", "investor_id": str(uuid.uuid4())}, "no commitment"),
    ):
        refused = await client.post(
            f"/api/v1/funds/{fund_id}/reports",
            json={"kind": "capital_account_statement", **body},
            headers=bearer(org.api_key),
        )
        assert refused.status_code == 422, refused.text
        assert why in refused.json()["detail"]
    empty_fund = await api.fund()
    refused = await client.post(
        f"/api/v1/funds/{empty_fund}/reports",
        json={"kind": "capital_account_statement", "as_of": "2026-12-31"},
        headers=bearer(org.api_key),
    )
    assert refused.status_code == 422
    assert "no investors committed by 2026-12-31" in refused.json()["detail"]

    statement = {"kind": "capital_account_statement", "as_of": "2026-12-31"}
    run = await api.request("POST", f"/funds/{fund_id}/reports", json=statement, expect=202)
    assert (run["kind"], run["document_id"]) == ("report.capital_account_statement", None)
    alone = await api.request(
        "POST",
        f"/funds/{fund_id}/reports",
        json={**statement, "investor_id": investors[2]},
        expect=202,
    )
    listed = await list_documents(client, org.api_key, f"fund_id={fund_id}")
    assert sorted(d["investor_id"] for d in listed if d["id"] != alone["document_id"]) == sorted(
        investors
    )
    assert {d["status"] for d in listed} == {"pending"}
    # As if a crash came after the first investor's statement: the job renders the rest only.
    skipped = next(d for d in listed if d["investor_id"] == investors[0])
    async with db.create_engine(database.owner_url).begin() as connection:
        await connection.execute(
            sa.text("UPDATE documents SET status = 'ready' WHERE id = :id"), {"id": skipped["id"]}
        )

    async def done() -> bool:
        jobs = [await api.request("GET", f"/jobs/{j['id']}") for j in (run, alone)]
        return all(j["status"] == "succeeded" for j in jobs)

    def to_requester() -> list[Any]:  # the call's notices go to investors
        return [m for m in mailbox.messages if m.rcpt_tos == ["owner@a.example"]]

    async def mailed() -> bool:
        return len(to_requester()) >= 2

    with (
        smtp_server() as (port, mailbox),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(done, timeout=90, what="the statement jobs")
        await eventually(mailed, timeout=60, what="the mails to the requester")
    assert len(to_requester()) == 2  # one for the run, one for the statement asked alone
    assert (await api.request("GET", f"/jobs/{run['id']}"))["progress"] == 100
    subjects = sorted(
        str(email.message_from_bytes(m.content, policy=email.policy.default)["subject"])
        for m in to_requester()
    )
    assert subjects[0] == "Your capital account statements are ready: 2026-01-01 to 2026-12-31"
    assert subjects[1].startswith("Your report is ready: capital-account-2026-01-01")
    statements = await list_documents(
        client, org.api_key, f"fund_id={fund_id}&kind=capital_account_statement&as_of=2026-12-31"
    )
    assert len(statements) == 4  # the run's three, and the one asked alone
    documents = {d["investor_id"]: d for d in statements if d["id"] != alone["document_id"]}
    notices = await list_documents(client, org.api_key, f"fund_id={fund_id}&kind=call_notice")
    assert {d["kind"] for d in notices} == {"call_notice"}
    assert await list_documents(client, org.api_key, f"fund_id={fund_id}&as_of=2025-12-31") == []
    assert documents[investors[0]]["sha256"] is None  # left alone: it was not pending
    for investor in investors[1:]:
        document = documents[investor]
        assert (document["status"], document["period_start"]) == ("ready", "2026-01-01")
        text = pdf_reader.text(await document_content(client, org.api_key, document))
        assert await _ending_balances(api, fund_id, investor) in text
    single = await api.request("GET", f"/documents/{alone['document_id']}")
    assert single["sha256"] == documents[investors[2]]["sha256"]  # the same statement


async def test_a_failed_statement_run_retried_renders_every_statement(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """A run whose attempts all failed leaves its statements `failed`; the admin's retry makes
    them pending again, and the retried run renders them (it renders what is pending)."""
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    statement = {"kind": "capital_account_statement", "as_of": "2026-12-31"}
    run = await api.request("POST", f"/funds/{fund_id}/reports", json=statement, expect=202)
    # The last attempt failed for good: the job's tracker records it (its documents fail with
    # it, whatever ended the job) and procrastinate marks its queue job failed.
    await job_service.Running(sessions, org_id=org.org_id, job_id=uuid.UUID(run["id"])).update(
        status=JobStatus.failed
    )
    async with db.create_engine(database.owner_url).begin() as connection:
        await connection.execute(
            sa.text(
                "UPDATE procrastinate_jobs SET status = 'failed' "
                "WHERE id = (SELECT queue_job_id FROM tenant_jobs WHERE id = :id)"
            ),
            {"id": run["id"]},
        )
    listed = await list_documents(client, org.api_key, f"fund_id={fund_id}")
    assert {d["status"] for d in listed} == {"failed"}

    retried = await api.request("POST", f"/jobs/{run['id']}/retry")
    assert retried["status"] == "queued"
    listed = await list_documents(client, org.api_key, f"fund_id={fund_id}")
    assert {d["status"] for d in listed} == {"pending"}

    async def done() -> bool:
        return bool((await api.request("GET", f"/jobs/{run['id']}"))["status"] == "succeeded")

    with (
        smtp_server() as (port, _),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(done, timeout=90, what="the retried run")
    listed = await list_documents(client, org.api_key, f"fund_id={fund_id}")
    assert sorted(d["investor_id"] for d in listed if d["status"] == "ready") == sorted(investors)


def test_the_web_process_never_loads_the_pdf_code(database: TestDatabase, tmp_path: Path) -> None:
    """Build the web app, run its startup and serve requests that enqueue rendering; then no
    PDF module may be loaded in that process."""
    script = f"""
import asyncio, sys
from httpx import ASGITransport, AsyncClient
from prorata.app import create_app
from prorata.config import Settings

async def main():
    app = create_app(Settings(env="test", app_database_url={database.app_url!r},
                              data_dir={str(tmp_path)!r}))
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            for path in ("/api/v1/openapi.json", "/api/v1/documents", "/api/system/health"):
                await client.get(path)
    loaded = sorted(m for m in sys.modules if m.startswith(("reportlab", "prorata.pdf",
                                                            "prorata.documents.render")))
    print(",".join(loaded) or "none")
    print("tasks" if "prorata.documents.tasks" in sys.modules else "no tasks")

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded, tasks = result.stdout.split()
    assert loaded == "none"
    assert tasks == "tasks"  # it does enqueue them: the check is not vacuous


async def test_notices_go_out_for_calls_still_due_whatever_the_funds_name(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """A call cancelled while its notices job waited in the queue: no notice is stored, and no
    investor is mailed a request for money that is not due. A fund whose name holds a line
    break (names take any text) still gets its notices mailed, the subject on one line."""
    api = FundApi(client, org.api_key)
    fund_id = await api.fund(name="Growth\nFund I", wire_instructions=WIRE)
    for name, mail in (("Alpha", "ops@alpha.example"), ("Beta", "treasury@beta.example")):
        investor = await api.request(
            "POST", "/investors", json={"name": name, "kind": "entity", "email": mail}, expect=201
        )
        await api.commit(fund_id, investor["id"], "1000.00")
    fee = [{"purpose": "management_fee", "amount": "500.00"}]
    cancelled = await api.call_and_issue(fund_id, fee)
    await api.request("POST", f"/funds/{fund_id}/capital-calls/{cancelled['id']}/cancel")
    due = await api.call_and_issue(fund_id, fee)

    async with db.create_engine(database.owner_url).begin() as connection:
        job_ids = (
            await connection.scalars(
                sa.text("SELECT id FROM tenant_jobs WHERE kind = 'call.notices' AND fund_id = :f"),
                {"f": fund_id},
            )
        ).all()
    assert len(job_ids) == 2

    async def done() -> bool:
        jobs = [await api.request("GET", f"/jobs/{job_id}") for job_id in job_ids]
        return all(j["status"] == "succeeded" for j in jobs) and len(mailbox.messages) >= 2

    with (
        smtp_server() as (port, mailbox),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(done, timeout=90, what="the notices of the call still due")
    assert await list_documents(client, org.api_key, f"call_id={cancelled['id']}") == []
    async with db.create_engine(database.owner_url).begin() as connection:
        queued = await connection.scalar(sa.text("SELECT count(*) FROM email_outbox"))
    assert queued == 2  # the due call's notices only
    assert len(mailbox.messages) == 2
    for message in mailbox.messages:
        assert isinstance(message.content, bytes)
        parsed = email.message_from_bytes(message.content, policy=email.policy.default)
        reference = f"CALL-{due['id'][-12:].upper()}"
        assert parsed["subject"] == f"Capital call notice {reference}: Growth Fund I"


async def test_notices_that_need_approval_are_rendered_for_preview_and_mailed_once_approved(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    await api.request("PATCH", f"/funds/{fund_id}", json={"notices_need_approval": True})
    admin = await add_member(sessions, org, Role.admin)
    with Receiver() as receiver, smtp_server() as (port, mailbox):
        await api.request(
            "POST",
            "/webhooks",
            json={
                "url": receiver.url,
                "events": ["notices.ready", "notices.approved", "notices.sent"],
            },
            expect=201,
        )
        call = await api.call_and_issue(
            fund_id, [{"purpose": "management_fee", "amount": "900.00"}]
        )
        assert call["notices"] == "awaiting_approval"

        async def rendered() -> bool:
            docs = await list_documents(client, org.api_key, f"call_id={call['id']}")
            return len(docs) == 3 and all(d["status"] == "ready" for d in docs)

        async def announced(kind: str) -> bool:
            return any(json.loads(r.body)["type"] == kind for r in receiver.requests)

        with worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)):
            await eventually(rendered, timeout=90, what="three notices to preview")
            await eventually(lambda: announced("notices.ready"), timeout=30, what="ready")
            # Rendered and previewable, but not one mail: nobody approved yet.
            docs = await list_documents(client, org.api_key, f"call_id={call['id']}")
            pdf_reader.check_structure(await document_content(client, org.api_key, docs[0]))
            assert mailbox.messages == []
            assert not await announced("notices.sent")
            lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(investors[0]))
            assert await list_documents(client, lp, f"call_id={call['id']}") == []  # held
            path = f"/api/v1/funds/{fund_id}/capital-calls/{call['id']}/notices/approve"
            approved = await client.post(path, headers=bearer(admin))
            assert approved.status_code == 200, approved.text
            await client.post(path, headers=bearer(admin))  # twice: mailed once all the same

            async def mailed() -> bool:
                return len(mailbox.messages) == 2

            await eventually(mailed, timeout=60, what="two notices mailed")
            await eventually(lambda: announced("notices.approved"), timeout=30, what="approved")
            await eventually(lambda: announced("notices.sent"), timeout=30, what="sent")
    kinds = [json.loads(r.body)["type"] for r in receiver.requests]
    assert kinds.count("notices.sent") == 1  # the last mail's word, announced once
    recipients = sorted(m.rcpt_tos[0] for m in mailbox.messages)
    assert recipients == ["ops@alpha.example", "treasury@beta.example"]
    assert len(investors) == 3
    [seen] = await list_documents(client, lp, f"call_id={call['id']}")  # released: its own
    assert seen["investor_id"] == investors[0]


async def test_a_statement_run_mails_each_statements_contact_a_link_or_the_pdf(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """A run mails every contact who receives statements (else the investor's own address), a
    link to the portal's documents by default, the PDF attached when the organisation says so;
    a contact who receives no statements, and an investor with no address, get nothing."""
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    for name, address, statements in (
        ("Finance", "finance@alpha.example", False),
        ("Adviser", "adviser@alpha.example", True),
    ):
        body = {"name": name, "email": address, "statements": statements}
        await api.request("POST", f"/investors/{investors[0]}/contacts", json=body, expect=201)
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "50000.00"}])
    await api.issue(fund_id, call["id"])
    assert (await api.request("GET", "/org"))["statement_delivery"] == "link"

    def statement_mails(quarter: str) -> dict[str, email.message.EmailMessage]:
        found = {}
        for envelope in mailbox.messages:
            assert isinstance(envelope.content, bytes)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            if str(message["subject"]).startswith(f"Capital account statement {quarter}:"):
                assert isinstance(message, email.message.EmailMessage)
                (recipient,) = envelope.rcpt_tos
                found[recipient] = message
        return found

    expected = {"adviser@alpha.example", "treasury@beta.example"}
    with (
        smtp_server() as (port, mailbox),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        for as_of, delivery in (("2026-09-30", "link"), ("2026-12-31", "attachment")):
            await api.request("PATCH", "/org", json={"statement_delivery": delivery})
            run = await api.request(
                "POST",
                f"/funds/{fund_id}/reports",
                json={"kind": "capital_account_statement", "as_of": as_of},
                expect=202,
            )
            quarter = "2026-Q3" if delivery == "link" else "2026-Q4"

            async def sent(run_id: str = run["id"], quarter: str = quarter) -> bool:
                job = await api.request("GET", f"/jobs/{run_id}")
                return job["status"] == "succeeded" and set(statement_mails(quarter)) == expected

            await eventually(sent, timeout=90, what=f"the {quarter} statements and their mails")
            listed = await list_documents(
                client,
                org.api_key,
                f"fund_id={fund_id}&kind=capital_account_statement&as_of={as_of}",
            )
            assert {d["status"] for d in listed} == {"ready"}
            documents = {d["investor_id"]: d for d in listed}
            for recipient, message in statement_mails(quarter).items():
                investor = investors[0] if "alpha" in recipient else investors[1]
                text = message.get_body(preferencelist=("plain",))
                assert text is not None
                content = text.get_content()
                attachments = list(message.iter_attachments())
                if delivery == "link":
                    assert "/portal/documents" in content, content
                    assert attachments == []
                else:
                    assert "It is attached." in content
                    (attached,) = attachments
                    assert attached.get_filename() == documents[investor]["filename"]
                    pdf = await document_content(client, org.api_key, documents[investor])
                    assert attached.get_content() == pdf
    assert len(statement_mails("2026-Q3")) == len(statement_mails("2026-Q4")) == 2
