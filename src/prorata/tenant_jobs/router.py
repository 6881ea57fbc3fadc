"""Routes of jobs: list them and read one (any role that reads the fund register), retry a
failed one (admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.tenant_jobs import service as job_service
from prorata.tenant_jobs.models import JobStatus
from prorata.tenant_jobs.schemas import JobOut

router = APIRouter(route_class=ApiRoute, tags=["jobs"])


@router.get("/jobs", summary="Jobs of the organisation, newest first")
async def list_jobs(
    session: TenantSession,
    page: PageQuery,
    fund_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[JobStatus | None, Query()] = None,
) -> Page[JobOut]:
    found = await job_service.page(session, params=page, fund_id=fund_id, status=status)
    return render(found, JobOut)


@router.get("/jobs/{job_id}", summary="A job: status, progress, attempts, last error")
async def get_job(job_id: uuid.UUID, session: TenantSession) -> JobOut:
    return JobOut.model_validate(await job_service.get(session, job_id=job_id))


@router.post(
    "/jobs/{job_id}/retry",
    summary="Retry a failed job (one more attempt; its record is kept)",
)
async def retry_job(
    job_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> JobOut:
    return JobOut.model_validate(await job_service.retry(session, actor=principal, job_id=job_id))
