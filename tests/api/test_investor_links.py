"""A person linked to several investors of the organisation (a family office's entities): one
link per investor, set by an admin; the API and the portal show each linked investor's data
and nothing of any other; the portal switches between them."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, hidden_token, person, sign_in

OWNER = "owner@a.example"


async def _member_key(api: FundApi, user_id: str) -> FundApi:
    key = await api.request("POST", f"/users/{user_id}/api-keys", json={"name": "lp"}, expect=201)
    return FundApi(api.client, key["api_key"])


async def test_an_admin_links_a_member_to_several_investors(
    client: AsyncClient, org: NewOrg
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    trust, holdings, stranger = [
        await api.investor(name) for name in ("Aster Trust", "Aster Holdings", "Birch LP")
    ]
    for investor in (trust, holdings, stranger):
        await api.commit(fund, investor, "100000.00")
    member = await api.request(
        "POST",
        "/users",
        json={
            "email": "cfo@aster.example",
            "role": "investor",
            "investor_ids": [trust, holdings],
        },
        expect=201,
    )
    assert member["investor_id"] == trust  # the first is the default
    assert member["investor_ids"] == [trust, holdings]
    lp = await _member_key(api, member["id"])
    me = await lp.request("GET", "/me")
    assert (me["investor_id"], sorted(me["investor_ids"])) == (trust, sorted([trust, holdings]))
    for mine in (trust, holdings):
        await lp.request("GET", f"/funds/{fund}/investors/{mine}/capital-account")
    await lp.request("GET", f"/funds/{fund}/investors/{stranger}/capital-account", expect=404)
    await lp.request("GET", f"/investors/{stranger}/contacts", expect=404)

    # The links replaced: the default moves to a linked one, the unlinked one is gone.
    changed = await api.request(
        "PATCH", f"/users/{member['id']}", json={"investor_ids": [holdings, stranger]}
    )
    assert changed["investor_id"] == holdings
    assert sorted(changed["investor_ids"]) == sorted([holdings, stranger])
    await lp.request("GET", f"/funds/{fund}/investors/{trust}/capital-account", expect=404)
    await lp.request("GET", f"/funds/{fund}/investors/{stranger}/capital-account")

    # The default named among them; one not linked is refused in the API's words.
    refused = await api.request(
        "PATCH",
        f"/users/{member['id']}",
        json={"investor_ids": [holdings], "investor_id": trust},
        expect=422,
    )
    assert refused["detail"] == "investor_id must be one of investor_ids"
    await api.request(
        "PATCH", f"/users/{member['id']}", json={"investor_ids": [str(uuid.uuid4())]}, expect=422
    )
    # Setting `investor_id` alone links that investor only, as before links were several.
    single = await api.request("PATCH", f"/users/{member['id']}", json={"investor_id": trust})
    assert (single["investor_id"], single["investor_ids"]) == (trust, [trust])
    # Another role has no links at all.
    viewer = await api.request("PATCH", f"/users/{member['id']}", json={"role": "viewer"})
    assert (viewer["investor_id"], viewer["investor_ids"]) == (None, [])
    await api.request("PATCH", f"/users/{member['id']}", json={"investor_ids": [trust]}, expect=422)
    listed = await api.request("GET", "/users")
    assert {m["id"]: m["investor_ids"] for m in listed["items"]}[member["id"]] == []


async def test_the_portal_switches_between_linked_investors(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    trust, holdings, stranger = [
        await api.investor(name) for name in ("Aster Trust", "Aster Holdings", "Birch LP")
    ]
    for investor in (trust, holdings, stranger):
        await api.commit(fund, investor, "100000.00")
    user_id, email = await person(sessions, org, Role.investor, investor_id=uuid.UUID(trust))
    await api.request("PATCH", f"/users/{user_id}", json={"investor_ids": [trust, holdings]})
    await sign_in(client, email)

    home = await client.get("/")
    assert 'id="switch-investor"' in home.text
    assert "<h1>Aster Trust</h1>" in home.text
    switched = await client.post(
        "/portal/investor", data={"csrf_token": hidden_token(home.text), "investor_id": holdings}
    )
    assert switched.status_code == 303
    home = await client.get("/")
    assert "<h1>Aster Holdings</h1>" in home.text
    assert f'<option value="{holdings}" selected>' in home.text
    contacts = await client.get("/portal/contacts")
    assert "Aster Holdings" in contacts.text
    # An investor not linked, or no investor at all: not there; the switch stays as it was.
    for refused in (stranger, "not-an-id"):
        answer = await client.post(
            "/portal/investor",
            data={"csrf_token": hidden_token(home.text), "investor_id": refused},
        )
        assert answer.status_code == 404
    assert "<h1>Aster Holdings</h1>" in (await client.get("/")).text
    # Unlinked by an admin: the session falls back to the default investor.
    await api.request("PATCH", f"/users/{user_id}", json={"investor_ids": [trust]})
    home = await client.get("/")
    assert "<h1>Aster Trust</h1>" in home.text
    assert 'id="switch-investor"' not in home.text


async def test_an_admin_gives_and_takes_portal_access_on_the_investor_page(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    trust, holdings = [await api.investor(name) for name in ("Aster Trust", "Aster Holdings")]
    for investor in (trust, holdings):
        await api.commit(fund, investor, "100000.00")
    user_id, email = await person(sessions, org, Role.investor, investor_id=uuid.UUID(trust))
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    here = f"/funds/{fund}/investors/{holdings}"
    page = await client.get(here)
    assert "Nobody sees this investor in the portal yet." in page.text
    assert f'<option value="{user_id}">{email}</option>' in page.text
    token = hidden_token(page.text)

    given = await client.post(f"{here}/access", data={"csrf_token": token, "user_id": user_id})
    assert given.status_code == 303
    member = await api.request("GET", f"/users/{user_id}")
    assert (member["investor_id"], member["investor_ids"]) == (trust, [trust, holdings])
    page = await client.get(here)
    assert f"<td>{email}</td>" in page.text

    invited = await client.post(
        f"{here}/invite", data={"csrf_token": token, "email": "treasurer@aster.example"}
    )
    assert invited.status_code == 303
    [invitation] = [
        i
        for i in (await api.request("GET", "/invitations"))["items"]
        if i["email"] == "treasurer@aster.example"
    ]
    assert (invitation["role"], invitation["investor_id"]) == ("investor", holdings)
    refused = await client.post(f"{here}/invite", data={"csrf_token": token, "email": "nope"})
    assert refused.status_code == 422
    assert 'id="access-error"' in refused.text

    taken = await client.post(f"{here}/access/{user_id}/remove", data={"csrf_token": token})
    assert taken.status_code == 303
    assert (await api.request("GET", f"/users/{user_id}"))["investor_ids"] == [trust]
    # The member's only investor stays: removing the member is the way to take it away.
    last = await client.post(
        f"/funds/{fund}/investors/{trust}/access/{user_id}/remove", data={"csrf_token": token}
    )
    assert last.status_code == 409
    assert "remove the member instead" in last.text
