"""Tasks that exist only for the test suite, loaded by workers via PRORATA_JOB_MODULES."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext

from prorata import db, jobs


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


# What an import does, in small: COPY rows into a staging table, then read the tenant's rows.
CSV_ROWS = "lp@investor.example,Confidential LP Name,1000000.00\n"


@jobs.app.task(name="tests.load_rows", pass_context=True)
async def load_rows(context: JobContext, org_id: str) -> int:
    async with db.tenant_transaction(jobs.sessions_of(context), uuid.UUID(org_id)) as session:
        connection = await db.driver_connection(session)
        await connection.execute("CREATE TEMP TABLE staging (email text, name text, amount text)")
        async with connection.cursor().copy("COPY staging FROM STDIN (FORMAT csv)") as copy:
            await copy.write(CSV_ROWS)
        return int(await session.scalar(sa.text("SELECT count(*) FROM funds")) or 0)


@jobs.app.task(name="tests.fail", retry=procrastinate.RetryStrategy(max_attempts=1))
async def fail(message: str) -> None:
    """Fails every time: run twice (one retry), then left failed."""
    raise RuntimeError(message)
