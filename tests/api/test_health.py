"""`GET /system/health` is answered in front of FastAPI's stack (`system.router.FastHealth`):
it keeps what every request gets — request id, the public rate limit per client address with
its RateLimit fields and 429, the body bound, the access-log line — and answers like the route."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import http_sf
import pytest
from fastapi.routing import APIRoute
from httpx import ASGITransport, AsyncClient, Response

from prorata.app import create_app
from prorata.config import Settings
from prorata.http.route_index import RouteIndex
from prorata.observability import logs
from prorata.system import router as system_router
from tests.conftest import settings_with

PATHS = ("/api/system/health", "/api/v1/system/health")


async def _client(settings: Settings, address: str = "10.0.0.1") -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4711))
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[AsyncClient]:
    async for client in _client(settings_with(settings, rate_limit_public="3/minute")):
        yield client


def _remaining(response: Response) -> int:
    item: Any = http_sf.parse(response.headers["ratelimit"].encode(), tltype="item")
    name, params = item
    assert name == "public"
    return int(params["r"])


def test_the_fast_path_serves_the_health_route_of_both_prefixes(settings: Settings) -> None:
    app = create_app(settings)
    index = RouteIndex(app.router)
    for path in PATHS:  # the paths the router would give the health route
        first = index.candidates(path)[0]
        assert isinstance(first.route, APIRoute)
        assert first.route.endpoint is system_router.health
    assert set(app.fast_routes) == {("GET", path) for path in PATHS}  # type: ignore[attr-defined]


async def test_health_answers_as_the_route_with_request_id_and_ratelimit_fields(
    client: AsyncClient,
) -> None:
    remaining = []
    for path in PATHS:
        response = await client.get(path, headers={"X-Request-ID": "probe-1"})
        assert response.status_code == 200
        assert response.content == b'{"status":"ok"}'
        assert response.json() == await system_router.health()
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"] == "probe-1"
        assert response.headers["ratelimit-policy"].startswith('"public";')
        remaining.append(_remaining(response))
    assert remaining[0] > remaining[1]  # each probe is counted
    generated = await client.get(PATHS[0])
    assert len(generated.headers["x-request-id"]) == 32


async def test_health_is_rate_limited_per_client_address_like_any_public_route(
    settings: Settings, limited: AsyncClient
) -> None:
    statuses = [(await limited.get(PATHS[i % 2])).status_code for i in range(3)]
    assert statuses == [200, 200, 200]
    refused = await limited.get(PATHS[0], headers={"X-Request-ID": "over-1"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _remaining(refused) == 0
    body = refused.json()
    assert body["status"] == 429
    assert body["instance"] == PATHS[0]
    assert body["request_id"] == refused.headers["x-request-id"] == "over-1"
    # The same counter as the other public answers (here an unrouted path) of this address...
    assert (await limited.get("/api/v1/no-such-route")).status_code == 429
    # ...and not another address's.
    async for other in _client(settings_with(settings, rate_limit_public="3/minute"), "10.0.0.2"):
        assert (await other.get(PATHS[0])).status_code == 200


async def test_other_methods_and_oversized_bodies_are_answered_as_before(
    settings: Settings,
) -> None:
    async for client in _client(settings_with(settings, max_json_body_bytes=1024)):
        post = await client.post(PATHS[1])
        assert post.status_code == 405
        assert post.headers["content-type"] == "application/problem+json"
        large = await client.request("GET", PATHS[1], content=b"x" * 2048)
        assert large.status_code == 413
        assert large.headers["content-type"] == "application/problem+json"
        assert large.json()["request_id"] == large.headers["x-request-id"]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()


async def test_a_health_request_is_logged_with_its_route_and_request_id(
    settings: Settings, captured: io.StringIO
) -> None:
    logs.configure(level="INFO", process="web", stream=captured)
    async for client in _client(settings):
        await client.get(PATHS[1], headers={"X-Request-ID": "probe-logged"})
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    [line] = [line for line in lines if line.get("request_id") == "probe-logged"]
    assert line["event"] == "request"
    assert line["route"] == PATHS[1]
    assert line["path"] == PATHS[1]
    assert line["status"] == 200
    assert line["method"] == "GET"
