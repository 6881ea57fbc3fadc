"""The import job. Worker only: registered in `jobs.TASK_MODULES`, deferred by the web process
by name (`imports.service.RUN_IMPORT`), so the web process never loads the ingest code."""

from __future__ import annotations

import uuid

from procrastinate import JobContext

from prorata.imports import ingest
from prorata.imports.service import RUN_IMPORT
from prorata.jobs import queue as jobs


@jobs.app.task(name=RUN_IMPORT.name, queue=RUN_IMPORT.queue, pass_context=True)
async def run_import(context: JobContext, import_id: str, org_id: str) -> None:
    """Idempotent: a finished import is left alone, an interrupted one starts over."""
    await ingest.run(
        sessions=jobs.sessions_of(context),
        blobs=jobs.blobs_of(context),
        org_id=uuid.UUID(org_id),
        import_id=uuid.UUID(import_id),
    )
