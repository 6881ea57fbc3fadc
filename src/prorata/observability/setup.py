"""OpenTelemetry for web and worker: `configure(service_name)` once per process, `shutdown`.

Export follows the standard `OTEL_*` variables read by the SDK; without an OTLP endpoint nothing
leaves the process (spans are not recorded, but they have ids, so log lines carry their trace
ids). Prometheus text is served on a separate port (loopback by default) when
`PRORATA_METRICS_PORT` (web) or `PRORATA_WORKER_METRICS_PORT` (worker) is set: never on the
API's port.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import (
    AsyncIterator,
    Iterable,
    MutableMapping,
)
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind

from prorata.observability.export import (
    SkipUnownedCalls,
    metric_readers,
    resource,
    traces_exported,
)
from prorata.observability.span_process import ForwardingSpanProcessor, SpanForwarder
from prorata.observability.tracing import span

log = logging.getLogger(__name__)


# The providers this process installed (at most one pair): `shutdown` flushes them.
_installed: list[tuple[TracerProvider, MeterProvider]] = []


def configure(
    service_name: str,
    *,
    secrets: Iterable[str] = (),
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
) -> None:
    """Install tracing and metrics for this process, instrument psycopg and httpx when spans
    are exported, and serve Prometheus text on `metrics_host:metrics_port` when a port is given.

    Raises `ObservabilityConfigError` for settings this build cannot honour, and OSError when
    the metrics port cannot be bound: a process that silently exports nothing is worse.
    """
    if _installed:
        return
    environ = dict(os.environ)
    where = resource(service_name, environ)
    tracer_provider = TracerProvider(resource=where)
    exported = traces_exported(environ)
    # Set before any tracer exists (tracers copy it). Wrap the sampler the SDK read from
    # OTEL_TRACES_SAMPLER; with no exporter, record nothing: a recorded span that goes nowhere
    # costs every request and every statement its attributes and bookkeeping. Unrecorded spans
    # still have ids, so log lines keep their trace_id and span_id and jobs their trace.
    tracer_provider.sampler = SkipUnownedCalls(tracer_provider.sampler) if exported else ALWAYS_OFF
    if exported:
        # Redaction and encoding run in a process of their own (`span_process`); this one
        # only hands each batch over.
        forwarder = SpanForwarder(
            secrets=secrets,
            level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
            process=f"{service_name}-span-export",
        )
        forwarder.start()
        # (Its thread holds the GIL while it hands a batch over: the service process makes
        # the GIL change hands briskly where spans are exported, `cli._configure_telemetry`.)
        tracer_provider.add_span_processor(ForwardingSpanProcessor(forwarder))
    readers = metric_readers(environ)
    if metrics_port is not None:
        readers.append(_serve_prometheus(metrics_host, metrics_port))
    meter_provider = MeterProvider(resource=where, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if exported:  # unexported, library spans are pure cost: no log line is in one
        _instrument_libraries()
    _installed.append((tracer_provider, meter_provider))


def _serve_prometheus(host: str, port: int) -> MetricReader:
    import prometheus_client
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    # A registry of our own: the default one would add the client library's process metrics
    # under names that clash with nothing but mean nothing to us either.
    registry = prometheus_client.CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    prometheus_client.start_http_server(port, addr=host, registry=registry)
    return reader


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    # Statements are recorded, their parameters never (`capture_parameters` stays False).
    PsycopgInstrumentor().instrument(capture_parameters=False)
    HTTPXClientInstrumentor().instrument()
    _instrument_copy()


def _instrument_copy() -> None:
    """psycopg's instrumentation traces execute() but not COPY: wrap `AsyncCursor.copy` so a
    bulk load is a client span like any statement (the statement only, never the data)."""
    import psycopg

    original = psycopg.AsyncCursor.copy

    @contextlib.asynccontextmanager
    async def traced_copy(
        self: psycopg.AsyncCursor[Any], statement: Any, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        text = statement if isinstance(statement, str) else statement.as_string(self.connection)
        attributes = {"db.system": "postgresql", "db.statement": text}
        with span("COPY", kind=SpanKind.CLIENT, attributes=attributes):
            async with original(self, statement, *args, **kwargs) as copy:
                yield copy

    psycopg.AsyncCursor.copy = traced_copy  # type: ignore[method-assign]


def _probe(scope: MutableMapping[str, Any]) -> bool:
    # Probes every few seconds would drown the traces worth reading.
    return str(scope.get("path", "")).endswith(("/system/health", "/system/ready"))


# FastAPI's own telemetry makes the server span of each request (named and tagged by route
# template, found as the request is routed, and current while our middleware logs the request),
# once `configure` has installed the providers. Request duration is recorded by our middleware
# (route templates with their prefix, unmatched paths folded), so FastAPI's metrics are off;
# its per-operation spans are off too: the trace stays request → SQL (docs/observability.md).
FASTAPI_TELEMETRY: TelemetryConfig = {
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "exclude": _probe,
}


def spans_exported() -> bool:
    """Whether `configure` installed an exporter of spans in this process."""
    return any(provider.sampler is not ALWAYS_OFF for provider, _ in _installed)


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's telemetry for an app made now: its server span only when spans are exported
    (else the app's middleware makes a cheaper unrecorded one, `tracing.request_span`)."""
    return {**FASTAPI_TELEMETRY, "tracing": spans_exported()}


def shutdown() -> None:
    """Flush what is buffered (the last spans of a stopping process) and stop exporting."""
    while _installed:
        tracer_provider, meter_provider = _installed.pop()
        tracer_provider.shutdown()
        meter_provider.shutdown()
