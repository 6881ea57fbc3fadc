"""Signing in with a password: the pages, the session cookie, CSRF, expiry, what ends a session,
throttling, and a session's reach through the API (same policy table, same tenancy)."""

from __future__ import annotations

import uuid

import psycopg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.sign_in_support import (
    NEW_PASSWORD,
    PASSWORD,
    audit_actions,
    csrf,
    form_token,
    give_password,
    person,
    sign_in,
)
from tests.support import TestDatabase, bearer

OWNER = "owner@a.example"


async def test_signing_in_sets_a_private_session_cookie_and_opens_the_home_page(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    assert (await client.get("/")).headers["location"] == "/login"
    response = await sign_in(client, OWNER)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("prorata_session=")
    ).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie  # http://: a Secure cookie would never come back
    assert f"max-age={7 * 24 * 3600}" in cookie
    home = await client.get("/")
    assert home.status_code == 200
    assert "Org A" in home.text
    assert OWNER in home.text
    assert home.headers["cache-control"] == "no-store"


async def test_the_cookie_is_secure_behind_an_https_public_url(
    settings: Settings, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    app = create_app(settings_with(settings, public_url="https://funds.example.com"))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="https://prorata.test") as https:
            response = await sign_in(https, OWNER)
    assert response.status_code == 303
    assert "; secure" in response.headers["set-cookie"].lower()


async def test_a_wrong_password_or_an_unknown_address_get_the_same_answer(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    wrong = await sign_in(client, OWNER, "not the password at all")
    unknown = await sign_in(client, "nobody@nowhere.example", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The email address or the password is not right." in response.text
        assert "prorata_session" not in response.headers.get("set-cookie", "")
    assert (await client.get("/")).status_code == 303
    assert ("sign_in.failure", "127.0.0.1") in audit_actions(database.owner_url, org.org_id)


async def test_five_failures_lock_the_account_for_a_while_and_time_unlocks_it(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    for _ in range(4):
        assert (await sign_in(client, OWNER, "wrong wrong wrong")).status_code == 401
    fifth = await sign_in(client, OWNER, "wrong wrong wrong")
    assert fifth.status_code == 429
    assert "locked until" in fifth.text
    locked = await sign_in(client, OWNER, PASSWORD)  # even the right password, for now
    assert locked.status_code == 429
    assert "reset your password" in locked.text
    with psycopg.connect(database.owner_url) as conn:
        until = conn.execute("SELECT locked_until - now() FROM users WHERE id = %s", (org.user_id,))
        lock = until.fetchone()
        assert lock is not None
        assert 50 <= lock[0].total_seconds() <= 60  # the first lock: one minute
        conn.execute("UPDATE users SET locked_until = now() - interval '1 second'")
    assert (await sign_in(client, OWNER, PASSWORD)).status_code == 303


async def test_failures_from_one_address_are_throttled_but_never_the_right_password(
    settings: Settings, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    app = create_app(settings_with(settings, rate_limit_auth_failures="3/minute"))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://prorata.test") as http:
            statuses = [
                (await sign_in(http, f"guess{n}@a.example", "wrong wrong wrong")).status_code
                for n in range(4)
            ]
            assert statuses == [401, 401, 401, 429]
            assert (await sign_in(http, OWNER, PASSWORD)).status_code == 303


async def test_a_form_without_its_csrf_token_is_refused(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await form_token(client)  # the browser has its form cookie…
    missing = await client.post("/login", data={"email": OWNER, "password": PASSWORD})
    forged = await client.post(
        "/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": "forged"}
    )
    for response in (missing, forged):  # …but the form does not carry its token
        assert response.status_code == 403
        assert "security token" in response.text
    assert (await sign_in(client, OWNER)).status_code == 303
    no_token = await client.post("/account/api-keys", data={"name": "k"})
    assert no_token.status_code == 403
    made = await client.post(
        "/account/api-keys", data={"name": "k", "csrf_token": await csrf(client)}
    )
    assert made.status_code == 200
    assert "prk_" in made.text


async def test_the_api_accepts_a_session_with_its_csrf_header_on_writes(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == OWNER
    refused = await client.post("/api/v1/funds", json={"name": "F", "currency": "USD"})
    assert refused.status_code == 403
    assert refused.json()["title"] == "CSRF token missing or wrong"
    token = await csrf(client)
    made = await client.post(
        "/api/v1/funds", json={"name": "F", "currency": "USD"}, headers={"X-CSRF-Token": token}
    )
    assert made.status_code == 201, made.text
    # With an Authorization header the key alone decides: the cookie beside it is no fallback.
    keyed = await client.get("/api/v1/me", headers=bearer(org.api_key))
    assert keyed.status_code == 200
    bad_key = await client.get("/api/v1/me", headers=bearer("prk_not_a_key_at_all_000000"))
    assert bad_key.status_code == 401
    keyed_write = await client.post(
        "/api/v1/funds", json={"name": "G", "currency": "USD"}, headers=bearer(org.api_key)
    )
    assert keyed_write.status_code == 201  # a key needs no CSRF token


async def test_idle_and_absolute_expiry_end_a_session(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    for column, age in (("last_seen_at", "8 hours 1 minute"), ("expires_at", "1 second")):
        await sign_in(client, OWNER)
        assert (await client.get("/")).status_code == 200
        with psycopg.connect(database.owner_url) as conn:
            sql = f"UPDATE browser_sessions SET {column} = now() - interval '{age}'"
            conn.execute(sql)
        assert (await client.get("/")).headers["location"] == "/login"
        assert (await client.get("/api/v1/me")).status_code == 401
        client.cookies.clear()


async def test_changing_the_password_ends_every_other_session(
    app: FastAPI, org: NewOrg, sessions: async_sessionmaker[AsyncSession], database: TestDatabase
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    transport = ASGITransport(app=app)
    async with (
        AsyncClient(transport=transport, base_url="http://prorata.test") as laptop,
        AsyncClient(transport=transport, base_url="http://prorata.test") as phone,
    ):
        await sign_in(laptop, OWNER)
        await sign_in(phone, OWNER)
        weak = await laptop.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": "password123456",
                "csrf_token": await csrf(laptop),
            },
        )
        assert weak.status_code == 422
        assert "too easy to guess" in weak.text
        changed = await laptop.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "csrf_token": await csrf(laptop),
            },
        )
        assert changed.status_code == 303
        assert (await laptop.get("/account")).status_code == 200  # a new session here
        assert (await phone.get("/account")).headers["location"] == "/login?next=%2Faccount"
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as fresh:
        assert (await sign_in(fresh, OWNER, PASSWORD)).status_code == 401
        assert (await sign_in(fresh, OWNER, NEW_PASSWORD)).status_code == 303
    assert ("password.change", "127.0.0.1") in audit_actions(database.owner_url, org.org_id)


async def test_removing_a_member_ends_their_sessions(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession], app: FastAPI
) -> None:
    user_id, email = await person(sessions, org, Role.manager)
    await sign_in(client, email)
    assert (await client.get("/api/v1/me")).status_code == 200
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as admin:
        removed = await admin.delete(f"/api/v1/users/{user_id}", headers=bearer(org.api_key))
        assert removed.status_code == 204
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/")).headers["location"] == "/login"


async def test_signing_out_ends_the_session_for_good(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    stolen = client.cookies["prorata_session"]
    out = await client.post("/logout", data={"csrf_token": await csrf(client)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login?done=signed-out"
    assert "You are signed out." in (await client.get("/login?done=signed-out")).text
    client.cookies.set("prorata_session", stolen)
    assert (await client.get("/")).headers["location"] == "/login"
    actions = [action for action, _ in audit_actions(database.owner_url, org.org_id)]
    assert actions[-2:] == ["sign_in.success", "sign_out"]


async def test_a_session_never_reaches_another_organisation(
    client: AsyncClient, org: NewOrg, other_org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    theirs = FundApi(client, other_org.api_key)
    fund_id = await theirs.fund()
    [investor_id] = await theirs.investors_with(fund_id, ["1000.00"])
    client.cookies.clear()
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    for path in (
        f"/api/v1/funds/{fund_id}",
        f"/api/v1/investors/{investor_id}",
        f"/api/v1/funds/{fund_id}/investors/{investor_id}/capital-account",
    ):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get("/api/v1/funds")).json()["items"] == []


async def test_a_next_page_is_followed_only_within_the_site(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    assert (await client.get("/account")).headers["location"] == "/login?next=%2Faccount"
    assert (await sign_in(client, OWNER, next="/account")).headers["location"] == "/account"
    client.cookies.clear()
    assert (await sign_in(client, OWNER, next="//evil.example/")).headers["location"] == "/"


async def test_keys_are_made_and_revoked_by_their_owner_and_by_an_admin_for_a_service_user(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession], app: FastAPI
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page = await client.post(
        "/account/api-keys", data={"name": "laptop", "csrf_token": await csrf(client)}
    )
    key = page.text.split('<code id="new-key">')[1].split("</code>")[0]
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as program:
        assert (await program.get("/api/v1/me", headers=bearer(key))).status_code == 200
        listed = (await client.get("/api/v1/api-keys")).json()["items"]
        [laptop] = [k for k in listed if k["name"] == "laptop"]
        revoked = await client.post(
            f"/account/api-keys/{laptop['id']}/revoke", data={"csrf_token": await csrf(client)}
        )
        assert revoked.status_code == 303
        assert (await program.get("/api/v1/me", headers=bearer(key))).status_code == 401
        # An admin makes a key for a service user, never for a role above its own.
        admin_id, admin_email = await person(sessions, org, Role.admin)
        service_id, _ = await person(sessions, org, Role.viewer)
        admin = AsyncClient(transport=transport, base_url="http://prorata.test")
        async with admin:
            await sign_in(admin, admin_email)
            token = {"X-CSRF-Token": await csrf(admin)}
            made = await admin.post(
                f"/api/v1/users/{service_id}/api-keys", json={"name": "etl"}, headers=token
            )
            assert made.status_code == 201, made.text
            service_key = made.json()["api_key"]
            me = await program.get("/api/v1/me", headers=bearer(service_key))
            assert me.json()["role"] == "viewer"
            above = await admin.post(
                f"/api/v1/users/{org.user_id}/api-keys", json={"name": "x"}, headers=token
            )
            assert above.status_code == 403
            assert admin_id != org.user_id


async def test_sign_ins_and_their_failures_are_audited_with_the_client_address(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER, "wrong wrong wrong")
    await sign_in(client, OWNER)
    entries = audit_actions(database.owner_url, org.org_id)
    assert ("sign_in.failure", "127.0.0.1") in entries
    assert ("sign_in.success", "127.0.0.1") in entries
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT after FROM audit_log WHERE action = 'sign_in.success' AND org_id = %s",
            (org.org_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == {"email": OWNER, "method": "password"}
    assert uuid.UUID(str(org.org_id))
