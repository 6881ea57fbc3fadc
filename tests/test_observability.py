"""Traces, metrics and log correlation, end to end: real web and worker processes exporting to a
real OTLP/HTTP receiver (oteltap) on loopback, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

from prorata.orgs.service import NewOrg
from tests.support import REPO_ROOT, TestDatabase, bearer, free_port, process_env, wait_until

KIND = Span.SpanKind
APP_PASSWORD = "prorata-dev-app-password"  # the test databases' app role password


@dataclass
class Collected:
    """Every span the receiver got, in arrival order."""

    spans: list[Span] = field(default_factory=list)

    def by_id(self) -> dict[bytes, Span]:
        return {span.span_id: span for span in self.spans}

    def trace(self, trace_id: bytes) -> list[Span]:
        return [span for span in self.spans if span.trace_id == trace_id]


@pytest.fixture
async def collected() -> AsyncIterator[tuple[Collected, int]]:
    port = free_port()
    settings = OtelTapHttpProtobufReceiverSettings(http_port=port)
    found = Collected()
    async with OtelTapHttpProtobufReceiver(settings) as receiver:

        async def gather() -> None:
            async for span in receiver.stream_traces():
                found.spans.append(span)

        task = asyncio.create_task(gather())
        await asyncio.sleep(0)  # subscribed before anything is sent
        yield found, port
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass(frozen=True)
class Stack:
    base: str
    web_metrics: str
    worker_metrics: str
    web_log: Path
    worker_log: Path


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", *args], env=env, cwd=REPO_ROOT, stdout=sink, stderr=sink
        )


@pytest.fixture
def stack(
    database: TestDatabase, tmp_path: Path, collected: tuple[Collected, int]
) -> Iterator[Stack]:
    """Web and worker, as separate processes, exporting to the receiver and serving metrics."""
    _, otlp_port = collected
    port, web_metrics, worker_metrics = free_port(), free_port(), free_port()
    env = process_env(
        PRORATA_APP_DATABASE_URL=database.app_url,
        PRORATA_PORT=str(port),
        PRORATA_METRICS_PORT=str(web_metrics),
        PRORATA_WORKER_METRICS_PORT=str(worker_metrics),
        PRORATA_QUEUE_METRICS_SECONDS="0.3",
        PRORATA_JOB_MODULES="tests.job_tasks",
        PRORATA_LOG_LEVEL="INFO",
        PRORATA_RATE_LIMIT_AUTH_FAILURES="10000/minute",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_port}",
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    result = Stack(
        base=f"http://127.0.0.1:{port}",
        web_metrics=f"http://127.0.0.1:{web_metrics}/metrics",
        worker_metrics=f"http://127.0.0.1:{worker_metrics}/metrics",
        web_log=tmp_path / "web.log",
        worker_log=tmp_path / "worker.log",
    )
    processes = [
        _start(["tests.job_web"], env, result.web_log),
        _start(["prorata", "worker"], env, result.worker_log),
    ]
    try:
        wait_until(lambda: _answers(f"{result.base}/api/system/health"), timeout=60, what="web")
        wait_until(lambda: _answers(result.worker_metrics), timeout=60, what="worker metrics")
        yield result
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attrs(span: Span) -> dict[str, object]:
    return {item.key: _value(item.value) for item in span.attributes}


async def _until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def _ancestors(span: Span, spans: dict[bytes, Span]) -> list[Span]:
    chain = []
    while span.parent_span_id in spans:
        span = spans[span.parent_span_id]
        chain.append(span)
    return chain


def _is_sql(span: Span) -> bool:
    return span.kind == KIND.SPAN_KIND_CLIENT and attrs(span).get("db.system") == "postgresql"


async def test_a_request_and_the_job_it_defers_are_one_trace(
    stack: Stack, collected: tuple[Collected, int], org: NewOrg
) -> None:
    found, _ = collected
    response = httpx.post(
        f"{stack.base}/api/v1/test/read-funds",
        params={"org_id": str(org.org_id)},
        headers=bearer(org.api_key),
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]

    def job_span() -> Span | None:
        return next(
            (
                s
                for s in found.spans
                if s.kind == KIND.SPAN_KIND_CONSUMER
                and attrs(s).get("messaging.message.id") == str(job_id)
            ),
            None,
        )

    await _until(lambda: job_span() is not None, timeout=30, what="the worker's job span")
    job = job_span()
    assert job is not None
    # The job's own SQL ends before the job span: once it is here, so are they.
    spans = found.by_id()
    in_trace = found.trace(job.trace_id)

    server = next(s for s in in_trace if s.kind == KIND.SPAN_KIND_SERVER)
    assert attrs(server)["http.route"] == "/api/v1/test/read-funds"
    assert not server.parent_span_id  # the request started the trace

    producer = spans[job.parent_span_id]
    assert producer.kind == KIND.SPAN_KIND_PRODUCER
    assert producer.name == "defer tests.read_funds"
    assert server in _ancestors(producer, spans)

    web_sql = [s for s in in_trace if _is_sql(s) and server in _ancestors(s, spans)]
    assert any(s.parent_span_id == producer.span_id for s in web_sql), "the job's INSERT"
    assert any(
        job not in _ancestors(s, spans) and "funds" in s.name + str(attrs(s)) for s in web_sql
    )

    assert attrs(job) == {
        "messaging.system": "procrastinate",
        "messaging.destination.name": "default",
        "messaging.operation.type": "process",
        "messaging.message.id": str(job_id),
        "prorata.job.task": "tests.read_funds",
        "prorata.job.attempt": 1,
    }
    worker_sql = [s for s in in_trace if _is_sql(s) and job in _ancestors(s, spans)]
    statements = [str(attrs(s).get("db.statement")) for s in worker_sql]
    assert any("FROM funds" in text for text in statements), statements
    for sql_span in web_sql + worker_sql:
        assert sql_span.start_time_unix_nano >= spans[sql_span.parent_span_id].start_time_unix_nano

    # Nothing secret or personal in any span of the trace, and no SQL parameters at all.
    text = "\n".join(str(s) for s in in_trace)
    for forbidden in (org.api_key, APP_PASSWORD, "owner@a.example"):
        assert forbidden not in text
    assert not any("parameters" in key for s in in_trace for key in attrs(s))

    # The log lines of both processes carry the trace.
    trace_hex = job.trace_id.hex()
    request_line = _log_line(stack.web_log, "request", path="/api/v1/test/read-funds")
    job_line = _log_line(stack.worker_log, "job", job_id=job_id)
    assert request_line is not None
    assert job_line is not None
    assert request_line["trace_id"] == trace_hex
    assert request_line["span_id"] == server.span_id.hex()
    assert job_line["trace_id"] == trace_hex
    assert job_line["span_id"] == job.span_id.hex()


def _log_line(log: Path, event: str, **match: object) -> dict[str, object] | None:
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event and all(record.get(k) == v for k, v in match.items()):
            return dict(record)
    return None
