"""A database that cannot answer is a 503 with Retry-After on every route, never a 500, and a
request whose connection died mid-transaction leaves nothing behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from httpx import AsyncClient

from prorata.app import create_app
from prorata.config import Settings
from prorata.http import policy
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import Role
from prorata.orgs import service as org_service
from prorata.orgs.service import NewOrg
from tests.conftest import settings_with
from tests.support import TestDatabase, bearer, free_port, served

UNAVAILABLE = "urn:prorata:problem:unavailable"


@pytest.fixture
async def unreachable_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The app with a database URL where nothing listens (a server down or restarting)."""
    down = settings_with(
        settings,
        app_database_url=f"postgresql://prorata_app:x@127.0.0.1:{free_port()}/prorata",
    )
    application = create_app(down)
    async with served(
        application, raise_app_exceptions=False, base_url="http://prorata.test"
    ) as client:
        yield client


async def test_every_kind_of_request_answers_503_with_retry_after(
    unreachable_client: AsyncClient,
) -> None:
    key = bearer("prk_" + "k" * 43)
    requests = [
        unreachable_client.get("/api/v1/funds", headers=key),
        unreachable_client.get("/api/funds", headers=key),  # the alias too
        unreachable_client.post(
            "/api/v1/investors",
            json={"name": "LP", "kind": "entity"},
            headers={**key, "Idempotency-Key": "k-1"},
        ),
        unreachable_client.get("/api/v1/system/ready"),
    ]
    for request in requests:
        response = await request
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        if response.request.url.path != "/api/v1/system/ready":  # which names its checks
            assert response.json()["type"] == UNAVAILABLE
    health = await unreachable_client.get("/api/v1/system/health")
    assert health.status_code == 200  # liveness needs no database


@pytest.fixture
def dying_route(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route that writes, then loses its database connection before it can commit."""
    monkeypatch.setitem(
        policy.ROUTES, ("POST", "/test/write-then-lose"), policy.RoutePolicy(least_role=Role.admin)
    )
    router = APIRouter(route_class=ApiRoute)

    @router.post("/test/write-then-lose", status_code=201)
    async def write_then_lose(principal: CurrentPrincipal, session: TenantSession) -> None:
        await org_service.add_user(
            session, actor=principal, email="half@a.example", name=None, role=Role.viewer
        )
        # As if the server restarted: this very connection is ended.
        await session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))

    app.include_router(router, prefix="/api/v1")


async def test_a_connection_lost_mid_transaction_is_a_503_and_nothing_is_half_applied(
    client: AsyncClient, org: NewOrg, database: TestDatabase, dying_route: None
) -> None:
    headers = {**bearer(org.api_key), "Idempotency-Key": "lost-1"}
    response = await client.post("/api/v1/test/write-then-lose", headers=headers)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    users = await client.get("/api/v1/users", headers=bearer(org.api_key))
    assert "half@a.example" not in users.text  # the write was rolled back with its connection
    # No idempotency record claims it done: the same key runs the request again.
    again = await client.post("/api/v1/test/write-then-lose", headers=headers)
    assert again.status_code == 503
    assert "idempotent-replayed" not in again.headers
