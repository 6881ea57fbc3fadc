"""Route selection by a trie of the routes' literal path segments, in front of FastAPI's router.

FastAPI (0.165) matches a request by walking every included router and trying each route's
regular expression, twice per nesting level (once to find the router, once inside it): ~130
regular expressions for `/api/system/health`, three quarters of that route's whole cost. This
index narrows a path to the one or two routes whose templates can match it (a `{param}` segment
matches any segment, a `{path:path}` any rest) and tries only those, in the application's order,
so the first full match is the same route FastAPI would pick.

The selected API route is then run as FastAPI's own router runs it (the same scope updates, the
route's own `handle`). Everything else — a route that is not an API route (static files, the
OpenAPI document), a method that does not match (405), a redirect for a trailing slash, 404 —
goes to FastAPI's router unchanged. The helpers borrowed from `fastapi.routing` are private: the
FastAPI version is pinned in uv.lock, and the whole API suite runs through this path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute, APIRouter
from fastapi.telemetry._api import _route_selected
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

_ANY_SEGMENT = "{}"
_ANY_REST = "{path}"


class _Candidate:
    """A route at its place in FastAPI's order. An included API route is run by the index
    through FastAPI's effective context of it, found on first use: FastAPI builds a router's
    contexts (each route's dependency graph) only when a request first reaches that router, and
    so must the index, or every app would pay for all ~700 at its first request."""

    __slots__ = ("_context", "branch", "order", "route")

    def __init__(self, order: int, route: BaseRoute, branch: Any) -> None:
        self.order = order
        self.route = route  # what FastAPI tries at this position
        self.branch = branch  # the inclusion holding an API route the index runs, or None
        self._context: Any = None

    def context(self) -> Any:
        if self._context is None:
            self._context = next(
                candidate
                for candidate in self.branch.effective_candidates()
                if getattr(candidate, "original_route", None) is self.route
            )
        return self._context


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    ends: list[_Candidate] = field(default_factory=list)  # templates ending here
    rest: list[_Candidate] = field(default_factory=list)  # templates taking the rest from here


def _segments(template: str) -> list[str]:
    """`/api/v1/funds/{fund_id}/deals` → ['api', 'v1', 'funds', '{}', 'deals']; a path parameter
    (`{path:path}`, or a mount's `{path}`) swallows the rest."""
    parts: list[str] = []
    for part in template.split("/")[1:]:
        if part.startswith("{") and part.endswith("}"):
            if part.endswith(":path}") or part == "{path}":
                parts.append(_ANY_REST)
                break
            parts.append(_ANY_SEGMENT)
        elif "{" in part:
            parts.append(_ANY_SEGMENT)  # `commitments.{fmt}`: a parameter inside one segment
        else:
            parts.append(part)
    return parts


class RouteIndex:
    """The ASGI app at the bottom of the middleware stack: the index first, FastAPI's router
    when the index has no full match."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.root = _Node()
        # Router-wide form limits are applied by FastAPI's router itself: leave it everything.
        for order, (route, branch, template) in enumerate(
            [] if router.form_limits else _flatten(router.routes)
        ):
            self._insert(template, _Candidate(order, route, branch))

    def _insert(self, template: str | None, candidate: _Candidate) -> None:
        node = self.root
        parts = _segments(template) if template is not None else [_ANY_REST]
        for part in parts:
            if part == _ANY_REST:
                node.rest.append(candidate)
                return
            node = node.children.setdefault(part, _Node())
        node.ends.append(candidate)

    def candidates(self, path: str) -> list[_Candidate]:
        """Every route whose template can match `path`, in the application's order."""
        found: list[_Candidate] = []
        nodes = [self.root]
        for part in path.split("/")[1:]:
            following: list[_Node] = []
            for node in nodes:
                found.extend(node.rest)
                for key in (part, _ANY_SEGMENT):
                    child = node.children.get(key)
                    if child is not None:
                        following.append(child)
            nodes = following
            if not nodes:
                break
        for node in nodes:
            found.extend(node.ends)
            found.extend(node.rest)
        found.sort(key=lambda candidate: candidate.order)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await self._dispatch(scope, receive, send):
            return
        await self.router(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> bool:
        for candidate in self.candidates(scope["path"]):
            if candidate.branch is None:
                return False  # FastAPI's router runs anything but an included API route
            context = candidate.context()
            match, child_scope = context.matches(scope)
            if match is Match.FULL:
                await self._run(context, child_scope, scope, receive, send)
                return True
        return False

    async def _run(
        self, context: Any, child_scope: Scope, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """What FastAPI's router does once it has selected an included API route."""
        scope.setdefault("router", self.router)
        fastapi_routing._update_scope(scope, child_scope)
        _route_selected(scope=scope, path=context.path_format)
        fastapi_scope = fastapi_routing._get_fastapi_scope(scope)
        fastapi_scope[fastapi_routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        scope["route"] = context.original_route
        await context.original_route.handle(scope, receive, send)


Flat = list[tuple[BaseRoute, Any, str | None]]  # route, inclusion that runs it, template


def _flatten(routes: list[BaseRoute], branch: Any = None) -> Flat:
    """Each route FastAPI would try, in its order (depth first through inclusions), with its
    path template: the inclusions' prefixes and the route's own path. Only API routes of an
    inclusion without form limits are run by the index (`branch` set)."""
    included = fastapi_routing._IncludedRouter
    flat: Flat = []
    nested = branch is not None and any(isinstance(route, included) for route in routes)
    # (Only then: asking a branch for its candidates builds its own routes' contexts.)
    children = iter(
        [c for c in branch.effective_candidates() if isinstance(c, included)] if nested else []
    )
    for route in routes:
        if isinstance(route, included):
            # At the top, the inclusion itself; below, FastAPI's branch of it (prefixes joined),
            # in the same order as the inclusions among the routes.
            inclusion = next(children) if branch is not None else route
            flat += _flatten(inclusion.original_router.routes, inclusion)
            continue
        prefix = branch.include_context.prefix if branch is not None else ""
        template = getattr(route, "path_format", None)
        runs = isinstance(route, APIRoute) and branch is not None
        runs = runs and not branch.include_context.form_limits
        flat.append(
            (
                route,
                branch if runs else None,
                prefix + template if isinstance(template, str) else None,
            )
        )
    return flat


class IndexedApp(FastAPI):
    """FastAPI with the route index at the bottom of its middleware stack, in front of the
    router; `self.router` stays the router for everything else (OpenAPI, url_for, tests).

    `fast_routes` maps (method, exact path) to an ASGI app answered before the whole stack:
    only for a route whose guarantees that app keeps itself (`system.router.FastHealth`)."""

    fast_routes: dict[tuple[str, str], ASGIApp]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fast = self.fast_routes.get((scope["method"], scope["path"]))
            if fast is not None:
                scope["app"] = self
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        router = self.router
        self.router = RouteIndex(router)  # type: ignore[assignment]  # seen by the stack only
        try:
            return super().build_middleware_stack()
        finally:
            self.router = router
