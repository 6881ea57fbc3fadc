"""Spans: the helper other modules use, and trace context across processes.

- `span(name, kind=..., attributes=...)` around a call to the outside world that no library
  instrumentation sees (SMTP sends, blob-store calls). httpx and psycopg are traced globally.
- `carrier()` / `context_from(carrier)` carry a trace across a process boundary (jobs use it).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import (
    Iterable,
    Iterator,
    Mapping,
)

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

log = logging.getLogger(__name__)
TRACER_NAME = "prorata"
_tracer = trace.get_tracer(TRACER_NAME)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    parent: otel_context.Context | None = None,
) -> Iterator[trace.Span]:
    """A span around a block, child of the current one (or of `parent`, a context from
    `context_from`). An exception is recorded on it, marks it failed and propagates.
    Attributes name things (hosts, kinds, sizes), never carry content: no addresses, keys,
    file contents."""
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes
    ) as current:
        yield current


# The headers the propagators read (W3C trace context and baggage), as ASGI names them.
_PROPAGATED = frozenset({b"traceparent", b"tracestate", b"baggage"})


def request_span(headers: Iterable[tuple[bytes, bytes]]) -> trace.Span:
    """A request's span when spans are not exported (FastAPI then makes none): unrecorded,
    but with its ids, continuing the caller's trace when the request carries one, so log lines
    and the jobs the request defers still name a trace. FastAPI's server span cost ~0.2 ms of
    a list request's CPU even unrecorded (its attributes, the query string re-encoded, two more
    wrappers of send and receive); this costs a header scan and an id."""
    sent: dict[str, str] = {}
    for raw_name, raw_value in headers:
        if raw_name not in _PROPAGATED:
            continue
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name not in sent:
            sent[name] = value
        elif name != "traceparent":  # list headers: repeated lines are one list (RFC 9110 §5.3)
            sent[name] = f"{sent[name]},{value}"
        # A repeated traceparent: the first one counts, as with FastAPI's telemetry.
    return _tracer.start_span(
        "request", context=context_from(sent) if sent else None, kind=SpanKind.SERVER
    )


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); empty if none."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def context_from(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The context a `carrier()` described (an empty one for None or garbage)."""
    return propagate.extract(dict(headers or {}))
