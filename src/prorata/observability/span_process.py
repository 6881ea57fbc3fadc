"""Spans leave a service from a process of their own: the exporter's child.

Redacting a batch of 512 spans and encoding it as OTLP protobuf costs ~30 ms of CPU, and in the
web process that CPU is the GIL's: the event loop waited for it, so requests caught by an export
took milliseconds more (issue 21's telemetry target). Here the service only copies each finished
span into plain tuples, pickled as it ends (`ForwardingSpanProcessor`, ~25 µs a span inside a
request), and sends each batch of those down a pipe (~0.1 ms of the GIL for 512 spans); the
child (`python -m prorata.observability.span_process`, started by `SpanForwarder`) rebuilds the
spans, redacts them with the service's secrets and exports them with the exporter the `OTEL_*`
variables choose, on the machine's other core. It runs at idle priority (Linux's SCHED_IDLE): on
a busy core its encoding waits for the service rather than delaying a request.

Nothing is lost quietly: a child that died is started again and the batch sent to the new one;
one that died before it was ready (its exporter could not be made) is started again only after
a back-off, doubling up to a minute, so a broken configuration is not a process a batch; at
shutdown the child exports what it holds before the service exits (`shutdown` waits for it).
The child ends when its pipe closes, whatever ended the service, and ignores SIGINT and
SIGTERM: a terminal's Ctrl-C or a process group's TERM reaches the service, which then flushes
through it. Secrets reach the child down the pipe, never in its arguments or environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any, cast

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceState

log = logging.getLogger(__name__)

# A message is its length (4 bytes, big-endian) and a pickle: ("spans", batch), ("flush", n)
# or ("start", settings). The child answers a flush with n on its answer pipe, and says READY
# there once its exporter is made (flushes count from 1).
_LENGTH = struct.Struct(">I")
READY = 0
# A child that died before it was ready is started again after this, doubled each time it
# dies so again, up to RESTART_MAX_SECONDS; one that was ready is started again at once.
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 60.0
# Seconds the service waits for the child to export what it holds when shutting down.
SHUTDOWN_SECONDS = 10.0
# Scrubbed texts the exporter keeps (`Redactor(remember=...)`): the statements and routes of
# an application are a few hundred.
REMEMBERED_TEXTS = 4096

Plain = tuple[Any, ...]


def _context(context: SpanContext | None) -> Plain | None:
    if context is None:
        return None
    return (
        context.trace_id,
        context.span_id,
        context.is_remote,
        int(context.trace_flags),
        tuple(context.trace_state.items()),
    )


def _attributes(attributes: Any) -> dict[str, Any]:
    return dict(attributes) if attributes else {}


def plain_span(span: ReadableSpan) -> Plain:
    """A finished span but its resource as tuples of builtins (what pickles fast)."""
    scope = span.instrumentation_scope
    return (
        span.name,
        _context(span.context),
        _context(span.parent),
        _attributes(span.attributes),
        [(event.name, event.timestamp, _attributes(event.attributes)) for event in span.events],
        [(_context(link.context), _attributes(link.attributes)) for link in span.links],
        span.kind.value,
        span.status.status_code.value,
        span.status.description,
        span.start_time,
        span.end_time,
        None if scope is None else (scope.name, scope.version, scope.schema_url),
    )


class PickledSpan:
    """A finished span, pickled (`plain_span`) where it ended; its resource kept as is (one
    for every span of a process: a batch sends it once)."""

    __slots__ = ("context", "data", "resource")

    def __init__(self, span: ReadableSpan) -> None:
        self.context = span.context  # what the batch processor looks at (sampled?)
        self.resource = span.resource
        self.data = pickle.dumps(plain_span(span), protocol=pickle.HIGHEST_PROTOCOL)


class ForwardingSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, given each span already pickled. Copying and pickling 512
    spans at once took its thread ~5 ms, holding the GIL, and the request running then waited
    for it: a few such requests in a thousand were what the exporting server's p99 was made of
    (issue 21). Pickled one by one as they end, the same work is ~25 µs a span inside a
    request (~8 µs in a tight loop), spread over the requests that made them, and a batch's
    hand-over is ~0.1 ms."""

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            super().on_end(cast(ReadableSpan, PickledSpan(span)))


def plain_batch(spans: Sequence[ReadableSpan | PickledSpan]) -> Plain:
    """(resources, [(resource index, pickled span)]) of a batch: each resource once."""
    numbered: dict[int, int] = {}
    resources: list[Plain] = []
    items = []
    for span in spans:
        pickled = span if isinstance(span, PickledSpan) else PickledSpan(span)
        resource = pickled.resource
        index = numbered.get(id(resource))
        if index is None:
            index = numbered[id(resource)] = len(resources)
            resources.append((_attributes(resource.attributes), resource.schema_url))
        items.append((index, pickled.data))
    return resources, items


def _span_context(plain: Plain | None) -> SpanContext | None:
    if plain is None:
        return None
    trace_id, span_id, is_remote, flags, state = plain
    return SpanContext(trace_id, span_id, is_remote, flags, TraceState(list(state)))


def rebuilt(batch: Plain) -> list[ReadableSpan]:
    """The spans of a `plain_batch`, as the SDK's exporters take them."""
    resource_rows, items = batch
    resources = [Resource(attributes, schema_url) for attributes, schema_url in resource_rows]
    spans = []
    for resource, data in items:
        (
            name,
            context,
            parent,
            attributes,
            events,
            links,
            kind,
            status_code,
            description,
            start,
            end,
            scope,
        ) = pickle.loads(data)  # noqa: S301 (pickled by our own service, down its own pipe)
        spans.append(
            ReadableSpan(
                name=name,
                context=_span_context(context),
                parent=_span_context(parent),
                resource=resources[resource],
                attributes=attributes,
                events=[Event(event, attrs, timestamp) for event, timestamp, attrs in events],
                links=[Link(_span_context(ctx), attrs) for ctx, attrs in links],  # type: ignore[arg-type]
                kind=SpanKind(kind),
                status=Status(StatusCode(status_code), description),
                start_time=start,
                end_time=end,
                instrumentation_scope=None if scope is None else InstrumentationScope(*scope),
            )
        )
    return spans


def _send(pipe: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LENGTH.pack(len(data)) + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any:
    """The next message, or None once the pipe is closed."""
    head = pipe.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = pipe.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # noqa: S301 (our own parent, through a pipe only it holds)


class SpanForwarder(SpanExporter):
    """The service's side: batches from the `BatchSpanProcessor` (its thread) go down the pipe
    to the child, which does the export. `settings` are the child's: its log level and process
    name, and the secrets its redactor masks."""

    def __init__(self, *, secrets: Iterable[str], level: str, process: str) -> None:
        self._settings = {"secrets": list(secrets), "level": level, "process": process}
        self._lock = threading.Lock()  # export, flush and shutdown may come from two threads
        self._child: subprocess.Popen[bytes] | None = None
        self._answers: IO[bytes] | None = None
        self._flushes = 0
        self._closed = False
        self._ready = False  # the child said READY
        self._backoff = 0.0
        self._next_start = 0.0  # time.monotonic() before which no child is started

    def _started(self) -> subprocess.Popen[bytes] | None:
        """The live child, started if need be; None while a back-off holds."""
        if self._child is not None and self._child.poll() is None:
            return self._child
        if self._child is not None:
            self._note_death(self._child.returncode)
        if time.monotonic() < self._next_start:
            return None
        read_answers, write_answers = os.pipe()
        try:
            child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", __name__, str(write_answers)],
                stdin=subprocess.PIPE,
                pass_fds=(write_answers,),
            )
        finally:
            os.close(write_answers)
        self._answers = os.fdopen(read_answers, "rb", buffering=0)
        assert child.stdin is not None
        _send(child.stdin, ("start", self._settings))
        self._child = child
        self._ready = False
        return child

    def _note_death(self, returncode: int | None) -> None:
        ready = self._ready or self._said_ready()
        self._end_child()
        if ready:
            self._backoff = 0.0
            log.warning("the span exporter process ended (exit %s): starting it again", returncode)
            return
        self._backoff = min(max(self._backoff * 2, RESTART_FIRST_SECONDS), RESTART_MAX_SECONDS)
        self._next_start = time.monotonic() + self._backoff
        log.error(
            "the span exporter process ended before it was ready (exit %s; its log says why): "
            "starting it again in %.0f s, spans meanwhile lost",
            returncode,
            self._backoff,
        )

    def _said_ready(self) -> bool:
        """Whether the dead child's answers hold anything (READY comes first)."""
        assert self._answers is not None
        ready, _, _ = select.select([self._answers], [], [], 0)
        return bool(ready) and len(self._answers.read(_LENGTH.size)) == _LENGTH.size

    def start(self) -> None:
        """Start the child now (else with the first batch): its imports overlap the service's."""
        with self._lock:
            self._started()

    def _deliver(self, message: object) -> bool:
        """Send `message` to a live child (a new one if it died, once): whether it went."""
        for _ in range(2):
            child = self._started()
            if child is None:
                return False
            assert child.stdin is not None
            try:
                _send(child.stdin, message)
                return True
            except (BrokenPipeError, ValueError, OSError):
                child.wait()  # reaped, so `_started` sees it gone and starts another
        return False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Hand `spans` to the child: `PickledSpan`s from a `ForwardingSpanProcessor`, or
        finished spans as any other processor gives them."""
        batch = ("spans", plain_batch(cast(Sequence[ReadableSpan | PickledSpan], spans)))
        with self._lock:
            if self._closed:
                return SpanExportResult.FAILURE
            if self._deliver(batch):
                return SpanExportResult.SUCCESS
        log.error("spans could not be handed to the span exporter process: %d lost", len(spans))
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Whether the child exported everything sent before this, within the timeout."""
        with self._lock:
            if self._closed:
                return False
            self._flushes += 1
            token = self._flushes
            if not self._deliver(("flush", token)):
                return False
            return self._await_answer(token, timeout_millis / 1000)

    def _await_answer(self, token: int, seconds: float) -> bool:
        """Answers in order until `token`'s (an earlier flush that timed out is answered
        late, first)."""
        assert self._answers is not None
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(left, 0))
            if not ready:
                return False
            answer = self._answers.read(_LENGTH.size)
            if len(answer) < _LENGTH.size:  # the child ended
                return False
            self._ready = True  # READY, or an answer after it
            if _LENGTH.unpack(answer)[0] == token:
                return True

    def shutdown(self) -> None:
        """Close the pipe: the child exports what it holds and exits (killed if it has not
        within SHUTDOWN_SECONDS)."""
        with self._lock:
            self._closed = True
            self._end_child()

    def _end_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        assert child.stdin is not None
        with contextlib.suppress(OSError):
            child.stdin.close()
        try:
            child.wait(SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("the span exporter process did not finish in time: stopped")
            child.kill()
            child.wait()
        if self._answers is not None:
            self._answers.close()
            self._answers = None


def _serve(answers: IO[bytes]) -> None:
    """The child: export every batch that comes down stdin until it closes."""
    from prorata.observability import logs
    from prorata.observability.export import RedactingSpanExporter, trace_exporter

    source = sys.stdin.buffer
    first = _receive(source)
    if first is None or first[0] != "start":
        return
    settings = first[1]
    logs.configure(
        level=settings["level"], secrets=settings["secrets"], process=settings["process"]
    )
    _yield_to_the_service()
    inner = trace_exporter(os.environ)
    assert inner is not None  # the service starts this process only when spans are exported
    exporter = RedactingSpanExporter(
        inner, logs.Redactor(settings["secrets"], remember=REMEMBERED_TEXTS)
    )
    answers.write(_LENGTH.pack(READY))
    try:
        while (message := _receive(source)) is not None:
            kind, payload = message
            if kind == "spans":
                exporter.export(rebuilt(payload))
            elif kind == "flush":
                exporter.force_flush()
                answers.write(_LENGTH.pack(payload))
    finally:
        exporter.shutdown()


def _yield_to_the_service() -> None:
    """Take a CPU only when nothing else wants it (SCHED_IDLE; the lowest nice value where the
    system has no such policy). Spans can wait: a batch's ~30 ms of encoding on the core that
    serves requests, at normal priority, is what the slowest requests waited for (issue 21's
    telemetry A/B: p99 1.28 x without exporter at normal priority, 0.93 x idle). On a machine
    busy on every core the batches wait in the pipe and then the batch processor's queue,
    which drops spans (and says so) rather than slow a request."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # no such policy, or a sandbox refuses it
        os.nice(19)
        log.info("span exporter at nice 19: SCHED_IDLE refused (%s)", type(exc).__name__)


def main() -> None:
    # The service decides when this process ends (it closes the pipe): a signal sent to the
    # whole process group must not drop the spans the service is about to flush through it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with os.fdopen(int(sys.argv[1]), "wb", buffering=0) as answers:
        _serve(answers)


if __name__ == "__main__":
    main()
