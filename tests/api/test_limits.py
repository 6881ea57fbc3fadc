"""Rate limits with RateLimit header fields, and bounded input: body size, pagination, schemas."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import http_sf
import pytest
import redis
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.conftest import add_member, settings_with
from tests.servers import redis_server
from tests.support import bearer, free_port


async def _client_for(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    limited = settings_with(
        settings, rate_limit_api="5/minute", rate_limit_auth_failures="3/minute"
    )
    async for client in _client_for(limited):
        yield client


def _parse(response: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Both fields parsed as structured fields (RFC 9651), as a client library would."""
    policies: Any = http_sf.parse(response.headers["ratelimit-policy"].encode(), tltype="list")
    [(policy_name, policy_params)] = policies
    item: Any = http_sf.parse(response.headers["ratelimit"].encode(), tltype="item")
    name, params = item
    assert name == policy_name
    return dict(policy_params), dict(params)


async def test_every_response_carries_ratelimit_fields_and_r_decreases(
    client: AsyncClient, org: NewOrg
) -> None:
    seen = []
    for _ in range(3):
        response = await client.get("/api/v1/me", headers=bearer(org.api_key))
        policy, state = _parse(response)
        assert policy["q"] == 600
        assert policy["w"] == 60
        assert 0 <= state["t"] <= 60
        seen.append(state["r"])
    assert seen[0] > seen[1] > seen[2]
    for response in (
        await client.get("/api/v1/system/health"),
        await client.get("/api/v1/me"),  # 401
        await client.get("/api/v1/no-such-route"),  # 404, no route matched
        await client.post("/api/v1/users", json={}, headers=bearer(org.api_key)),  # 422
    ):
        assert "ratelimit" in response.headers, response.status_code
        _parse(response)


async def test_over_the_limit_is_429_with_retry_after(
    strict_client: AsyncClient, org: NewOrg
) -> None:
    statuses = [
        (await strict_client.get("/api/v1/me", headers=bearer(org.api_key))).status_code
        for _ in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    response = await strict_client.get("/api/v1/me", headers=bearer(org.api_key))
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert _parse(response)[1]["r"] == 0


async def test_limits_are_per_api_key(
    strict_client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from prorata.http.tenancy import Role

    other_key = await add_member(sessions, org, Role.viewer)
    for _ in range(5):
        await strict_client.get("/api/v1/me", headers=bearer(org.api_key))
    assert (await strict_client.get("/api/v1/me", headers=bearer(org.api_key))).status_code == 429
    assert (await strict_client.get("/api/v1/me", headers=bearer(other_key))).status_code == 200


async def test_failed_authentications_are_throttled_but_never_a_valid_key(
    strict_client: AsyncClient, org: NewOrg
) -> None:
    bad = bearer("prk_guessing-" + uuid.uuid4().hex)
    statuses = [(await strict_client.get("/api/v1/me", headers=bad)).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # A valid key from the same address (behind a load balancer: everyone's) still works...
    assert (await strict_client.get("/api/v1/me", headers=bearer(org.api_key))).status_code == 200
    # ...while guessing from it stays refused until the window resets.
    assert (await strict_client.get("/api/v1/me", headers=bad)).status_code == 429
    missing = await strict_client.get("/api/v1/me")
    assert missing.status_code == 429
    assert 1 <= int(missing.headers["retry-after"]) <= 60


async def test_rate_limits_fail_open_when_their_storage_cannot_be_reached(
    settings: Settings, org: NewOrg, caplog: pytest.LogCaptureFixture
) -> None:
    # A Redis URL where nothing listens: the counters cannot be read or written.
    unreachable = settings_with(
        settings,
        rate_limit_storage=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_api="1/minute",
    )
    caplog.set_level(logging.WARNING, logger="prorata.http.ratelimit")
    async for client in _client_for(unreachable):
        statuses = [
            (await client.get("/api/v1/me", headers=bearer(org.api_key))).status_code
            for _ in range(3)
        ]
        unknown = await client.get("/api/v1/me", headers=bearer("prk_" + "x" * 43))
    assert statuses == [200, 200, 200]  # over the 1/minute limit, yet served: fail open
    assert unknown.status_code == 401  # authentication does not depend on the counters
    assert "ratelimit" not in {name.lower() for name in unknown.headers}
    lost = [r for r in caplog.records if "rate limit storage unreachable" in r.getMessage()]
    assert len(lost) == 1  # said once per outage, not once per request


async def test_redis_storage_is_shared_between_app_instances(
    settings: Settings, org: NewOrg, tmp_path: Path
) -> None:
    statuses = []
    with redis_server(tmp_path / "redis") as url:
        shared = settings_with(settings, rate_limit_storage=url, rate_limit_api="4/minute")
        for _ in range(2):  # two "replicas" with their own process state, one Redis
            async for client in _client_for(shared):
                for _ in range(3):
                    statuses.append(
                        (await client.get("/api/v1/me", headers=bearer(org.api_key))).status_code
                    )
        keys: Any = redis.Redis.from_url(url).dbsize()
    assert statuses == [200] * 4 + [429] * 2
    assert keys > 0


async def test_bodies_over_the_limit_are_413(settings: Settings, org: NewOrg) -> None:
    small = settings_with(settings, max_json_body_bytes=2048)
    async for client in _client_for(small):
        body = {"email": "a@b.example", "role": "viewer", "name": "x" * 4000}
        response = await client.post("/api/v1/users", json=body, headers=bearer(org.api_key))
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


async def test_lists_are_keyset_paginated(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for i in range(7):
        created = await client.post(
            "/api/v1/users",
            json={"email": f"p{i}@a.example", "role": "viewer"},
            headers=bearer(org.api_key),
        )
        assert created.status_code == 201
    seen: list[str] = []
    cursor = None
    pages = []
    while True:
        query = "/api/v1/users?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=bearer(org.api_key))).json()
        assert set(page) == {"items", "next_cursor"}
        pages.append(len(page["items"]))
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 2]
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen)  # UUIDv7: creation order, stable
    default = (await client.get("/api/v1/users", headers=bearer(org.api_key))).json()
    assert len(default["items"]) == 8
    assert default["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "status"),
    [("limit=501", 422), ("limit=0", 422), ("limit=500", 200), ("cursor=not-a-cursor", 400)],
)
async def test_page_parameters_are_bounded(
    client: AsyncClient, org: NewOrg, query: str, status: int
) -> None:
    response = await client.get(f"/api/v1/users?{query}", headers=bearer(org.api_key))
    assert response.status_code == status


def _unbounded(schema: dict[str, Any], schemas: dict[str, Any], where: str) -> list[str]:
    if "$ref" in schema:
        return _unbounded(schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, where)
    found = []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        found += _unbounded(option, schemas, where)
    kind = schema.get("type")
    if kind == "string" and not ({"maxLength", "enum", "format", "const"} & set(schema)):
        found.append(where)
    if (
        kind in {"integer", "number"}
        and "maximum" not in schema
        and "exclusiveMaximum" not in schema
    ):
        found.append(where)
    if kind == "array" and "maxItems" not in schema:
        found.append(where)
    for name, prop in schema.get("properties", {}).items():
        found += _unbounded(prop, schemas, f"{where}.{name}")
    return found


async def test_every_input_has_declared_bounds(client: AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    problems = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                problems += _unbounded(parameter["schema"], schemas, f"{where} {parameter['name']}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                problems += _unbounded(media["schema"], schemas, f"{where} body")
    assert problems == []


async def test_a_streamed_body_without_length_is_bounded_too(
    settings: Settings, org: NewOrg
) -> None:
    small = settings_with(settings, max_json_body_bytes=2048)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@b.example", "role": "viewer", "name": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    async for client in _client_for(small):
        response = await client.post(
            "/api/v1/users",
            content=chunks(),
            headers={**bearer(org.api_key), "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


async def test_heavy_operations_are_limited_per_organisation(
    settings: Settings,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi import APIRouter

    from prorata.http import policy
    from prorata.http.routing import ApiRoute
    from prorata.http.tenancy import Role

    monkeypatch.setitem(
        policy.ROUTES,
        ("POST", "/test/render"),
        policy.RoutePolicy(least_role=Role.viewer, tier=policy.RateTier.heavy),
    )
    router = APIRouter(route_class=ApiRoute)

    @router.post("/test/render", status_code=202)
    async def render() -> dict[str, str]:
        return {"status": "queued"}

    colleague = await add_member(sessions, org, Role.viewer)
    limited = settings_with(settings, rate_limit_heavy="2/minute")
    async for client in _client_for(limited):
        client_app: Any = client._transport.app  # type: ignore[attr-defined]
        client_app.include_router(router, prefix="/api/v1")
        first = await client.post("/api/v1/test/render", headers=bearer(org.api_key))
        assert _parse(first)[0]["q"] == 2  # the tightest policy is the one reported
        second = await client.post("/api/v1/test/render", headers=bearer(colleague))
        third = await client.post("/api/v1/test/render", headers=bearer(colleague))
        assert [first.status_code, second.status_code, third.status_code] == [202, 202, 429]
        # Ordinary routes are not held back by the organisation's heavy budget.
        assert (await client.get("/api/v1/me", headers=bearer(colleague))).status_code == 200
