"""Authentication: `Authorization: Bearer <api key>` → a principal, and the tenant is set.

The key is resolved and the tenant set in the request's own transaction, so everything the
handler reads or writes afterwards is confined to the principal's organisation by RLS.
Failed attempts are counted per client IP; past the `auth_failures` limit that IP gets 429s
before any key is even looked up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal
from prorata.http.transaction import client_ip, request_session
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.platform import errors

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_…`")


async def _refuse(request: Request, limiter: RateLimiter, detail: str) -> errors.Unauthorized:
    request.state.rate_limit = await limiter.hit("auth_failures", client_ip(request))
    return errors.Unauthorized(detail)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(request_session)],
) -> Principal:
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.rate_limit = await limiter.check("auth_failures", client_ip(request))
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise await _refuse(request, limiter, "a valid API key is required")
    principal = await org_repository.authenticate(
        session, key_hash=org_service.hash_api_key(credentials.credentials)
    )
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
