"""Tasks that exist only for the test suite: workers register this module's blueprint through
PRORATA_JOB_MODULES, and the test process registers it too (conftest) to defer them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import procrastinate
from procrastinate import JobContext, RetryStrategy

from prorata.tenant_jobs import service as tenant_jobs

blueprint = procrastinate.Blueprint()


@blueprint.task(name="tests.touch")
async def touch(path: str) -> None:
    Path(path).write_text("done")


@blueprint.task(name="tests.wait_for_release", pass_context=True)
async def wait_for_release(context: JobContext, directory: str) -> None:
    """Announce each start, block until released, then record completion (idempotently)."""
    folder = Path(directory)
    with (folder / "starts").open("a") as starts:
        starts.write(f"{context.worker_name}\n")
    while not (folder / "release").exists():
        await asyncio.sleep(0.05)
    (folder / "done").write_text("ok")


@blueprint.task(name="tests.fail", retry=RetryStrategy(max_attempts=1))
async def fail(message: str) -> None:
    """Fails every time: run twice (one retry), then left failed."""
    raise RuntimeError(message)


@blueprint.task(name="tests.tracked", pass_context=True, retry=RetryStrategy(max_attempts=2))
async def tracked(context: JobContext, org_id: str, tenant_job_id: str, directory: str) -> None:
    """A tenant job that reports progress and fails until `<directory>/release` exists (its
    error message carries a secret the tracker must redact)."""
    async with tenant_jobs.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        await job.progress(1, 2)
        if not (Path(directory) / "release").exists():
            raise RuntimeError("render failed; connecting with prorata-dev-app-password")


@blueprint.task(name="tests.tracked_steps", pass_context=True, retry=RetryStrategy(max_attempts=1))
async def tracked_steps(
    context: JobContext, org_id: str, tenant_job_id: str, directory: str
) -> None:
    """A tenant job that starts over on each attempt, as a report does: 25 %, waits for
    `<directory>/step`, 75 %, waits for `<directory>/release`, done. One retry."""
    folder = Path(directory)
    async with tenant_jobs.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        await job.progress(1, 4)
        while not (folder / "step").exists():
            await asyncio.sleep(0.05)
        await job.progress(3, 4)
        while not (folder / "release").exists():
            await asyncio.sleep(0.05)
