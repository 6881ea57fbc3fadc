"""The read replica against a real streaming replica (`pg_basebackup -R`, `tests.replica_support`):
heavy reads go to it while it keeps up, a writer's own reads go to the primary until the replica
has replayed the write, a lagging or unreachable replica leaves every read to the primary, RLS
holds there, and the report and statement jobs read there.

Which server answered is shown by the data: with replay paused on the replica, a write on the
primary is missing from the replica's answer only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from prorata.app import create_app
from prorata.config import Settings
from prorata.http import reads
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db, replica
from tests.conftest import add_member, base_settings, create_org
from tests.fund_support import FundApi
from tests.replica_support import (
    Pair,
    drop_database,
    migrated_template,
    new_database,
    streaming_pair,
)
from tests.servers import worker
from tests.support import TestDatabase, bearer, eventually, free_port


@pytest.fixture(scope="session")
def replica_pair(server_url: str) -> Iterator[Pair]:
    with streaming_pair(server_url) as pair:
        yield pair


@pytest.fixture(scope="session")
def replica_template(replica_pair: Pair, request: pytest.FixtureRequest) -> str:
    if replica_pair.dedicated:
        return migrated_template(replica_pair.primary_url)
    name: str = request.getfixturevalue("template_database")
    return name


@pytest.fixture
def replicated(replica_pair: Pair, replica_template: str) -> Iterator[TestDatabase]:
    """A fresh database on the primary, streamed to the replica like everything else."""
    database = new_database(replica_pair.primary_url, replica_template)
    try:
        # Until its CREATE DATABASE is replayed, the replica has no such database: a first
        # check then would find it unreachable and leave it alone for RETRY_DOWN_SECONDS.
        replica_pair.wait_caught_up()
        yield database
    finally:
        drop_database(replica_pair.primary_url, database.name)


def _settings(
    database: TestDatabase, tmp_path: Path, replica_url: str | None, **overrides: Any
) -> Settings:
    return base_settings(
        database_url=database.owner_url,
        data_dir=tmp_path / "var",
        rate_limit_auth_failures="10000/minute",
        replica_database_url=replica_url,
        **overrides,
    )


@contextlib.asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@contextlib.asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """A client of its own (its own cookie jar: what one person's browser or program holds)."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as http:
        yield http


async def _people(app: FastAPI, settings: Settings) -> tuple[NewOrg, str]:
    """An organisation (its owner writes) and a viewer of it (a third party reading)."""
    engine = db.create_engine(db.app_url(settings), pool_size=1)
    try:
        sessions = db.sessionmaker(engine)
        org = await create_org(sessions, "Org A", f"owner-{uuid.uuid4().hex[:6]}@a.example")
        viewer = await add_member(sessions, org, Role.viewer)
    finally:
        await engine.dispose()
    return org, viewer


async def _allocated(client: AsyncClient, key: str, fund: str) -> list[str]:
    """The fund's allocation amounts as `key` reads them (a heavy read)."""
    response = await client.get(f"/api/v1/funds/{fund}/allocations", headers=bearer(key))
    assert response.status_code == 200, response.text
    return [row["amount"] for row in response.json()["items"]]


async def _allocation(api: FundApi) -> tuple[str, str]:
    """A fund with one investor and one deal, allocated 100.00: (fund, its allocation path)."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    path = f"/funds/{fund}/deals/{deal}/allocations/{investor}"
    await api.request("PUT", path, json={"amount": "100.00"})
    return fund, path


async def test_a_third_party_reads_the_replica_and_a_writer_reads_its_own_write(
    replicated: TestDatabase, replica_pair: Pair, tmp_path: Path
) -> None:
    # The bound is wide here: replay stays paused while the test looks (the lag grows).
    settings = _settings(
        replicated,
        tmp_path,
        replica_pair.replica_url(replicated.app_url),
        replica_max_lag_seconds=3600,
    )
    async with _served(settings) as app:
        org, viewer = await _people(app, settings)
        async with _client(app) as writer_http, _client(app) as reader_http:
            writer = FundApi(writer_http, org.api_key)
            fund, path = await _allocation(writer)
            replica_pair.wait_caught_up()
            assert await _allocated(reader_http, viewer, fund) == ["100.00"]
            with replica_pair.replay_paused():
                await writer.request("PUT", path, json={"amount": "250.00"})
                # The third party reads the replica, which has not replayed the write yet.
                assert await _allocated(reader_http, viewer, fund) == ["100.00"]
                # The writer reads its own write: from the primary.
                assert await _allocated(writer_http, org.api_key, fund) == ["250.00"]
                # ...whether the mark comes from this process or from the cookie its client
                # carries to another web process (here: the viewer's key with that cookie).
                cookie = writer_http.cookies.get(reads.WRITTEN_COOKIE)
                assert cookie is not None
                writer_http.cookies.clear()
                assert await _allocated(writer_http, org.api_key, fund) == ["250.00"]
                reader_http.cookies.set(reads.WRITTEN_COOKIE, cookie)
                assert await _allocated(reader_http, viewer, fund) == ["250.00"]
                reader_http.cookies.clear()
                assert await _allocated(reader_http, viewer, fund) == ["100.00"]
            replica_pair.wait_caught_up()

            async def replayed() -> bool:
                return await _allocated(reader_http, viewer, fund) == ["250.00"]

            await eventually(replayed, timeout=30, what="the replica to answer with the write")
        found = await app.state.replica.replay()
        assert found.usable


async def test_a_writer_reads_its_own_write_committed_with_synchronous_commit_off(
    replicated: TestDatabase, replica_pair: Pair, tmp_path: Path
) -> None:
    """An operator may turn `synchronous_commit` off: a commit then returns before its WAL is
    written out, and how far WAL is written (what a replica can have replayed) can still be
    short of the write while its reader asks for it."""
    settings = _settings(
        replicated,
        tmp_path,
        replica_pair.replica_url(replicated.app_url),
        replica_max_lag_seconds=3600,
    )
    with psycopg.connect(replicated.owner_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE {} IN DATABASE {} SET synchronous_commit = off").format(
                psycopg.sql.Identifier(settings.db_app_role),
                psycopg.sql.Identifier(replicated.name),
            )
        )
    async with _served(settings) as app, _client(app) as http:
        org, _ = await _people(app, settings)
        writer = FundApi(http, org.api_key)
        fund, path = await _allocation(writer)
        # The WAL writer is kept from writing the commits out for the rounds' length: only a
        # page it fills is written (a write crossing a page: hence a few rounds).
        with _wal_writer_delay(replica_pair.primary_url, "10s"):
            # Each round: the replica has replayed all that was written out, and the app has
            # just seen it do so; then a write, and its writer's read at once.
            for amount in ("101.00", "102.00", "103.00", "104.00"):
                replica_pair.wait_caught_up()
                await asyncio.sleep(replica.CHECK_EVERY_SECONDS)
                assert (await app.state.replica.replay()).usable
                await writer.request("PUT", path, json={"amount": amount})
                assert await _allocated(http, org.api_key, fund) == [amount]


@contextlib.contextmanager
def _wal_writer_delay(server_url: str, delay: str) -> Iterator[None]:
    """The server's `wal_writer_delay` set to `delay` for the block (a server-wide setting)."""

    def configure(statement: str) -> None:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(statement)
            conn.execute("SELECT pg_reload_conf()")

    configure(f"ALTER SYSTEM SET wal_writer_delay = '{delay}'")
    try:
        yield
    finally:
        configure("ALTER SYSTEM RESET wal_writer_delay")


async def test_a_replica_lagging_past_the_bound_leaves_reads_to_the_primary(
    replicated: TestDatabase, replica_pair: Pair, tmp_path: Path
) -> None:
    settings = _settings(
        replicated,
        tmp_path,
        replica_pair.replica_url(replicated.app_url),
        replica_max_lag_seconds=0.5,
    )
    async with _served(settings) as app:
        org, viewer = await _people(app, settings)
        async with _client(app) as writer_http, _client(app) as reader_http:
            writer = FundApi(writer_http, org.api_key)
            fund, path = await _allocation(writer)
            with replica_pair.replay_paused():
                await writer.request("PUT", path, json={"amount": "250.00"})

                async def lagging() -> bool:
                    found = await app.state.replica.replay()
                    return not found.usable and "lag" in found.reason

                await eventually(lagging, timeout=30, what="the lag to pass the bound")
                assert await _allocated(reader_http, viewer, fund) == ["250.00"]


async def test_an_unreachable_replica_leaves_reads_to_the_primary_without_an_error(
    database: TestDatabase, tmp_path: Path
) -> None:
    nowhere = f"postgresql://prorata_app:x@127.0.0.1:{free_port()}/{database.name}"
    settings = _settings(database, tmp_path, nowhere)
    async with _served(settings) as app:
        org, viewer = await _people(app, settings)
        async with _client(app) as writer_http, _client(app) as reader_http:
            writer = FundApi(writer_http, org.api_key)
            fund, path = await _allocation(writer)
            await writer.request("PUT", path, json={"amount": "250.00"})
            assert await _allocated(reader_http, viewer, fund) == ["250.00"]
            metrics = await reader_http.get(f"/api/v1/funds/{fund}/metrics", headers=bearer(viewer))
            assert metrics.status_code == 200, metrics.text
        found = await app.state.replica.replay()
        assert not found.usable
        assert "did not answer" in found.reason


async def test_a_server_not_in_recovery_is_not_taken_for_a_replica(
    database: TestDatabase, tmp_path: Path
) -> None:
    settings = _settings(database, tmp_path, database.app_url)
    async with _served(settings) as app:
        found = await app.state.replica.replay()
        assert not found.usable
        assert "not in recovery" in found.reason


async def test_rls_holds_on_the_replica(
    replicated: TestDatabase, replica_pair: Pair, tmp_path: Path
) -> None:
    settings = _settings(replicated, tmp_path, replica_pair.replica_url(replicated.app_url))
    async with _served(settings) as app:
        org, _ = await _people(app, settings)
        engine = db.create_engine(db.app_url(settings), pool_size=1)
        try:
            other = await create_org(db.sessionmaker(engine), "Org B", "owner@b.example")
        finally:
            await engine.dispose()
        async with _client(app) as writer_http, _client(app) as other_http:
            fund, _ = await _allocation(FundApi(writer_http, org.api_key))
            replica_pair.wait_caught_up()
            # Org B's owner, through the replica: another organisation's rows are not there.
            listed = await other_http.get("/api/v1/allocations", headers=bearer(other.api_key))
            assert (listed.status_code, listed.json()["items"]) == (200, [])
            response = await other_http.get(
                f"/api/v1/funds/{fund}/allocations", headers=bearer(other.api_key)
            )
            assert response.status_code == 404
        sessions = app.state.replica.sessions
        counted = "SELECT pg_is_in_recovery(), count(*) FROM allocations"
        for org_id, expected in ((org.org_id, 1), (other.org_id, 0)):
            session = await replica.tenant_reads(sessions, org_id)
            try:
                row = (await session.execute(sa.text(counted))).one()
            finally:
                await session.close()
            assert tuple(row) == (True, expected)
        async with sessions() as session:  # no tenant: nothing at all
            assert (await session.execute(sa.text(counted))).one() == (True, 0)


def _scans_on_replica(pair: Pair, database: TestDatabase, table: str) -> int:
    """Scans of `table` (its partitions) run on the replica itself: a standby counts its own
    reads, and the primary's are not replicated."""
    with psycopg.connect(pair.replica_superuser(database.name)) as conn:
        row = conn.execute(
            "SELECT sum(seq_scan + coalesce(idx_scan, 0)) FROM pg_stat_user_tables "
            "WHERE relid = %s::regclass "
            "OR relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)",
            (table, table),
        ).fetchone()
    return int(row[0] or 0) if row else 0


async def test_report_and_statement_jobs_read_from_the_replica(
    replicated: TestDatabase, replica_pair: Pair, tmp_path: Path
) -> None:
    # The web process has no replica here: every read the replica counts is the worker's.
    settings = _settings(replicated, tmp_path, None)
    async with _served(settings) as app, _client(app) as http:
        org, _ = await _people(app, settings)
        api = FundApi(http, org.api_key)
        fund, _ = await _allocation(api)
        report = await api.request(
            "POST",
            f"/funds/{fund}/reports",
            json={"kind": "allocations", "as_of": "2026-06-30"},
            expect=202,
        )
        run = await api.request(
            "POST",
            f"/funds/{fund}/reports",
            json={"kind": "capital_account_statement", "as_of": "2026-06-30"},
            expect=202,
        )
        replica_pair.wait_caught_up()
        assert _scans_on_replica(replica_pair, replicated, "allocations") == 0

        async def done() -> bool:
            jobs = [await api.request("GET", f"/jobs/{j['id']}") for j in (report, run)]
            return all(job["status"] == "succeeded" for job in jobs)

        env = {
            "PRORATA_DATA_DIR": str(settings.data_dir),
            "PRORATA_REPLICA_DATABASE_URL": replica_pair.replica_url(replicated.app_url),
            "PRORATA_LOG_LEVEL": "INFO",  # what it chose is in the log, if this fails
            # A job waits up to the bound for the replica to reach what it was asked after: a
            # loaded CI machine must not send it to the primary.
            "PRORATA_REPLICA_MAX_LAG_SECONDS": "60",
        }
        with worker(replicated, log=tmp_path / "worker.log", **env):
            await eventually(done, timeout=90, what="the report and statement jobs")
        # The worker has stopped: its replica connections ended and their counts are in.
        assert _scans_on_replica(replica_pair, replicated, "allocations") > 0
        assert _scans_on_replica(replica_pair, replicated, "capital_ledger") > 0
        document = await api.request("GET", f"/documents/{report['document_id']}")
        assert document["status"] == "ready"
