"""The outermost ASGI layer: request id, one access-log line per request, last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prorata import errors

log = logging.getLogger("prorata.access")
error_log = logging.getLogger("prorata.errors")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _WELL_FORMED_ID.match(text) else None
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                rate_limit = scope["state"].get("rate_limit")
                present = {name.lower() for name, _ in headers}
                if rate_limit is not None and b"ratelimit" not in present:
                    headers.extend(
                        (name.encode(), value.encode())
                        for name, value in rate_limit.headers().items()
                    )
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                error_log.error("unhandled error", exc_info=exc)
                if response_started:
                    raise
                response = errors.problem_response(
                    Request(scope),
                    status=500,
                    title="Internal Server Error",
                    detail="an unexpected error occurred; quote the request id when reporting it",
                )
                await response(scope, receive, send_with_id)
            finally:
                _log_request(scope, status, started)


def _log_request(scope: Scope, status: int, started: float) -> None:
    route: Any = scope.get("route")
    state = scope.get("state", {})
    template = state.get("route_template") or getattr(route, "path", None)
    principal = state.get("principal")
    log.info(
        "request",
        extra={
            "method": scope.get("method"),
            "route": template,
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "org_id": str(principal.org_id) if principal is not None else None,
        },
    )
