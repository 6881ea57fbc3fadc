"""Heavy reads: the routes whose session is `HeavyReadSession` read from the read replica
(`prorata.platform.replica`) when it keeps up, and from the primary otherwise.

A route is marked heavy by asking for `HeavyReadSession` instead of `TenantSession`; the set
is kept small and explicit (fund metrics, a capital account, the allocation lists). Such a
route must only read: the replica's transactions are read-only, and a write there fails.

Read-your-writes: after a write request commits, `note_write` records the primary's WAL
position for the principal's credential in this process and sends it back in the
`prorata_written` cookie (browsers, and API clients that keep cookies, carry it to whichever
web process answers next). A heavy read goes to the replica only once the replica has replayed
past the later of the two: a person never sees a page older than their own save.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.http.auth import PRINCIPAL_DEPENDENCIES, request_principal, tenant_session
from prorata.http.tenancy import Principal
from prorata.http.transaction import RequestTransaction
from prorata.platform import db, replica

log = logging.getLogger(__name__)

WRITTEN_COOKIE = "prorata_written"


def _replica_of(request: Request) -> replica.Replica | None:
    return getattr(request.app.state, "replica", None)


def _cookie_lsn(request: Request) -> int:
    """The write position the client carries; anything unreadable counts as none (a forged one
    only chooses between two copies of data the principal may read anyway)."""
    value = request.cookies.get(WRITTEN_COOKIE)
    if not value:
        return 0
    try:
        return replica.parse_lsn(value)
    except ValueError:
        return 0


async def heavy_read_session(request: Request) -> AsyncSession:
    """The replica's session for this principal's organisation when the replica is fresh
    enough for this principal, else the request's own (primary) session. (The principal and
    the session read from the request, not as dependencies: see `auth.tenant_session`.)"""
    principal = await request_principal(request)
    session = await tenant_session(request)
    found = _replica_of(request)
    if found is None:
        return session
    transaction: RequestTransaction = request.state.transaction
    if transaction.replica_session is not None:  # an export reads every page through it
        return transaction.replica_session
    after = max(found.marks.get(principal.credential_id), _cookie_lsn(request))
    sessions = await found.reader(after=after)
    if sessions is None:
        return session
    try:
        transaction.replica_session = await replica.tenant_reads(sessions, principal.org_id)
    except Exception as exc:
        if not db.unavailable(exc):
            raise
        found.lost(exc)  # down since its last check: this read, and the next ones, go primary
        return session
    return transaction.replica_session


HeavyReadSession = Annotated[AsyncSession, Depends(heavy_read_session)]
PRINCIPAL_DEPENDENCIES.add(heavy_read_session)


async def note_write(request: Request, response: Response, principal: Principal | None) -> None:
    """After a committed write: mark the principal so its next heavy reads wait for the
    replica to replay it (see the module's docstring)."""
    found = _replica_of(request)
    if found is None or principal is None:
        return
    try:
        lsn = await found.written()
    except Exception as exc:
        # The write is committed; only its mark is missing, and the lag bound still holds.
        if not db.unavailable(exc):
            raise
        log.warning("the write position could not be read after a write")
        return
    found.marks.note(principal.credential_id, lsn)
    settings: Settings = request.app.state.settings
    response.set_cookie(
        WRITTEN_COOKIE,
        replica.format_lsn(lsn),
        max_age=int(replica.MARK_SECONDS),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
