"""Spans exported through the exporter's own process (`span_process.SpanForwarder`) reach a real
OTLP/HTTP receiver (oteltap, loopback) exactly as the in-process exporter would send them,
scrubbed; nothing is lost when that process dies or the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

from prorata.observability import span_process
from prorata.observability.export import RedactingSpanExporter
from prorata.observability.logs import Redactor
from prorata.observability.span_process import SpanForwarder
from tests.support import free_port

SECRET = "s3cret-webhook-signing-key"


@pytest.fixture
async def received(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Span]]:
    """Spans a real receiver got; the forwarder's process (which inherits the environment)
    exports to it."""
    port = free_port()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    found: list[Span] = []
    settings = OtelTapHttpProtobufReceiverSettings(http_port=port)
    async with OtelTapHttpProtobufReceiver(settings) as receiver:

        async def gather() -> None:
            async for span in receiver.stream_traces():
                found.append(span)

        task = asyncio.create_task(gather())
        await asyncio.sleep(0)
        yield found
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def forwarder() -> Iterator[SpanForwarder]:
    made = SpanForwarder(secrets=[SECRET], level="WARNING", process="prorata-test")
    yield made
    made.shutdown()


def _spans(
    count: int = 3, *, tag: str = "", also: SpanProcessor | None = None
) -> list[ReadableSpan]:
    """Finished spans of every shape the services make: a server span with a remote parent
    and trace state, client spans with events, links and an error status, from a resource.
    `also` is given them too, as they end."""
    kept = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "prorata-web", "n": 1}))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    if also is not None:
        provider.add_span_processor(also)
    tracer = provider.get_tracer("prorata", "1.0")
    remote = SpanContext(
        0x1234,
        0x99,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "x1")]),
    )
    for n in range(count):
        with tracer.start_as_current_span(
            f"GET /api/v1/funds{tag}",
            kind=SpanKind.SERVER,
            context=set_span_in_context(NonRecordingSpan(remote)),
            attributes={"http.status_code": 200, "n": n, "ratio": 0.5, "ok": True},
        ) as server:
            with tracer.start_as_current_span(
                "SELECT",
                kind=SpanKind.CLIENT,
                attributes={"db.statement": f"SELECT 1 -- lp{n}@investor.example {SECRET}"},
                links=[Link(remote, {"why": "retry"})],
            ) as client:
                client.add_event("retry", {"attempt": n, "codes": (1, 2)})
                client.set_status(Status(StatusCode.ERROR, f"failed for {SECRET}"))
            server.set_attribute("tags", ("a", "b"))
    return list(kept.get_finished_spans())


def _expected(spans: list[ReadableSpan]) -> list[Span]:
    """What the in-process exporter sends for `spans`: redacted, encoded."""
    cleaner = RedactingSpanExporter(InMemorySpanExporter(), Redactor([SECRET]))
    request = encode_spans([cleaner.clean(span) for span in spans])
    return [
        span
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_spans_arrive_as_the_in_process_exporter_sends_them_scrubbed(
    received: list[Span], forwarder: SpanForwarder
) -> None:
    spans = _spans()

    assert await asyncio.to_thread(forwarder.export, spans) is SpanExportResult.SUCCESS
    assert await asyncio.to_thread(forwarder.force_flush, 10_000)

    expected = _expected(spans)
    assert len(expected) == 6
    await _until(lambda: len(received) >= 6, "the spans")  # (the receiver streams them)
    await asyncio.sleep(0.2)
    assert sorted(s.SerializeToString() for s in received) == sorted(
        s.SerializeToString() for s in expected
    )
    text = b"".join(s.SerializeToString() for s in received)
    assert SECRET.encode() not in text
    assert b"@investor.example" not in text
    assert any(s.status.message == "failed for [REDACTED]" for s in received)


async def test_spans_pickled_as_they_end_arrive_as_the_in_process_exporter_sends_them(
    received: list[Span], forwarder: SpanForwarder
) -> None:
    """What the services use: `ForwardingSpanProcessor` pickles each span as it ends and hands
    the batch processor's batches to the forwarder."""
    processor = span_process.ForwardingSpanProcessor(forwarder)
    spans = _spans(also=processor)

    assert await asyncio.to_thread(processor.force_flush, 10_000)

    expected = _expected(spans)
    await _until(lambda: len(received) >= 6, "the spans")
    await asyncio.sleep(0.2)
    assert sorted(s.SerializeToString() for s in received) == sorted(
        s.SerializeToString() for s in expected
    )
    assert SECRET.encode() not in b"".join(s.SerializeToString() for s in received)


async def test_a_dead_exporter_process_is_started_again_and_the_batch_still_arrives(
    received: list[Span], forwarder: SpanForwarder
) -> None:
    await asyncio.to_thread(forwarder.export, _spans(1, tag="/first"))
    assert await asyncio.to_thread(forwarder.force_flush, 10_000)
    await _until(lambda: len(received) == 2, "the first batch")
    first = forwarder._child
    assert first is not None
    # The service's own signals do not end it (it ends when the service closes its pipe)...
    first.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    assert first.poll() is None
    # ...but if it dies anyway, the next batch goes to a new one.
    first.kill()
    await asyncio.to_thread(first.wait)

    result = await asyncio.to_thread(forwarder.export, _spans(2, tag="/second"))

    assert result is SpanExportResult.SUCCESS
    assert await asyncio.to_thread(forwarder.force_flush, 10_000)
    assert forwarder._child is not None
    assert forwarder._child.pid != first.pid
    await _until(lambda: len(received) == 6, "both batches")
    names = [span.name for span in received]
    assert names.count("GET /api/v1/funds/first") == 1
    assert names.count("GET /api/v1/funds/second") == 2


async def test_a_process_that_dies_before_it_is_ready_is_started_again_after_a_back_off(
    received: list[Span], forwarder: SpanForwarder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configuration the child cannot honour: it dies making its exporter, each time.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def counted(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", counted)  # the one span_process calls
    forwarder.start()
    await asyncio.to_thread(started[0].wait, 30)

    # Batches keep coming (the batch processor's every few seconds): none starts a process
    # while the back-off holds, each is refused (and said lost), none waits.
    for _ in range(5):
        result = await asyncio.to_thread(forwarder.export, _spans(1))
        assert result is SpanExportResult.FAILURE
    assert len(started) == 1

    # Once the back-off is over, the next batch starts a process again; it dies too, and
    # the next back-off is twice as long.
    await asyncio.sleep(span_process.RESTART_FIRST_SECONDS + 0.2)
    await asyncio.to_thread(forwarder.export, _spans(1))
    assert len(started) == 2
    await asyncio.to_thread(started[1].wait, 30)
    await asyncio.sleep(span_process.RESTART_FIRST_SECONDS + 0.2)
    assert await asyncio.to_thread(forwarder.export, _spans(1)) is SpanExportResult.FAILURE
    assert len(started) == 2

    # The configuration put right: after the back-off, batches arrive again.
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    await asyncio.sleep(span_process.RESTART_FIRST_SECONDS * 2 + 0.2)
    result = await asyncio.to_thread(forwarder.export, _spans(1, tag="/again"))
    assert result is SpanExportResult.SUCCESS
    assert await asyncio.to_thread(forwarder.force_flush, 10_000)
    await _until(lambda: len(received) == 2, "the batch after the back-off")
    assert [span.name for span in received].count("GET /api/v1/funds/again") == 1


async def test_shutting_down_exports_what_was_handed_over_and_ends_the_process(
    received: list[Span], forwarder: SpanForwarder
) -> None:
    await asyncio.to_thread(forwarder.export, _spans(50))
    child = forwarder._child
    assert child is not None

    await asyncio.to_thread(forwarder.shutdown)  # no flush asked for

    assert child.poll() == 0
    await _until(lambda: len(received) == 100, "the last batch")
    assert await asyncio.to_thread(forwarder.export, _spans(1)) is SpanExportResult.FAILURE


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_the_exporter_process_runs_at_idle_priority(forwarder: SpanForwarder) -> None:
    forwarder.start()
    child = forwarder._child
    assert child is not None

    for _ in range(100):  # it lowers itself once started
        if os.sched_getscheduler(child.pid) == os.SCHED_IDLE:
            break
        time.sleep(0.05)

    assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE
    assert os.sched_getscheduler(os.getpid()) != os.SCHED_IDLE  # the service keeps its own
