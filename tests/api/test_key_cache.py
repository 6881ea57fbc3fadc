"""The verified-key cache (`prorata.http.auth.KeyCache`): a key that was revoked, rehashed,
narrowed or whose user was removed is refused (or narrowed) by the very next request, on the
process that made the change and on another one that had the key cached."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.http.auth import KeyCache, hash_token
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import add_member
from tests.support import TestDatabase


@pytest.fixture
async def second_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another web process: its own pool and its own cache, the same database."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def second(second_app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=second_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as http:
        yield http


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cached(app: FastAPI, key: str) -> bool:
    cache: KeyCache = app.state.key_cache
    return cache.get(hash_token(key)) is not None


async def warm(apps: list[tuple[FastAPI, AsyncClient]], key: str) -> dict[str, object]:
    """The key used once on each process (and so kept by each): its `/me`."""
    me: dict[str, object] = {}
    for app, client in apps:
        response = await client.get("/api/v1/me", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert cached(app, key)
        me = response.json()
    return me


async def test_a_known_key_is_answered_from_the_cache_with_its_tenant_set(
    app: FastAPI, client: AsyncClient, org: NewOrg, other_org: NewOrg
) -> None:
    for _ in range(2):  # verified, then known: the same answer, the same tenant
        for key, expected in ((org.api_key, org.org_id), (other_org.api_key, other_org.org_id)):
            response = await client.get("/api/v1/me", headers=bearer(key))
            assert response.status_code == 200
            assert response.json()["org"]["id"] == str(expected)
    assert cached(app, org.api_key)
    assert cached(app, other_org.api_key)
    wrong = await client.get("/api/v1/me", headers=bearer("prk_" + "x" * 40))
    assert wrong.status_code == 401
    assert not cached(app, "prk_" + "x" * 40)


async def test_a_revoked_key_is_refused_at_once_on_every_process(
    app: FastAPI,
    client: AsyncClient,
    second_app: FastAPI,
    second: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    key = await add_member(sessions, org, Role.manager)
    await warm([(app, client), (second_app, second)], key)
    listed = await client.get("/api/v1/api-keys", headers=bearer(key))
    (own,) = listed.json()["items"]
    revoked = await client.delete(f"/api/v1/api-keys/{own['id']}", headers=bearer(key))
    assert revoked.status_code == 204
    for http in (client, second):
        refused = await http.get("/api/v1/me", headers=bearer(key))
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert not cached(app, key)
    assert not cached(second_app, key)


async def test_a_key_revoked_or_rehashed_outside_the_api_is_refused(
    app: FastAPI,
    client: AsyncClient,
    second_app: FastAPI,
    second: AsyncClient,
    database: TestDatabase,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An operator's SQL (or a migration) moves the epoch too: the triggers, not the services."""
    revoked = await add_member(sessions, org, Role.viewer)
    rotated = await add_member(sessions, org, Role.viewer)
    for key in (revoked, rotated):
        await warm([(app, client), (second_app, second)], key)
    with psycopg.connect(database.owner_url) as connection:
        connection.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_hash = %s", (hash_token(revoked),)
        )
        connection.execute(
            "UPDATE api_keys SET key_hash = %s WHERE key_hash = %s",
            (hash_token(uuid.uuid4().hex), hash_token(rotated)),
        )
    for http in (second, client):
        for key in (revoked, rotated):
            assert (await http.get("/api/v1/me", headers=bearer(key))).status_code == 401


async def test_a_role_change_applies_to_the_next_request_on_every_process(
    app: FastAPI,
    client: AsyncClient,
    second_app: FastAPI,
    second: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    key = await add_member(sessions, org, Role.admin)
    me = await warm([(app, client), (second_app, second)], key)
    assert me["role"] == "admin"
    user_id = me["user"]["id"]  # type: ignore[index]
    assert (await second.get(f"/api/v1/users/{user_id}", headers=bearer(key))).status_code == 200
    changed = await client.patch(
        f"/api/v1/users/{user_id}", json={"role": "viewer"}, headers=bearer(org.api_key)
    )
    assert changed.status_code == 200, changed.text
    for http in (second, client):
        # An admin's read, refused to a viewer; and the principal says viewer.
        assert (await http.get(f"/api/v1/users/{user_id}", headers=bearer(key))).status_code == 403
        assert (await http.get("/api/v1/me", headers=bearer(key))).json()["role"] == "viewer"


async def test_a_removed_user_s_key_is_refused_at_once_on_every_process(
    app: FastAPI,
    client: AsyncClient,
    second_app: FastAPI,
    second: AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    key = await add_member(sessions, org, Role.manager)
    me = await warm([(app, client), (second_app, second)], key)
    user_id = me["user"]["id"]  # type: ignore[index]
    removed = await client.delete(f"/api/v1/users/{user_id}", headers=bearer(org.api_key))
    assert removed.status_code == 204
    for http in (second, client):
        assert (await http.get("/api/v1/funds", headers=bearer(key))).status_code == 401
