"""The worker runs the very task declaration the web process defers."""

from __future__ import annotations

from prorata import jobs, wiring


def test_the_worker_runs_the_very_task_the_web_defers() -> None:
    from prorata.imports import tasks

    wiring.connect()
    assert jobs.app.tasks["imports.run"] is tasks.run_import
    assert tasks.run_import.queue == "imports"
