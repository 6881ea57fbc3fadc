"""`prorata web` plus one route that defers a job (`tests.load_rows`), run as
`python -m tests.job_web`: the job-deferring request of the end-to-end trace test, until the
imports route (which defers `imports.run`) is on this branch.

The route is added to the API router the real command builds, so the request goes through the
same process, middleware and instrumentation as every other.
"""

from __future__ import annotations

import sys
import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Request

from prorata import app as app_module
from prorata import cli, db, jobs
from tests import job_tasks

_api_router = app_module.api_router


async def defer_load_rows(request: Request, org_id: uuid.UUID) -> dict[str, int]:
    async with db.tenant_transaction(request.app.state.sessions, org_id) as session:
        await session.execute(sa.text("SELECT count(*) FROM funds"))
        job_id = await jobs.defer(session, job_tasks.load_rows, org_id=str(org_id))
    return {"job_id": job_id}


def _with_test_route() -> APIRouter:
    router = _api_router()
    router.add_api_route("/test/load-rows", defer_load_rows, methods=["POST"])
    return router


if __name__ == "__main__":
    app_module.api_router = _with_test_route
    sys.exit(cli.main(["web"]))
