"""Helpers for tests of signing in: people with passwords, the forms' tokens, codes, mail."""

from __future__ import annotations

import re
import time
import uuid

import psycopg
import pyotp
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.accounts import service as account_service
from prorata.http.tenancy import Principal, Role
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.platform import db

PASSWORD = "violet harbour engine 47"  # zxcvbn: strong
NEW_PASSWORD = "copper lantern meadow 83"


async def give_password(
    sessions: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    password: str = PASSWORD,
) -> None:
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org_id)
        user = await session.get(User, user_id)
        assert user is not None
        await account_service.set_password(session, user, password)


async def person(
    sessions: async_sessionmaker[AsyncSession],
    org: org_service.NewOrg,
    role: Role,
    investor_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, str]:
    """A member of `org` with `role` and the password PASSWORD: (user id, e-mail)."""
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )
    email = f"{role}-{uuid.uuid4().hex[:8]}@people.example"
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org.org_id)
        user, _ = await org_service.add_user(
            session, actor=owner, email=email, name=None, role=role, investor_id=investor_id
        )
        await account_service.set_password(session, user, PASSWORD)
    return user.id, email


def hidden_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token in the page"
    return found.group(1)


async def form_token(client: AsyncClient, page: str = "/login") -> str:
    """The hidden `csrf_token` of a public form (it matches the `prorata_form` cookie)."""
    response = await client.get(page)
    return hidden_token(response.text)


async def sign_in(
    client: AsyncClient, email: str, password: str = PASSWORD, *, next: str = "/"
) -> Response:
    token = await form_token(client)
    return await client.post(
        "/login", data={"email": email, "password": password, "next": next, "csrf_token": token}
    )


async def csrf(client: AsyncClient) -> str:
    """The signed-in session's CSRF token, as its pages carry it."""
    response = await client.get("/account")
    assert response.status_code == 200, response.text
    return hidden_token(response.text)


def totp_secret(html: str) -> str:
    found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', html)
    assert found, "no TOTP secret on the page"
    return found.group(1)


def code_after(secret: str, steps: int = 0) -> str:
    """The TOTP code `steps` time steps from now (1: the next one, still accepted)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def link_in_outbox(owner_url: str, kind: str, recipient: str) -> str:
    """The link of the newest `kind` message to `recipient`, read from the outbox."""
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT body FROM email_outbox WHERE kind = %s AND recipient = %s "
            "ORDER BY created_at DESC LIMIT 1",
            (kind, recipient),
        ).fetchone()
    assert row is not None, f"no {kind} message to {recipient}"
    found = re.search(r"https?://\S+", row[0])
    assert found
    return found.group(0)


def audit_actions(owner_url: str, org_id: uuid.UUID) -> list[tuple[str, str | None]]:
    """(action, client_ip) of the org's audit entries, oldest first."""
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT action, client_ip FROM audit_log WHERE org_id = %s ORDER BY id", (org_id,)
        ).fetchall()
    return [(str(action), ip) for action, ip in rows]
