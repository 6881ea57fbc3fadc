"""Invitations: the API's contract, the link that makes the user, and an LP who gets in and sees
only its own investor."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.sign_in_support import PASSWORD, audit_actions, hidden_token, link_in_outbox
from tests.support import TestDatabase, bearer


async def invite(client: AsyncClient, api_key: str, **body: object) -> dict[str, object]:
    response = await client.post("/api/v1/invitations", json=body, headers=bearer(api_key))
    assert response.status_code == 201, response.text
    invitation: dict[str, object] = response.json()
    return invitation


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def browser(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://prorata.test")


async def accept(browser: AsyncClient, link: str, password: str = PASSWORD, name: str = "") -> None:
    """A browser follows the link and chooses a password (and is signed in)."""
    page = await browser.get(path_of(link))
    assert page.status_code == 200, page.text
    done = await browser.post(
        path_of(link),
        data={"name": name, "password": password, "csrf_token": hidden_token(page.text)},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"


async def test_an_invitee_follows_the_link_chooses_a_password_and_is_in(
    client: AsyncClient, app: FastAPI, org: NewOrg, database: TestDatabase
) -> None:
    invitation = await invite(client, org.api_key, email="cfo@a.example", role="manager")
    assert set(invitation) == {
        "id",
        "email",
        "role",
        "investor_id",
        "status",
        "expires_at",
        "created_at",
    }
    assert invitation["status"] == "pending"
    assert invitation["investor_id"] is None
    expires = dt.datetime.fromisoformat(str(invitation["expires_at"]))
    assert abs(expires - dt.datetime.now(dt.UTC) - dt.timedelta(days=7)) < dt.timedelta(minutes=1)
    link = link_in_outbox(database.owner_url, "invitation", "cfo@a.example")
    assert link.startswith("http://127.0.0.1:8000/invitations/")
    with psycopg.connect(database.owner_url) as conn:
        stored = conn.execute("SELECT token_hash FROM invitations").fetchone()
    assert stored is not None
    assert link.rsplit("/", 1)[1] not in stored[0]  # a hash at rest, not the token

    page = await client.get(path_of(link))
    assert "cfo@a.example" in page.text
    weak = await client.post(
        path_of(link), data={"password": "short", "csrf_token": hidden_token(page.text)}
    )
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.text
    async with browser(app) as invitee:
        await accept(invitee, link, name="Carla Fonseca")
        me = (await invitee.get("/api/v1/me")).json()
        assert me["user"] == {
            "id": me["user"]["id"],
            "email": "cfo@a.example",
            "name": "Carla Fonseca",
        }
        assert me["role"] == "manager"
    used = await client.get(path_of(link))
    assert used.status_code == 404
    assert "was used already" in used.text
    listed = (await client.get("/api/v1/invitations", headers=bearer(org.api_key))).json()
    assert [i["status"] for i in listed["items"]] == ["accepted"]
    actions = [action for action, _ in audit_actions(database.owner_url, org.org_id)]
    assert "invitation.send" in actions
    assert "invitation.accept" in actions


async def test_an_lp_invited_for_an_investor_sees_only_that_investor(
    client: AsyncClient, app: FastAPI, org: NewOrg, database: TestDatabase
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    mine, theirs = await api.investors_with(fund_id, ["600000.00", "400000.00"])
    await api.call_and_pay(fund_id, [{"purpose": "fund_expenses", "amount": "100000.00"}])
    missing = await client.post(
        "/api/v1/invitations",
        json={"email": "lp@family.example", "role": "investor"},
        headers=bearer(org.api_key),
    )
    assert missing.status_code == 422
    assert "investor_id is required" in missing.json()["detail"]
    await invite(client, org.api_key, email="lp@family.example", role="investor", investor_id=mine)
    link = link_in_outbox(database.owner_url, "invitation", "lp@family.example")
    async with browser(app) as lp:
        await accept(lp, link)
        own = await lp.get(f"/api/v1/funds/{fund_id}/investors/{mine}/capital-account")
        assert own.status_code == 200
        assert own.json()["contributed"] == "60000.00"
        other = await lp.get(f"/api/v1/funds/{fund_id}/investors/{theirs}/capital-account")
        assert other.status_code == 404
        assert (await lp.get("/api/v1/investors")).status_code == 403
        assert (await lp.get(f"/api/v1/funds/{fund_id}/metrics")).status_code == 200
        docs = (await lp.get("/api/v1/documents")).json()["items"]
        assert {d["investor_id"] for d in docs} <= {str(mine)}


async def test_invitations_are_checked_like_the_members_they_make(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession], other_org: NewOrg
) -> None:
    admin = await add_member(sessions, org, Role.admin)
    viewer = await add_member(sessions, org, Role.viewer)
    theirs = FundApi(client, other_org.api_key)
    [their_investor] = await theirs.investors_with(await theirs.fund(), ["1.00"])

    async def status(api_key: str, **body: object) -> int:
        response = await client.post("/api/v1/invitations", json=body, headers=bearer(api_key))
        return response.status_code

    assert await status(org.api_key, email="owner@a.example", role="viewer") == 409
    assert await status(admin, email="boss@a.example", role="owner") == 403
    assert await status(viewer, email="friend@a.example", role="viewer") == 403
    assert (
        await status(
            org.api_key, email="x@a.example", role="viewer", investor_id=str(their_investor)
        )
        == 422
    )
    assert (
        await status(
            org.api_key, email="y@a.example", role="investor", investor_id=str(their_investor)
        )
        == 422
    )
    assert await status(org.api_key, email="not an address", role="viewer") == 422
    assert await status(admin, email="peer@a.example", role="admin") == 201


async def test_revoked_replaced_and_expired_links_stop_working(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    first = await invite(client, org.api_key, email="a@a.example", role="viewer")
    first_link = link_in_outbox(database.owner_url, "invitation", "a@a.example")
    await invite(client, org.api_key, email="A@a.example", role="viewer")  # sent again
    assert (await client.get(path_of(first_link))).status_code == 404
    second_link = link_in_outbox(database.owner_url, "invitation", "A@a.example")
    assert (await client.get(path_of(second_link))).status_code == 200
    listed = (await client.get("/api/v1/invitations", headers=bearer(org.api_key))).json()
    by_id = {i["id"]: i["status"] for i in listed["items"]}
    assert by_id[first["id"]] == "revoked"
    assert sorted(by_id.values()) == ["pending", "revoked"]

    [pending] = [i for i, s in by_id.items() if s == "pending"]
    revoked = await client.delete(f"/api/v1/invitations/{pending}", headers=bearer(org.api_key))
    assert revoked.status_code == 204
    assert (await client.get(path_of(second_link))).status_code == 404
    again = await client.delete(f"/api/v1/invitations/{pending}", headers=bearer(org.api_key))
    assert again.status_code == 204
    unknown = await client.delete(
        f"/api/v1/invitations/{uuid.uuid4()}", headers=bearer(org.api_key)
    )
    assert unknown.status_code == 404

    await invite(client, org.api_key, email="late@a.example", role="viewer")
    late_link = link_in_outbox(database.owner_url, "invitation", "late@a.example")
    with psycopg.connect(database.owner_url) as conn:
        conn.execute("UPDATE invitations SET expires_at = now() WHERE email = 'late@a.example'")
    assert (await client.get(path_of(late_link))).status_code == 404
    listed = (await client.get("/api/v1/invitations", headers=bearer(org.api_key))).json()
    assert "expired" in {i["status"] for i in listed["items"]}


async def test_an_unknown_link_looks_like_any_dead_link(client: AsyncClient) -> None:
    for token in ("nonsense", "x" * 500, "%00"):
        response = await client.get(f"/invitations/{token}")
        assert response.status_code == 404
        assert "This link does not work" in response.text
