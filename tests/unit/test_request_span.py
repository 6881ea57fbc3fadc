"""A request's own span (no exporter) continues the caller's trace as FastAPI's telemetry did:
the first traceparent counts, repeated tracestate lines are one list."""

from __future__ import annotations

from prorata.observability import tracing

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def _traceparent(trace_id: str) -> tuple[bytes, bytes]:
    return (b"traceparent", f"00-{trace_id}-00f067aa0ba902b7-01".encode())


def test_a_request_continues_the_callers_trace() -> None:
    span = tracing.request_span([(b"accept", b"*/*"), _traceparent(TRACE)])
    assert format(span.get_span_context().trace_id, "032x") == TRACE


def test_of_two_traceparent_lines_the_first_counts() -> None:
    span = tracing.request_span([_traceparent(TRACE), _traceparent(OTHER_TRACE)])
    assert format(span.get_span_context().trace_id, "032x") == TRACE


def test_repeated_tracestate_lines_are_one_list() -> None:
    span = tracing.request_span(
        [_traceparent(TRACE), (b"tracestate", b"a=1"), (b"tracestate", b"b=2")]
    )
    assert dict(span.get_span_context().trace_state) == {"a": "1", "b": "2"}


def test_a_request_without_a_caller_starts_no_foreign_trace() -> None:
    span = tracing.request_span([(b"accept", b"*/*")])
    assert format(span.get_span_context().trace_id, "032x") not in {TRACE, OTHER_TRACE}
