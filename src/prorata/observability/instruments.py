"""Metrics: the instruments, in one place so names and units stay consistent.

What other modules record (see docs/observability.md): request and job durations, import rows,
documents rendered, pool usage, queue depth, event-loop lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
)
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import AttributeValue

from prorata.observability.tracing import TRACER_NAME

log = logging.getLogger(__name__)
# A proxy until `setup.configure` installs the SDK provider; instruments made now follow it.
_meter = metrics.get_meter(TRACER_NAME)


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
