"""The LP portal: an investor member sees its own commitments, statements, documents and
contacts — the API's numbers — and nothing of any other investor, by URL too."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.console import portal
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.api.test_console_funds import cells
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, hidden_token, person, sign_in

OWNER = "owner@a.example"


async def test_an_lp_sees_its_commitments_and_statements_as_the_api_gives_them(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    first, second, elsewhere = await api.fund(), await api.fund(), await api.fund()
    mine = await api.investor("Alpine Pension Fund")
    theirs = await api.investor("Baltic Family Office")
    for fund in (first, second):
        await api.commit(fund, mine, "600000.00")
        await api.commit(fund, theirs, "400000.00")
    await api.commit(elsewhere, theirs, "100000.00")
    call = await api.call_and_issue(first, [{"purpose": "management_fee", "amount": "1000.00"}])
    await api.pay(first, call["id"], mine, "600.00")
    await api.request(
        "POST",
        f"/funds/{first}/valuations",
        json={"as_of": "2026-06-30", "nav": "1500.00"},
        expect=201,
    )
    _, lp = await person(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    await sign_in(client, lp)

    home = await client.get("/")
    assert home.status_code == 200
    assert "Alpine Pension Fund" in home.text
    names = {
        (await api.request("GET", f"/funds/{f}"))["name"]: f for f in (first, second, elsewhere)
    }
    listed = re.findall(r'/portal/funds/([0-9a-f-]+)">([^<]+)</a>', home.text)
    assert sorted(fund for fund, _ in listed) == sorted([first, second])  # not `elsewhere`
    api_account = await api.request("GET", f"/funds/{first}/investors/{mine}/capital-account")
    row = cells(home.text)
    start = row.index(next(n for n, f in names.items() if f == first))
    assert row[start + 2] == "600,000.00"  # commitment
    assert row[start + 6] == f"{float(api_account['ending_balance']):,.2f}"

    # The chart of every fund in the currency, with its figures.
    assert 'data-figures="capital-data-USD"' in home.text
    assert _home_points(home.text)[-1]["contributed"] == api_account["contributions"]
    statement = await client.get(f"/portal/funds/{first}?from=2026-01-01&to=2026-06-30")
    expected = await api.request(
        "GET", f"/funds/{first}/investors/{mine}/capital-account?from=2026-01-01&to=2026-06-30"
    )
    lines = cells(statement.text)
    assert lines[lines.index("Ending balance at 2026-06-30") + 1] == (
        f"{float(expected['ending_balance']):,.2f}"
    )
    assert lines[lines.index("Contributions") + 1] == f"{float(expected['contributions']):,.2f}"
    # The chart's figures: the capital account at the month's end, as the statement has it.
    june = lines[lines.index("2026-06") : lines.index("2026-06") + 4]
    assert june[3] == lines[lines.index("Ending balance at 2026-06-30") + 1]
    assert 'id="capital-data"' in statement.text
    # Another investor's fund, a fund that does not exist: not there.
    assert (await client.get(f"/portal/funds/{elsewhere}")).status_code == 404
    assert (await client.get(f"/portal/funds/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/portal/documents")).status_code == 200
    # The GP console is not the LP's.
    assert (await client.get(f"/funds/{first}")).status_code in {403, 404}

    client.cookies.clear()
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    assert (await client.get("/portal/documents")).status_code == 404  # the GP's is the console


async def test_an_lp_keeps_its_contacts_in_the_portal(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    mine = await api.investor("Alpine")
    other = await api.investor("Baltic")
    _, lp = await person(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    await sign_in(client, lp)
    page = await client.get("/portal/contacts")
    token = hidden_token(page.text)
    added = await client.post(
        "/portal/contacts",
        data={
            "csrf_token": token,
            "name": "Treasury",
            "email": "t@alpine.example",
            "notices": "on",
        },
    )
    assert added.status_code == 303
    [contact] = await api.request("GET", f"/investors/{mine}/contacts")
    assert (contact["notices"], contact["statements"]) == (True, False)
    refused = await client.post(
        "/portal/contacts", data={"csrf_token": token, "name": "X", "email": "T@alpine.example"}
    )
    assert refused.status_code == 409
    assert 'id="contact-error"' in refused.text
    changed = await client.post(
        f"/portal/contacts/{contact['id']}", data={"csrf_token": token, "statements": "on"}
    )
    assert changed.status_code == 303
    [contact] = await api.request("GET", f"/investors/{mine}/contacts")
    assert (contact["notices"], contact["statements"]) == (False, True)
    # Another investor's contact, by URL: not there.
    theirs = await api.request(
        "POST",
        f"/investors/{other}/contacts",
        json={"name": "B", "email": "b@b.example"},
        expect=201,
    )
    stolen = await client.post(
        f"/portal/contacts/{theirs['id']}/remove", data={"csrf_token": token}
    )
    assert stolen.status_code == 404
    assert len(await api.request("GET", f"/investors/{other}/contacts")) == 1
    removed = await client.post(
        f"/portal/contacts/{contact['id']}/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert await api.request("GET", f"/investors/{mine}/contacts") == []


async def test_an_lp_keeps_the_address_of_its_letters(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    mine = await api.investor("Alpine")
    _, lp = await person(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    await sign_in(client, lp)
    page = await client.get("/portal/contacts")
    assert 'id="addressee-heading"' in page.text
    token = hidden_token(page.text)
    saved = await client.post(
        "/portal/addressee",
        data={"csrf_token": token, "attention": "Treasury", "address": "1 Quay\nZurich"},
    )
    assert saved.status_code == 303
    investor = await api.request("GET", f"/investors/{mine}")
    assert (investor["attention"], investor["address"]) == ("Treasury", "1 Quay\nZurich")
    refused = await client.post(
        "/portal/addressee", data={"csrf_token": token, "attention": "x" * 201, "address": ""}
    )
    assert refused.status_code == 422
    assert 'id="addressee-error"' in refused.text
    investor = await api.request("GET", f"/investors/{mine}")
    assert investor["attention"] == "Treasury"  # nothing of the refused form written


def _home_points(html: str) -> list[dict[str, str]]:
    found = re.search(r'<script type="application/json" id="capital-data-USD">(.*?)</script>', html)
    assert found
    points: list[dict[str, str]] = json.loads(found.group(1))["points"]
    return points


def test_funds_figures_add_up_month_by_month() -> None:
    """A fund with no movement in a month counts with its figures of the month before."""
    d = Decimal
    first = [
        {"month": "2026-01", "contributed": d(100), "distributed": d(0), "nav": d(100)},
        {"month": "2026-03", "contributed": d(150), "distributed": d(10), "nav": d(160)},
    ]
    second = [{"month": "2026-02", "contributed": d(40), "distributed": d(0), "nav": d(45)}]
    assert portal._summed([first, second]) == [
        {"month": "2026-01", "contributed": d(100), "distributed": d(0), "nav": d(100)},
        {"month": "2026-02", "contributed": d(140), "distributed": d(0), "nav": d(145)},
        {"month": "2026-03", "contributed": d(190), "distributed": d(10), "nav": d(205)},
    ]
