"""Idempotency keys on every mutating route: replay, conflicts, scope, atomicity, expiry."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http import idempotency, policy
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import MUTATING, ApiRoute
from prorata.http.tenancy import Role
from prorata.orgs import service as org_service
from prorata.orgs.service import NewOrg
from prorata.platform import errors
from tests.conftest import add_member
from tests.support import TestDatabase, bearer


def _users(owner_url: str) -> int:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


def _records(owner_url: str) -> int:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()
    assert row is not None
    return int(row[0])


def _with_key(api_key: str, key: str) -> dict[str, str]:
    return {**bearer(api_key), "Idempotency-Key": key}


NEW_USER = {"email": "analyst@a.example", "role": "viewer"}


async def test_same_key_same_request_replays_the_stored_response(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    headers = _with_key(org.api_key, "create-analyst-1")
    first = await client.post("/api/v1/users", json=NEW_USER, headers=headers)
    second = await client.post("/api/v1/users", json=NEW_USER, headers=headers)
    via_alias = await client.post("/api/users", json=NEW_USER, headers=headers)
    assert first.status_code == second.status_code == via_alias.status_code == 201
    assert second.content == first.content == via_alias.content  # byte for byte
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert _users(database.owner_url) == 2  # the owner and one new user


@pytest.mark.parametrize(
    ("path", "body", "secret_field"),
    [
        ("/api/v1/api-keys", {"name": "ci"}, "api_key"),
        (
            "/api/v1/webhooks",
            {"url": "https://hooks.example.com/p", "events": ["call.issued"]},
            "secret",
        ),
    ],
)
async def test_a_secret_shown_once_is_never_stored_nor_replayed(
    client: AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    path: str,
    body: dict[str, object],
    secret_field: str,
) -> None:
    """The replay tells the client its request succeeded and what it created; the secret was
    shown once, in the first answer, and the database never holds it in clear."""
    headers = _with_key(org.api_key, f"create-{secret_field}")
    first = await client.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    secret = first.json()[secret_field]
    assert secret
    with psycopg.connect(database.owner_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT body FROM idempotency_keys")]
    assert len(stored) == 1
    assert secret not in stored[0]
    replay = await client.post(path, json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {**first.json(), secret_field: None}


async def test_same_key_different_request_is_422(client: AsyncClient, org: NewOrg) -> None:
    headers = _with_key(org.api_key, "k-1")
    assert (await client.post("/api/v1/users", json=NEW_USER, headers=headers)).status_code == 201
    other = {"email": "other@a.example", "role": "viewer"}
    response = await client.post("/api/v1/users", json=other, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:prorata:problem:unprocessable"


async def test_keys_are_scoped_to_org_and_user(
    client: AsyncClient,
    org: NewOrg,
    other_org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    admin_key = await add_member(sessions, org, Role.admin)
    key = "shared-key-string"
    a = await client.post("/api/v1/users", json=NEW_USER, headers=_with_key(org.api_key, key))
    b = await client.post(
        "/api/v1/users",
        json={"email": "b@a.example", "role": "viewer"},
        headers=_with_key(admin_key, key),
    )
    c = await client.post("/api/v1/users", json=NEW_USER, headers=_with_key(other_org.api_key, key))
    assert [a.status_code, b.status_code, c.status_code] == [201, 201, 201]
    assert len({a.json()["id"], b.json()["id"], c.json()["id"]}) == 3


@pytest.mark.parametrize("key", [b"", b"x" * 256, "caf\u00e9".encode(), b"tab\there"])
async def test_malformed_keys_are_400(client: AsyncClient, org: NewOrg, key: bytes) -> None:
    headers = {b"Authorization": f"Bearer {org.api_key}".encode(), b"Idempotency-Key": key}
    response = await client.post("/api/v1/users", json=NEW_USER, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_deeply_nested_body_on_a_route_without_one_is_fingerprinted_not_a_500(
    client: AsyncClient, org: NewOrg
) -> None:
    # The route declares no body, so FastAPI never parses it; the fingerprint does.
    created = await client.post(
        "/api/v1/api-keys", json={"name": "temp"}, headers=bearer(org.api_key)
    )
    nested = b"[" * 100_000 + b"]" * 100_000
    headers = {**_with_key(org.api_key, "deep"), "content-type": "application/json"}
    path = f"/api/v1/api-keys/{created.json()['id']}"
    first = await client.request("DELETE", path, content=nested, headers=headers)
    again = await client.request("DELETE", path, content=nested, headers=headers)
    assert (first.status_code, again.status_code) == (204, 204)
    assert again.headers["idempotent-replayed"] == "true"


async def test_rejected_requests_are_not_stored_so_a_corrected_retry_works(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    headers = _with_key(org.api_key, "fix-and-retry")
    invalid = await client.post("/api/v1/users", json={"email": "nope"}, headers=headers)
    assert invalid.status_code == 422
    unauthenticated = await client.post(
        "/api/v1/users", json=NEW_USER, headers={"Idempotency-Key": "fix-and-retry"}
    )
    assert unauthenticated.status_code == 401
    assert _records(database.owner_url) == 0
    corrected = await client.post("/api/v1/users", json=NEW_USER, headers=headers)
    assert corrected.status_code == 201
    assert _records(database.owner_url) == 1


async def test_fifty_concurrent_identical_requests_create_one_row(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    headers = _with_key(org.api_key, "burst")
    responses = await asyncio.gather(
        *(client.post("/api/v1/users", json=NEW_USER, headers=headers) for _ in range(50))
    )
    assert _users(database.owner_url) == 2
    originals = [r for r in responses if r.status_code == 201]
    assert originals, "one request must have executed"
    assert {r.content for r in originals} == {originals[0].content}
    for response in responses:
        assert response.status_code in {201, 409}
        if response.status_code == 409:
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def test_routes(monkeypatch: pytest.MonkeyPatch) -> APIRouter:
    """A router with routes declared only for these tests (with their own policies)."""
    monkeypatch.setitem(
        policy.ROUTES,
        ("POST", "/test/money"),
        policy.RoutePolicy(least_role=Role.manager, idempotency=policy.Idempotency.required),
    )
    monkeypatch.setitem(
        policy.ROUTES,
        ("POST", "/test/write-then-fail"),
        policy.RoutePolicy(least_role=Role.manager),
    )
    router = APIRouter(route_class=ApiRoute)

    @router.post("/test/money", status_code=201)
    async def move_money() -> dict[str, str]:
        return {"moved": "1.00"}

    @router.post("/test/write-then-fail")
    async def write_then_fail(principal: CurrentPrincipal, session: TenantSession) -> None:
        await org_service.add_user(
            session, actor=principal, email="ghost@a.example", name=None, role=Role.viewer
        )
        raise errors.Conflict("failed after writing")

    return router


async def test_money_moving_routes_require_a_key(
    app: FastAPI, client: AsyncClient, org: NewOrg, test_routes: APIRouter
) -> None:
    app.include_router(test_routes, prefix="/api/v1")
    missing = await client.post("/api/v1/test/money", headers=bearer(org.api_key))
    assert missing.status_code == 400
    assert "Idempotency-Key" in missing.json()["detail"]
    present = await client.post("/api/v1/test/money", headers=_with_key(org.api_key, "m1"))
    assert present.status_code == 201


async def test_a_failed_execution_stores_nothing_and_writes_nothing(
    app: FastAPI, client: AsyncClient, org: NewOrg, test_routes: APIRouter, database: TestDatabase
) -> None:
    app.include_router(test_routes, prefix="/api/v1")
    headers = _with_key(org.api_key, "w1")
    response = await client.post("/api/v1/test/write-then-fail", headers=headers)
    assert response.status_code == 409
    assert _users(database.owner_url) == 1
    assert _records(database.owner_url) == 0


async def test_expired_records_are_purged_and_no_longer_replayed(
    client: AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    headers = _with_key(org.api_key, "old-key")
    assert (await client.post("/api/v1/users", json=NEW_USER, headers=headers)).status_code == 201
    assert (
        await client.post(
            "/api/v1/api-keys", json={"name": "ci"}, headers=_with_key(org.api_key, "fresh")
        )
    ).status_code == 201
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key = 'old-key'"
        )
    # An expired key is free again: the same key with another request now executes.
    other = {"email": "later@a.example", "role": "viewer"}
    assert (await client.post("/api/v1/users", json=other, headers=headers)).status_code == 201
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key = 'old-key'"
        )
    async with sessions() as session, session.begin():  # the purge job's scope: no tenant
        purged = await idempotency.purge_expired(session)
    assert purged == 1
    with psycopg.connect(database.owner_url) as conn:
        keys = [row[0] for row in conn.execute("SELECT key FROM idempotency_keys")]
    assert keys == ["fresh"]


async def test_every_mutating_route_honours_the_header(
    app: FastAPI, client: AsyncClient, org: NewOrg
) -> None:
    """Enumerates the app's routes: a malformed key is refused on each mutating one, which
    proves the idempotency guard runs there (it runs before the handler and the body)."""
    spec = (await client.get("/api/v1/openapi.json")).json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method.upper() not in MUTATING:
                continue
            names = [p["name"] for p in operation.get("parameters", [])]
            assert idempotency.HEADER in names, f"{method} {path} does not document the header"
            concrete = path.format(**{n: uuid.uuid4() for n in _path_params(path)})
            response = await client.request(
                method, concrete, headers={**bearer(org.api_key), "Idempotency-Key": ""}
            )
            assert response.status_code == 400, f"{method} {path} ignored a malformed key"
            checked += 1
    assert checked >= 4


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
