"""Export: redaction, sampling, and the choice of exporters from the standard `OTEL_*` variables.

Span attributes never hold SQL parameters (not captured), and every exported span goes through
the log redactor, e-mail mask included (`RedactingSpanExporter`), so a secret or an address that
reaches an exception message does not reach the tracing backend either.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import (
    Mapping,
    Sequence,
)
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import (
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.util.types import Attributes

from prorata.observability.logs import Redactor

log = logging.getLogger(__name__)


class ObservabilityConfigError(RuntimeError):
    """The OTEL_* settings ask for something this build cannot do: said plainly at start."""


_CLIENT_URL_KEYS = ("http.url", "url.full")


class RedactingSpanExporter(SpanExporter):
    """Scrubs every span before it leaves by the log redactor's rules (known secrets, URL
    passwords, bearer tokens, API keys, e-mail addresses), and the path and query of outgoing
    URLs (a webhook URL often carries its secret in the path)."""

    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def _attributes(self, attributes: Attributes, *, client: bool = False) -> dict[str, Any]:
        # The log redactor's rules: a secret's key masks its value, strings (alone or in a
        # sequence) are scrubbed, once.
        cleaned = self._redactor(None, "", dict(attributes or {}))
        for key in _CLIENT_URL_KEYS:
            if client and isinstance(cleaned.get(key), str):
                parts = urlsplit(cleaned[key])
                cleaned[key] = f"{parts.scheme}://{parts.hostname}" + (
                    f":{parts.port}" if parts.port else ""
                )
        return dict(cleaned)

    def clean(self, span: ReadableSpan) -> ReadableSpan:
        status = span.status
        if status.description:
            status = Status(status.status_code, self._redactor.scrub(status.description))
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._attributes(span.attributes, client=span.kind is SpanKind.CLIENT),
            events=[
                Event(event.name, self._attributes(event.attributes), event.timestamp)
                for event in span.events
            ],
            links=[Link(link.context, self._attributes(link.attributes)) for link in span.links],
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([self.clean(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class SkipUnownedCalls(Sampler):
    """Drops calls out (SQL above all) made outside any request or job: the queue's polling
    and heartbeats, metric refreshes. Each would be a one-span trace every few seconds, all
    noise and cost. Decided by kind and parent alone: psycopg's instrumentation starts its
    spans before it gives them their attributes, so a rule on `db.system` never matched one.
    Everything else is decided by the configured sampler (`OTEL_TRACES_SAMPLER`)."""

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            parent = trace.get_current_span(parent_context).get_span_context()
            if not parent.is_valid:
                return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"SkipUnownedCalls{{{self._inner.get_description()}}}"


def _choice(environ: Mapping[str, str], signal: str) -> str:
    """`otlp`, `console` or `none` for a signal: OTEL_<SIGNAL>_EXPORTER, or otlp when an OTLP
    endpoint is set, none otherwise (the default of `make run`: nothing leaves the machine)."""
    explicit = environ.get(f"OTEL_{signal}_EXPORTER", "").strip().lower()
    if explicit:
        if explicit not in {"otlp", "console", "none"}:
            raise ObservabilityConfigError(
                f"OTEL_{signal}_EXPORTER={explicit!r} is not supported (otlp, console or none)"
            )
        return explicit
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
    )
    return "otlp" if endpoint else "none"


def _check_protocol(environ: Mapping[str, str], signal: str) -> None:
    protocol = environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip().lower() != "http/protobuf":
        raise ObservabilityConfigError(
            f"OTLP protocol {protocol!r} is not installed: use http/protobuf (port 4318)"
        )


def traces_exported(environ: Mapping[str, str]) -> bool:
    """Whether the environment asks for spans to be exported (ObservabilityConfigError for
    what this build cannot honour)."""
    choice = _choice(environ, "TRACES")
    if choice == "otlp":
        _check_protocol(environ, "TRACES")
    return choice != "none"


def trace_exporter(environ: Mapping[str, str]) -> SpanExporter | None:
    """The span exporter the environment asks for, or None (no export)."""
    if not traces_exported(environ):
        return None
    if _choice(environ, "TRACES") == "console":
        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries the JSON log lines
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def metric_readers(environ: Mapping[str, str]) -> list[MetricReader]:
    choice = _choice(environ, "METRICS")
    if choice == "none":
        return []
    if choice == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return [PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))]
    _check_protocol(environ, "METRICS")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return [PeriodicExportingMetricReader(OTLPMetricExporter())]


def header_secrets(environ: Mapping[str, str]) -> list[str]:
    """Values of the OTLP headers (a backend's API key travels there), for the log redactor."""
    values = []
    for name in ("", "TRACES_", "METRICS_"):
        for pair in environ.get(f"OTEL_EXPORTER_OTLP_{name}HEADERS", "").split(","):
            _, _, value = pair.partition("=")
            if value.strip():
                values.append(value.strip())
    return values


def resource(service_name: str, environ: Mapping[str, str]) -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; `service_name` is the default."""
    detected = Resource.create()
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    return detected if named else detected.merge(Resource({SERVICE_NAME: service_name}))
