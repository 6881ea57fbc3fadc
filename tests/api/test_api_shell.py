"""The API shell: both prefixes, health, authentication, problem+json, request ids."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.support import TestDatabase, bearer


async def test_health_answers_without_auth_or_database(client: AsyncClient) -> None:
    response = await client.get("/api/system/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_me_is_the_same_under_both_prefixes(client: AsyncClient, org: NewOrg) -> None:
    v1 = await client.get("/api/v1/me", headers=bearer(org.api_key))
    alias = await client.get("/api/me", headers=bearer(org.api_key))
    assert v1.status_code == alias.status_code == 200
    assert v1.json() == alias.json()
    assert v1.json()["org"]["id"] == str(org.org_id)
    assert v1.json()["user"]["id"] == str(org.user_id)
    assert v1.json()["role"] == "owner"


async def test_missing_and_bad_keys_are_401_problems(client: AsyncClient, org: NewOrg) -> None:
    for headers in (
        {},
        bearer("prk_not-a-real-key-at-all-0000000000000"),
        {"Authorization": "Basic x"},
    ):
        response = await client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 401
        assert body["title"] == "Unauthorized"
        assert body["instance"] == "/api/v1/me"
        assert body["request_id"] == response.headers["x-request-id"]


async def test_request_id_is_honoured_when_well_formed(client: AsyncClient) -> None:
    honoured = await client.get("/api/system/health", headers={"X-Request-ID": "abc-123"})
    assert honoured.headers["x-request-id"] == "abc-123"
    replaced = await client.get("/api/system/health", headers={"X-Request-ID": "bad id <script>"})
    assert replaced.headers["x-request-id"] not in {"", "bad id <script>"}
    assert len(replaced.headers["x-request-id"]) == 32


async def test_unknown_route_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_unexpected_error_is_a_bare_500_problem(app: FastAPI, client: AsyncClient) -> None:
    async def explode() -> None:
        raise RuntimeError("internal detail: /etc/secret-path line 42")

    app.router.add_api_route("/api/v1/test-explode", explode)
    response = await client.get("/api/v1/test-explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-request-id" in response.headers
    text = response.text
    assert "Traceback" not in text
    assert "secret-path" not in text
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_openapi_and_docs_are_served(client: AsyncClient) -> None:
    spec = await client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/me" in spec.json()["paths"]
    docs = await client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_ready_needs_a_recent_worker_heartbeat(
    client: AsyncClient, database: TestDatabase
) -> None:
    not_ready = await client.get("/api/system/ready")
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    body = not_ready.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False
    with psycopg.connect(database.owner_url) as conn:  # a worker registers and beats
        conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())")
    ready = await client.get("/api/system/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    """Pooled connections are not pinged on every checkout; one the server closed (a restart,
    an operator's pg_terminate_backend) is still noticed and replaced, not handed to a request."""
    assert (await client.get("/api/v1/me", headers=bearer(org.api_key))).status_code == 200
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        ended = conn.execute(
            # The timeout makes it wait until each backend is gone, not just signalled.
            "SELECT count(*) FROM pg_stat_activity, pg_terminate_backend(pid, 5000) "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None
    assert ended[0] >= 1  # the app's pooled connection was among them
    for _ in range(3):
        response = await client.get("/api/v1/me", headers=bearer(org.api_key))
        assert response.status_code == 200, response.text
