"""Idempotency records are purged by a periodic job."""

from __future__ import annotations

import sqlalchemy as sa


async def test_the_purge_is_a_periodic_job() -> None:
    from prorata.jobs import queue as jobs

    assert jobs.purge_idempotency_keys.name == "housekeeping.purge_idempotency_keys"
    assert any(
        p.task.name == "housekeeping.purge_idempotency_keys"
        for p in jobs.app.periodic_registry.periodic_tasks.values()
    )
    assert sa is not None
