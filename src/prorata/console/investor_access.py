"""Who sees an investor in the LP portal: the forms of the GP's investor page (admins only;
the section itself is `funds.portal_access`) — access given to a member who already acts for
another investor (a family office's entities), access taken away, and an invitation for
someone new.

Each change goes through the identity services the API calls (`PATCH /users/{id}` with
`investor_ids`, `POST /invitations`), so the same rules and audit apply.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts import invitations
from prorata.accounts.schemas import InvitationCreate
from prorata.console import forms, funds
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.http.tenancy import Role
from prorata.orgs import service as org_service
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)


def _back(fund_id: uuid.UUID, investor_id: uuid.UUID) -> str:
    return f"/funds/{fund_id}/investors/{investor_id}#access"


async def _answer(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    refused: forms.Refusal | None,
) -> Response:
    if refused is None:
        return see_other(_back(fund_id, investor_id))
    return await funds.investor_page(
        request,
        db,
        page,
        fund_id,
        investor_id,
        section_error=("access", refused.detail),
        status=refused.status,
    )


@router.post("/funds/{fund_id}/investors/{investor_id}/access")
async def give_access(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    """A portal member already acting for another investor sees this one too."""
    chosen = (await request.form()).get("user_id")

    async def change() -> None:
        try:
            user_id = uuid.UUID(str(chosen))
        except ValueError:
            raise errors.RuleViolation("choose a portal member") from None
        await org_service.link_investor(
            db, actor=page.principal, user_id=user_id, investor_id=investor_id
        )

    refused = await forms.attempt(db, change)
    return await _answer(request, db, page, fund_id, investor_id, refused)


@router.post("/funds/{fund_id}/investors/{investor_id}/access/{user_id}/remove")
async def take_access(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    user_id: uuid.UUID,
) -> Response:
    refused = await forms.attempt(
        db,
        lambda: org_service.unlink_investor(
            db, actor=page.principal, user_id=user_id, investor_id=investor_id
        ),
    )
    return await _answer(request, db, page, fund_id, investor_id, refused)


@router.post("/funds/{fund_id}/investors/{investor_id}/invite")
async def invite(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    """Someone new to the portal, for this investor: an invitation by e-mail."""
    email = str((await request.form()).get("email", "")).strip()

    async def change() -> None:
        data = InvitationCreate.model_validate(
            {"email": email, "role": Role.investor, "investor_id": investor_id}
        )
        await invitations.invite(
            db,
            request.app.state.settings,
            actor=page.principal,
            email=data.email,
            role=data.role,
            investor_id=data.investor_id,
        )

    refused = await forms.attempt(db, change)
    return await _answer(request, db, page, fund_id, investor_id, refused)
