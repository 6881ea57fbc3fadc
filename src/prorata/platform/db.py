"""Database access: engines, the declarative base, and tenant-scoped transactions.

Two roles exist (see docs/architecture.md): the *owner* runs migrations and operator commands
through `DATABASE_URL`; the *app* role (web and worker) owns nothing and cannot bypass row-level
security. The tenant of a transaction is set with `set_tenant`, which is local to the transaction,
so a pooled connection never carries one tenant into another's request.

Between the app and PostgreSQL there may be a transaction-mode pooler (`PRORATA_DB_POOLER=
pgbouncer`): then each transaction may run on a different server connection, so nothing on the
app's connections may outlive a transaction (no session `SET`, session advisory lock, `LISTEN`,
temporary table kept past COMMIT, `WITH HOLD` cursor) and the driver prepares no statements on
the server. What needs a session (the job queue, live-event `LISTEN`) connects directly
(`worker_url`).
"""

from __future__ import annotations

import enum
import select
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import greenlet_spawn

from prorata.config import Settings, SettingsError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    # Server-side defaults (created_at, …) come back with the INSERT (RETURNING): an async
    # session must never lazy-load them afterwards.
    __mapper_args__: Any = {"eager_defaults": True}  # noqa: RUF012 - read by the mapper only


# Money columns: unconstrained NUMERIC, so an amount comes back with the scale it was written
# with (quantized to its currency first), never a float.
MONEY = sa.Numeric()


def str_enum(kind: type[enum.StrEnum], name: str, *, length: int = 20) -> sa.Enum:
    """A `StrEnum` column stored as its values in a VARCHAR (no PostgreSQL enum type: adding a
    value is then a code change, not a migration that locks the table)."""
    return sa.Enum(
        kind,
        name=name,
        native_enum=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def sqlalchemy_url(url: str) -> URL:
    """`postgresql://…` (libpq style, as operators write it) → the psycopg 3 dialect URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:  # postgres://: Heroku's
        raise SettingsError(f"only PostgreSQL URLs are supported, got {parsed.drivername!r}")
    return parsed.set(drivername="postgresql+psycopg")


def libpq_url(url: URL) -> str:
    """The plain `postgresql://` form psycopg and libpq tools accept."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def owner_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SettingsError(
            "DATABASE_URL is not set: set it, or run `prorata up` for the embedded database"
        )
    return settings.database_url.get_secret_value()


def app_url(settings: Settings, *, owner: str | None = None) -> str:
    """The app role's URL: explicit, or the owner URL with the app role's name and password."""
    if settings.app_database_url is not None:
        return settings.app_database_url.get_secret_value()
    derived = make_url(owner or owner_url(settings)).set(
        username=settings.db_app_role, password=settings.db_app_password.get_secret_value()
    )
    return libpq_url(derived)


def worker_url(settings: Settings, *, owner: str | None = None) -> str:
    """The app role's direct URL, for what needs a session of its own: the worker (its queue
    LISTENs and takes session advisory locks) and the web's live-event LISTEN."""
    if settings.worker_database_url is not None:
        return settings.worker_database_url.get_secret_value()
    return app_url(settings, owner=owner)


def app_engine(settings: Settings, *, pool_size: int, owner: str | None = None) -> AsyncEngine:
    """The app role's engine, through the pooler if there is one."""
    return create_engine(
        app_url(settings, owner=owner),
        pool_size=pool_size,
        server_prepares=settings.db_pooler == "none",
    )


# A database host that drops packets would hold a new connection (and the request or probe
# waiting for it) for as long as TCP retries: minutes. libpq's own bound, per attempt.
CONNECT_TIMEOUT_SECONDS = 10


def create_engine(
    url: str, *, pool_size: int = 5, server_prepares: bool = True, **kwargs: Any
) -> AsyncEngine:
    # `hide_parameters`: a database error's message would otherwise carry the statement's
    # values (an investor's tax id, a name) into logs and exported spans.
    # `server_prepares=False` (behind PgBouncer in transaction mode): psycopg would prepare a
    # statement run often on one server connection and later execute it by name on another.
    prepares = {} if server_prepares else {"prepare_threshold": None}
    engine = _create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            **prepares,
            **kwargs.pop("connect_args", {}),
        },
        **kwargs,
    )
    _ping_when_suspect(engine)
    return engine


# A pooled connection idle longer than this is pinged before reuse: a firewall or a proxy may
# have dropped it without a word.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_suspect(engine: AsyncEngine) -> None:
    """Ping a pooled connection before reuse only when it may have died while idle.

    `pool_pre_ping` pings on every checkout: one more round trip for every request, a good
    share of a short request's time. A connection that served a request moments ago is alive
    unless the server closed it (restart, `pg_terminate_backend`), and then its socket is
    readable: an idle connection receives nothing else. So: a readable socket or a long idle
    spell costs a ping; a failed ping makes the pool replace the connection (DisconnectionError
    is the pool's "try another" signal), as `pool_pre_ping` did.
    """
    dialect = engine.dialect

    def alive_since_now(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        recent = idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
        if recent and not _readable(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError("the pooled connection did not answer") from exc

    pool = engine.sync_engine.pool
    sa.event.listen(pool, "connect", alive_since_now)
    sa.event.listen(pool, "checkin", alive_since_now)
    sa.event.listen(pool, "checkout", check)


def _readable(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has data or an end of file waiting (no wait)."""
    try:
        fileno = dbapi_connection.driver_connection.fileno()
    except Exception:  # closed or broken: let the ping find out
        return True
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def pool_usage(engine: AsyncEngine) -> tuple[int, int]:
    """(connections in use, idle connections) of an engine's pool, for the pool gauges."""
    pool = engine.pool
    if not isinstance(pool, sa.pool.QueuePool):
        return 0, 0
    return pool.checkedout(), pool.checkedin()


def sync_engine(url: str) -> sa.Engine:
    """A one-connection engine for migrations and operator commands."""
    return sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool, hide_parameters=True)


def sessionmaker(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions of `engine`; `read_only` ones (the read replica's) say so to the code using
    them (`is_read_only`), which then leaves its caches as they are instead of refreshing."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, info={"read_only": read_only}
    )


def is_read_only(session: AsyncSession) -> bool:
    return bool(session.info.get("read_only"))


async def set_tenant(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Scope the current transaction to one organisation (RLS reads `app.org_id`)."""
    await session.execute(
        sa.text("SELECT set_config('app.org_id', :org_id, true)"), {"org_id": str(org_id)}
    )


async def hold_lock(session: AsyncSession, key: str) -> None:
    """Wait for, then hold until the transaction ends, the lock named `key` (an advisory lock:
    writers of one thing queue, and each later statement sees what the one before committed)."""
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0)))
    )


@asynccontextmanager
async def tenant_transaction(
    sessions: async_sessionmaker[AsyncSession], org_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    """One transaction for one tenant, committed on success: the scope jobs and commands use."""
    async with sessions() as session, session.begin():
        await set_tenant(session, org_id)
        yield session


async def insert_many(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    *,
    shared: Mapping[str, Any] | None = None,
) -> None:
    """Insert many rows in ONE statement: `INSERT … SELECT … FROM unnest(col1[], col2[], …)`.

    An executemany of 20,000 rows is 20,000 round trips through the pipeline; this is one, and
    unlike COPY it works on tables with row-level security (RLS checks every row). Values every
    row has in common (`shared`: the fund, the call, …) are sent once, not as arrays.

    Sent through the driver with binary parameters, in the session's transaction (its tenant
    and RLS apply): as text, each of 10,000 array elements is checked for quoting, which cost
    more than PostgreSQL took to insert them.
    """
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, sa.Table)
    shared = shared or {}
    columns = list(rows[0])
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

    def sql_type(name: str) -> str:
        return str(table.c[name].type.compile(dialect=dialect))

    constants = [f"CAST(%b AS {sql_type(name)})" for name in shared]
    arrays = ", ".join(f"CAST(%b AS {sql_type(name)}[])" for name in columns)
    names = ", ".join([*shared, *columns])
    statement = (
        f"INSERT INTO {table.name} ({names}) "  # noqa: S608 - names from our metadata
        f"SELECT {', '.join([*constants, '*'])} FROM unnest({arrays})"
    )
    values = [*shared.values(), *([row[name] for row in rows] for name in columns)]
    connection = await driver_connection(session)
    await connection.execute(statement, values)


async def count_written(session: AsyncSession, statement: Any) -> int:
    """Run an INSERT/UPDATE (… FROM SELECT) and return how many rows it wrote, counted in SQL
    (`WITH w AS (… RETURNING 1) SELECT count(*)`): the rows never travel to Python, and it
    works where the driver reports no rowcount (ORM-enabled bulk statements)."""
    written = statement.returning(sa.literal(1)).cte("written")
    count = await session.scalar(sa.select(sa.func.count()).select_from(written))
    return int(count or 0)


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under a session's transaction (to enqueue jobs inside it).

    A session of a `SharedConnection` that has not begun a transaction yet gives the shared
    connection's driver at once, without making SQLAlchemy begin one (see there)."""
    shared: SharedConnection | None = session.info.get(_SHARED)
    if shared is not None and session.sync_session.get_transaction() is None:
        return await shared.driver()
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


_SHARED = "prorata.shared_connection"  # the session's `SharedConnection`, in `session.info`


class SharedConnection:
    """One pooled connection for one unit of work (a request), taken on first use and shared
    by statements sent through the driver and by a session.

    A short read sends everything through the driver: its authentication (setting the tenant)
    and its page (`pagination._fetch`). Through a session, the same connection costs three
    more objects — the session's transaction, SQLAlchemy's `Connection` and its `Transaction`
    — and their greenlet switches at checkout and again at commit and close: ~0.3 ms of a
    ~2.3 ms page (docs/benchmarks.md, issue 21). So the connection is taken from the engine's
    pool as a bare pooled connection (the pool's checkout checks run as for any other), and
    SQLAlchemy's `Connection` is made over it only when the session first needs one
    (`SharedConnectionSession.get_bind`). psycopg opens the database transaction with its
    first statement, whichever way it comes; SQLAlchemy's `begin` sends nothing with psycopg,
    so what the session runs later is in the same transaction, tenant set. Once the session
    has begun, everything goes through it as before (`driver_connection` asks it): a
    `begin_nested` block still gets its `SAVEPOINT` before the driver's first statement in it.

    `end` finishes the unit of work: through the session when it has begun (as it does when an
    object is added, before any flush; it commits or rolls back the whole database transaction,
    flushing first), through the driver otherwise; then the connection goes back to the pool.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pooled: Any = None  # SQLAlchemy's pooled connection (`PoolProxiedConnection`)
        self._connection: sa.Connection | None = None

    def bind(self, session: AsyncSession) -> AsyncSession:
        """`session` (a `SharedConnectionSession`) made to run on this connection."""
        session.info[_SHARED] = self
        return session

    async def driver(self) -> psycopg.AsyncConnection[Any]:
        if self._pooled is None:
            self._pooled = await self._engine.raw_connection()
        driver = self._pooled.driver_connection
        assert isinstance(driver, psycopg.AsyncConnection)
        return driver

    def sync_connection(self) -> sa.Connection:
        """SQLAlchemy's connection over the shared one (called by the session, in its greenlet,
        where the pool can be waited on synchronously)."""
        if self._connection is None:
            if self._pooled is None:
                self._pooled = self._engine.sync_engine.raw_connection()
            self._connection = sa.Connection(self._engine.sync_engine, connection=self._pooled)
        return self._connection

    async def end(self, session: AsyncSession | None, *, commit: bool) -> None:
        try:
            if session is not None and session.sync_session.get_transaction() is not None:
                await (session.commit() if commit else session.rollback())
            elif self._pooled is not None:
                driver = await self.driver()
                await (driver.commit() if commit else driver.rollback())
        finally:
            try:
                if session is not None:
                    await session.close()
            finally:
                await self._release()

    async def _release(self) -> None:
        """Back to the pool; the pool's reset rolls back whatever is still open. A connection
        the database dropped (a restart, a failover) is discarded instead: its reset could only
        fail, and the pool logs that at ERROR. SQLAlchemy notices a drop by itself only in the
        statements it sent, not in the driver's."""
        connection, pooled = self._connection, self._pooled
        self._connection = self._pooled = None
        dropped = pooled is not None and getattr(pooled.driver_connection, "broken", False)
        if connection is not None:
            if dropped and not connection.invalidated:
                await greenlet_spawn(connection.invalidate)
            await greenlet_spawn(connection.close)
        elif pooled is not None:
            await greenlet_spawn(pooled.invalidate if dropped else pooled.close)


class SharedConnectionSession(sa.orm.Session):
    """A session whose connection is its `SharedConnection`'s (the engine's otherwise)."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        shared: SharedConnection | None = self.info.get(_SHARED)
        if shared is None:
            return super().get_bind(*args, **kwargs)
        return shared.sync_connection()


# How long a client is told to wait before retrying while the database is unreachable: about
# what a restart or a failover takes.
RETRY_AFTER_SECONDS = 5


def unavailable(exc: BaseException) -> bool:
    """`exc` says the database cannot answer now — down, restarting, unreachable, the connection
    lost mid-transaction, the pool exhausted, a deadlock or serialization failure PostgreSQL asks
    us to retry — rather than that the request or the code is wrong. Such a request was rolled
    back and can be sent again: a 503 with Retry-After, never a 500."""
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return isinstance(
        exc,
        psycopg.OperationalError
        | psycopg.InterfaceError
        | sa.exc.TimeoutError
        | sa.exc.PendingRollbackError
        | ConnectionError,
    )
