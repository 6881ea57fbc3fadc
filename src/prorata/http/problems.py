"""Problems as RFC 9457 `application/problem+json`: the one set of handlers, and their docs.

An unexpected exception is answered by `middleware.RequestContextMiddleware` with a bare 500
problem naming the request id.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from prorata.http.ratelimit import TooManyRequests
from prorata.platform import db, errors
from prorata.platform.errors import Problem

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of the API is answered."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem+json answers with these statuses."""
    return {
        status: {
            "description": http.HTTPStatus(status).phrase,
            "model": ProblemDetails,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


def problem_response(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str | None,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:prorata:problem:{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def response_for(request: Request, problem: Problem) -> JSONResponse:
    """A raised `Problem` as its problem+json answer (what the exception handler sends)."""
    return problem_response(
        request,
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        slug=problem.slug,
        headers=problem.headers,
        extensions=problem.extensions,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return response_for(request, exc)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if getattr(request.state, "rate_limit", None) is None and exc.status_code in {404, 405}:
        # No route matched, so no guard counted this request: count it per client IP, so
        # scanners are limited too and the answer carries RateLimit fields like every other.
        limited = await _count_unrouted(request)
        if limited is not None:
            return await _on_problem(request, limited)
    phrase = http.HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(
        request,
        status=exc.status_code,
        title=phrase,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


async def _count_unrouted(request: Request) -> Problem | None:
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return None
    try:
        request.state.rate_limit = await limiter.hit(
            "public", request.client.host if request.client else "unknown"
        )
    except TooManyRequests as exc:
        return exc
    return None


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Field errors without echoing the input back (it may hold secrets or be huge)."""
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", "")}
        for error in errors
    ]


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc.errors())
    return problem_response(
        request,
        status=422,
        title="Unprocessable Content",
        detail="the request does not match the schema",
        slug="validation",
        extensions={"errors": errors},
    )


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """The database down, restarting or unreachable: 503 with Retry-After (the request's
    transaction was rolled back); any other database error is a bug, left to the 500 path."""
    if not db.unavailable(exc):
        raise exc
    log.warning("database unavailable", extra={"error": type(exc).__name__})
    return await _on_problem(
        request, errors.unavailable("the database", retry_after=db.RETRY_AFTER_SECONDS)
    )


# Everything `db.unavailable` may recognise, as the classes exception handlers match on.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.DBAPIError,
    sa.exc.TimeoutError,
    sa.exc.PendingRollbackError,
    psycopg.Error,
    ConnectionError,
)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, _on_database_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
