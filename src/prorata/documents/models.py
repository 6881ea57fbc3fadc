"""Documents: rendered PDFs (call and distribution notices, capital account statements,
fund reports).

The file is a blob in the object store (`blobs` keeps its key, size and SHA-256); this row says
what it is, for whom, and whether it is ready. Rendering is deterministic, so the SHA-256
identifies a document's content.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class DocumentKind(enum.StrEnum):
    call_notice = "call_notice"
    distribution_notice = "distribution_notice"
    closing_notice = "closing_notice"  # a subsequent close's letter to one investor
    capital_account_statement = "capital_account_statement"
    allocations_report = "allocations_report"


class DocumentStatus(enum.StrEnum):
    pending = "pending"  # its job has not finished
    ready = "ready"
    failed = "failed"  # its job failed for good (an admin may retry the job)


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        # One notice per investor per call, however often the job runs (at-least-once).
        sa.UniqueConstraint("call_id", "investor_id"),
        sa.UniqueConstraint("distribution_id", "investor_id"),
        sa.UniqueConstraint("closing_id", "investor_id"),
        sa.Index("ix_documents_fund_id_id", "fund_id", "id"),
        sa.Index("ix_documents_investor_id_id", "investor_id", "id"),
        sa.Index(
            "ix_documents_run_id",
            "run_id",
            "status",
            postgresql_where=sa.text("run_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    fund_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, "document_kind", length=30))
    status: Mapped[DocumentStatus] = mapped_column(str_enum(DocumentStatus, "document_status"))
    call_id: Mapped[uuid.UUID | None] = mapped_column()
    distribution_id: Mapped[uuid.UUID | None] = mapped_column()
    closing_id: Mapped[uuid.UUID | None] = mapped_column()
    investor_id: Mapped[uuid.UUID | None] = mapped_column()
    period_start: Mapped[dt.date | None] = mapped_column(sa.Date)
    as_of: Mapped[dt.date | None] = mapped_column(sa.Date)
    filename: Mapped[str] = mapped_column(sa.String(200))
    blob_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("blobs.id"))
    pages: Mapped[int | None] = mapped_column(sa.Integer)
    requested_by: Mapped[uuid.UUID | None] = mapped_column()
    # The statement run (its tenant job) this statement is one of; None for a single document.
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    ready_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
