"""Behind PgBouncer in transaction mode (`PRORATA_DB_POOLER=pgbouncer`), consecutive
transactions of different tenants share one server connection: a tenant setting that outlived
its transaction would be the next tenant's. These tests put ONE server connection behind the
pooler and interleave two organisations on it, with the driver and through the app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.engine import make_url

from prorata.app import create_app
from prorata.config import Settings
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests import servers
from tests.conftest import base_settings, pooled, settings_with
from tests.fund_support import FundApi
from tests.support import TestDatabase, bearer, served

ROUNDS = 6


@pytest.fixture
def one_connection(server_url: str) -> Iterator[servers.Pooler]:
    """A PgBouncer with at most ONE server connection per database and user."""
    if servers.pgbouncer_path() is None:
        pytest.skip(servers.PGBOUNCER_MISSING)  # CI installs it (.ci/run)
    defaults = base_settings()
    app_role = {defaults.db_app_role: defaults.db_app_password.get_secret_value()}
    with servers.pgbouncer(server_url, app_role, pool_size=1) as pooler:
        yield pooler


@pytest.fixture
def through_one(
    settings: Settings, database: TestDatabase, one_connection: servers.Pooler
) -> Settings:
    return settings_with(settings, **pooled(database, one_connection))


@pytest.fixture
async def pooled_client(through_one: Settings) -> AsyncIterator[AsyncClient]:
    application: FastAPI = create_app(through_one)
    async with served(
        application, raise_app_exceptions=False, base_url="http://prorata.test"
    ) as http:
        yield http


async def funds_seen(conn: psycopg.AsyncConnection[Any]) -> tuple[int, str, set[str]]:
    """(backend pid, the tenant setting, the funds RLS lets through) in one transaction."""
    cursor = await conn.execute(
        "SELECT pg_backend_pid(), coalesce(current_setting('app.org_id', true), ''), "
        "coalesce(array_agg(id::text), '{}') FROM funds"
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), set(row[2])


async def test_a_tenant_setting_never_carries_over_to_the_next_transaction_on_one_server_connection(
    through_one: Settings,
    pooled_client: AsyncClient,
    one_connection: servers.Pooler,
    database: TestDatabase,
    org: NewOrg,
    other_org: NewOrg,
) -> None:
    fund_a = await FundApi(pooled_client, org.api_key).fund()
    fund_b = await FundApi(pooled_client, other_org.api_key).fund()
    url = db.app_url(through_one)
    assert make_url(url).port == one_connection.port
    # Two clients of the pooler, as two web requests would be; autocommit, so each
    # `transaction()` is one transaction and nothing else holds the server connection.
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None) as a,
        await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None) as b,
    ):
        pids = set()
        for _ in range(ROUNDS):
            for conn, own, fund in ((a, org, fund_a), (b, other_org, fund_b)):
                async with conn.transaction():
                    # What the previous transaction (the other tenant's) left: nothing.
                    pid, setting, funds = await funds_seen(conn)
                    assert (setting, funds) == ("", set())
                    await db_set_tenant(conn, own.org_id)
                    pid_again, setting, funds = await funds_seen(conn)
                    assert (setting, funds) == (str(own.org_id), {fund})
                pids |= {pid, pid_again}
        # After the last transaction, outside any: still nothing.
        assert (await funds_seen(a))[1:] == ("", set())
        # Every transaction of both clients ran on the one backend PgBouncer holds.
        assert len(pids) == 1
        assert one_connection.server_pids(database.name) == list(pids)

        # The control: a session-level setting (what `set_tenant` must never do) DOES reach
        # the other client, so the checks above would have seen a leak.
        await a.execute("SELECT set_config('app.org_id', %s, false)", (str(org.org_id),))
        assert (await funds_seen(b))[1:] == (str(org.org_id), {fund_a})
        await b.execute("SELECT set_config('app.org_id', '', false)")


async def db_set_tenant(conn: psycopg.AsyncConnection[Any], org_id: uuid.UUID) -> None:
    """What `db.set_tenant` sends, on a driver connection."""
    await conn.execute("SELECT set_config('app.org_id', %s, true)", (str(org_id),))


async def test_two_organisations_requests_interleaved_through_one_server_connection_see_their_own(
    pooled_client: AsyncClient,
    one_connection: servers.Pooler,
    database: TestDatabase,
    org: NewOrg,
    other_org: NewOrg,
) -> None:
    tenants = {org.api_key: FundApi(pooled_client, org.api_key)}
    tenants[other_org.api_key] = FundApi(pooled_client, other_org.api_key)
    own: dict[str, set[str]] = {key: set() for key in tenants}
    for key, api in tenants.items():
        own[key].add(await api.fund())

    async def write(key: str, n: int) -> None:
        own[key].add(await tenants[key].investor(f"LP {n}"))

    async def read(key: str) -> None:
        response = await pooled_client.get("/api/v1/investors?limit=500", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert {item["id"] for item in response.json()["items"]} <= own[key]
        response = await pooled_client.get("/api/v1/funds", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert {item["id"] for item in response.json()["items"]} <= own[key]

    # Writes and reads of both organisations at once: the app's pool opens several client
    # connections, PgBouncer queues their transactions on its one server connection.
    keys = list(tenants)
    await asyncio.gather(*(write(keys[n % 2], n) for n in range(2 * ROUNDS)))
    await asyncio.gather(*(read(keys[n % 2]) for n in range(4 * ROUNDS)))
    for key in keys:
        response = await pooled_client.get("/api/v1/investors?limit=500", headers=bearer(key))
        investors = {item["id"] for item in response.json()["items"]}
        assert len(investors) == ROUNDS
        assert investors <= own[key]
    assert len(one_connection.server_pids(database.name)) == 1


async def test_the_suite_sends_the_app_through_the_pooler_it_was_asked_for(
    settings: Settings, pooler: servers.Pooler | None, database: TestDatabase
) -> None:
    """PRORATA_TEST_POOLER=pgbouncer (CI's second pass): the api tier's app connections go
    through PgBouncer, the worker's directly; otherwise everything connects directly."""
    if pooler is None:
        assert settings.db_pooler == "none"
        assert db.app_url(settings) == database.app_url
        return
    assert settings.db_pooler == "pgbouncer"
    assert make_url(db.app_url(settings)).port == pooler.port
    assert db.worker_url(settings) == database.app_url
    engine = db.app_engine(settings, pool_size=1)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, psycopg.AsyncConnection)
            assert raw.driver_connection.prepare_threshold is None
    finally:
        await engine.dispose()
    assert pooler.server_pids(database.name)
