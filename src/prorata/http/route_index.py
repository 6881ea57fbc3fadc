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


@dataclass(frozen=True)
class _Candidate:
    order: int
    context: Any  # FastAPI's effective route context of an included API route, or None
    route: BaseRoute  # what FastAPI tries at this position


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
        order = 0
        # Router-wide form limits are applied by FastAPI's router itself: leave it everything.
        for top in [] if router.form_limits else router.routes:
            for context, route, template in _flatten(top):
                order += 1
                self._insert(template, _Candidate(order, context, route))

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
            if candidate.context is None:
                return False  # FastAPI's router runs anything but an included API route
            match, child_scope = candidate.context.matches(scope)
            if match is Match.FULL:
                await self._run(candidate.context, child_scope, scope, receive, send)
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


def _flatten(top: BaseRoute) -> list[tuple[Any, BaseRoute, str | None]]:
    """(effective context or None, route, path template) for each route FastAPI would try, in
    its order. Only included API routes without form limits are run by the index."""
    if isinstance(top, fastapi_routing._IncludedRouter):
        flat: list[tuple[Any, BaseRoute, str | None]] = []
        for context in top.effective_route_contexts():
            own = isinstance(context.original_route, APIRoute) and not _form_limited(top)
            template = context.path_format if own else _template_of(context.starlette_route)
            flat.append((context if own else None, context.original_route, template))
        return flat
    return [(None, top, _template_of(top))]


def _form_limited(included: Any) -> bool:
    return bool(included.include_context.form_limits)


def _template_of(route: BaseRoute | None) -> str | None:
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None


class IndexedApp(FastAPI):
    """FastAPI with the route index at the bottom of its middleware stack, in front of the
    router; `self.router` stays the router for everything else (OpenAPI, url_for, tests)."""

    def build_middleware_stack(self) -> ASGIApp:
        router = self.router
        self.router = RouteIndex(router)  # type: ignore[assignment]  # seen by the stack only
        try:
            return super().build_middleware_stack()
        finally:
            self.router = router
