"""The job queue: the procrastinate app, `register`, transactional `defer`, `requeue`, and what a
task finds in its context.

One way to declare a job: a package's `tasks.py` holds a procrastinate `Blueprint` named
`blueprint` and declares its tasks on it; `prorata.wiring` registers every package's blueprint
on the one app, in the web process (which defers them) and in the worker (which runs them);
`PRORATA_JOB_MODULES` adds the blueprints of more modules to the worker (plugins, tests).

A job is enqueued on the caller's own database connection, inside its transaction, so a job
exists if and only if the data it refers to committed. Jobs take ids, never objects, and every
handler is idempotent: delivery is at least once (a stalled job is retried by housekeeping).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import importlib
from typing import Any, cast

import procrastinate
import procrastinate.sql
from opentelemetry.trace import SpanKind
from procrastinate import JobContext
from procrastinate.retry import RetryDecision
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.observability import tracing
from prorata.platform import db, replica, storage

# The connector holds no connection until the app is opened with a pool (in the worker) or a
# job is deferred on a caller's connection (in the web process): nothing connects at import.
app = procrastinate.App(connector=procrastinate.PsycopgConnector())

Task = procrastinate.tasks.Task[Any, Any, Any]

# The task keyword that carries the deferring trace context (W3C `traceparent`) to the worker,
# which removes it before the task is called. procrastinate 3 jobs have no metadata field.
TRACE_KWARG = "_trace"

_registered: list[procrastinate.Blueprint] = []


class UnknownJobModule(RuntimeError):
    """A module named in PRORATA_JOB_MODULES cannot be imported or declares no blueprint."""


def register(blueprint: procrastinate.Blueprint) -> None:
    """Bind a package's tasks to the app (once: registering it again changes nothing).

    Task names are kept exactly as declared (`documents.render_report`: they carry their
    package already), with no namespace prefix: the queue, the metrics and the logs name them
    so, and a job waiting in the queue keeps finding its task across releases.
    """
    if any(blueprint is known for known in _registered):
        return
    app.add_tasks_from(blueprint, namespace="")
    for task in blueprint.tasks.values():
        if not isinstance(task.retry_strategy, ReleasedOnShutdown):
            task.retry_strategy = ReleasedOnShutdown(own=task.retry_strategy)
    _registered.append(blueprint)


@dataclasses.dataclass(frozen=True)
class ReleasedOnShutdown(procrastinate.BaseRetryStrategy):
    """Every task's retry strategy, around its own: a job still running when a stopping worker's
    grace period (PRORATA_WORKER_SHUTDOWN_SECONDS) ends is cancelled, and goes back in the queue
    at once for another worker, whatever its own strategy allows (a release, not a failure: a
    rolling update or a node drain must not leave a job aborted for good). Nothing else cancels
    a running job: Prorata never asks procrastinate to abort one."""

    own: procrastinate.BaseRetryStrategy | None

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0})
        if self.own is None:
            return None
        return self.own.get_retry_decision(exception=exception, job=job)


def register_modules(names: tuple[str, ...]) -> None:
    """Import each module and register its `blueprint`."""
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise UnknownJobModule(f"cannot import task module {name!r}: {exc}") from exc
        blueprint = getattr(module, "blueprint", None)
        if not isinstance(blueprint, procrastinate.Blueprint):
            raise UnknownJobModule(f"task module {name!r} has no procrastinate `blueprint`")
        register(blueprint)


def messaging(queue: str) -> dict[str, str]:
    """Span attributes of the messaging semantic conventions for `queue`."""
    return {"messaging.system": "procrastinate", "messaging.destination.name": queue}


async def defer(
    session: AsyncSession, task: Task, *, schedule_at: dt.datetime | None = None, **kwargs: Any
) -> int:
    """Enqueue `task(**kwargs)` inside `session`'s transaction (to run at `schedule_at`, if
    given); return the job id.

    If the transaction rolls back, the job never existed. The current trace travels with the
    job, so the worker's run of it is part of the same trace.
    """
    return await _defer(session, task, schedule_at, None, kwargs)


async def defer_once(
    session: AsyncSession,
    task: Task,
    *,
    lock: str,
    schedule_at: dt.datetime | None = None,
    **kwargs: Any,
) -> int | None:
    """As `defer`, unless a job under the same `lock` (procrastinate's queueing lock) still
    waits to start: then nothing is enqueued (None), the waiting one will do."""
    try:
        # A savepoint: the refused insert must not end the caller's transaction.
        async with session.begin_nested():
            return await _defer(session, task, schedule_at, lock, kwargs)
    except procrastinate.exceptions.AlreadyEnqueued:
        return None


async def _defer(
    session: AsyncSession,
    task: Task,
    schedule_at: dt.datetime | None,
    lock: str | None,
    kwargs: dict[str, Any],
) -> int:
    with tracing.span(
        f"defer {task.name}",
        kind=SpanKind.PRODUCER,
        attributes={**messaging(task.queue), "prorata.job.task": task.name},
    ) as current:
        headers = tracing.carrier()
        if headers:
            kwargs[TRACE_KWARG] = headers
        connection = await db.driver_connection(session)
        configured = task.configure(
            connection=connection, schedule_at=schedule_at, queueing_lock=lock
        )
        job_id: int = await configured.defer_async(**kwargs)
        current.set_attribute("messaging.message.id", str(job_id))
    return job_id


async def requeue(session: AsyncSession, queue_job_id: int) -> bool:
    """Put a failed job back in the queue (same job id, one more attempt), inside `session`'s
    transaction: procrastinate's own query, on the caller's connection. False, and nothing
    changed, when the queue does not hold it as failed.

    procrastinate's query also takes a job still `doing`: a task records its final failure just
    before its worker marks the job failed, and a retry in between would be overwritten by that
    mark — the job left failed in the queue, its record waiting forever."""
    connection = await db.driver_connection(session)
    found = await (
        await connection.execute(
            "SELECT status FROM procrastinate_jobs WHERE id = %s FOR UPDATE", (queue_job_id,)
        )
    ).fetchone()
    if found is None or found[0] != "failed":
        return False
    await connection.execute(
        procrastinate.sql.queries["retry_job"],
        {
            "job_id": queue_job_id,
            "retry_at": dt.datetime.now(dt.UTC),
            "new_priority": None,
            "new_queue_name": None,
            "new_lock": None,
        },
    )
    return True


def sessions_of(context: JobContext) -> async_sessionmaker[AsyncSession]:
    """The worker's app-role session factory, handed to every task through its context."""
    return cast(async_sessionmaker[AsyncSession], context.additional_context["sessions"])


async def reads_of(context: JobContext) -> async_sessionmaker[AsyncSession]:
    """Where a heavy job (a report, a statement run) reads: the read replica when one is set
    and it has replayed everything the primary had written when this was called (so all that
    the job was asked after, and its own earlier writes), waiting at most the lag bound for it;
    else the primary. What the job writes goes to `sessions_of` as always."""
    found = context.additional_context.get("replica")
    if isinstance(found, replica.Replica) and await found.caught_up():
        return found.sessions
    return sessions_of(context)


def settings_of(context: JobContext) -> Settings:
    return cast(Settings, context.additional_context["settings"])


def blobs_of(context: JobContext) -> storage.BlobStore:
    """The worker's object store (one per process, shared by its tasks)."""
    return cast(storage.BlobStore, context.additional_context["blobs"])
