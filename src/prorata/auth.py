"""Authentication: `Authorization: Bearer <api key>` → a principal, and the tenant is set.

The key is resolved and the tenant set in the request's own transaction, so everything the
handler reads or writes afterwards is confined to the principal's organisation by RLS.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import db, errors
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import Role
from prorata.routing import request_session

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prk_…`")


@dataclasses.dataclass(frozen=True)
class Principal:
    org_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    api_key_id: uuid.UUID


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[AsyncSession, Depends(request_session)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise errors.Unauthorized()
    key = await org_repository.find_active_key(
        session, key_hash=org_service.hash_api_key(credentials.credentials)
    )
    if key is None:
        raise errors.Unauthorized("the API key is not valid")
    await db.set_tenant(session, key.org_id)
    role = await org_repository.membership_role(session, user_id=key.user_id)
    if role is None:
        raise errors.Unauthorized("the API key's user is no longer a member")
    principal = Principal(org_id=key.org_id, user_id=key.user_id, role=role, api_key_id=key.id)
    request.state.principal = principal
    return principal


async def tenant_session(
    principal: Annotated[Principal, Depends(current_principal)],
    session: Annotated[AsyncSession, Depends(request_session)],
) -> AsyncSession:
    """The request's session, scoped by RLS to the principal's organisation."""
    return session


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
TenantSession = Annotated[AsyncSession, Depends(tenant_session)]
