"""Two-factor sign-in (TOTP): setting it up, the code after the password, recovery codes, the
organisation's requirement, and turning it off."""

from __future__ import annotations

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.sign_in_support import (
    PASSWORD,
    audit_actions,
    code_after,
    csrf,
    give_password,
    hidden_token,
    person,
    sign_in,
    totp_secret,
)
from tests.support import TestDatabase, bearer

OWNER = "owner@a.example"


async def enable_two_factor(client: AsyncClient) -> tuple[str, list[str]]:
    """Turn TOTP on from My account; (secret, recovery codes)."""
    setup = await client.get("/account/two-factor")
    assert setup.status_code == 200
    assert "<svg" in setup.text  # the QR code, drawn on the server
    secret = totp_secret(setup.text)
    wrong = await client.post(
        "/account/two-factor", data={"code": "000000", "csrf_token": hidden_token(setup.text)}
    )
    assert wrong.status_code == 422
    assert "The code is not right" in wrong.text
    assert totp_secret(wrong.text) == secret  # the same secret: the one already scanned
    done = await client.post(
        "/account/two-factor",
        data={"code": code_after(secret), "csrf_token": hidden_token(setup.text)},
    )
    assert done.status_code == 200
    codes = done.text.split('<ul class="codes" id="recovery-codes">')[1].split("</ul>")[0]
    recovery = [part.split("</code>")[0] for part in codes.split("<code>")[1:]]
    assert len(recovery) == 10
    assert len(set(recovery)) == 10
    return secret, recovery


async def sign_out(client: AsyncClient) -> None:
    assert (
        await client.post("/logout", data={"csrf_token": await csrf(client)})
    ).status_code == 303


async def test_with_two_factor_on_signing_in_asks_for_the_code(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    secret, _ = await enable_two_factor(client)
    await sign_out(client)

    half = await sign_in(client, OWNER, next="/account")
    assert half.status_code == 303
    assert half.headers["location"] == "/login/two-factor?next=%2Faccount"
    password_only = client.cookies["prorata_session"]
    # Half signed in is not signed in: pages send to the code, the API refuses.
    assert (await client.get("/")).headers["location"] == "/login/two-factor"
    assert (await client.get("/api/v1/me")).status_code == 401
    step = await client.get("/login/two-factor?next=/account")
    assert 'autocomplete="one-time-code"' in step.text
    wrong = await client.post(
        "/login/two-factor",
        data={"code": "123456", "next": "/account", "csrf_token": hidden_token(step.text)},
    )
    assert wrong.status_code == 401
    code = code_after(secret, 1)  # the next step's code is accepted too (clock drift)
    right = await client.post(
        "/login/two-factor",
        data={"code": code, "next": "/account", "csrf_token": hidden_token(step.text)},
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/account"
    assert (await client.get("/api/v1/me")).status_code == 200
    # The token that only knew the password was replaced: it opens nothing.
    assert client.cookies["prorata_session"] != password_only
    client.cookies.set("prorata_session", password_only)
    assert (await client.get("/")).headers["location"] == "/login"

    # A code is good once: the same code again, on a new sign-in, is refused.
    client.cookies.clear()
    await sign_in(client, OWNER)
    step = await client.get("/login/two-factor")
    again = await client.post(
        "/login/two-factor", data={"code": code, "csrf_token": hidden_token(step.text)}
    )
    assert again.status_code == 401
    actions = [action for action, _ in audit_actions(database.owner_url, org.org_id)]
    assert "two_factor.enable" in actions
    assert "sign_in.password" in actions


async def test_a_recovery_code_signs_in_once(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    _, recovery = await enable_two_factor(client)
    await sign_out(client)
    for expected in (303, 401):
        client.cookies.clear()
        await sign_in(client, OWNER)
        step = await client.get("/login/two-factor")
        used = await client.post(
            "/login/two-factor",
            data={"code": recovery[0].upper(), "csrf_token": hidden_token(step.text)},
        )
        assert used.status_code == expected
    await client.post(
        "/login/two-factor",
        data={"code": recovery[1], "csrf_token": hidden_token(step.text)},
    )
    account = await client.get("/account")
    assert "Recovery codes left: <strong>8</strong> of 10" in account.text


async def test_an_organisation_can_require_two_factor_of_its_managers_and_above(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    required = await client.patch(
        "/api/v1/org", json={"require_two_factor": True}, headers=bearer(org.api_key)
    )
    assert required.status_code == 200
    assert required.json()["require_two_factor"] is True
    _, manager = await person(sessions, org, Role.manager)
    _, viewer = await person(sessions, org, Role.viewer)
    client.cookies.clear()

    await sign_in(client, manager)
    assert (await client.get("/")).headers["location"] == "/account/two-factor"
    refused = await client.get("/api/v1/me")
    assert refused.status_code == 403
    assert "requires two-factor" in refused.json()["detail"]
    await enable_two_factor(client)
    assert (await client.get("/")).status_code == 200
    off = await client.post(
        "/account/two-factor/disable",
        data={"password": PASSWORD, "csrf_token": await csrf(client)},
    )
    assert off.status_code == 409
    assert "requires two-factor" in off.text

    client.cookies.clear()
    await sign_in(client, viewer)  # a viewer is not required to
    assert (await client.get("/")).status_code == 200


async def test_two_factor_is_turned_off_with_the_password(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    await enable_two_factor(client)
    wrong = await client.post(
        "/account/two-factor/disable",
        data={"password": "not it at all", "csrf_token": await csrf(client)},
    )
    assert wrong.status_code == 422
    off = await client.post(
        "/account/two-factor/disable",
        data={"password": PASSWORD, "csrf_token": await csrf(client)},
    )
    assert off.status_code == 303
    await sign_out(client)
    assert (await sign_in(client, OWNER)).headers["location"] == "/"
    with psycopg.connect(database.owner_url) as conn:
        left = conn.execute("SELECT count(*) FROM recovery_codes").fetchone()
        sealed = conn.execute(
            "SELECT totp_secret_sealed FROM users WHERE id = %s", (org.user_id,)
        ).fetchone()
    assert left == (0,)
    assert sealed == (None,)


async def test_the_secret_is_sealed_at_rest(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    secret, recovery = await enable_two_factor(client)
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT totp_secret_sealed FROM users WHERE id = %s", (org.user_id,)
        ).fetchone()
        hashes = [r[0] for r in conn.execute("SELECT code_hash FROM recovery_codes")]
    assert row is not None
    assert row[0].startswith("v1.")
    assert secret not in row[0]
    assert not set(recovery) & set(hashes)
