"""API shape of a job."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from prorata.http.schemas import ResponseModel
from prorata.tenant_jobs.models import JobStatus


class JobOut(ResponseModel):
    id: uuid.UUID
    kind: str = Field(description="What the job does, e.g. `report.allocations`, `call.notices`.")
    fund_id: uuid.UUID | None
    status: JobStatus
    progress: int = Field(ge=0, le=100, description="Percent done; 100 once succeeded.")
    attempts: int = Field(description="Attempts started so far, retries included.")
    last_error: str | None = Field(description="The error of the last failed attempt.")
    document_id: uuid.UUID | None = Field(description="The document the job produces, if any.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
