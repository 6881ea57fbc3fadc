"""OpenTelemetry for web and worker: traces, metrics, and the instruments other modules record.

`configure(service_name)` is called once by `prorata web` and `prorata worker`. Export follows
the standard `OTEL_*` variables read by the SDK; without an OTLP endpoint nothing leaves the
process (spans are not recorded, but they have ids, so log lines carry their trace ids).
Prometheus text is served on a separate port (loopback by default) when `PRORATA_METRICS_PORT`
(web) or `PRORATA_WORKER_METRICS_PORT` (worker) is set: never on the API's port.

What other modules call (see docs/observability.md):
- `span(name, kind=..., attributes=...)` around a call to the outside world that no library
  instrumentation sees (SMTP sends, blob-store calls). httpx and psycopg are traced globally.
- `count_import_rows(kind=..., rows=...)`, `count_document_rendered(kind=...)`.
- `carrier()` / `context_from(carrier)` carry a trace across a process boundary (jobs use it).

Span attributes never hold SQL parameters (not captured), and every exported span goes through
the log redactor, e-mail mask included (`RedactingSpanExporter`), so a secret or an address that
reaches an exception message does not reach the tracing backend either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from typing import Any
from urllib.parse import urlsplit

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status
from opentelemetry.util.types import Attributes, AttributeValue

from prorata.observability.logs import Redactor

TRACER_NAME = "prorata"
log = logging.getLogger(__name__)
_tracer = trace.get_tracer(TRACER_NAME)
# A proxy until `configure` installs the SDK provider; instruments made now follow it then.
_meter = metrics.get_meter(TRACER_NAME)


class ObservabilityConfigError(RuntimeError):
    """The OTEL_* settings ask for something this build cannot do: said plainly at start."""


# ---------------------------------------------------------------------------------------------
# Spans: the helper other modules use, and trace context across processes
# ---------------------------------------------------------------------------------------------


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


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); empty if none."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def context_from(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The context a `carrier()` described (an empty one for None or garbage)."""
    return propagate.extract(dict(headers or {}))


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the active span, for log lines; None outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


# ---------------------------------------------------------------------------------------------
# Metrics: the instruments, in one place so names and units stay consistent
# ---------------------------------------------------------------------------------------------

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# Stable HTTP semantic conventions, so standard dashboards read it as they are.
_http_duration = _meter.create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of API requests, by route template and status.",
    explicit_bucket_boundaries_advisory=_HTTP_BUCKETS,
)
_job_duration = _meter.create_histogram(
    "prorata.job.duration",
    unit="s",
    description="Duration of job runs, by task, queue and outcome (succeeded, failed).",
    explicit_bucket_boundaries_advisory=_JOB_BUCKETS,
)
_job_failures = _meter.create_counter(
    "prorata.job.failures", unit="{job}", description="Job runs that raised, by task and queue."
)
_job_retries = _meter.create_counter(
    "prorata.job.retries",
    unit="{job}",
    description="Job runs that were a retry (attempt > 1), by task and queue.",
)
_stalled_recovered = _meter.create_counter(
    "prorata.job.stalled_recovered",
    unit="{job}",
    description="Jobs of dead workers put back in the queue by housekeeping, by task.",
)
_loop_lag = _meter.create_histogram(
    "prorata.event_loop.lag",
    unit="s",
    description="How late a periodic sleep woke up: time the event loop was busy elsewhere.",
    explicit_bucket_boundaries_advisory=_LAG_BUCKETS,
)
_import_rows = _meter.create_counter(
    "prorata.import.rows", unit="{row}", description="CSV rows processed by imports, by kind."
)
_documents_rendered = _meter.create_counter(
    "prorata.documents.rendered", unit="{document}", description="Documents rendered, by kind."
)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def record_request(*, method: str, route: str | None, status: int, seconds: float) -> None:
    """One API request. `route` is the template (`/api/v1/funds/{fund_id}`), never the path:
    unmatched requests have none, so scanners cannot blow up the series count."""
    attributes: dict[str, AttributeValue] = {
        "http.request.method": method if method in _METHODS else "_OTHER",
        "http.response.status_code": status,
    }
    if route is not None:
        attributes["http.route"] = route
    _http_duration.record(seconds, attributes)


def record_job(*, task: str, queue: str, attempt: int, seconds: float, failed: bool) -> None:
    attributes = {"task": task, "queue": queue}
    _job_duration.record(seconds, {**attributes, "outcome": "failed" if failed else "succeeded"})
    if failed:
        _job_failures.add(1, attributes)
    if attempt > 1:
        _job_retries.add(1, attributes)


def count_stalled_recovered(*, task: str) -> None:
    _stalled_recovered.add(1, {"task": task})


def count_import_rows(*, kind: str, rows: int) -> None:
    """Imports call this with the rows of each batch they processed (kind: investors, …)."""
    _import_rows.add(rows, {"kind": kind})


def count_document_rendered(*, kind: str) -> None:
    """Rendering calls this once per document produced (kind: capital_call_notice, …)."""
    _documents_rendered.add(1, {"kind": kind})


class _Gauges:
    """Values that are read, not counted (pool usage, queue depth), behind observable gauges.

    Collection runs on the exporter's thread; the values are produced on the event loop (pool
    counters are read directly: plain integers), hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[str, Callable[[], tuple[int, int]]] = {}
        self._queue_depth: dict[tuple[str, str], int] = {}
        self._oldest_age: dict[str, float] = {}

    def add_pool(self, name: str, usage: Callable[[], tuple[int, int]]) -> None:
        with self._lock:
            self._pools[name] = usage

    def remove_pool(self, name: str) -> None:
        with self._lock:
            self._pools.pop(name, None)

    def set_queue(self, depth: Mapping[tuple[str, str], int], oldest: Mapping[str, float]) -> None:
        with self._lock:
            self._queue_depth = dict(depth)
            self._oldest_age = dict(oldest)

    def observe_pools(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            pools = list(self._pools.items())
        for name, usage in pools:
            used, idle = usage()
            pool = {"db.client.connection.pool.name": name}
            yield Observation(used, {**pool, "db.client.connection.state": "used"})
            yield Observation(idle, {**pool, "db.client.connection.state": "idle"})

    def observe_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            depth = list(self._queue_depth.items())
        return [Observation(n, {"task": task, "status": status}) for (task, status), n in depth]

    def observe_oldest(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            oldest = list(self._oldest_age.items())
        return [Observation(age, {"queue": queue}) for queue, age in oldest]


_gauges = _Gauges()
_meter.create_observable_gauge(
    "db.client.connection.count",
    callbacks=[_gauges.observe_pools],
    unit="{connection}",
    description="Database connections of each pool, by state (used, idle).",
)
_meter.create_observable_gauge(
    "prorata.queue.jobs",
    callbacks=[_gauges.observe_depth],
    unit="{job}",
    description="Jobs waiting (todo) or running (doing), by task; 0 for known idle tasks.",
)
_meter.create_observable_gauge(
    "prorata.queue.oldest_age",
    callbacks=[_gauges.observe_oldest],
    unit="s",
    description="Age of the oldest job that is due and not started, by queue (0: none).",
)


@contextlib.contextmanager
def pool_usage(name: str, usage: Callable[[], tuple[int, int]]) -> Iterator[None]:
    """Report `usage()` → (used, idle) as the connections of pool `name` while inside."""
    _gauges.add_pool(name, usage)
    try:
        yield
    finally:
        _gauges.remove_pool(name)


def set_queue_stats(
    *, depth: Mapping[tuple[str, str], int], oldest_age: Mapping[str, float]
) -> None:
    """The latest queue figures: jobs by (task, status), oldest due job's age by queue."""
    _gauges.set_queue(depth, oldest_age)


@contextlib.asynccontextmanager
async def _running(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run `work` as a background task while inside; cancel it on the way out."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def event_loop_lag(interval: float = 0.25) -> AsyncIterator[None]:
    """Record how late a periodic sleep wakes up while inside: a blocked loop shows here first
    (every request waits on it), before latency percentiles say why."""

    async def watch() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(interval)
            _loop_lag.record(max(time.monotonic() - started - interval, 0.0))

    async with _running(watch(), "event-loop-lag"):
        yield


@contextlib.asynccontextmanager
async def every(seconds: float, refresh: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Await `refresh()` now and every `seconds` while inside; a failed refresh is logged and
    retried next time (figures go stale, the process carries on)."""

    async def loop() -> None:
        while True:
            try:
                await refresh()
            except Exception:
                log.warning("metrics refresh failed", exc_info=True)
            await asyncio.sleep(seconds)

    async with _running(loop(), "metrics-refresh"):
        yield


# ---------------------------------------------------------------------------------------------
# Export: redaction, sampling, and the choice of exporters from the environment
# ---------------------------------------------------------------------------------------------

_CLIENT_URL_KEYS = ("http.url", "url.full")


class RedactingSpanExporter(SpanExporter):
    """Scrubs every span before it leaves by the log redactor's rules (known secrets, URL
    passwords, bearer tokens, API keys, e-mail addresses), and the path and query of outgoing
    URLs (a webhook URL often carries its secret in the path)."""

    def __init__(self, inner: SpanExporter, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def _attributes(self, attributes: Attributes, *, client: bool = False) -> dict[str, Any]:
        cleaned = self._redactor(None, "", dict(attributes or {}))
        for key, value in cleaned.items():
            if isinstance(value, str):
                cleaned[key] = self._redactor.scrub(value)
            elif isinstance(value, list):
                cleaned[key] = [self._redactor.scrub(v) if isinstance(v, str) else v for v in value]
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


class SkipUnownedQueries(Sampler):
    """Drops SQL that runs outside any request or job (the queue's polling and heartbeats,
    metric refreshes): each would be a one-span trace every few seconds, all noise and cost.
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
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and kind is SpanKind.CLIENT and "db.system" in (attributes or {}):
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"SkipUnownedQueries{{{self._inner.get_description()}}}"


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


def trace_exporter(environ: Mapping[str, str]) -> SpanExporter | None:
    """The span exporter the environment asks for, or None (no export)."""
    choice = _choice(environ, "TRACES")
    if choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter(out=sys.stderr)  # stdout carries the JSON log lines
    _check_protocol(environ, "TRACES")
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


# ---------------------------------------------------------------------------------------------
# configure: once per process
# ---------------------------------------------------------------------------------------------

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
    exporter = trace_exporter(environ)
    # Set before any tracer exists (tracers copy it). Wrap the sampler the SDK read from
    # OTEL_TRACES_SAMPLER; with no exporter, record nothing: a recorded span that goes nowhere
    # costs every request and every statement its attributes and bookkeeping. Unrecorded spans
    # still have ids, so log lines keep their trace_id and span_id and jobs their trace.
    tracer_provider.sampler = (
        SkipUnownedQueries(tracer_provider.sampler) if exporter is not None else ALWAYS_OFF
    )
    if exporter is not None:
        tracer_provider.add_span_processor(
            BatchSpanProcessor(RedactingSpanExporter(exporter, Redactor(secrets)))
        )
    readers = metric_readers(environ)
    if metrics_port is not None:
        readers.append(_serve_prometheus(metrics_host, metrics_port))
    meter_provider = MeterProvider(resource=where, metric_readers=readers)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if exporter is not None:  # unexported, library spans are pure cost: no log line is in one
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


def shutdown() -> None:
    """Flush what is buffered (the last spans of a stopping process) and stop exporting."""
    while _installed:
        tracer_provider, meter_provider = _installed.pop()
        tracer_provider.shutdown()
        meter_provider.shutdown()
