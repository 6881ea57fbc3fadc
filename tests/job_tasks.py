"""Tasks that exist only for the test suite, loaded by workers via PRORATA_JOB_MODULES."""

from __future__ import annotations

import asyncio
from pathlib import Path

import procrastinate
from procrastinate import JobContext

from prorata import jobs


@jobs.app.task(name="tests.touch")
async def touch(path: str) -> None:
    Path(path).write_text("done")


@jobs.app.task(name="tests.wait_for_release", pass_context=True)
async def wait_for_release(context: JobContext, directory: str) -> None:
    """Announce each start, block until released, then record completion (idempotently)."""
    folder = Path(directory)
    with (folder / "starts").open("a") as starts:
        starts.write(f"{context.worker_name}\n")
    while not (folder / "release").exists():
        await asyncio.sleep(0.05)
    (folder / "done").write_text("ok")


@jobs.app.task(name="tests.fail", retry=procrastinate.RetryStrategy(max_attempts=1))
async def fail(message: str) -> None:
    """Fails every time: run twice (one retry), then left failed."""
    raise RuntimeError(message)
