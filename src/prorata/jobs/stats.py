"""Queue figures: jobs waiting and running by task, the oldest due job's age, worker heartbeats.

Each worker polls them (`PRORATA_QUEUE_METRICS_SECONDS`) into observable gauges, so scrapes
never wait on PostgreSQL; the readiness probe asks for the freshest heartbeat.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.observability import instruments

# Waiting jobs and running jobs by task (the partial index on todo/doing serves it; finished
# jobs are not counted: they only grow until purged).
_DEPTH_SQL = """
SELECT task_name, status::text, count(*) FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') GROUP BY task_name, status
"""
# A due job has waited since it last became `todo` (deferred, or put back for a retry) or since
# its scheduled time, whichever is later. Jobs scheduled for later are not waiting yet.
_OLDEST_SQL = """
SELECT j.queue_name, extract(epoch FROM now() - min(greatest(j.scheduled_at, e.at)))::float8
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT max(at) AS at FROM procrastinate_events
    WHERE job_id = j.id AND type IN ('deferred', 'deferred_for_retry', 'retried')
) e ON true
WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
GROUP BY j.queue_name
"""


async def queue_stats(
    connection: psycopg.AsyncConnection[Any],
) -> tuple[dict[tuple[str, str], int], dict[str, float]]:
    """(jobs by (task, status), oldest due job's age in seconds by queue), with zeros for every
    task and queue this worker knows, so an idle queue reads 0 rather than nothing."""
    known = {
        task.name: task.queue for task in jobs.app.tasks.values()
    }  # jobs.app.tasks holds aliases
    depth = {(name, status): 0 for name in known for status in ("todo", "doing")}
    oldest = dict.fromkeys(known.values(), 0.0)
    for task_name, status, count in await (await connection.execute(_DEPTH_SQL)).fetchall():
        depth[(task_name, status)] = count
    for queue, age in await (await connection.execute(_OLDEST_SQL)).fetchall():
        oldest[queue] = max(float(age or 0.0), 0.0)
    return depth, oldest


async def refresh(pool: psycopg_pool.AsyncConnectionPool) -> None:
    async with pool.connection() as connection:
        depth, oldest = await queue_stats(connection)
    instruments.set_queue_stats(depth=depth, oldest_age=oldest)


async def last_worker_heartbeat_age(session: AsyncSession) -> float | None:
    """Seconds since the freshest worker heartbeat, or None when no worker ever registered."""
    age = await session.scalar(
        sa.text("SELECT extract(epoch FROM now() - max(last_heartbeat)) FROM procrastinate_workers")
    )
    return None if age is None else float(age)
