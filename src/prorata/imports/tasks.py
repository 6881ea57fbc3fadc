"""The import job. The ingest code (`imports.ingest`, `imports.checks`) is imported when the task
runs, in the worker only: the web process, which declares and defers the task, never loads it.
"""

from __future__ import annotations

import uuid

import procrastinate
from procrastinate import JobContext

from prorata import jobs
from prorata.jobs import attempts

blueprint = procrastinate.Blueprint()


# No retry of its own (a rejected file stays rejected); an outage is waited out.
@blueprint.task(name="imports.run", queue="imports", pass_context=True, retry=attempts.Retry())
async def run_import(context: JobContext, import_id: str, org_id: str) -> None:
    """Idempotent: a finished import is left alone, an interrupted one starts over."""
    from prorata.imports import ingest  # worker only (see the module's docstring)

    await ingest.run(
        sessions=jobs.sessions_of(context),
        blobs=jobs.blobs_of(context),
        org_id=uuid.UUID(org_id),
        import_id=uuid.UUID(import_id),
    )
