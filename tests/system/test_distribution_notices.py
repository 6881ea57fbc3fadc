"""Distribution notices end to end: a distribution made through the API renders one notice
per investor with a share in a worker process, on the organisation's paper, and mails each to
the investor's contacts who receive distributions; an LP sees its own notice only; a
distribution cancelled before its job ran has none."""

from __future__ import annotations

import email
import email.policy
import io
import json
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pypdf
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.conftest import add_member
from tests.document_support import WIRE, document_content, fund_with_investors, list_documents
from tests.fund_support import FundApi
from tests.servers import Receiver, smtp_server, worker
from tests.support import TestDatabase, bearer, eventually
from tests.system.test_documents import _worker_env

RTL_NAME = "شركة الاستثمار"


def _text(pdf: bytes) -> tuple[str, str, tuple[float, float]]:
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=True)
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    box = reader.pages[0].mediabox
    title = str(reader.metadata.title if reader.metadata else None)
    return text, title, (float(box.width), float(box.height))


async def test_a_distribution_renders_and_mails_a_notice_to_each_investor(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    api = FundApi(client, org.api_key)
    await api.request(
        "PATCH",
        "/org",
        json={
            "legal_name": "Northwind Capital Partners LLC",
            "address": "200 Park Avenue, New York, NY 10166",
            "signature_block": "Jane Doe, Chief Financial Officer",
            "paper_size": "letter",
            "date_format": "us",
        },
    )
    fund_id = await api.fund(name="Northwind Growth Fund II", wire_instructions=WIRE)
    investors = []
    for name, mail, extra in (
        (RTL_NAME, "treasury@istithmar.example", {"attention": "Treasury", "external_ref": "SA-7"}),
        ("Beta Endowment", "ops@beta.example", {"address": "1 College Road\nBoston, MA"}),
    ):
        investor = await api.request(
            "POST",
            "/investors",
            json={"name": name, "kind": "entity", "email": mail, **extra},
            expect=201,
        )
        await api.commit(fund_id, investor["id"], "1000000.00")
        investors.append(str(investor["id"]))
    first, beta = investors
    # The first investor's distributions go to its custodian; its adviser takes notices only.
    for name, address, distributions in (
        ("Custodian", "custody@bank.example", True),
        ("Adviser", "adviser@istithmar.example", False),
    ):
        await api.request(
            "POST",
            f"/investors/{first}/contacts",
            json={"name": name, "email": address, "distributions": distributions},
            expect=201,
        )
    # Its distributions are paid to an account on file, printed masked on the notice.
    await api.request(
        "PUT",
        f"/investors/{first}/bank-account",
        json={
            "bank_name": "Commerzbank",
            "account_name": "Sharikat al-Istithmar",
            "account_number": "DE89370400440532013000",
            "routing": "COBADEFFXXX",
        },
    )
    await api.call_and_pay(fund_id, [{"purpose": "management_fee", "amount": "200000.00"}])
    cancelled = await api.distribute(fund_id, "50000.00", "2026-06-01")
    await api.request(
        "POST", f"/funds/{fund_id}/distributions/{cancelled['id']}/cancel", money=True
    )
    made = await api.distribute(fund_id, "300000.00", "2026-06-30")
    assert (cancelled["number"], made["number"]) == (1, 2)

    async def mailed() -> bool:
        docs = await list_documents(client, org.api_key, f"distribution_id={made['id']}")
        notices_mailed = [
            m for m in mailbox.messages if b"Distribution No. 2" in (m.content or b"")
        ]
        return len(docs) == 2 and len(notices_mailed) >= 2

    with (
        smtp_server() as (port, mailbox),
        worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)),
    ):
        await eventually(mailed, timeout=90, what="two distribution notices mailed")

    assert await list_documents(client, org.api_key, f"distribution_id={cancelled['id']}") == []
    notices = await list_documents(client, org.api_key, f"distribution_id={made['id']}")
    assert {d["kind"] for d in notices} == {"distribution_notice"}
    assert sorted(d["investor_id"] for d in notices) == sorted(investors)
    mine = next(d for d in notices if d["investor_id"] == first)
    pdf = await document_content(client, org.api_key, mine)
    text, title, size = _text(pdf)
    line = next(line for line in made["lines"] if line["investor_id"] == first)
    for expected in (
        "Northwind Capital Partners LLC",
        RTL_NAME,
        "Attn: Treasury",
        "Distribution Notice",
        "Distribution No. 2",
        "June 30, 2026",
        "NGFI-D002-SA7",
        f"Your gross share\n{float(line['amount']):,.2f} USD",
        f"Net amount paid to you\n{float(line['lp_amount']):,.2f} USD",
        "Jane Doe, Chief Financial Officer",
    ):
        assert expected in text, expected
    # The account masked (pypdf reads Helvetica's bullets back as DEL; the page shows them).
    [bank] = [line for line in text.splitlines() if line.startswith("Bank account on file: ")]
    assert bank.startswith("Bank account on file: Commerzbank")
    assert bank.endswith(" 3000")
    assert "0532013000" not in text
    assert title == "Distribution No. 2 — Northwind Growth Fund II"
    assert size == (612.0, 792.0)

    # Mailed to the contacts who receive distributions (else the investor's own address),
    # once each: the custodian, Beta; the cancelled distribution mailed nobody.
    notice_mail = [m for m in mailbox.messages if b"Distribution No. 2" in (m.content or b"")]
    assert sorted(m.rcpt_tos[0] for m in notice_mail) == [
        "custody@bank.example",
        "ops@beta.example",
    ]
    to_custodian = next(m for m in notice_mail if m.rcpt_tos == ["custody@bank.example"])
    assert isinstance(to_custodian.content, bytes)
    message = email.message_from_bytes(to_custodian.content, policy=email.policy.default)
    assert "NGFI-D002-SA7" in str(message["subject"])
    [attached] = list(message.iter_attachments())
    assert attached.get_content() == pdf
    async with db.create_engine(database.owner_url).begin() as connection:
        kinds = (
            await connection.scalars(
                sa.text("SELECT kind FROM email_outbox WHERE kind LIKE 'distribution%'")
            )
        ).all()
    assert kinds == ["distribution_notice", "distribution_notice"]

    # Beta's LP sees Beta's notice and not the other's.
    lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(beta))
    seen = await list_documents(client, lp, f"distribution_id={made['id']}")
    assert [d["investor_id"] for d in seen] == [beta]
    for path in (f"/documents/{mine['id']}", f"/documents/{mine['id']}/content"):
        response = await client.get(f"/api/v1{path}", headers=bearer(lp))
        assert response.status_code == 404, path


async def test_held_distribution_notices_are_mailed_once_another_admin_approves(
    client: AsyncClient,
    database: TestDatabase,
    settings: Settings,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """On a fund that needs approval the notices render for preview and nothing is mailed;
    one cancelled before release never is; another admin's approval mails the rest, and
    `notices.sent` is announced once with the distribution's id."""
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    await api.request("PATCH", f"/funds/{fund_id}", json={"notices_need_approval": True})
    lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(investors[0]))
    await api.call_and_pay(fund_id, [{"purpose": "management_fee", "amount": "900.00"}])
    admin = await add_member(sessions, org, Role.admin)
    with Receiver() as receiver, smtp_server() as (port, mailbox):
        await api.request(
            "POST",
            "/webhooks",
            json={"url": receiver.url, "events": ["notices.approved", "notices.sent"]},
            expect=201,
        )

        async def rendered(distribution: dict[str, Any]) -> bool:
            docs = await list_documents(
                client, org.api_key, f"distribution_id={distribution['id']}"
            )
            return len(docs) == 3 and all(d["status"] == "ready" for d in docs)

        def sent() -> list[dict[str, Any]]:
            bodies = [json.loads(r.body) for r in receiver.requests]
            return [b["data"] for b in bodies if b["type"] == "notices.sent"]

        async def announced_once() -> bool:
            return len(sent()) == 1

        with worker(database, log=tmp_path / "worker.log", **_worker_env(settings, port)):
            cancelled = await api.distribute(fund_id, "300.00", "2026-06-01")
            assert cancelled["notices"] == "awaiting_approval"
            await eventually(lambda: rendered(cancelled), timeout=90, what="held notices")
            await api.request(
                "POST", f"/funds/{fund_id}/distributions/{cancelled['id']}/cancel", money=True
            )
            made = await api.distribute(fund_id, "600.00", "2026-06-30")
            await eventually(lambda: rendered(made), timeout=90, what="notices to preview")
            assert mailbox.messages == []  # rendered, previewable, not one mail
            # Nor shown to the LP before release, by list or by URL.
            assert await list_documents(client, lp, f"distribution_id={made['id']}") == []
            [preview] = [
                d
                for d in await list_documents(client, org.api_key, f"distribution_id={made['id']}")
                if d["investor_id"] == investors[0]
            ]
            hidden = await client.get(f"/api/v1/documents/{preview['id']}", headers=bearer(lp))
            assert hidden.status_code == 404
            path = f"/api/v1/funds/{fund_id}/distributions/{made['id']}/notices/approve"
            own = await client.post(path, headers=bearer(org.api_key))
            assert own.status_code == 403
            approved = await client.post(path, headers=bearer(admin))
            assert approved.status_code == 200, approved.text
            await eventually(announced_once, timeout=60, what="notices.sent")
            got = await api.request("GET", f"/funds/{fund_id}/distributions/{made['id']}")
            assert got["notices_sent_at"] is not None
            [seen] = await list_documents(client, lp, f"distribution_id={made['id']}")
            assert seen["id"] == preview["id"]
    assert sorted(m.rcpt_tos[0] for m in mailbox.messages) == [
        "ops@alpha.example",
        "treasury@beta.example",
    ]
    assert all(b"Distribution No. 2" in (m.content or b"") for m in mailbox.messages)
    [data] = sent()
    assert data["distribution_id"] == made["id"]
    assert (data["notices"], data["sent"], data["failed"]) == (3, 2, 0)
