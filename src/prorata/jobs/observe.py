"""Worker middleware around every job run: a CONSUMER span in the trace that deferred the job,
a duration measurement, and one log line (as each request has).

It is a *worker* middleware (procrastinate's term for the middleware around every job, sync or
async), so a sync task is covered too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue
from procrastinate import JobContext

from prorata import jobs
from prorata.observability import instruments, tracing

log = logging.getLogger(__name__)


async def observe_job(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
) -> Any:
    """Worker middleware: each run is a CONSUMER span, child of the trace that deferred the job,
    with a duration measurement and one log line (as each request has)."""
    job = context.job
    # Taken out before the task is called: the task's signature knows only its own arguments.
    headers = job.task_kwargs.pop(jobs.TRACE_KWARG, None)
    attempt = job.attempts + 1
    attributes: dict[str, AttributeValue] = {
        **jobs.messaging(job.queue),
        "messaging.operation.type": "process",
        "messaging.message.id": str(job.id),
        "prorata.job.task": job.task_name,
        "prorata.job.attempt": attempt,
    }
    started = time.perf_counter()
    failed = True
    try:
        with tracing.span(
            f"job {job.task_name}",
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            parent=tracing.context_from(_headers(headers)),
        ):
            try:
                result = await call_next()
                failed = False
                return result
            finally:
                _log_job(job, attempt, time.perf_counter() - started, failed)
    finally:
        instruments.record_job(
            task=job.task_name,
            queue=job.queue,
            attempt=attempt,
            seconds=time.perf_counter() - started,
            failed=failed,
        )


def _headers(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {str(key): str(item) for key, item in value.items()}


def _log_job(job: procrastinate.jobs.Job, attempt: int, seconds: float, failed: bool) -> None:
    log.log(
        logging.WARNING if failed else logging.INFO,
        "job",
        extra={
            "job_id": job.id,
            "task": job.task_name,
            "queue": job.queue,
            "attempt": attempt,
            "outcome": "failed" if failed else "succeeded",
            "duration_ms": round(seconds * 1000, 2),
        },
    )
