"""Liveness and readiness: the only routes that answer without authentication."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from prorata.config import Settings
from prorata.http import problems
from prorata.http.ratelimit import RateLimiter, TooManyRequests
from prorata.http.routing import ApiRoute
from prorata.http.transaction import request_session
from prorata.jobs import stats
from prorata.platform import db, errors

router = APIRouter(route_class=ApiRoute, tags=["system"])


@router.get("/system/health", summary="Liveness: the process answers (no database, no auth)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/system/ready",
    summary="Readiness: the database answers and a worker sent a heartbeat recently",
    responses=problems.documented(503),
)
async def ready(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)]
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    checks: dict[str, Any] = {}
    try:
        await session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
        age = await stats.last_worker_heartbeat_age(session)
        worker_ok = age is not None and age <= settings.ready_worker_heartbeat_seconds
        checks["worker"] = {"ok": worker_ok, "last_heartbeat_seconds_ago": age}
    except Exception as exc:  # a failing dependency is a 503 with details, never a 500
        checks.setdefault("database", {"ok": False, "error": type(exc).__name__})
        checks.setdefault("worker", {"ok": False, "last_heartbeat_seconds_ago": None})
    if not all(check["ok"] for check in checks.values()):
        failing = ", ".join(name for name, check in checks.items() if not check["ok"])
        raise errors.ServiceUnavailable(
            f"not ready: {failing}",
            extensions={"checks": checks},
            headers={"Retry-After": str(db.RETRY_AFTER_SECONDS)},
        )
    return {"status": "ready", "checks": checks}


class FastHealth:
    """`GET /system/health` as a bare ASGI app, served in front of FastAPI's stack (`create_app`
    wraps it in the same `RequestContextMiddleware` as every request, and the application
    answers it before its middleware stack and router): a load balancer probes it every few
    seconds per process, and FastAPI's layers cost it twice what it costs a bare route.

    What the route above gets from `ApiRoute` and the stack, it does itself: the public rate
    limit per client address (429 problem+json over it), the route template for the access log
    and the request histogram; the middleware adds the request id and RateLimit fields, bounds
    the body and logs the request. The answer is the route's own (`health()`), rendered as
    FastAPI renders it. FastAPI's telemetry makes no span of a probe anyway (`setup._probe`).
    """

    def __init__(self, template: str) -> None:
        self.template = template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["state"]
        state["route_template"] = self.template
        limiter: RateLimiter = scope["app"].state.rate_limiter
        client = scope.get("client")
        try:
            state["rate_limit"] = await limiter.hit("public", client[0] if client else "unknown")
        except TooManyRequests as exc:
            await problems.response_for(Request(scope), exc)(scope, receive, send)
            return
        body = _json(await health())
        headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _json(content: Any) -> bytes:
    """As `fastapi.responses.JSONResponse` renders a route's return value."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
