"""Routes of signing in that the API offers: invitations (the pages are in prorata.console)."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Request, Response, status

from prorata.accounts import invitations
from prorata.accounts.models import Invitation
from prorata.accounts.schemas import InvitationCreate, InvitationOut
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["identity"])


def _out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        investor_id=invitation.investor_id,
        status=invitation.status(dt.datetime.now(dt.UTC)),
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
    )


@router.post(
    "/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite someone by e-mail (a single-use link, valid 7 days)",
)
async def create_invitation(
    body: InvitationCreate, request: Request, principal: CurrentPrincipal, session: TenantSession
) -> InvitationOut:
    invitation = await invitations.invite(
        session,
        request.app.state.settings,
        actor=principal,
        email=body.email,
        role=body.role,
        investor_id=body.investor_id,
    )
    await session.refresh(invitation, ["created_at"])
    return _out(invitation)


@router.get("/invitations", summary="Invitations of the organisation, with their status")
async def list_invitations(session: TenantSession, page: PageQuery) -> Page[InvitationOut]:
    found = await invitations.list_invitations(session, params=page)
    return Page[InvitationOut](items=[_out(i) for i in found.items], next_cursor=found.next_cursor)


@router.delete(
    "/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invitation (its link stops working)",
)
async def revoke_invitation(
    invitation_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    await invitations.revoke(session, actor=principal, invitation_id=invitation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
