"""The test harness: one real PostgreSQL per test session, one fresh database per test.

The server is the embedded one `make run` uses (started once), or the server named by
`PRORATA_TEST_DATABASE_URL` (a superuser URL). The schema is migrated once into a template
database; each test that asks for `database` gets its own copy (CREATE DATABASE … TEMPLATE),
so tests never see each other's rows, and worker subprocesses can connect to it like the web.
"""

from __future__ import annotations

import os
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
from tests import job_tasks
from tests.support import TestDatabase

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _wired() -> None:
    """What every entry point does first (job blueprints, hooks), plus the suite's own tasks,
    which tests defer and test workers run (PRORATA_JOB_MODULES)."""
    wiring.connect()
    jobs.register(job_tasks.blueprint)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Superuser URL of the `postgres` database on the test server."""
    external = os.environ.get("PRORATA_TEST_DATABASE_URL")
    if external:
        yield external
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()


def _with_database(url: str, name: str) -> str:
    return db.libpq_url(make_url(url).set(database=name))


def base_settings(**overrides: object) -> Settings:
    return Settings(env="test", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    name = f"prorata_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(server_url, name)
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


@pytest.fixture
def settings(database: TestDatabase, tmp_path: Path) -> Settings:
    # Route-enumerating tests make many unauthenticated calls from one address; the
    # auth-failure limit itself is tested with its own strict settings.
    return base_settings(
        database_url=database.owner_url,
        data_dir=tmp_path / "var",
        rate_limit_auth_failures="10000/minute",
    )


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of the app role (the role web and worker use): RLS applies."""
    engine = db.create_engine(db.app_url(settings), pool_size=2)
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
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, api_key_id=org.org_id
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
