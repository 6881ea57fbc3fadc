"""What letters are made of, through the API: the organisation's paper and date format, the
investor's address and attention line, the fund's late-payment terms, call and distribution
numbers per fund; and a call's notices carrying them (payment reference, % called), on the
letterhead read from the database and the object store."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.api.test_org_logo import image, put_logo
from tests.fund_support import FundApi
from tests.support import bearer

LATE = "Late amounts bear interest at 8% a year; see Section 5.4 (Defaulting Partners)."


async def test_the_org_chooses_its_paper_and_date_format(client: AsyncClient, org: NewOrg) -> None:
    api = FundApi(client, org.api_key)
    settings = await api.request("GET", "/org")
    assert (settings["paper_size"], settings["date_format"]) == ("a4", "iso")
    changed = await api.request("PATCH", "/org", json={"paper_size": "letter", "date_format": "us"})
    assert (changed["paper_size"], changed["date_format"]) == ("letter", "us")
    for body in ({"paper_size": "legal"}, {"date_format": "dd/mm"}, {"paper_size": None}):
        response = await client.patch("/api/v1/org", json=body, headers=bearer(org.api_key))
        assert response.status_code == 422, body
    assert (await api.request("GET", "/org"))["paper_size"] == "letter"


async def test_investors_have_an_address_and_an_attention_line(
    client: AsyncClient, org: NewOrg
) -> None:
    api = FundApi(client, org.api_key)
    made = await api.request(
        "POST",
        "/investors",
        json={
            "name": "Alpha Pension",
            "kind": "entity",
            "address": "1 Main Street\nSpringfield, IL 62701",
            "attention": "Head of Private Markets",
        },
        expect=201,
    )
    assert made["address"] == "1 Main Street\nSpringfield, IL 62701"
    assert made["attention"] == "Head of Private Markets"
    patched = await api.request(
        "PATCH", f"/investors/{made['id']}", json={"attention": "Treasury", "address": None}
    )
    assert (patched["attention"], patched["address"]) == ("Treasury", None)
    response = await client.patch(
        f"/api/v1/investors/{made['id']}",
        json={"attention": "x" * 201},
        headers=bearer(org.api_key),
    )
    assert response.status_code == 422


async def test_calls_are_numbered_as_issued_and_their_notices_say_so(
    client: AsyncClient,
    app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    from prorata.capital_calls.models import CapitalCall
    from prorata.distributions.models import Distribution
    from prorata.documents import content, distribution_content, letters, render

    api = FundApi(client, org.api_key)
    fund_id = await api.fund(name="Atlas Buyout Fund III", late_payment_terms=LATE)
    assert (await api.request("GET", f"/funds/{fund_id}"))["late_payment_terms"] == LATE
    alpha, beta = await api.investors_with(fund_id, ["1000000.00", "3000000.00"])
    await api.request("PATCH", f"/investors/{alpha}", json={"external_ref": "crm-0042"})
    fee = [{"purpose": "management_fee", "amount": "40000.00"}]
    draft = await api.draft(fund_id, fee)
    assert draft["number"] is None  # a draft has none: a discarded draft leaves no gap
    discarded = await api.draft(fund_id, fee)
    await api.request("POST", f"/funds/{fund_id}/capital-calls/{discarded['id']}/cancel")
    first = await api.issue(fund_id, draft["id"])
    second = await api.call_and_pay(fund_id, fee)
    assert (first["number"], second["number"]) == (1, 2)
    other_fund = await api.fund()
    (other,) = await api.investors_with(other_fund, ["10.00"])
    assert (await api.call_and_issue(other_fund, [fee[0] | {"amount": "1.00"}]))["number"] == 1

    distribution = await api.distribute(fund_id, "1000.00", "2026-06-30")
    assert distribution["number"] == 1
    listed = await api.request("GET", f"/funds/{fund_id}/distributions")
    assert [d["number"] for d in listed["items"]] == [1]

    await api.request(
        "PATCH",
        "/org",
        json={"legal_name": "Atlas Partners LP", "paper_size": "letter", "date_format": "eu"},
    )
    assert await put_logo(client, org.api_key, image("PNG"), "image/png") == 204
    async with db.tenant_transaction(sessions, org.org_id) as session:
        call = await session.get_one(CapitalCall, uuid.UUID(second["id"]))
        notices = {str(n.investor_id): n for n in await content.call_notices(session, call=call)}
        letter = await letters.letterhead(session, app.state.blobs, org_id=org.org_id)
        made = await session.get_one(Distribution, uuid.UUID(distribution["id"]))
        paid = {
            str(n.investor_id): n
            for n in await distribution_content.distribution_notices(session, distribution=made)
        }
    assert letter.name == "Atlas Partners LP"
    assert letter.logo == image("PNG")
    notice = notices[alpha]
    assert notice.number == 2
    assert notice.payment_reference == "ABFI-C002-CRM0042"
    assert notices[beta].payment_reference == f"ABFI-C002-{uuid.UUID(beta).hex[-8:].upper()}"
    assert notice.late_payment_terms == LATE
    # Alpha holds 1/4: 10,000 of each 40,000 call on a 1,000,000 commitment.
    assert (notice.called_percent, notice.cumulative_percent) == ("1.00%", "2.00%")
    text = _text(render.notice_pdf(notice, letter).data)
    for expected in ("Atlas Partners LP", "Capital Call No. 2", "ABFI-C002-CRM0042", LATE):
        assert expected in text, expected
    assert "2 March 2026" in text  # the EU format

    share = paid[beta]
    assert share.number == 1
    assert share.gross == Decimal("750.00")
    assert sum((amount for _, amount in share.tiers), Decimal(0)) == share.gross
    assert share.net + share.carried_interest == share.gross
    line: dict[str, Any] = next(x for x in distribution["lines"] if x["investor_id"] == beta)
    assert str(share.net) == line["lp_amount"]
    assert share.distributed_to_date == share.net
    assert share.bank_account is None  # no bank details on file until that branch lands
    assert other not in paid


def _text(pdf: bytes) -> str:
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)
