"""Pages for getting in: sign in (password, then code), sign out, an invitation, a reset.

These pages work without JavaScript: plain forms, answered with a redirect (303) or the same
form with its errors next to the fields, in the API's words.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response

from prorata.accounts import invitations, sessions
from prorata.accounts import service as account_service
from prorata.config import Settings
from prorata.console import render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.http import auth
from prorata.http.ratelimit import RateLimiter
from prorata.http.transaction import client_ip
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)

FormText = Annotated[str, Form()]
REFUSED = "the email address or the password is not right"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this site only (never `//elsewhere`)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def start_session_cookie(
    request: Request, response: Response, started: sessions.NewSession
) -> None:
    settings = _settings(request)
    response.set_cookie(
        auth.SESSION_COOKIE,
        started.token,
        max_age=settings.session_max_days * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


NOTICES = {
    "reset": "Your password was changed: sign in with the new one.",
    "signed-out": "You are signed out.",
    "ended": "Your session has ended: sign in again.",
}


@router.get("/login")
async def login_page(request: Request, next: str = "/", done: str = "") -> Response:
    if request.state.page is not None:
        return see_other(safe_next(next))
    return await render.page(
        request, "login.html", email="", next=safe_next(next), notice=NOTICES.get(done)
    )


async def _client_failure(request: Request) -> str | None:
    """Count a failed attempt from this address; the words of a 429 when it is over its limit
    (answered as a page, so the failure's count and audit entry are kept)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        await limiter.hit("auth_failures", client_ip(request))
    except errors.Problem as over:
        return over.detail
    return None


@router.post("/login")
async def login(
    request: Request,
    db: PageDb,
    email: FormText = "",
    password: FormText = "",
    next: FormText = "/",
) -> Response:
    email = email.strip()[:320]
    target = safe_next(next)
    result = await account_service.sign_in(
        db,
        _settings(request),
        email=email,
        password=password,
        user_agent=request.headers.get("user-agent"),
    )
    if result.started is not None:
        after = target
        if result.outcome is account_service.Outcome.second_factor:
            after = f"/login/two-factor?next={quote(target, safe='')}"
        response = see_other(after)
        start_session_cookie(request, response, result.started)
        return response
    status, error = 401, REFUSED
    if result.outcome is account_service.Outcome.locked and result.locked_until is not None:
        status = 429
        error = (
            "too many failed attempts: this account is locked until "
            f"{render.when(result.locked_until)}, or reset your password to unlock it now"
        )
    over = await _client_failure(request)
    if over is not None:
        status, error = 429, over
    return await render.page(
        request,
        "login.html",
        status=status,
        email=email,
        next=target,
        errors={"password": error},
    )


@router.get("/login/two-factor")
async def two_factor_page(request: Request, next: str = "/") -> Response:
    return await render.page(request, "two_factor.html", next=safe_next(next))


@router.post("/login/two-factor")
async def two_factor(
    request: Request, db: PageDb, page: SignedIn, code: FormText = "", next: FormText = "/"
) -> Response:
    promoted = await account_service.second_factor(
        db,
        _settings(request),
        session_id=page.principal.credential_id,
        user_id=page.principal.user_id,
        code=code,
    )
    if promoted is not None:
        response = see_other(safe_next(next))
        start_session_cookie(request, response, promoted)
        return response
    over = await _client_failure(request)
    return await render.page(
        request,
        "two_factor.html",
        status=429 if over else 401,
        next=safe_next(next),
        errors={"code": over or "the code is not right: use the current code, or a recovery code"},
    )


@router.post("/logout")
async def logout(db: PageDb, page: SignedIn) -> Response:
    await account_service.sign_out(db, principal=page.principal)
    response = see_other("/login?done=signed-out")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


async def _invalid_link(request: Request, what: str) -> Response:
    return await render.page(
        request,
        "problem.html",
        status=404,
        viewer=None,
        title="This link does not work",
        detail=f"the {what} link is not valid: it was used already, withdrawn, or it expired",
    )


@router.get("/invitations/{token}")
async def invitation_page(request: Request, db: PageDb, token: str) -> Response:
    invitation = await invitations.open_invitation(db, token=token[:100])
    if invitation is None:
        return await _invalid_link(request, "invitation")
    return await render.page(
        request, "invitation.html", viewer=None, invitation=invitation, name=""
    )


@router.post("/invitations/{token}")
async def accept_invitation(
    request: Request, db: PageDb, token: str, name: FormText = "", password: FormText = ""
) -> Response:
    invitation = await invitations.open_invitation(db, token=token[:100])
    if invitation is None:
        return await _invalid_link(request, "invitation")
    name = name.strip()[:200]
    try:
        started = await invitations.accept(
            db,
            _settings(request),
            invitation=invitation,
            name=name or None,
            password=password,
            user_agent=request.headers.get("user-agent"),
        )
    except (errors.RuleViolation, errors.Conflict) as refused:
        return await render.page(
            request,
            "invitation.html",
            status=refused.status,
            viewer=None,
            invitation=invitation,
            name=name,
            errors={"password": refused.detail},
        )
    response = see_other("/")
    start_session_cookie(request, response, started)
    return response


@router.get("/password-reset")
async def reset_request_page(request: Request) -> Response:
    return await render.page(request, "reset_request.html", viewer=None, email="", sent=False)


@router.post("/password-reset")
async def request_reset(request: Request, db: PageDb, email: FormText = "") -> Response:
    email = email.strip()[:320]
    if "@" not in email:
        return await render.page(
            request,
            "reset_request.html",
            status=422,
            viewer=None,
            email=email,
            sent=False,
            errors={"email": "enter the email address you sign in with"},
        )
    await invitations.request_reset(db, _settings(request), email=email)
    # The same answer whether or not the address has an account.
    return await render.page(request, "reset_request.html", viewer=None, email=email, sent=True)


@router.get("/password-reset/{token}")
async def reset_page(request: Request, db: PageDb, token: str) -> Response:
    if await invitations.open_reset(db, token=token[:100]) is None:
        return await _invalid_link(request, "password reset")
    return await render.page(request, "reset.html", viewer=None)


@router.post("/password-reset/{token}")
async def reset_password(
    request: Request, db: PageDb, token: str, password: FormText = ""
) -> Response:
    reset = await invitations.open_reset(db, token=token[:100])
    if reset is None:
        return await _invalid_link(request, "password reset")
    try:
        await invitations.complete_reset(db, reset=reset, password=password)
    except errors.RuleViolation as refused:
        return await render.page(
            request, "reset.html", status=422, viewer=None, errors={"password": refused.detail}
        )
    return see_other("/login?done=reset")
