"""The worker knows the import task the web process defers by name."""

from __future__ import annotations

from prorata.imports import service as import_service
from prorata.jobs import queue as jobs


def test_the_worker_knows_the_task_the_web_defers_by_name() -> None:
    from prorata.imports import tasks

    assert "prorata.imports.tasks" in jobs.TASK_MODULES
    assert tasks.run_import.name == import_service.RUN_IMPORT.name
    assert tasks.run_import.queue == import_service.RUN_IMPORT.queue
