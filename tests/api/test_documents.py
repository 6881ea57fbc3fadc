"""Documents in process: report requests are checked, rendering is deterministic, notices state
the ledger as it was at each call, the notices job is the tenant's. (Rendering by a worker
process, mail and webhooks: tests/system/test_documents.py.)"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from prorata.tenant_jobs.models import TenantJob
from tests import pdf_reader
from tests.conftest import add_member
from tests.document_support import WIRE, fund_with_investors
from tests.fund_support import FundApi
from tests.support import bearer

PURPOSE_OF_LABEL = {
    "Investment": "investment",
    "Management fee": "management_fee",
    "Fund expenses": "fund_expenses",
}


async def test_report_requests_are_checked_and_an_lp_never_sees_a_pending_report(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    api, fund_id, investors = await fund_with_investors(client, org.api_key)
    path = f"/api/v1/funds/{fund_id}/reports"
    for body in (
        {"kind": "holdings", "as_of": "2026-06-30"},
        {"kind": "allocations", "as_of": "2026-02-30"},
        {"kind": "allocations"},
    ):
        refused = await client.post(path, json=body, headers=bearer(org.api_key))
        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"
    body = {"kind": "allocations", "as_of": "2026-06-30"}
    job = await api.request("POST", f"/funds/{fund_id}/reports", json=body, expect=202)
    # No worker: the report stays pending. To an LP it is not there (404), not "not ready" (409).
    lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(investors[0]))
    for document_path in (
        f"/documents/{job['document_id']}",
        f"/documents/{job['document_id']}/content",
    ):
        response = await client.get(f"/api/v1{document_path}", headers=bearer(lp))
        assert response.status_code == 404, (document_path, response.text)


async def test_rendering_is_deterministic(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    """The same input renders the same bytes, so a document's SHA-256 identifies it."""
    from prorata.capital_calls.models import CapitalCall
    from prorata.documents import content, render

    api, fund_id, _ = await fund_with_investors(client, org.api_key)
    call = await api.draft(fund_id, [{"purpose": "fund_expenses", "amount": "999.99"}])
    await api.issue(fund_id, call["id"])
    renders = []
    for _ in range(2):
        async with db.tenant_transaction(sessions, org.org_id) as session:
            issued = await session.get_one(CapitalCall, uuid.UUID(call["id"]))
            notices = await content.call_notices(session, call=issued)
        renders.append([render.notice_pdf(n).data for n in notices])
    assert renders[0] == renders[1]
    assert len({hashlib.sha256(pdf).digest() for pdf in renders[0]}) == 3  # one per investor


async def test_the_call_notices_job_is_recorded_for_the_tenant_only(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
) -> None:
    api, fund_id, _ = await fund_with_investors(client, org.api_key)
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "10.00"}])
    await api.issue(fund_id, call["id"])
    async with db.tenant_transaction(sessions, org.org_id) as session:
        [job] = (await session.scalars(sa.select(TenantJob))).all()
    assert (job.kind, str(job.status), str(job.fund_id)) == ("call.notices", "queued", fund_id)
    theirs = await client.get(f"/api/v1/jobs/{job.id}", headers=bearer(other_org.api_key))
    assert theirs.status_code == 404


async def test_notices_state_the_ledger_as_it_was_when_each_call_was_issued(
    client: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    """Three calls in a row, a cancelled one between them, a recallable distribution, a call of
    several purposes on two deals with an investor excused from one: every notice, rendered
    after all of that, states what the API said just before and just after its call was
    issued; a cancelled call has no notice, nor an investor with nothing to pay."""
    from prorata.capital_calls.models import CapitalCall
    from prorata.documents import content, render

    api = FundApi(client, org.api_key)
    fund_id = await api.fund("JPY", wire_instructions=WIRE)
    alpha, beta, gamma = await api.investors_with(fund_id, ["1000000", "3000000", "1000000"])
    first_deal, second_deal = await api.deal(fund_id, "Deal One"), await api.deal(fund_id, "Two")

    async def issued(items: list[dict[str, Any]], notice: str) -> tuple[Any, Any, Any]:
        before = await api.commitments(fund_id)
        call = await api.call_and_issue(fund_id, items, notice=notice)
        after = await api.commitments(fund_id)
        await api.pay_in_full(fund_id, call)  # contributed, so the distribution has a basis
        return call, before, after

    first = await issued([{"purpose": "management_fee", "amount": "50000"}], "2026-03-02")
    cancelled = await api.call_and_issue(
        fund_id, [{"purpose": "investment", "amount": "100000", "deal_id": first_deal}]
    )
    await api.request("POST", f"/funds/{fund_id}/capital-calls/{cancelled['id']}/cancel")
    await api.distribute(fund_id, "20000", "2026-04-01", kind="recallable")
    second = await issued(
        [
            {
                "purpose": "investment",
                "amount": "300001",
                "deal_id": first_deal,
                "excused_investor_ids": [gamma],
            },
            {"purpose": "investment", "amount": "200000", "deal_id": second_deal},
            {"purpose": "fund_expenses", "amount": "9999"},
        ],
        "2026-05-04",
    )
    third = await issued([{"purpose": "management_fee", "amount": "30000"}], "2026-06-01")
    assert second[1][beta]["recallable"] != "0"  # the distribution was recallable

    async def notices_of(call_id: str) -> list[content.Notice]:
        async with db.tenant_transaction(sessions, org.org_id) as session:
            call = await session.get_one(CapitalCall, uuid.UUID(call_id))
            return await content.call_notices(session, call=call)

    assert await notices_of(cancelled["id"]) == []
    for call, before, after in (first, second, third):
        lines = {line["investor_id"]: line for line in call["lines"]}
        notices = await notices_of(call["id"])
        assert sorted(str(n.investor_id) for n in notices) == sorted(lines)
        for notice in notices:
            investor, line = str(notice.investor_id), lines[str(notice.investor_id)]
            by_purpose: dict[str, Any] = {}
            for label, amount in notice.lines:
                purpose = PURPOSE_OF_LABEL[label.split(":")[0]]
                by_purpose[purpose] = by_purpose.get(purpose, 0) + amount
            assert {p: str(a) for p, a in by_purpose.items()} == line["amounts"]
            assert sum(by_purpose.values()) == notice.total
            assert str(notice.total) == line["total"]
            assert str(notice.commitment) == after[investor]["amount"]
            # The notice states capital called to date (paid or not) and what is left to call.
            assert str(notice.contributed_before) == before[investor]["called"]
            assert str(notice.unfunded_before) == before[investor]["unfunded"]
            assert str(notice.contributed_after) == after[investor]["called"]
            assert str(notice.unfunded_after) == after[investor]["unfunded"]
    second_notices = {str(n.investor_id): n for n in await notices_of(second[0]["id"])}
    assert [label for label, _ in second_notices[gamma].lines] == [
        "Investment: Two",
        "Fund expenses",
    ]
    assert [label for label, _ in second_notices[beta].lines] == [
        "Investment: Deal One",
        "Investment: Two",
        "Fund expenses",
    ]
    text = pdf_reader.text(render.notice_pdf(second_notices[beta]).data)
    assert "Commitment\n3,000,000 JPY" in text
    assert f"Total amount due\n{int(second_notices[beta].total):,} JPY" in text
    assert alpha in second_notices
    figures = text.split("Amount due by purpose")[1].split("Wire instructions")[0]
    # Amounts in yen have no decimals (the percentages of the commitment have two).
    assert [line for line in figures.splitlines() if "." in line and not line.endswith("%")] == []
    assert "Called to date with this call, % of commitment" in figures
