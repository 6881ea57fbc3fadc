"""The route class every API router uses: the guarantees hold for every route by construction.

For each route, from its entry in `prorata.http.policy.ROUTES` (a route without one cannot be
declared), `ApiRoute` adds one guard dependency that runs before the handler:

1. authentication (unless the route is public) and the tenant of the transaction;
2. the role check (403 below the route's least role);
3. the rate limit of the route's tier (429 over it), reported in `RateLimit` headers;
4. for POST/PUT/PATCH/DELETE, the idempotency key (required on money-moving routes).

And it owns the request's transaction: one session per request, opened lazily, committed only
when the handler returned a status < 400 — together with the idempotency record — before the
response leaves the process. Services only flush.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from prorata.http import exports, idempotency, policy, problems, reads
from prorata.http.auth import PRINCIPAL_DEPENDENCIES, authenticate_request, current_principal
from prorata.http.direct import DirectRead
from prorata.http.pagination import Page
from prorata.http.ratelimit import RateLimiter
from prorata.http.tenancy import Principal
from prorata.http.transaction import RequestTransaction, client_ip, request_session
from prorata.platform import errors

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _count_public(request: Request) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.rate_limit = await limiter.hit("public", client_ip(request))


async def _admit(request: Request, principal: Principal, route_policy: policy.RoutePolicy) -> None:
    """The rate limits and the role check of an authenticated caller (counted first: a refused
    request is a request, and its answer carries the RateLimit fields like any other)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    request.state.rate_limit = await limiter.hit("api", str(principal.credential_id))
    if not route_policy.allows(principal.role):
        raise errors.Forbidden(f"this operation needs the role {route_policy.least_role} or above")
    if route_policy.tier is policy.RateTier.heavy:
        request.state.rate_limit = await limiter.hit("heavy", str(principal.org_id))


def _guard(route_policy: policy.RoutePolicy, methods: set[str]) -> Callable[..., Any]:
    """The dependency that admits a caller to an authenticated route (a public route is only
    counted, before anything else runs: `ApiRoute` does it, no dependency needed)."""
    mutating = bool(methods & MUTATING)

    async def authenticated_guard(
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
        session: Annotated[AsyncSession, Depends(request_session)],
    ) -> None:
        await _admit(request, principal, route_policy)
        if not mutating:
            return
        key = idempotency.read_key(request)
        if key is None:
            if route_policy.idempotency is policy.Idempotency.required:
                raise errors.BadRequest(
                    f"this operation moves money: send an {idempotency.HEADER} header",
                    title="Idempotency-Key required",
                )
            return
        request.state.idempotency = await idempotency.begin(
            session,
            request=request,
            org_id=principal.org_id,
            user_id=principal.user_id,
            key=key,
            streamed=route_policy.upload,
        )

    return authenticated_guard


def _openapi_extra(route_policy: policy.RoutePolicy, methods: set[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {"x-prorata-least-role": str(route_policy.least_role or "public")}
    if methods & MUTATING:
        extra["parameters"] = [
            {
                **idempotency.describe(),
                "required": route_policy.idempotency is policy.Idempotency.required,
                "description": "Makes retries safe: see *Idempotency* in the API description.",
            }
        ]
    return extra


def _documented_errors(
    route_policy: policy.RoutePolicy, methods: set[str], path: str
) -> dict[int | str, dict[str, Any]]:
    """The problem answers the guard and the framework can give on this route (404 wherever
    the path names an object: another organisation's ids are always "not found")."""
    statuses = [400, 413, 422, 429]
    if "{" in path:
        statuses.append(404)
    if not route_policy.public:
        statuses += [401, 403]
    if methods & MUTATING:
        statuses += [409]
    return problems.documented(*sorted(statuses))


def _asks_for_principal(dependant: Dependant) -> bool:
    return any(
        any(sub.call is asking for asking in PRINCIPAL_DEPENDENCIES) or _asks_for_principal(sub)
        for sub in dependant.dependencies
    )


class ApiRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in (kwargs.get("methods") or ["GET"])}
        # One policy per route: all its methods must agree (routes here have one method each).
        policies = {policy.lookup(method, path) for method in methods}
        if len(policies) != 1:
            raise policy.MissingPolicy(f"{path}: methods {sorted(methods)} have different policies")
        self.policy = policies.pop()
        self._guard_call = None if self.policy.public else _guard(self.policy, methods)
        # A read's guard is run by the route handler itself, before the dependencies (see
        # `get_route_handler`); it stays declared for the schema (its security schemes).
        self._guard_in_handler = self._guard_call is not None and not methods & MUTATING
        guard = [] if self._guard_call is None else [Depends(self._guard_call)]
        kwargs["dependencies"] = [*guard, *(kwargs.get("dependencies") or [])]
        kwargs["responses"] = {
            **_documented_errors(self.policy, methods, path),
            **(kwargs.get("responses") or {}),
        }
        kwargs["openapi_extra"] = {
            **_openapi_extra(self.policy, methods),
            **(kwargs.get("openapi_extra") or {}),
        }
        super().__init__(path, endpoint, **kwargs)
        if self.policy.public and _asks_for_principal(self.dependant):
            raise policy.MissingPolicy(f"{path}: a public route has no principal to ask for")
        self.is_list = (
            "GET" in methods
            and isinstance(self.response_model, type)
            and issubclass(self.response_model, Page)
        )
        if self.is_list:
            self._describe_exports()

    def _describe_exports(self) -> None:
        """A list also answers as CSV or XLSX (`prorata.http.exports`): said in its schema."""
        self.openapi_extra = {
            **(self.openapi_extra or {}),
            "parameters": [
                *(self.openapi_extra or {}).get("parameters", []),
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(exports.MEDIA_TYPES)},
                    "description": "The whole list (every page) as a CSV or XLSX file; or send "
                    "`Accept: text/csv` / the XLSX media type.",
                },
            ],
        }
        ok = dict(self.responses.get(200, {}))
        ok["content"] = {
            **ok.get("content", {}),
            exports.CSV: {"schema": {"type": "string"}},
            exports.XLSX: {"schema": {"type": "string", "format": "binary"}},
        }
        self.responses = {**self.responses, 200: ok}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = self._handler_of_dependencies()

        async def run_in_transaction(request: Request) -> Response:
            request.state.route_template = self._template(request)
            if self.policy.public:
                await _count_public(request)
            transaction = RequestTransaction(request.app.state.sessions)
            request.state.transaction = transaction
            try:
                fmt = exports.requested(request) if self.is_list else None
                if fmt is not None:
                    response = await self._export(request, handler, fmt)
                else:
                    response = await handler(request)
                succeeded = response.status_code < 400
                pending: idempotency.Pending | None = getattr(request.state, "idempotency", None)
                if succeeded and pending is not None:
                    await idempotency.complete(
                        transaction.session(), pending, response, shown_once=self.policy.shown_once
                    )
            except idempotency.Replay as replay:
                await transaction.finish(commit=False)
                return replay.response
            except (RequestValidationError, StarletteHTTPException):
                try:
                    if getattr(request.state, "rate_limit", None) is None:
                        await self._guard_unparsed(request, transaction)
                finally:
                    await transaction.finish(commit=False)
                raise
            except BaseException:
                await transaction.finish(commit=False)
                raise
            await transaction.finish(commit=succeeded)
            if succeeded and request.method in MUTATING:
                principal = getattr(request.state, "principal", None)
                await reads.note_write(request, response, principal)
            return response

        return run_in_transaction

    def _handler_of_dependencies(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, which solves the route's dependencies; for a read, without the
        guard, run first by the handler returned: what the guard does on a read (authenticate,
        rate limits, role) needs no dependency injection, and FastAPI solves a dependency's
        whole tree on every request (6 of a list's 13 `solve_dependencies` calls were the
        guard's: ~0.3 ms of CPU). The guard still runs before any other dependency, as it did
        when it was the first one: 401/403/429 before a 422, and before the handler's
        dependencies use the principal. The schema keeps the declared guard (its security
        schemes): FastAPI builds it from `dependant`, which is only swapped while the handler
        is built. (FastAPI builds an included route's handler from the inclusion's own copy
        of the route's state: that copy is the one swapped.)"""
        if not self._guard_in_handler:
            return super().get_route_handler()
        target: Any = _effective_route_context_var.get()
        if target is None or target.original_route is not self:
            target = self
        declared: Dependant = target.dependant
        target.dependant = dataclasses.replace(
            declared,
            dependencies=[d for d in declared.dependencies if d.call is not self._guard_call],
        )
        try:
            solve = super().get_route_handler()
            direct = DirectRead.of(target)
        finally:
            target.dependant = declared

        async def guarded(request: Request) -> Response:
            await self._authenticate_and_admit(request, request.state.transaction)
            if direct is not None:
                response = await direct.respond(request)
                if response is not None:
                    return response
            return await solve(request)

        return guarded

    async def _export(
        self,
        request: Request,
        handler: Callable[[Request], Coroutine[Any, Any, Response]],
        fmt: str,
    ) -> Response:
        """Every page of the list, read through the route itself (its checks and filters, its
        cursors), written as one file."""
        kept = [
            (name, value)
            for name, value in request.query_params.multi_items()
            if name not in ("format", "cursor", "limit")
        ]
        items: list[Any] = []
        cursor: str | None = None
        while True:
            params = [*kept, ("limit", str(exports.PAGE))]
            if cursor is not None:
                params.append(("cursor", cursor))
            scope = {**request.scope, "query_string": urlencode(params).encode()}
            response = await handler(Request(scope, request.receive))
            if response.status_code >= 400:
                return response
            page = json.loads(bytes(response.body))
            items.extend(page["items"])
            if len(items) > exports.MAX_ROWS:
                raise exports.too_many()
            cursor = page["next_cursor"]
            if cursor is None:
                break
        name = self.name.replace("_", "-") if self.name else "export"
        return exports.response(items, fmt, name=name, model=self._item_model())

    def _item_model(self) -> type[BaseModel] | None:
        """The model of a list's items (`Page[Item]`), which says the shape of nested values."""
        page: type[Page[Any]] = self.response_model
        [item] = typing.get_args(page.model_fields["items"].annotation) or [None]
        return item if isinstance(item, type) and issubclass(item, BaseModel) else None

    async def _guard_unparsed(self, request: Request, transaction: RequestTransaction) -> None:
        """FastAPI reads and parses the body before any dependency runs, so a body that does not
        parse (or is too large) is refused before the guard. Run the guard's checks now (not
        idempotency: nothing executed), so such a request still gets 401/403/429 first and is
        counted like any other."""
        if self.policy.public:
            return  # counted before the handler ran
        await self._authenticate_and_admit(request, transaction)

    async def _authenticate_and_admit(
        self, request: Request, transaction: RequestTransaction
    ) -> None:
        principal = await authenticate_request(request, transaction.session())
        await _admit(request, principal, self.policy)

    def _template(self, request: Request) -> str:
        """The matched route with its mount prefix (`/api/v1/funds/{fund_id}`), for logs and
        metrics: routers are included under two prefixes, so `self.path` alone is ambiguous."""
        suffix = self.path_format.format(**request.path_params)
        path: str = request.scope["path"]
        prefix = path[: -len(suffix)] if suffix and path.endswith(suffix) else ""
        return prefix + self.path_format
