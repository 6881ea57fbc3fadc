"""The signed-in person's own pages: home, and "my account" (password, two-factor, sessions,
API keys). The console's fund pages build on `home` (next issue)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request, Response
from markupsafe import Markup

from prorata.accounts import service as account_service
from prorata.accounts import sessions
from prorata.config import Settings
from prorata.console import render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.console.sign_in import start_session_cookie
from prorata.http import auth
from prorata.http.pagination import PageParams
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)

FormText = Annotated[str, Form()]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _account(request: Request, db: PageDb, page: SignedIn, **extra: Any) -> dict[str, Any]:
    user = await db.get(User, page.principal.user_id)
    if user is None:
        raise errors.NotFound("no such user")
    keys = await org_repository.list_keys(
        db, user_id=user.id, params=PageParams(limit=100, cursor=None)
    )
    return {
        "user": user,
        "sessions": await sessions.live(db, _settings(request), user_id=user.id),
        "this_session": page.principal.credential_id,
        "keys": keys.items,
        "codes_left": await account_service.recovery_codes_left(db, user_id=user.id),
        "new_key": None,
        **extra,
    }


async def _account_page(
    request: Request, db: PageDb, page: SignedIn, *, status: int = 200, **extra: Any
) -> Response:
    values = await _account(request, db, page, **extra)
    return await render.page(request, "account.html", status=status, **values)


NOTICES = {
    "password": "Your password was changed. Every other session was ended.",
    "two-factor-off": "Two-factor authentication is off.",
    "session": "The session was ended.",
    "key-revoked": "The API key was revoked.",
}


@router.get("/account")
async def account(request: Request, db: PageDb, page: SignedIn, done: str = "") -> Response:
    return await _account_page(request, db, page, notice=NOTICES.get(done))


@router.post("/account/password")
async def change_password(
    request: Request,
    db: PageDb,
    page: SignedIn,
    current_password: FormText = "",
    new_password: FormText = "",
) -> Response:
    try:
        started = await account_service.change_password(
            db,
            _settings(request),
            principal=page.principal,
            current=current_password,
            new=new_password,
            user_agent=request.headers.get("user-agent"),
        )
    except errors.RuleViolation as refused:
        field = "current_password" if "current" in refused.detail else "new_password"
        return await _account_page(request, db, page, status=422, errors={field: refused.detail})
    response = see_other("/account?done=password")
    start_session_cookie(request, response, started)
    return response


def _qr(uri: str) -> Markup:
    """The otpauth URI as an inline SVG (made here from our own data: safe to embed)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return Markup(svg)  # noqa: S704 - segno's own SVG of a URI we built


async def _enrolment(
    request: Request, db: PageDb, page: SignedIn, *, status: int = 200, error: str | None = None
) -> Response:
    enrolment = await account_service.begin_two_factor(
        db, _settings(request), principal=page.principal
    )
    return await render.page(
        request,
        "two_factor_setup.html",
        status=status,
        secret=enrolment.secret,
        qr=_qr(enrolment.uri),
        errors={"code": error} if error else {},
    )


@router.get("/account/two-factor")
async def two_factor_setup(request: Request, db: PageDb, page: SignedIn) -> Response:
    user = await db.get(User, page.principal.user_id)
    if user is not None and user.totp_enabled_at is not None:
        return see_other("/account")
    return await _enrolment(request, db, page)


@router.post("/account/two-factor")
async def two_factor_confirm(
    request: Request, db: PageDb, page: SignedIn, code: FormText = ""
) -> Response:
    try:
        codes = await account_service.confirm_two_factor(
            db, _settings(request), principal=page.principal, code=code
        )
    except errors.RuleViolation as refused:
        return await _enrolment(request, db, page, status=422, error=refused.detail)
    return await render.page(request, "recovery_codes.html", codes=codes)


@router.post("/account/two-factor/disable")
async def two_factor_disable(
    request: Request, db: PageDb, page: SignedIn, password: FormText = ""
) -> Response:
    try:
        await account_service.disable_two_factor(db, principal=page.principal, password=password)
    except (errors.RuleViolation, errors.Conflict) as refused:
        return await _account_page(
            request, db, page, status=refused.status, errors={"disable_password": refused.detail}
        )
    return see_other("/account?done=two-factor-off")


@router.post("/account/sessions/{session_id}/end")
async def end_session(db: PageDb, page: SignedIn, session_id: uuid.UUID) -> Response:
    await account_service.end_own_session(db, principal=page.principal, session_id=session_id)
    if session_id == page.principal.credential_id:
        response = see_other("/login?done=signed-out")
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response
    return see_other("/account?done=session")


@router.post("/account/api-keys")
async def create_api_key(
    request: Request, db: PageDb, page: SignedIn, name: FormText = ""
) -> Response:
    name = name.strip()
    if not name or len(name) > 200:
        return await _account_page(
            request, db, page, status=422, errors={"name": "name the key (1–200 characters)"}
        )
    _, plaintext = await org_service.issue_api_key(
        db, org_id=page.principal.org_id, user_id=page.principal.user_id, name=name
    )
    # Shown once, on this answer only (no redirect: the key must not travel in a URL).
    return await _account_page(request, db, page, new_key=plaintext)


@router.post("/account/api-keys/{key_id}/revoke")
async def revoke_api_key(db: PageDb, page: SignedIn, key_id: uuid.UUID) -> Response:
    await org_service.revoke_api_key(db, actor=page.principal, key_id=key_id)
    return see_other("/account?done=key-revoked")
