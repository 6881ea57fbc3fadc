"""Logs are JSON lines, one per request, and never contain secrets or environment values; a
database error does not carry its statement's values. (The redactor alone: tests/unit.)"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.investors.models import Investor
from prorata.observability import logs
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.support import TestDatabase, bearer

SECRET_PASSWORD = "hunter2-S3CRET-app-password"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()


async def test_nothing_secret_is_logged(
    database: TestDatabase,
    org: NewOrg,
    captured: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-value-that-must-never-appear")
    owner_with_password = database.owner_url.replace("postgres:@", "postgres:owner-pw-XYZZY@")
    settings = Settings(
        env="test",
        database_url=owner_with_password,
        app_database_url=database.app_url.replace("prorata-dev-app-password", SECRET_PASSWORD),
        log_level="DEBUG",
    )
    logs.configure(level="DEBUG", secrets=settings.secret_values(), process="web", stream=captured)
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError(f"failed to connect with {settings.app_database_url}:{SECRET_PASSWORD}")

    app.router.add_api_route("/api/v1/test-boom", boom)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/api/v1/me", headers=bearer(org.api_key))).status_code == 200
            await client.get("/api/v1/me", headers=bearer(org.api_key + "tampered"))
            assert (await client.get("/api/v1/test-boom")).status_code == 500
    logging.getLogger("prorata.test").info(
        "connecting", extra={"password": "plain-password-value", "dsn": owner_with_password}
    )
    logging.getLogger("prorata.test").warning(
        "url in text %s and key %s", owner_with_password, org.api_key
    )

    output = captured.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "the app should have logged"
    for forbidden in (
        SECRET_PASSWORD,
        "owner-pw-XYZZY",
        "plain-password-value",
        org.api_key,
        "env-value-that-must-never-appear",
    ):
        assert forbidden not in output
    requests = [line for line in lines if line["event"] == "request"]
    assert {(r["route"], r["status"]) for r in requests} >= {
        ("/api/v1/me", 200),
        ("/api/v1/me", 401),
    }
    ok = next(r for r in requests if r["status"] == 200)
    assert ok["org_id"] == str(org.org_id)
    assert ok["method"] == "GET"
    assert isinstance(ok["duration_ms"], float)
    assert ok["request_id"]
    assert any("exception" in line for line in lines)  # the 500's traceback is kept, scrubbed


async def _insert_twice(sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> None:
    """The same investor (primary key) twice, with a tax id among its values."""
    investor_id = uuid.uuid4()
    async with db.tenant_transaction(sessions, org_id) as session:
        for _ in range(2):
            session.add(
                Investor(id=investor_id, org_id=org_id, name="Twin", kind="entity", tax_id=_TAX_ID)
            )
            await session.flush()
            session.expunge_all()


_TAX_ID = "TAX-98-7654321"


async def test_a_database_error_does_not_carry_the_statements_values(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """An unhandled database error is logged (and recorded on the span) with its message:
    the values of the statement, such as a tax id, must not be in it."""
    with pytest.raises(sa_exc.IntegrityError) as raised:
        await _insert_twice(sessions, org.org_id)
    message = str(raised.value)
    assert "duplicate key" in message
    assert _TAX_ID not in message
    assert "hidden due to hide_parameters" in message
