"""The test harness: one real PostgreSQL per test session, one fresh database per test.

The server is the embedded one `make run` uses (started once, when a test first needs it), or
the server named by `PRORATA_TEST_DATABASE_URL` (a superuser URL). The schema is migrated once
into a template database; each test that asks for `database` gets its own copy (CREATE
DATABASE … TEMPLATE), so tests never see each other's rows, and worker subprocesses can connect
to it like the web.

Under pytest-xdist every worker process is a session of its own: each starts its own embedded
server (its own data directory, its own Unix socket) and migrates its own template database.
With `PRORATA_TEST_DATABASE_URL` the workers share that server, each with its own template
database (the name carries the worker's id).

`PRORATA_TEST_POOLER=pgbouncer` puts a PgBouncer in transaction mode between the app's
connections and the test server (CI's second pass): the `settings` of the api tier then send
the app role through it with `PRORATA_DB_POOLER=pgbouncer`, while the owner (migrations,
fixtures) and what needs a session (the worker, live-event LISTEN) connect directly.

Tests live in three tiers, one directory each, and are marked by it (`-m unit`, …):
- tests/unit: pure, no database, no subprocess;
- tests/api: in process (the ASGI app, services, SQL) on real PostgreSQL;
- tests/system: real processes (web, worker, `prorata up`, kill -9), S3, SMTP, OTLP, fuzzing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs, wiring
from prorata.app import create_app
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.orgs import service as org_service
from prorata.platform import db
from prorata.runtime import migrate
from prorata.runtime.embedded import EmbeddedPostgres
from tests import job_tasks, servers
from tests.support import TestDatabase

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _wired() -> None:
    """What every entry point does first (job blueprints, hooks), plus the suite's own tasks,
    which tests defer and test workers run (PRORATA_JOB_MODULES)."""
    wiring.connect()
    jobs.register(job_tasks.blueprint)


TIERS = ("unit", "api", "system")
# What only the api and system tiers may ask for: a unit test needs no database.
DATABASE_FIXTURES = frozenset({"server_url", "template_database", "database", "pooler"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the directory it lives in, and `no_test_server` when it
    uses none of the test server's fixtures (a unit test, or a system test that starts its own
    `prorata up`): it runs the same whatever `PRORATA_TEST_DATABASE_URL` says, so CI's second
    pass leaves it out (`-m "not no_test_server"`). A test outside the tiers, or a unit test
    asking for a database, stops the run before anything runs."""
    tests = Path(__file__).resolve().parent
    for item in items:
        parts = item.path.resolve().relative_to(tests).parts
        tier = parts[0] if len(parts) > 1 else None
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: every test lives in tests/unit, tests/api or tests/system"
            )
        if tier == "unit" and DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid}: a unit test needs no database (tests/api)")
        item.add_marker(getattr(pytest.mark, tier))
        if not DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.no_test_server)


def _worker_id() -> str:
    """The pytest-xdist worker running this process (gw0, gw1, …), or "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# The test server's data is thrown away with it: nothing is waited for to reach the disk (a
# commit, a CREATE DATABASE of each test's copy). What a query sees is the same; only a crash
# of the machine would lose data, and the data is the tests' own. `synchronous_commit` stays
# on, PostgreSQL's default and so what most deployments run (the replica tests turn it off
# where they test read-your-writes without it). Servers a test starts to stop or kill
# (`prorata up`, the fault tests) keep the product's settings.
TEST_SERVER_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
# Its data lives in memory where the machine has a tmpfs: each test's CREATE DATABASE (~800
# files copied from the template) and DROP cost ~35 ms there against 150-600 ms on this
# machine's ext4 disk, where file creation is slow and erratic. Only with room to spare (a
# container's /dev/shm is often 64 MB: the WAL alone outgrows that): else the temporary
# directory, as before.
MEMORY_DIRECTORY = Path("/dev/shm")
MEMORY_NEEDED_BYTES = 4 * 2**30


def _room_in_memory() -> bool:
    try:
        found = os.statvfs(MEMORY_DIRECTORY)
    except OSError:
        return False
    free = found.f_bavail * found.f_frsize
    return free >= MEMORY_NEEDED_BYTES and os.access(MEMORY_DIRECTORY, os.W_OK | os.X_OK)


def _test_server_base() -> Path:
    memory = _room_in_memory()
    base = Path(
        tempfile.mkdtemp(
            prefix=f"prorata-test-pg-{_worker_id()}-",
            dir=MEMORY_DIRECTORY if memory else None,
        )
    )
    base.chmod(0o755)  # the pgserver user traverses it to its data directory
    return base


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Superuser URL of the `postgres` database on the test server."""
    external = os.environ.get("PRORATA_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # A base directory of its own, not under pytest's tmp root: the server runs as the
    # `pgserver` user when tests run as root, and another pytest run as root resets that root
    # to mode 0700 (pytest does on start), which would lock this server out of its own data.
    base = _test_server_base()
    embedded = EmbeddedPostgres(base, settings=TEST_SERVER_SETTINGS)
    try:
        embedded.start()
        yield embedded.url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(base, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return db.libpq_url(make_url(url).set(database=name))


def base_settings(**overrides: object) -> Settings:
    return Settings(env="test", **overrides)  # type: ignore[arg-type]


TEMPLATE_LOCK_KEY = 0x70726F746D706C  # "protmpl"


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    name = f"prorata_tpl_{_worker_id()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as lock:
        # xdist workers sharing a server (PRORATA_TEST_DATABASE_URL) all create or alter the one
        # app role, which is not safe at once: one migration at a time, server-wide (an
        # advisory lock taken in the `postgres` database; the connection's end releases it).
        lock.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK_KEY,))
        migrate.run(base_settings(database_url=url))
    try:
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database(server_url: str, template_database: str) -> Iterator[TestDatabase]:
    name = f"prorata_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )
    owner = _with_database(server_url, name)
    settings = base_settings(database_url=owner)
    try:
        yield TestDatabase(name=name, owner_url=owner, app_url=db.app_url(settings))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


POOLERS = ("none", "pgbouncer")


@pytest.fixture(scope="session")
def pooler(server_url: str) -> Iterator[servers.Pooler | None]:
    """The PgBouncer the app's connections go through (`PRORATA_TEST_POOLER=pgbouncer`), or
    None: they connect directly."""
    kind = os.environ.get("PRORATA_TEST_POOLER") or "none"
    if kind not in POOLERS:
        raise pytest.UsageError(f"PRORATA_TEST_POOLER must be one of {', '.join(POOLERS)}")
    if kind == "none":
        yield None
        return
    defaults = base_settings()
    app_role = {defaults.db_app_role: defaults.db_app_password.get_secret_value()}
    with servers.pgbouncer(server_url, app_role) as running:
        yield running


def pooled(database: TestDatabase, pooler: servers.Pooler) -> dict[str, object]:
    """Settings that send the app role through `pooler`, the worker and LISTEN directly."""
    return {
        "app_database_url": pooler.url(database.app_url),
        "worker_database_url": database.app_url,
        "db_pooler": "pgbouncer",
    }


@pytest.fixture
def settings(database: TestDatabase, pooler: servers.Pooler | None, tmp_path: Path) -> Settings:
    # Route-enumerating tests make many unauthenticated calls from one address; the
    # auth-failure limit itself is tested with its own strict settings.
    return base_settings(
        database_url=database.owner_url,
        data_dir=tmp_path / "var",
        rate_limit_auth_failures="10000/minute",
        **(pooled(database, pooler) if pooler is not None else {}),
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of the app role (the role web and worker use): RLS applies."""
    engine = db.app_engine(settings, pool_size=2)
    try:
        yield db.sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://prorata.test") as http:
        yield http


@pytest.fixture
async def org(sessions: async_sessionmaker[AsyncSession]) -> org_service.NewOrg:
    return await create_org(sessions, "Org A", "owner@a.example")


@pytest.fixture
async def other_org(sessions: async_sessionmaker[AsyncSession]) -> org_service.NewOrg:
    return await create_org(sessions, "Org B", "owner@b.example")


async def create_org(
    sessions: async_sessionmaker[AsyncSession], name: str, email: str
) -> org_service.NewOrg:
    async with sessions() as session, session.begin():
        return await org_service.create_org(session, name=name, owner_email=email)


async def add_member(
    sessions: async_sessionmaker[AsyncSession],
    org: org_service.NewOrg,
    role: Role,
    investor_id: uuid.UUID | None = None,
) -> str:
    """A user with `role` in `org` (an `investor` member linked to `investor_id`), added by its
    owner; returns the user's API key."""
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )
    async with sessions() as session, session.begin():
        await db.set_tenant(session, org.org_id)
        user, _ = await org_service.add_user(
            session,
            actor=owner,
            email=f"{role}-{uuid.uuid4().hex[:8]}@x.example",
            name=None,
            role=role,
            investor_id=investor_id,
        )
        _, api_key = await org_service.issue_api_key(
            session, org_id=org.org_id, user_id=user.id, name=str(role)
        )
    return api_key


@pytest.fixture
async def role_keys(
    sessions: async_sessionmaker[AsyncSession], org: org_service.NewOrg
) -> dict[Role, str]:
    """An API key for every role in `org` (the owner's is the org's own)."""
    keys = {Role.owner: org.api_key}
    for role in (Role.admin, Role.manager, Role.viewer, Role.investor):
        keys[role] = await add_member(sessions, org, role)
    return keys


def settings_with(settings: Settings, **overrides: object) -> Settings:
    return Settings(**{**settings.model_dump(), **overrides})
