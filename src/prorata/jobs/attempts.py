"""How one attempt of a job ended: retried or not, and the error as it may be recorded.

Every task that records its attempts (tenant jobs, mail, webhook deliveries) asks here, so the
retry decision and the recorded error follow one rule: the task's own retry strategy decides
(unless the failure is final by nature, such as an address refused for good), and the error is
`Type: message` with every configured secret and personal datum scrubbed by the log redactor,
cut to what the `last_error` columns hold.
"""

from __future__ import annotations

import dataclasses

from procrastinate import JobContext

from prorata import jobs
from prorata.observability import logs

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
