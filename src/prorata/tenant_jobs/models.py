"""The tenant's record of the jobs it started: procrastinate's queue tables are not tenant
tables (no RLS), so the API never reads them; it reads this table, behind RLS like every other."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class JobStatus(enum.StrEnum):
    queued = "queued"  # waiting for a worker (first run, or an automatic retry after a failure)
    running = "running"
    succeeded = "succeeded"
    failed = "failed"  # retries exhausted: stays visible, an admin may retry it


class TenantJob(Base):
    __tablename__ = "tenant_jobs"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.Index("ix_tenant_jobs_queue_job_id", "queue_job_id"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    fund_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(50))
    # procrastinate's job id: succeeded queue rows are purged after a week, this row stays.
    queue_job_id: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[JobStatus] = mapped_column(str_enum(JobStatus, "job_status"))
    progress: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    document_id: Mapped[uuid.UUID | None] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
