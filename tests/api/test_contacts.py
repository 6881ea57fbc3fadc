"""Investor contacts: several per investor, each choosing what it receives; GP members edit any
investor's, an LP its own (another investor's are not there), viewers only read; mail of a kind
goes to the contacts who receive it, else to the investor's own e-mail."""

from __future__ import annotations

import uuid

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.investors import contacts
from prorata.investors.models import MailKind
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.support import bearer


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def path(investor_id: str, contact_id: str = "") -> str:
    tail = f"/{contact_id}" if contact_id else ""
    return f"/api/v1/investors/{investor_id}/contacts{tail}"


async def test_gp_members_keep_an_investors_contacts(api: FundApi, client: AsyncClient) -> None:
    investor = await api.investor("Alpha Pension")
    made = await api.request(
        "POST",
        f"/investors/{investor}/contacts",
        json={"name": "Treasury desk", "email": "treasury@alpha.example", "statements": False},
        expect=201,
    )
    assert (made["notices"], made["statements"], made["distributions"]) == (True, False, True)
    twin = {"name": "Again", "email": "Treasury@Alpha.example"}
    refused = await api.request("POST", f"/investors/{investor}/contacts", json=twin, expect=409)
    assert "already has a contact" in refused["detail"]
    bad = {"name": "No address", "email": "not an address"}
    await api.request("POST", f"/investors/{investor}/contacts", json=bad, expect=422)
    changed = await api.request(
        "PATCH",
        f"/investors/{investor}/contacts/{made['id']}",
        json={"statements": True, "name": "Treasury"},
    )
    assert (changed["name"], changed["statements"]) == ("Treasury", True)
    await api.request(
        "PATCH", f"/investors/{investor}/contacts/{made['id']}", json={"email": None}, expect=422
    )
    listed = await api.request("GET", f"/investors/{investor}/contacts")
    assert [c["email"] for c in listed] == ["treasury@alpha.example"]
    other = await api.investor("Beta Endowment")
    await api.request(
        "PATCH", f"/investors/{other}/contacts/{made['id']}", json={"name": "X"}, expect=404
    )
    await api.request("DELETE", f"/investors/{investor}/contacts/{made['id']}", expect=204)
    assert await api.request("GET", f"/investors/{investor}/contacts") == []
    await api.request("GET", f"/investors/{uuid.uuid4()}/contacts", expect=404)


async def test_an_lp_edits_its_own_contacts_and_never_sees_another_investors(
    api: FundApi, client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    mine, theirs = await api.investor("Mine"), await api.investor("Theirs")
    lp = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    added = await client.post(
        path(mine), json={"name": "CFO", "email": "cfo@mine.example"}, headers=bearer(lp)
    )
    assert added.status_code == 201, added.text
    contact = added.json()["id"]
    changed = await client.patch(path(mine, contact), json={"notices": False}, headers=bearer(lp))
    assert changed.json()["notices"] is False
    for method, url, body in (
        ("GET", path(theirs), None),
        ("POST", path(theirs), {"name": "Spy", "email": "spy@x.example"}),
        ("PATCH", path(theirs, contact), {"name": "Spy"}),
        ("DELETE", path(theirs, contact), None),
    ):
        response = await client.request(method, url, json=body, headers=bearer(lp))
        assert response.status_code == 404, (method, url, response.text)
    viewer = await add_member(sessions, org, Role.viewer)
    assert (await client.get(path(mine), headers=bearer(viewer))).status_code == 200
    refused = await client.post(
        path(mine), json={"name": "V", "email": "v@x.example"}, headers=bearer(viewer)
    )
    assert refused.status_code == 403
    assert (await client.delete(path(mine, contact), headers=bearer(lp))).status_code == 204


async def test_mail_of_a_kind_goes_to_the_contacts_who_receive_it_else_the_investors_email(
    api: FundApi, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    routed = await api.request(
        "POST",
        "/investors",
        json={"name": "Routed", "kind": "entity", "email": "main@r.example"},
        expect=201,
    )
    plain = await api.request(
        "POST",
        "/investors",
        json={"name": "Plain", "kind": "entity", "email": "main@p.example"},
        expect=201,
    )
    silent = await api.investor("No address")
    for name, email, wants_notices in (
        ("Ops", "ops@r.example", True),
        ("Adviser", "adv@r.example", False),
    ):
        await api.request(
            "POST",
            f"/investors/{routed['id']}/contacts",
            json={"name": name, "email": email, "notices": wants_notices},
            expect=201,
        )
    ids = [uuid.UUID(routed["id"]), uuid.UUID(plain["id"]), uuid.UUID(silent)]
    async with db.tenant_transaction(sessions, org.org_id) as session:
        notices = await contacts.recipients(session, investor_ids=ids, kind=MailKind.notices)
        statements = await contacts.recipients(session, investor_ids=ids, kind=MailKind.statements)
    assert notices == {ids[0]: ["ops@r.example"], ids[1]: ["main@p.example"]}
    assert statements == {ids[0]: ["ops@r.example", "adv@r.example"], ids[1]: ["main@p.example"]}
