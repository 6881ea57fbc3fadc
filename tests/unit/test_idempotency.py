"""Idempotency records are purged by a periodic job."""

from __future__ import annotations


async def test_the_purge_is_a_periodic_job() -> None:
    from prorata import jobs, wiring
    from prorata.jobs import housekeeping

    wiring.connect()
    assert housekeeping.purge_idempotency_keys.name == "housekeeping.purge_idempotency_keys"
    assert any(
        p.task.name == "housekeeping.purge_idempotency_keys"
        for p in jobs.app.periodic_registry.periodic_tasks.values()
    )
