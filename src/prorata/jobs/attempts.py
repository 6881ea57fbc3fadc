"""How one attempt of a job ended: retried or not, and the error as it may be recorded; and the
retry strategy every task uses, which waits out outages.

Every task that records its attempts (tenant jobs, mail, webhook deliveries) asks here, so the
retry decision and the recorded error follow one rule: the task's own retry strategy decides
(unless the failure is final by nature, such as an address refused for good), and the error is
`Type: message` with every configured secret and personal datum scrubbed by the log redactor,
cut to what the `last_error` columns hold.
"""

from __future__ import annotations

import dataclasses

import procrastinate
from procrastinate import JobContext
from procrastinate.retry import RetryDecision

from prorata import jobs
from prorata.observability import logs
from prorata.platform import db, errors

ERROR_LIMIT = 1000  # the length of every `last_error` column


@dataclasses.dataclass(frozen=True)
class Failure:
    retried: bool  # the queue will run the job again
    error: str  # what to record: redacted and bounded


def failure(context: JobContext, exc: BaseException, *, final: bool = False) -> Failure:
    """The attempt running in `context` ended with `exc`; `final` when no retry could help."""
    retried = not final and context.task.get_retry_exception(exc, context.job) is not None
    return Failure(retried=retried, error=describe(context, exc))


def describe(context: JobContext, exc: BaseException) -> str:
    redactor = logs.Redactor(jobs.settings_of(context).secret_values())
    return redactor.scrub(f"{type(exc).__name__}: {exc}")[:ERROR_LIMIT]


# An outage is retried this many times, 1 s, 2 s, 4 s … then every OUTAGE_MAX_WAIT seconds:
# about a day, whatever the task's own strategy allows for its own failures.
OUTAGE_ATTEMPTS = 1440
OUTAGE_MAX_WAIT_SECONDS = 60


def outage(exc: BaseException) -> bool:
    """`exc` says a dependency cannot answer now — the database, the object store (a 503 of
    ours), a mail or HTTP server that refused or dropped the connection — rather than that the
    job cannot succeed. Waiting is the cure."""
    return db.unavailable(exc) or isinstance(
        exc, errors.ServiceUnavailable | ConnectionError | TimeoutError
    )


@dataclasses.dataclass(frozen=True)
class Retry(procrastinate.BaseRetryStrategy):
    """A task's retry strategy: its `own` for its own failures; an outage is waited out with
    capped backoff for about a day (jobs are idempotent: retrying applies nothing twice)."""

    own: procrastinate.BaseRetryStrategy | None = None  # None: its own failures are final

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if outage(exception) and job.attempts < OUTAGE_ATTEMPTS:
            wait = min(2 ** min(job.attempts, 16), OUTAGE_MAX_WAIT_SECONDS)
            return RetryDecision(retry_in={"seconds": wait})
        if self.own is None:
            return None
        return self.own.get_retry_decision(exception=exception, job=job)
