"""The outermost ASGI layer: request id, body size bound, one access-log line and one duration
measurement per request, rate-limit headers, last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prorata.http import problems
from prorata.observability import instruments, tracing
from prorata.platform import audit, db, errors

log = logging.getLogger("prorata.access")
error_log = logging.getLogger("prorata.errors")
log_unavailable = logging.getLogger("prorata.http.problems")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _WELL_FORMED_ID.match(text) else None
    return None


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reader lets it through (it wraps anything else in a
    400) and the problem+json handler renders it."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int | None = None,
        upload_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
        own_span: bool = False,
    ) -> None:
        self.app = app
        # Whether each request runs in a span of this layer's (`tracing.request_span`): when
        # spans are not exported, so FastAPI makes none.
        self.own_span = own_span
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes or max_body_bytes
        self.upload_routes = tuple(upload_routes)

    def _limit(self, scope: Scope) -> int:
        """Upload routes (policy `upload`) take files up to their own bound; everything else is
        JSON, bounded by the JSON limit."""
        method, path = scope.get("method"), scope.get("path", "")
        for upload_method, pattern in self.upload_routes:
            if method == upload_method and pattern.match(path):
                return self.max_upload_bytes
        return self.max_body_bytes

    def _bounded(self, receive: Receive, limit: int) -> Receive:
        """Count the body as it streams in (a sender may lie or omit Content-Length)."""
        received = 0

        async def receive_bounded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(_too_large(limit))
            return message

        return receive_bounded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()  # a uuid4's entropy
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        answered: float | None = None  # when an event stream's headers left
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, answered
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                if _is_event_stream(headers):
                    answered = time.perf_counter()
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

        client = scope.get("client")
        ip_token = audit.CLIENT_IP.set(client[0] if client else None)
        # (Bound and reset by token: `bound_contextvars` costs three times as much per request.)
        log_tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        span_token = (
            otel_context.attach(
                trace.set_span_in_context(tracing.request_span(scope.get("headers", ())))
            )
            if self.own_span
            else None
        )
        try:
            limit = self._limit(scope)
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _problem(scope, 413, "Content Too Large", _too_large(limit))(
                    scope, receive, send_with_id
                )
                return
            await self.app(scope, self._bounded(receive, limit), send_with_id)
        except Exception as exc:
            if response_started:
                error_log.error("unhandled error", exc_info=exc)
                raise
            await _last_resort(exc, scope)(scope, receive, send_with_id)
        finally:
            audit.CLIENT_IP.reset(ip_token)
            _log_request(scope, status, started, answered)
            structlog.contextvars.reset_contextvars(**log_tokens)
            if span_token is not None:
                otel_context.detach(span_token)


def _last_resort(exc: Exception, scope: Scope) -> Response:
    """What escaped every handler: the database gone between the handler and this layer is a
    503 like anywhere else; anything else is a bug, logged with its traceback, a bare 500."""
    if db.unavailable(exc):
        log_unavailable.warning("database unavailable", extra={"error": type(exc).__name__})
        problem = errors.unavailable("the database", retry_after=db.RETRY_AFTER_SECONDS)
        response = _problem(scope, problem.status, problem.title, problem.detail)
        response.headers.update(problem.headers)
        return response
    error_log.error("unhandled error", exc_info=exc)
    detail = "an unexpected error occurred; quote the request id when reporting it"
    return _problem(scope, 500, "Internal Server Error", detail)


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


def _problem(scope: Scope, status: int, title: str, detail: str) -> Response:
    return problems.problem_response(Request(scope), status=status, title=title, detail=detail)


def _is_event_stream(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if value.startswith(b"text/event-stream") and name.lower() == b"content-type":
            return True
    return False


def _log_request(scope: Scope, status: int, started: float, answered: float | None) -> None:
    route: Any = scope.get("route")
    state = scope.get("state", {})
    template = state.get("route_template") or getattr(route, "path", None)
    principal = state.get("principal")
    finished = time.perf_counter()
    duration = finished - started
    # An event stream stays open for minutes by design: its latency is the time to open it.
    # Its lifetime in the histogram would sit in the top bucket and keep the p99 alert firing.
    instruments.record_request(
        method=str(scope.get("method")),
        route=template,
        status=status,
        seconds=(answered or finished) - started,
    )
    log.info(
        "request",
        extra={
            "method": scope.get("method"),
            "route": template,
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round(duration * 1000, 2),
            "org_id": str(principal.org_id) if principal is not None else None,
        },
    )
