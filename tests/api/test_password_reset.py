"""Password reset by e-mail link: the same answer for any address, a single-use link valid one
hour, every session ended, the lockout lifted — and a user added by the API gets in this way."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests.sign_in_support import (
    NEW_PASSWORD,
    PASSWORD,
    audit_actions,
    form_token,
    give_password,
    hidden_token,
    link_in_outbox,
    sign_in,
)
from tests.support import TestDatabase, bearer

OWNER = "owner@a.example"


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def reset_mails(owner_url: str) -> list[str]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT recipient FROM email_outbox WHERE kind = 'password_reset' ORDER BY created_at"
        ).fetchall()
    return [str(recipient) for (recipient,) in rows]


async def ask(client: AsyncClient, email: str) -> str:
    token = await form_token(client, "/password-reset")
    response = await client.post("/password-reset", data={"email": email, "csrf_token": token})
    assert response.status_code == 200
    return response.text.replace(email, "ADDRESS")


async def test_the_answer_never_says_whether_an_address_has_an_account(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    known = await ask(client, OWNER)
    unknown = await ask(client, "nobody@nowhere.example")
    assert known == unknown
    assert "a link to choose a new password is on its way" in known
    assert reset_mails(database.owner_url) == [OWNER]
    await ask(client, OWNER)  # asked again at once: one link is enough
    assert reset_mails(database.owner_url) == [OWNER]


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    app: FastAPI,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    await give_password(sessions, org.org_id, org.user_id)
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as laptop:
        await sign_in(laptop, OWNER)
        for _ in range(5):  # and locked out, on top of it
            await sign_in(client, OWNER, "wrong wrong wrong")
        assert (await sign_in(client, OWNER)).status_code == 429
        await ask(client, OWNER)
        link = link_in_outbox(database.owner_url, "password_reset", OWNER)
        assert link.startswith("http://127.0.0.1:8000/password-reset/")
        page = await client.get(path_of(link))
        assert page.status_code == 200
        assert 'autocomplete="new-password"' in page.text
        weak = await client.post(
            path_of(link), data={"password": "qwertyuiop12", "csrf_token": hidden_token(page.text)}
        )
        assert weak.status_code == 422
        assert "too easy to guess" in weak.text
        done = await client.post(
            path_of(link), data={"password": NEW_PASSWORD, "csrf_token": hidden_token(page.text)}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/login?done=reset"
        assert (await laptop.get("/")).headers["location"] == "/login"  # signed out
    assert (await client.get(path_of(link))).status_code == 404  # used
    assert (await sign_in(client, OWNER, PASSWORD)).status_code == 401
    assert (await sign_in(client, OWNER, NEW_PASSWORD)).status_code == 303  # unlocked
    actions = [action for action, _ in audit_actions(database.owner_url, org.org_id)]
    assert "password.reset_request" in actions
    assert "password.reset" in actions


async def test_a_link_expires_after_an_hour(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    await ask(client, OWNER)
    link = link_in_outbox(database.owner_url, "password_reset", OWNER)
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute("SELECT expires_at - created_at FROM password_resets").fetchone()
        assert row is not None
        assert 3599 < row[0].total_seconds() < 3601
        conn.execute("UPDATE password_resets SET expires_at = now()")
    assert (await client.get(path_of(link))).status_code == 404


async def test_a_user_added_by_the_api_sets_a_first_password_this_way(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    added = await client.post(
        "/api/v1/users",
        json={"email": "analyst@a.example", "role": "viewer"},
        headers=bearer(org.api_key),
    )
    assert added.status_code == 201
    assert (await sign_in(client, "analyst@a.example", PASSWORD)).status_code == 401
    await ask(client, "analyst@a.example")
    link = link_in_outbox(database.owner_url, "password_reset", "analyst@a.example")
    page = await client.get(path_of(link))
    await client.post(
        path_of(link), data={"password": PASSWORD, "csrf_token": hidden_token(page.text)}
    )
    assert (await sign_in(client, "analyst@a.example", PASSWORD)).status_code == 303
    assert (await client.get("/api/v1/me")).json()["role"] == "viewer"
