"""Traces, metrics and log correlation, end to end: real web and worker processes exporting to a
real OTLP/HTTP receiver (oteltap) on loopback, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.orgs.service import NewOrg
from tests import job_tasks
from tests.fund_support import FundApi
from tests.import_support import csv_bytes, upload
from tests.support import (
    REPO_ROOT,
    TestDatabase,
    bearer,
    free_port,
    metric_value,
    process_env,
    scrape,
    stop,
    wait_until,
)

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
        PRORATA_DATA_DIR=str(tmp_path / "var"),  # one local blob store for both processes
        PRORATA_PORT=str(port),
        PRORATA_METRICS_PORT=str(web_metrics),
        PRORATA_WORKER_METRICS_PORT=str(worker_metrics),
        PRORATA_QUEUE_METRICS_SECONDS="0.3",
        PRORATA_JOB_MODULES="tests.job_tasks",
        PRORATA_WORKER_CONCURRENCY="1",
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
        _start(["prorata", "web"], env, result.web_log),
        _start(["prorata", "worker"], env, result.worker_log),
    ]
    try:
        wait_until(lambda: _answers(f"{result.base}/api/system/health"), timeout=60, what="web")
        wait_until(lambda: _answers(result.worker_metrics), timeout=60, what="worker metrics")
        yield result
    finally:
        stop(*processes)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _any(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attrs(span: Span) -> dict[str, object]:
    return {item.key: _any(item.value) for item in span.attributes}


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


IMPORTS_ROUTE = "/api/v1/funds/{fund_id}/imports"
# Personal data that must reach the database and never a span.
CSV = csv_bytes(
    "name,email,kind,country",
    "Confidential LP Name,lp@investor.example,entity,US",
)


async def _import_investors(stack: Stack, org: NewOrg) -> httpx.Response:
    """A fund, then an investors CSV uploaded to it: the request that defers `imports.run`."""
    async with httpx.AsyncClient(base_url=stack.base) as client:
        fund_id = await FundApi(client, org.api_key).fund()
        return await upload(client, org.api_key, fund_id, "investors", CSV)


def _job_spans(found: Collected, task: str) -> list[Span]:
    return [
        s
        for s in found.spans
        if s.kind == KIND.SPAN_KIND_CONSUMER and attrs(s).get("prorata.job.task") == task
    ]


async def test_an_import_request_and_its_job_are_one_trace(
    stack: Stack, collected: tuple[Collected, int], org: NewOrg
) -> None:
    found, _ = collected
    response = await _import_investors(stack, org)
    assert response.status_code == 202, response.text

    await _until(lambda: bool(_job_spans(found, "imports.run")), timeout=60, what="job span")
    (job,) = _job_spans(found, "imports.run")

    # The job's SQL ends before the job span, but may travel in another export batch, and
    # batches need not arrive in order: wait for the last statements the trace must hold.
    def arrived(text: str) -> Callable[[], bool]:
        return lambda: any(text in _statement(s) for s in found.trace(job.trace_id))

    for text in ("INSERT INTO imports", "INSERT INTO investors"):
        await _until(arrived(text), timeout=30, what=text)

    # The request's span ends after its response, so it may travel in a later batch of the
    # web process than its statements (its exporter runs at idle priority: on a busy machine,
    # late): wait for it too (the request's last span, so every other one is in).
    def served() -> bool:
        return any(s.kind == KIND.SPAN_KIND_SERVER for s in found.trace(job.trace_id))

    await _until(served, timeout=30, what="the request's span")
    spans = found.by_id()
    in_trace = found.trace(job.trace_id)

    (server,) = [s for s in in_trace if s.kind == KIND.SPAN_KIND_SERVER]
    assert attrs(server)["http.route"] == IMPORTS_ROUTE
    assert not server.parent_span_id  # the request started the trace

    producer = spans[job.parent_span_id]
    assert producer.kind == KIND.SPAN_KIND_PRODUCER
    assert producer.name == "defer imports.run"
    assert server in _ancestors(producer, spans)

    (stored,) = [s for s in in_trace if s.name == "blob put"]
    assert server in _ancestors(stored, spans)
    assert attrs(stored) == {"prorata.blob.store": "local", "prorata.blob.bytes": len(CSV)}
    (fetched,) = [s for s in in_trace if s.name == "blob get"]
    assert job in _ancestors(fetched, spans)

    web_sql = [s for s in in_trace if _is_sql(s) and server in _ancestors(s, spans)]
    assert any(s.parent_span_id == producer.span_id for s in web_sql), "the job's INSERT"
    assert any("INSERT INTO imports" in _statement(s) for s in web_sql), "the import row"

    job_id = attrs(job)["messaging.message.id"]
    assert attrs(job) == {
        "messaging.system": "procrastinate",
        "messaging.destination.name": "imports",
        "messaging.operation.type": "process",
        "messaging.message.id": job_id,
        "prorata.job.task": "imports.run",
        "prorata.job.attempt": 1,
    }
    worker_sql = [s for s in in_trace if _is_sql(s) and job in _ancestors(s, spans)]
    statements = [_statement(s) for s in worker_sql]
    assert any(text.startswith("COPY ") for text in statements), statements
    assert any("INSERT INTO investors" in text for text in statements), statements
    for sql_span in web_sql + worker_sql:
        assert sql_span.start_time_unix_nano >= spans[sql_span.parent_span_id].start_time_unix_nano

    # Nothing secret or personal in any span of the trace, and no SQL parameters at all.
    text = "\n".join(str(s) for s in in_trace)
    for forbidden in (org.api_key, APP_PASSWORD, "lp@investor.example", "Confidential LP"):
        assert forbidden not in text
    assert not any("parameters" in key for s in in_trace for key in attrs(s))

    # SQL outside any request or job (the queue's polling, its metric refreshes every 0.3 s
    # here, heartbeats) is never sent: each statement would be a trace of its own.
    assert [_statement(s) for s in found.spans if _is_sql(s) and not s.parent_span_id] == []

    # The log lines of both processes carry the trace.
    trace_hex = job.trace_id.hex()
    request_line = _log_line(stack.web_log, "request", route=IMPORTS_ROUTE)
    job_line = _log_line(stack.worker_log, "job", task="imports.run")
    assert request_line is not None
    assert job_line is not None
    assert request_line["trace_id"] == trace_hex
    assert request_line["span_id"] == server.span_id.hex()
    assert job_line["trace_id"] == trace_hex
    assert job_line["span_id"] == job.span_id.hex()


async def test_a_csv_the_database_refuses_does_not_reach_the_spans(
    stack: Stack, collected: tuple[Collected, int], org: NewOrg
) -> None:
    """COPY stops at a record with a cell too many and PostgreSQL quotes that record in its
    error, which the COPY span records: the record (CSV content) must not be exported."""
    found, _ = collected
    refused = CSV.rstrip(b"\n") + b",TAX-98-7654321\n"
    async with httpx.AsyncClient(base_url=stack.base) as client:
        # A query the API does not read is still recorded on the server span, URL-encoded.
        query = {"email": "lp@investor.example", "access_token": "tok-SEKRIT-1"}
        me = await client.get("/api/v1/me", params=query, headers=bearer(org.api_key))
        assert me.status_code == 200
        fund_id = await FundApi(client, org.api_key).fund()
        response = await upload(client, org.api_key, fund_id, "investors", refused)
        assert response.status_code == 202, response.text

        async def rejected() -> bool:
            state = await client.get(response.headers["location"], headers=bearer(org.api_key))
            return bool(state.json()["status"] == "rejected")

        deadline = time.monotonic() + 60
        while not await rejected():
            assert time.monotonic() < deadline, "the import was not rejected"
            await asyncio.sleep(0.2)
    await _until(lambda: bool(_job_spans(found, "imports.run")), timeout=30, what="job span")
    (job,) = _job_spans(found, "imports.run")

    def copy_failed() -> bool:
        return any(
            s.name == "COPY" and s.status.code == s.status.STATUS_CODE_ERROR
            for s in found.trace(job.trace_id)
        )

    await _until(copy_failed, timeout=30, what="the failed COPY span")
    text = "\n".join(str(s) for s in found.trace(job.trace_id))
    assert "extra data after last expected column" in text  # the error itself is kept
    for forbidden in ("Confidential LP", "TAX-98-7654321", "lp@investor.example"):
        assert forbidden not in text

    # The web's spans come from its own exporter process, at idle priority: on this busy
    # machine they may arrive after the worker's.
    def me_spans() -> list[Span]:
        return [s for s in found.spans if attrs(s).get("http.route") == "/api/v1/me"]

    await _until(lambda: bool(me_spans()), timeout=30, what="the /me request's span")
    (me_span,) = me_spans()
    assert attrs(me_span)["url.query"] == "email=[EMAIL]&access_token=[REDACTED]"


def _statement(span: Span) -> str:
    return str(attrs(span).get("db.statement", ""))


def _log_line(log: Path, event: str, **match: object) -> dict[str, object] | None:
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == event and all(record.get(k) == v for k, v in match.items()):
            return dict(record)
    return None


async def test_metrics_endpoints_show_requests_and_the_queue(
    stack: Stack,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    me = f"{stack.base}/api/v1/me"
    for _ in range(3):
        assert httpx.get(me, headers=bearer(org.api_key)).status_code == 200
    assert httpx.get(f"{stack.base}/api/v1/no/such/{uuid.uuid4()}").status_code == 404
    assert (await _import_investors(stack, org)).status_code == 202

    web = stack.web_metrics
    duration = "http_server_request_duration_seconds_count"
    ok = {"http_route": "/api/v1/me", "http_response_status_code": "200"}
    assert metric_value(web, duration, **ok) == 3
    unrouted = [
        s
        for s in scrape(web)
        if s.name == duration and s.labels.get("http_response_status_code") == "404"
    ]
    assert [s.labels.get("http_route", "") for s in unrouted] == [""]  # the path is not a label
    assert (
        metric_value(
            web,
            "db_client_connection_count",
            db_client_connection_pool_name="web",
            db_client_connection_state="idle",
        )
        is not None
    )
    assert (metric_value(web, "prorata_event_loop_lag_seconds_count") or 0) > 0

    # One job running (the worker runs one at a time here) and one waiting behind it.
    async with sessions() as session, session.begin():
        await jobs.defer(session, job_tasks.wait_for_release, directory=str(tmp_path))
        await jobs.defer(session, job_tasks.touch, path=str(tmp_path / "touched"))
    worker = stack.worker_metrics

    def queue_shows_both() -> bool:
        running = metric_value(
            worker, "prorata_queue_jobs", task="tests.wait_for_release", status="doing"
        )
        waiting = metric_value(worker, "prorata_queue_jobs", task="tests.touch", status="todo")
        age = metric_value(worker, "prorata_queue_oldest_age_seconds", queue="default")
        return running == 1 and waiting == 1 and (age or 0) > 0

    await _until(queue_shows_both, timeout=30, what="queue depth and age of the waiting job")
    (tmp_path / "release").write_text("go")
    await _until((tmp_path / "touched").exists, timeout=30, what="the waiting job to run")

    def drained() -> bool:
        waiting = metric_value(worker, "prorata_queue_jobs", task="tests.touch", status="todo")
        return (
            waiting == 0
            and metric_value(worker, "prorata_queue_oldest_age_seconds", queue="default") == 0
        )

    await _until(drained, timeout=30, what="the queue to read empty")
    jobs_count = "prorata_job_duration_seconds_count"
    assert metric_value(worker, jobs_count, task="imports.run", outcome="succeeded") == 1
    assert metric_value(worker, jobs_count, task="tests.touch", outcome="succeeded") == 1
    rows = len(CSV.strip().splitlines()) - 1  # the header is not a row
    assert metric_value(worker, "prorata_import_rows_total", kind="investors") == rows


async def test_a_failing_job_is_recorded_retried_and_scrubbed(
    stack: Stack,
    collected: tuple[Collected, int],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    found, _ = collected
    message = f"could not reach lp@investor.example with {APP_PASSWORD}"
    async with sessions() as session, session.begin():
        job_id = await jobs.defer(session, job_tasks.fail, message=message)

    def runs() -> list[Span]:
        return [
            s
            for s in found.spans
            if s.kind == KIND.SPAN_KIND_CONSUMER
            and attrs(s).get("messaging.message.id") == str(job_id)
        ]

    await _until(lambda: len(runs()) == 2, timeout=30, what="the job and its retry")
    assert sorted(int(str(attrs(s)["prorata.job.attempt"])) for s in runs()) == [1, 2]
    for run in runs():
        assert run.status.code == run.status.STATUS_CODE_ERROR
        (event,) = [e for e in run.events if e.name == "exception"]
        recorded = {item.key: _any(item.value) for item in event.attributes}
        assert recorded["exception.type"] == "RuntimeError"
        assert recorded["exception.message"] == "could not reach [EMAIL] with [REDACTED]"
        assert APP_PASSWORD not in str(run)
        assert "lp@investor.example" not in str(run)

    worker = stack.worker_metrics
    labels = {"task": "tests.fail", "queue": "default"}
    assert metric_value(worker, "prorata_job_failures_total", **labels) == 2
    assert metric_value(worker, "prorata_job_retries_total", **labels) == 1
    failed_runs = metric_value(
        worker, "prorata_job_duration_seconds_count", outcome="failed", **labels
    )
    assert failed_runs == 2


def test_without_an_exporter_log_lines_still_carry_the_trace(
    database: TestDatabase, tmp_path: Path, org: NewOrg
) -> None:
    """No OTLP endpoint: spans are not recorded (they would go nowhere), yet every request's
    log line names its trace and span, continuing the caller's trace when one is sent."""
    port = free_port()
    env = process_env(
        PRORATA_APP_DATABASE_URL=database.app_url,
        PRORATA_DATA_DIR=str(tmp_path / "var"),
        PRORATA_PORT=str(port),
        PRORATA_LOG_LEVEL="INFO",
    )
    log = tmp_path / "web.log"
    web = _start(["prorata", "web"], env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{base}/api/system/health"), timeout=60, what="web")
        caller_trace = uuid.uuid4().hex
        traceparent = f"00-{caller_trace}-{uuid.uuid4().hex[:16]}-01"
        for headers in ({"traceparent": traceparent}, {}):
            me = httpx.get(f"{base}/api/v1/me", headers={**bearer(org.api_key), **headers})
            assert me.status_code == 200
    finally:
        stop(web)
    lines = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and '"event": "request"' in line
    ]
    continued, started = [line for line in lines if line.get("route") == "/api/v1/me"]
    assert continued["trace_id"] == caller_trace
    assert started["trace_id"] not in {caller_trace, "0" * 32}
    for line in (continued, started):
        assert len(line["trace_id"]) == 32
        assert len(line["span_id"]) == 16
