"""Authentication: `Authorization: Bearer <api key>` → a principal, and the tenant is set.

The key is resolved and the tenant set in the request's own transaction, so everything the
handler reads or writes afterwards is confined to the principal's organisation by RLS.
Failed attempts are counted per client IP; past the `auth_failures` limit further failures from
that IP get 429 instead of 401. A valid key is never refused by that limit: it throttles
guessing, not the people who share an address with a guesser.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal, Role
from prorata.http.transaction import client_ip, request_session
from prorata.platform import errors


def hash_api_key(api_key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


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
        api_key_id=row.api_key_id,
        investor_id=row.investor_id,
    )


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_…`")


async def _refuse(request: Request, limiter: RateLimiter, detail: str) -> errors.Unauthorized:
    request.state.rate_limit = await limiter.hit("auth_failures", client_ip(request))
    return errors.Unauthorized(detail)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(request_session)],
) -> Principal:
    # Only failures are throttled: a valid key is never refused for what others sent from the
    # same address (behind a load balancer, every client shares it).
    limiter: RateLimiter = request.app.state.rate_limiter
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise await _refuse(request, limiter, "a valid API key is required")
    principal = await authenticate_key(session, key_hash=hash_api_key(credentials.credentials))
    if principal is None:
        raise await _refuse(request, limiter, "the API key is not valid")
    request.state.principal = principal
    return principal


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
