"""Routes of the identity domain."""

from __future__ import annotations

from fastapi import APIRouter

from prorata import errors
from prorata.auth import CurrentPrincipal, TenantSession
from prorata.orgs import repository as org_repository
from prorata.orgs.schemas import MeOut, OrgOut, UserOut
from prorata.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["identity"])


@router.get("/me", response_model=MeOut, summary="The caller: user, organisation and role")
async def me(principal: CurrentPrincipal, session: TenantSession) -> MeOut:
    user = await org_repository.get_user(session, user_id=principal.user_id)
    org = await org_repository.get_org(session, org_id=principal.org_id)
    if user is None or org is None:  # deleted between authentication and now
        raise errors.Unauthorized("the API key's user no longer exists")
    return MeOut(
        user=UserOut(id=user.id, email=user.email, name=user.name),
        org=OrgOut(id=org.id, name=org.name),
        role=principal.role,
    )
