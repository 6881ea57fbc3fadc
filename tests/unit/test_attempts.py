"""The one rule for how a job attempt ended: retried or not, and the error as recorded."""

from __future__ import annotations

import procrastinate
from procrastinate import JobContext, RetryStrategy

from prorata import jobs
from prorata.config import Settings
from prorata.jobs import attempts

blueprint = procrastinate.Blueprint()


@blueprint.task(name="tests.attempts.flaky", retry=RetryStrategy(max_attempts=2))
async def flaky() -> None:
    raise RuntimeError("never called")


jobs.register(blueprint)


def _context(attempts_so_far: int) -> JobContext:
    job = procrastinate.jobs.Job(
        id=1,
        queue="default",
        lock=None,
        queueing_lock=None,
        task_name=flaky.name,
        attempts=attempts_so_far,
    )
    settings = Settings(env="test", smtp_password="s3cret-smtp-pass")
    return JobContext(
        app=jobs.app,
        job=job,
        start_timestamp=0.0,
        additional_context={"settings": settings},
        abort_reason=lambda: None,
    )


def test_the_tasks_own_strategy_decides_until_its_retries_are_spent() -> None:
    error = RuntimeError("boom")
    assert attempts.failure(_context(0), error).retried
    assert attempts.failure(_context(1), error).retried
    assert not attempts.failure(_context(2), error).retried


def test_a_final_failure_is_never_retried() -> None:
    assert not attempts.failure(_context(0), RuntimeError("refused"), final=True).retried


def test_the_error_is_named_scrubbed_and_bounded() -> None:
    message = "login with s3cret-smtp-pass for lp@investor.example " + "x" * 5000
    recorded = attempts.failure(_context(0), ValueError(message), final=True).error
    assert recorded.startswith("ValueError: login with [REDACTED]")
    assert "s3cret-smtp-pass" not in recorded
    assert "lp@investor.example" not in recorded
    assert len(recorded) == attempts.ERROR_LIMIT
