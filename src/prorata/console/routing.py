"""The route class of every page: what `ApiRoute` is to the API, for people in a browser.

For each page, from its entry in `prorata.http.policy.PAGES`, `PageRoute`:

1. counts the request against the rate limit (per address for public pages, per session);
2. finds the session of the `prorata_session` cookie and sets the tenant (RLS), or sends the
   browser to /login (303), to the two-factor step, or to two-factor set-up when the
   organisation requires it; refuses a role below the page's least role (403 page);
3. checks the CSRF token of every POST: the session's synchronizer token, or on public forms
   (no session yet) the double-submit `prorata_form` cookie — 403 otherwise;
4. owns the transaction: committed when the page returned (a form answered with its errors
   commits what it meant to keep, such as a failed sign-in's count), rolled back when it raised.

A `Problem` raised by a page is rendered as an HTML page with its status and words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.console import forms, render
from prorata.http import auth, idempotency, policy, reads
from prorata.http.policy import PageAccess
from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal
from prorata.http.transaction import RequestTransaction, client_ip, request_session
from prorata.platform import errors


@dataclasses.dataclass(frozen=True)
class PageSession:
    """Who is looking at a page: the principal of the session and the session's CSRF token."""

    principal: Principal
    csrf_token: str


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _sign_in_first(request: Request) -> Redirect:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect("/login" if here == "/" else f"/login?next={quote(here, safe='')}")


async def _session_of(request: Request, page: policy.PagePolicy) -> PageSession | None:
    """The page's session per its access rule, or a redirect to where the browser should go."""
    token = request.cookies.get(auth.SESSION_COOKIE)
    settings: Settings = request.app.state.settings
    state = None
    if token:
        session = await request_session(request)
        state = await auth.authenticate_session(
            session, token=token, idle_minutes=settings.session_idle_minutes
        )
    if page.access is PageAccess.public:
        return PageSession(state.principal, state.csrf_token) if state else None
    if state is None:
        raise _sign_in_first(request)
    if page.access is PageAccess.second_factor:
        if not state.second_factor_pending:
            raise Redirect("/")
    elif state.second_factor_pending:
        raise Redirect("/login/two-factor")
    elif state.must_enrol_two_factor and page.access is not PageAccess.enrolment:
        raise Redirect("/account/two-factor")
    if not page.allows(state.principal.role):
        raise errors.Forbidden(f"this page needs the role {page.least_role} or above")
    return PageSession(state.principal, state.csrf_token)


async def _check_csrf(request: Request, page_session: PageSession | None) -> None:
    if request.method != "POST":
        return
    sent = (await request.form()).get(forms.CSRF_FIELD)
    expected = (
        page_session.csrf_token
        if page_session is not None
        else request.cookies.get(forms.FORM_COOKIE)
    )
    if not isinstance(sent, str) or not expected or not auth.csrf_matches(sent, expected):
        raise errors.Forbidden(
            "the form is missing its security token or it expired: reload the page and "
            "send it again",
            title="CSRF token missing or wrong",
        )


async def _count(request: Request, page_session: PageSession | None) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    if page_session is None:
        request.state.rate_limit = await limiter.hit("public", client_ip(request))
    else:
        credential = str(page_session.principal.credential_id)
        request.state.rate_limit = await limiter.hit("api", credential)


class PageRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in (kwargs.get("methods") or ["GET"])}
        policies = {policy.lookup_page(method, path) for method in methods}
        if len(policies) != 1:
            raise policy.MissingPolicy(f"{path}: methods {sorted(methods)} have different policies")
        self.page = policies.pop()
        kwargs["include_in_schema"] = False
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            request.state.route_template = self.path_format
            transaction = RequestTransaction(request.app.state.sessions)
            request.state.transaction = transaction
            try:
                response = await self._serve(request, handler)
            except BaseException:
                await transaction.finish(commit=False)
                raise
            await transaction.finish(commit=response.status_code < 500)
            forms.set_form_cookie(request, response)
            page_session: PageSession | None = getattr(request.state, "page", None)
            if request.method == "POST" and response.status_code < 400 and page_session:
                await reads.note_write(request, response, page_session.principal)
            return response

        return run_in_transaction

    async def _serve(
        self, request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
    ) -> Response:
        if request.method == "POST":
            # Read (and keep) the body first: the form is parsed from it, and the idempotency
            # fingerprint hashes it too (a stream can be read once).
            await request.body()
        try:
            page_session = await _session_of(request, self.page)
            request.state.page = page_session
            await _count(request, page_session)
            await _check_csrf(request, page_session)
            pending = await self._claim(request, page_session)
            response = await handler(request)
            if pending is not None and response.status_code < 400:
                await idempotency.complete(await request_session(request), pending, response)
            return response
        except idempotency.Replay as replay:
            return replay.response
        except Redirect as redirect:
            return see_other(redirect.location)
        except errors.Problem as problem:
            await request_transaction_rollback(request)
            return await render.problem_page(request, problem)
        except RequestValidationError:
            await request_transaction_rollback(request)
            return await render.problem_page(request, errors.NotFound("there is no such page"))

    async def _claim(
        self, request: Request, page_session: PageSession | None
    ) -> idempotency.Pending | None:
        """A money-moving form's idempotency key, claimed as the API claims its header's."""
        if not self.page.money or request.method != "POST" or page_session is None:
            return None
        key = (await request.form()).get("idempotency_key")
        if not isinstance(key, str) or not idempotency.WELL_FORMED_KEY.match(key):
            raise errors.BadRequest(
                "the form is missing its idempotency key: reload the page and send it again"
            )
        return await idempotency.begin(
            await request_session(request),
            request=request,
            org_id=page_session.principal.org_id,
            user_id=page_session.principal.user_id,
            key=key,
        )


async def request_transaction_rollback(request: Request) -> None:
    """A page that raised keeps nothing it wrote (the problem page is then rendered)."""
    transaction: RequestTransaction = request.state.transaction
    await transaction.finish(commit=False)


def _signed_in(request: Request) -> PageSession:
    page_session: PageSession | None = getattr(request.state, "page", None)
    if page_session is None:  # a public page asking for a session: a bug in its policy
        raise errors.Unauthorized("sign in first")
    return page_session


async def _page_db(request: Request) -> AsyncSession:
    return await request_session(request)


SignedIn = Annotated[PageSession, Depends(_signed_in)]
PageDb = Annotated[AsyncSession, Depends(_page_db)]
