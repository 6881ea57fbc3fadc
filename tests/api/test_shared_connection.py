"""A request's transaction (`RequestTransaction` over `db.SharedConnection`): the driver and
the session share one connection and one database transaction, whichever comes first; it
ends as a whole, and the connection goes back to the pool every time."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.transaction import RequestTransaction
from prorata.investors.models import Investor, InvestorKind
from prorata.orgs.service import NewOrg
from prorata.platform import db

_TRANSACTION = "SELECT txid_current(), current_setting('app.org_id', true)"


async def _by_driver(session: AsyncSession, sql: str, *values: Any) -> Any:
    connection = await db.driver_connection(session)
    cursor = await connection.execute(sql, values)
    return await cursor.fetchone() if cursor.description else None


async def _by_session(session: AsyncSession, sql: str) -> Any:
    return (await session.execute(sa.text(sql))).one()


async def _names(sessions: async_sessionmaker[AsyncSession], org: NewOrg) -> set[str]:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        return set((await session.scalars(sa.select(Investor.name))).all())


async def _tenant_set_by_driver(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> tuple[RequestTransaction, AsyncSession]:
    """A request's transaction whose first statement (setting the tenant) went by the driver,
    as an authenticated request's does."""
    transaction = RequestTransaction(sessions)
    session = transaction.session()
    await _by_driver(session, "SELECT set_config('app.org_id', %s, true)", str(org.org_id))
    return transaction, session


def _checked_out(sessions: async_sessionmaker[AsyncSession]) -> int:
    return db.pool_usage(sessions.kw["bind"])[0]


@pytest.mark.parametrize("commit", [True, False])
async def test_the_driver_then_the_session_make_one_transaction(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, commit: bool
) -> None:
    transaction, session = await _tenant_set_by_driver(sessions, org)
    by_driver = await _by_driver(session, _TRANSACTION)
    session.add(Investor(org_id=org.org_id, name="Driver first", kind=InvestorKind.entity))
    await session.flush()  # the session begins on the shared connection
    assert await _by_session(session, _TRANSACTION) == tuple(by_driver)  # tenant set too
    assert await _by_driver(session, _TRANSACTION) == by_driver
    await transaction.finish(commit=commit)
    assert ("Driver first" in await _names(sessions, org)) is commit
    assert _checked_out(sessions) == 0


@pytest.mark.parametrize("commit", [True, False])
async def test_the_driver_alone_ends_its_own_transaction(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, commit: bool
) -> None:
    transaction, session = await _tenant_set_by_driver(sessions, org)
    await _by_driver(
        session,
        "INSERT INTO investors (id, org_id, name, kind) "
        "VALUES (gen_random_uuid(), %s, 'By driver', 'entity')",
        org.org_id,
    )
    await transaction.finish(commit=commit)
    assert ("By driver" in await _names(sessions, org)) is commit
    assert _checked_out(sessions) == 0


async def test_changes_never_flushed_are_committed(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """An object added (the session begins, without a connection) and never flushed: the end
    goes through the session, which flushes it in the transaction the driver began."""
    transaction, session = await _tenant_set_by_driver(sessions, org)
    session.add(Investor(org_id=org.org_id, name="Pending", kind=InvestorKind.entity))
    await transaction.finish(commit=True)
    assert "Pending" in await _names(sessions, org)


async def test_a_savepoint_still_guards_what_follows_the_driver(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """A failure inside `begin_nested` after the driver's statements rolls back to the
    savepoint only: the rest of the transaction goes on and commits."""
    transaction, session = await _tenant_set_by_driver(sessions, org)
    session.add(Investor(org_id=org.org_id, name="Kept", kind=InvestorKind.entity))
    await session.flush()
    with pytest.raises(Exception, match="division by zero"):
        async with session.begin_nested():
            await _by_driver(session, "SELECT 1 / 0")
    await _by_driver(session, "SELECT 1")  # the transaction is not aborted
    await transaction.finish(commit=True)
    assert "Kept" in await _names(sessions, org)
    assert _checked_out(sessions) == 0


async def test_the_connection_goes_back_after_a_failure(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    transaction = RequestTransaction(sessions)
    session = transaction.session()
    with pytest.raises(Exception, match="division by zero"):
        await _by_driver(session, "SELECT 1 / 0")
    await transaction.finish(commit=False)
    assert _checked_out(sessions) == 0
    # And the next request on it starts clean.
    transaction = RequestTransaction(sessions)
    assert await _by_driver(transaction.session(), "SELECT 1") == (1,)
    await transaction.finish(commit=True)
    assert _checked_out(sessions) == 0


async def test_a_session_alone_works_as_before(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    transaction = RequestTransaction(sessions)
    session = transaction.session()
    await db.set_tenant(session, org.org_id)
    session.add(Investor(org_id=org.org_id, name="Session only", kind=InvestorKind.entity))
    await session.flush()
    assert await _by_driver(session, "SELECT count(*) FROM investors WHERE name = 'Session only'")
    await transaction.finish(commit=True)
    assert "Session only" in await _names(sessions, org)
    assert _checked_out(sessions) == 0


@pytest.mark.parametrize("session_begun", [False, True])
async def test_a_connection_the_database_dropped_is_discarded_quietly(
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    caplog: pytest.LogCaptureFixture,
    session_begun: bool,
) -> None:
    """A request whose connection the server ended mid-transaction (a restart, a failover)
    rolls back without an error of its own, and the dead connection leaves the pool instead of
    going back to it to fail its reset (logged at ERROR by the pool)."""
    transaction, session = await _tenant_set_by_driver(sessions, org)
    if session_begun:
        session.add(Investor(org_id=org.org_id, name="Lost", kind=InvestorKind.entity))
    (pid,) = await _by_driver(session, "SELECT pg_backend_pid()")
    async with db.tenant_transaction(sessions, org.org_id) as other:
        await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(psycopg.OperationalError) as dropped:
        await _by_driver(session, "SELECT 1")
    assert db.unavailable(dropped.value)
    with caplog.at_level("DEBUG", logger="sqlalchemy.pool"):
        await transaction.finish(commit=False)
    assert [r.getMessage() for r in caplog.records if r.levelno >= 40] == []
    assert _checked_out(sessions) == 0
    assert "Lost" not in await _names(sessions, org)
    # And the next request gets a live connection.
    transaction = RequestTransaction(sessions)
    assert await _by_driver(transaction.session(), "SELECT 1") == (1,)
    await transaction.finish(commit=True)
