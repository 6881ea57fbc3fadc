"""The organisation's settings (admins): profile and two-factor rule, members and their roles,
invitations, webhooks with their delivery log. Every form calls the service its API route calls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from prorata.accounts import invitations
from prorata.accounts.models import InvitationStatus
from prorata.accounts.schemas import InvitationCreate
from prorata.console import forms, render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.documents import letters
from prorata.http.pagination import PageParams
from prorata.http.tenancy import ROLE_RANK, Role
from prorata.orgs import logo as org_logo
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import DateFormat, PaperSize
from prorata.orgs.schemas import ApiKeyCreate, OrgUpdate
from prorata.platform import errors, storage
from prorata.platform.events import Announcement
from prorata.webhooks import service as webhook_service
from prorata.webhooks.schemas import WebhookCreate

router = APIRouter(route_class=PageRoute)

FormText = Annotated[str, Form()]
EXAMPLE_DAY = dt.date(2026, 3, 4)  # how each date format writes a day, in its option
LISTED = 200  # members, invitations and webhooks shown (an organisation's people fit)


async def _settings_page(
    request: Request,
    db: AsyncSession,
    page: SignedIn,
    *,
    status: int = 200,
    problems: dict[str, str] | None = None,
    notice: str | None = None,
    shown_once: tuple[str, str] | None = None,
) -> Response:
    """`shown_once`: (what, value) of a secret shown on this answer only."""
    org = await org_repository.get_org(db, org_id=page.principal.org_id)
    everyone = PageParams(limit=LISTED, cursor=None)
    users = await org_repository.list_users(db, params=everyone)
    roles = await org_repository.memberships_of(db, user_ids=[u.id for u in users.items])
    invited = await invitations.list_invitations(db, params=everyone)
    hooks = await webhook_service.page(db, params=everyone)
    now = dt.datetime.now(dt.UTC)
    rank = ROLE_RANK[page.principal.role]
    return await render.page(
        request,
        "settings.html",
        status=status,
        org=org,
        members=[(u, roles[u.id]) for u in users.items if u.id in roles],
        invitations=[(i, i.status(now)) for i in invited.items],
        pending=InvitationStatus.pending,
        webhooks=hooks.items,
        grantable=[r.value for r in Role if ROLE_RANK[r] <= rank],
        announcements=[a.value for a in Announcement],
        errors=problems or {},
        notice=notice,
        shown_once=shown_once,
        paper_sizes=[(PaperSize.a4.value, "A4"), (PaperSize.letter.value, "US Letter")],
        date_formats=[
            (style.value, f"{style.name.upper()}: {letters.format_date(EXAMPLE_DAY, style)}")
            for style in DateFormat
        ],
    )


@router.get("/settings")
async def settings(request: Request, db: PageDb, page: SignedIn, done: str = "") -> Response:
    notices = {
        "profile": "The organisation's profile was saved.",
        "logo": "The logo was saved: the next documents carry it.",
        "logo-removed": "The logo was removed.",
        "member": "The member was updated.",
        "removed": "The member was removed: their sessions and keys ended.",
        "invited": "The invitation was sent.",
        "revoked": "The invitation was withdrawn.",
        "webhook-deleted": "The webhook was deleted.",
    }
    return await _settings_page(request, db, page, notice=notices.get(done))


async def _refused(
    request: Request, db: AsyncSession, page: SignedIn, section: str, problem: Exception
) -> Response:
    if isinstance(problem, ValidationError):
        found = forms.field_errors(problem)
        detail = next(iter(found.values())) if found else "check the form"
        field = next(iter(found), section)
        return await _settings_page(request, db, page, status=422, problems={field: detail})
    assert isinstance(problem, errors.Problem)
    return await _settings_page(
        request, db, page, status=problem.status, problems={section: problem.detail}
    )


REFUSALS = (ValidationError, errors.RuleViolation, errors.Conflict, errors.Forbidden)


@router.post("/settings/org")
async def update_org(request: Request, db: PageDb, page: SignedIn) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    changes: dict[str, Any] = {
        name: (form.get(name, "").strip() or None) for name in ("name", *org_service.PROFILE_FIELDS)
    }
    changes["require_two_factor"] = form.get("require_two_factor") == "on"
    changes |= forms.filled(form, org_service.SETTING_FIELDS)
    try:
        data = OrgUpdate.model_validate(changes)
        async with db.begin_nested():
            await org_service.update_org(
                db, actor=page.principal, changes=data.model_dump(exclude_unset=True)
            )
    except REFUSALS as refused:
        return await _refused(request, db, page, "profile", refused)
    return see_other("/settings?done=profile")


@router.post("/settings/org/logo")
async def upload_logo(request: Request, db: PageDb, page: SignedIn) -> Response:
    upload = (await request.form()).get("logo")
    data = await upload.read(org_logo.MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    store: storage.BlobStore = request.app.state.blobs
    try:
        async with db.begin_nested():
            await org_logo.replace(db, store, actor=page.principal, data=data)
    except errors.RuleViolation as refused:
        return await _settings_page(
            request, db, page, status=422, problems={"logo": refused.detail}
        )
    return see_other("/settings?done=logo")


@router.post("/settings/org/logo/remove")
async def remove_logo(db: PageDb, page: SignedIn) -> Response:
    await org_logo.remove(db, actor=page.principal)
    return see_other("/settings?done=logo-removed")


@router.post("/settings/api-keys")
async def issue_member_key(
    request: Request, db: PageDb, page: SignedIn, user_id: FormText = "", name: FormText = ""
) -> Response:
    """An admin's key for a member, as `POST /api/v1/users/{id}/api-keys`; shown on this answer
    only (never in a URL, never again)."""
    try:
        data = ApiKeyCreate(name=name)
        member = uuid.UUID(user_id)
        async with db.begin_nested():
            _, plaintext = await org_service.issue_api_key_for(
                db, actor=page.principal, user_id=member, name=data.name
            )
    except ValueError as refused:  # a malformed id, or the name refused by the schema
        detail = (
            next(iter(forms.field_errors(refused).values()), "the key needs a name")
            if isinstance(refused, ValidationError)
            else "choose a member"
        )
        return await _settings_page(request, db, page, status=422, problems={"api_key": detail})
    except (errors.Forbidden, errors.NotFound) as refused:
        return await _settings_page(
            request, db, page, status=refused.status, problems={"api_key": refused.detail}
        )
    return await _settings_page(
        request,
        db,
        page,
        notice="The API key was issued.",
        shown_once=(f"The API key “{data.name}”", plaintext),
    )


@router.post("/settings/members/{user_id}")
async def change_role(
    request: Request, db: PageDb, page: SignedIn, user_id: uuid.UUID, role: FormText = ""
) -> Response:
    try:
        async with db.begin_nested():
            await org_service.update_user(
                db, actor=page.principal, user_id=user_id, changes={"role": Role(role)}
            )
    except ValueError:
        problem = {"members": "choose a role"}
        return await _settings_page(request, db, page, status=422, problems=problem)
    except REFUSALS as refused:
        return await _refused(request, db, page, "members", refused)
    return see_other("/settings?done=member")


@router.post("/settings/members/{user_id}/remove")
async def remove_member(
    request: Request, db: PageDb, page: SignedIn, user_id: uuid.UUID
) -> Response:
    try:
        async with db.begin_nested():
            await org_service.remove_user(db, actor=page.principal, user_id=user_id)
    except REFUSALS as refused:
        return await _refused(request, db, page, "members", refused)
    return see_other("/settings?done=removed")


@router.post("/settings/invitations")
async def invite(
    request: Request,
    db: PageDb,
    page: SignedIn,
    email: FormText = "",
    role: FormText = "",
    investor_id: FormText = "",
) -> Response:
    try:
        data = InvitationCreate.model_validate(
            {"email": email, "role": role, "investor_id": investor_id.strip() or None}
        )
        async with db.begin_nested():
            await invitations.invite(
                db,
                request.app.state.settings,
                actor=page.principal,
                email=data.email,
                role=data.role,
                investor_id=data.investor_id,
            )
    except REFUSALS as refused:
        return await _refused(request, db, page, "invite", refused)
    return see_other("/settings?done=invited")


@router.post("/settings/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, db: PageDb, page: SignedIn, invitation_id: uuid.UUID
) -> Response:
    try:
        async with db.begin_nested():
            await invitations.revoke(db, actor=page.principal, invitation_id=invitation_id)
    except REFUSALS as refused:
        return await _refused(request, db, page, "invite", refused)
    return see_other("/settings?done=revoked")


@router.post("/settings/webhooks")
async def create_webhook(request: Request, db: PageDb, page: SignedIn) -> Response:
    form = await request.form()
    try:
        data = WebhookCreate(url=str(form.get("url", "")), events=form.getlist("events"))
        async with db.begin_nested():
            _, secret = await webhook_service.create(db, actor=page.principal, data=data)
    except REFUSALS as refused:
        return await _refused(request, db, page, "webhook", refused)
    # The signing secret is shown on this answer only (never in a URL, never again).
    return await _settings_page(
        request,
        db,
        page,
        notice="The webhook was added.",
        shown_once=("The webhook's signing secret", secret),
    )


@router.post("/settings/webhooks/{webhook_id}/delete")
async def delete_webhook(
    request: Request, db: PageDb, page: SignedIn, webhook_id: uuid.UUID
) -> Response:
    await webhook_service.delete(db, actor=page.principal, webhook_id=webhook_id)
    return see_other("/settings?done=webhook-deleted")


@router.get("/settings/webhooks/{webhook_id}")
async def webhook_deliveries(
    request: Request, db: PageDb, page: SignedIn, webhook_id: uuid.UUID
) -> Response:
    hook = await webhook_service.get(db, webhook_id=webhook_id)
    found = await webhook_service.deliveries(
        db, webhook_id=webhook_id, params=PageParams(limit=LISTED, cursor=None)
    )
    return await render.page(
        request,
        "webhook.html",
        hook=hook,
        deliveries=sorted(found.items, key=lambda d: d.created_at, reverse=True),
    )


@router.post("/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
async def redeliver(
    request: Request, db: PageDb, page: SignedIn, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> Response:
    await webhook_service.redeliver(
        db, actor=page.principal, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return see_other(f"/settings/webhooks/{webhook_id}")
