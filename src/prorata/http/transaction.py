"""The request's transaction: one session per request, opened on first use.

`routing.ApiRoute` creates it and finishes it (commit on success, rollback otherwise) before the
response leaves the process; dependencies reach the session through `request_session`.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.platform import db


class RequestTransaction:
    """The request's one database transaction, on one pooled connection shared by the session
    and the statements sent through the driver (`db.SharedConnection`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None
        self._connection: db.SharedConnection | None = None
        # A heavy read's session on the replica (`prorata.http.reads`): read-only, rolled back.
        self.replica_session: AsyncSession | None = None

    def session(self) -> AsyncSession:
        if self._session is None:
            engine = self._sessions.kw["bind"]
            self._connection = db.SharedConnection(engine)
            self._session = self._connection.bind(
                self._sessions(sync_session_class=db.SharedConnectionSession)
            )
        return self._session

    async def finish(self, *, commit: bool) -> None:
        await self._finish_replica()
        session, connection = self._session, self._connection
        self._session = self._connection = None
        if session is None or connection is None:
            return
        try:
            await connection.end(session, commit=commit)
        except Exception as exc:
            # A rollback on a connection the database dropped cannot reach it (and needs not:
            # the server ended that transaction with the connection). The error that stopped
            # the request is the one to answer with, not this one.
            if commit or not db.unavailable(exc):
                raise

    async def _finish_replica(self) -> None:
        if self.replica_session is None:
            return
        try:
            await self.replica_session.rollback()
        except Exception as exc:
            # The replica gone since the read: nothing there to end, and nothing was written.
            if not db.unavailable(exc):
                raise
        finally:
            await self.replica_session.close()
            self.replica_session = None


async def request_session(request: Request) -> AsyncSession:
    """The request's session (no tenant set: use `auth.TenantSession` for tenant data)."""
    transaction: RequestTransaction = request.state.transaction
    return transaction.session()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
