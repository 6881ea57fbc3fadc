"""The problems any layer may raise: each carries its HTTP status and a type slug.

Services, storage and jobs raise `Problem` subclasses; `prorata.http.problems` renders them as
RFC 9457 problem+json, and nothing else reaches a client. These are plain exceptions (no web
framework here), so the worker raises and records them just as the web process does.
"""

from __future__ import annotations

import http
from collections.abc import Mapping
from typing import Any, ClassVar


class Problem(Exception):
    """An error a client can act on. `slug` names its type: `urn:prorata:problem:<slug>`."""

    status: ClassVar[int] = 500
    slug: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.title = title or http.HTTPStatus(self.status).phrase
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


class BadRequest(Problem):
    status = 400
    slug = "bad-request"


class Unauthorized(Problem):
    status = 401
    slug = "unauthorized"

    def __init__(self, detail: str = "a valid API key is required") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="prorata"'})


class Forbidden(Problem):
    status = 403
    slug = "forbidden"


class NotFound(Problem):
    status = 404
    slug = "not-found"


class Conflict(Problem):
    status = 409
    slug = "conflict"


class Unprocessable(Problem):
    status = 422
    slug = "unprocessable"


class RuleViolation(Unprocessable):
    """Well-formed input that breaks a domain rule no schema can express (an amount with more
    decimals than its currency has, a call larger than the unfunded commitments, …)."""

    slug = "rule-violation"


class ServiceUnavailable(Problem):
    status = 503
    slug = "unavailable"


def unavailable(what: str, *, retry_after: int) -> ServiceUnavailable:
    """A dependency (the database, the object store) cannot answer now: try again later."""
    return ServiceUnavailable(
        f"{what} is unavailable; send the request again shortly (with the same "
        "Idempotency-Key, a write is applied at most once)",
        headers={"Retry-After": str(retry_after)},
    )


def a(word: str) -> str:
    """`word` with its indefinite article, for messages: "an admin", "a manager", "an issued
    call". By the first letter (no word we name starts with a silent h or a "you" sound)."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"
