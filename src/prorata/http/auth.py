"""Authentication: an API key (`Authorization: Bearer`) or a browser session (the
`prorata_session` cookie) → a principal, and the tenant is set. Never both: with an
Authorization header the key alone decides.

The credential is resolved and the tenant set in the request's own transaction, so everything
the handler reads or writes afterwards is confined to the principal's organisation by RLS.
A session's state-changing requests must carry its CSRF token (`X-CSRF-Token`), and a session
still waiting for its second factor is not signed in. Failed attempts are counted per client
IP; past the `auth_failures` limit further failures from that IP get 429 instead of 401. A
valid credential is never refused by that limit: it throttles guessing, not the people who
share an address with a guesser.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal, Role
from prorata.http.transaction import client_ip, request_session
from prorata.platform import errors

SESSION_COOKIE = "prorata_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def hash_token(token: str) -> str:
    """Keys and tokens are 256 random bits, so a plain SHA-256 is enough (no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class SessionState:
    principal: Principal
    csrf_token: str
    second_factor_pending: bool
    must_enrol_two_factor: bool  # the org requires two-factor and this user has none yet


async def authenticate_session(
    session: AsyncSession, *, token: str, idle_minutes: int
) -> SessionState | None:
    """The live session of a cookie, or None; one round trip (`prorata_authenticate_session`,
    migration 0015) that also sets the tenant and marks the session seen."""
    row = (
        await session.execute(
            sa.text("SELECT * FROM prorata_authenticate_session(:token_hash, :idle)"),
            {"token_hash": hash_token(token), "idle": idle_minutes},
        )
    ).one_or_none()
    if row is None:
        return None
    principal = Principal(
        org_id=row.org_id,
        user_id=row.user_id,
        role=Role(row.role),
        credential_id=row.session_id,
        via_session=True,
        investor_id=row.investor_id,
        investor_ids=frozenset(row.investor_ids or ()),
    )
    return SessionState(
        principal, row.csrf_token, row.second_factor_pending, row.must_enrol_two_factor
    )


def csrf_matches(sent: str | None, expected: str) -> bool:
    return sent is not None and secrets.compare_digest(sent.encode(), expected.encode())


async def authenticate_key(session: AsyncSession, *, key_hash: str) -> Principal | None:
    """The principal of an active key whose user is a member, or None.

    One round trip (`prorata_authenticate`, migration 0004), and the transaction's tenant is
    set to the key's organisation when it returns a row.
    """
    row = (
        await session.execute(
            sa.text("SELECT * FROM prorata_authenticate(:key_hash)"), {"key_hash": key_hash}
        )
    ).one_or_none()
    if row is None:
        return None
    return Principal(
        org_id=row.org_id,
        user_id=row.user_id,
        role=Role(row.role),
        credential_id=row.api_key_id,
        investor_id=row.investor_id,
        investor_ids=frozenset(row.investor_ids or ()),
    )


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_…`")
# Documented for the API description; read from the request itself (a cookie is not a key).
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="A browser session (after signing in at /login); state-changing requests must "
    f"also send the session's CSRF token in `{CSRF_HEADER}`.",
)


async def _refuse(request: Request, limiter: RateLimiter, detail: str) -> errors.Unauthorized:
    request.state.rate_limit = await limiter.hit("auth_failures", client_ip(request))
    return errors.Unauthorized(detail)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(request_session)],
    _cookie: Annotated[str | None, Depends(_session_cookie)] = None,
) -> Principal:
    # Only failures are throttled: a valid key is never refused for what others sent from the
    # same address (behind a load balancer, every client shares it).
    limiter: RateLimiter = request.app.state.rate_limiter
    cookie = request.cookies.get(SESSION_COOKIE)
    # Never both: a request that sends an Authorization header is its key's alone, whatever
    # cookie the client also holds (a browser sends cookies unasked; a program means its key).
    if request.headers.get("authorization") is None and cookie is not None:
        principal = await _session_principal(request, session, limiter, cookie)
    elif credentials is None or credentials.scheme.lower() != "bearer":
        raise await _refuse(request, limiter, "a valid API key or session is required")
    else:
        found = await authenticate_key(session, key_hash=hash_token(credentials.credentials))
        if found is None:
            raise await _refuse(request, limiter, "the API key is not valid")
        principal = found
    request.state.principal = principal
    return principal


async def _session_principal(
    request: Request, session: AsyncSession, limiter: RateLimiter, cookie: str
) -> Principal:
    settings: Settings = request.app.state.settings
    state = await authenticate_session(
        session, token=cookie, idle_minutes=settings.session_idle_minutes
    )
    if state is None:
        raise await _refuse(request, limiter, "the session has ended: sign in again")
    if state.second_factor_pending:
        raise await _refuse(request, limiter, "finish signing in: the two-factor code is missing")
    if state.must_enrol_two_factor:
        raise errors.Forbidden(
            "your organisation requires two-factor authentication: enable it under My account"
        )
    if request.method not in SAFE_METHODS and not csrf_matches(
        request.headers.get(CSRF_HEADER), state.csrf_token
    ):
        raise errors.Forbidden(
            f"a request made with a session must carry its CSRF token in {CSRF_HEADER}",
            title="CSRF token missing or wrong",
        )
    return state.principal


async def authenticate_request(request: Request, session: AsyncSession) -> Principal:
    """`current_principal` for a request whose dependencies never ran (see `routing`)."""
    return await current_principal(request, await _bearer(request), session)


async def tenant_session(
    principal: Annotated[Principal, Depends(current_principal)],
    session: Annotated[AsyncSession, Depends(request_session)],
) -> AsyncSession:
    """The request's session, scoped by RLS to the principal's organisation."""
    return session


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
TenantSession = Annotated[AsyncSession, Depends(tenant_session)]
