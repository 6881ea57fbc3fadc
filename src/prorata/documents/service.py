"""Rules of documents: notices start when a call is issued, reports on request; reading them.

Rendering happens in the worker (`documents.tasks`); this module only records and enqueues.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import CapitalCall
from prorata.closings import service as closing_service
from prorata.distributions import service as distribution_service
from prorata.distributions.models import Distribution
from prorata.documents import tasks as document_tasks
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.documents.schemas import DocumentOut, ReportCreate, ReportKind
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.notices.models import NoticeRelease
from prorata.platform import audit, db, errors, storage
from prorata.platform.ids import new_id
from prorata.tenant_jobs import service as job_service
from prorata.tenant_jobs.models import TenantJob

PDF = "application/pdf"
KIND_OF_REPORT = {
    ReportKind.allocations: DocumentKind.allocations_report,
    ReportKind.capital_account_statement: DocumentKind.capital_account_statement,
}


async def on_call_issued(session: AsyncSession, issued: call_service.Issued) -> None:
    """One notice per investor, rendered by a job enqueued in the issuing transaction.
    Connected to `capital_calls.service.call_issued`."""
    await job_service.start(
        session,
        document_tasks.render_call_notices,
        org_id=issued.call.org_id,
        kind="call.notices",
        fund_id=issued.call.fund_id,
        created_by=issued.actor.user_id,
        call_id=str(issued.call.id),
    )


async def on_distribution_made(session: AsyncSession, made: distribution_service.Made) -> None:
    """One notice per investor with a share, rendered by a job enqueued in the creating
    transaction (and mailed as released: `documents.mailing`). Connected to
    `distributions.service.distribution_made`."""
    await job_service.start(
        session,
        document_tasks.render_distribution_notices,
        org_id=made.distribution.org_id,
        kind="distribution.notices",
        fund_id=made.distribution.fund_id,
        created_by=made.actor.user_id,
        distribution_id=str(made.distribution.id),
    )


async def on_closing_issued(session: AsyncSession, issued: closing_service.Issued) -> None:
    """One letter per investor of the closing, rendered by a job enqueued in the issuing
    transaction. Connected to `closings.service.closing_issued`."""
    await job_service.start(
        session,
        document_tasks.render_closing_notices,
        org_id=issued.closing.org_id,
        kind="closing.notices",
        fund_id=issued.closing.fund_id,
        created_by=issued.actor.user_id,
        closing_id=str(issued.closing.id),
    )


async def on_job_failed(session: AsyncSession, job: TenantJob) -> None:
    """The documents a job was producing (its report, its run's statements) fail with it,
    whatever ended it (an error, a worker lost each time). Connected to `job_failed`."""
    await _move_documents(session, job, DocumentStatus.pending, DocumentStatus.failed)


async def on_job_retried(session: AsyncSession, job: TenantJob) -> None:
    """A retried job's failed documents are to come again (a run renders what is pending).
    Connected to `job_retried`."""
    await _move_documents(session, job, DocumentStatus.failed, DocumentStatus.pending)


async def _move_documents(
    session: AsyncSession, job: TenantJob, old: DocumentStatus, new: DocumentStatus
) -> None:
    produced = Document.run_id == job.id
    if job.document_id is not None:
        produced = produced | (Document.id == job.document_id)
    await session.execute(
        sa.update(Document).where(produced, Document.status == old).values(status=new)
    )


async def request_report(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: ReportCreate
) -> TenantJob:
    fund = await fund_service.get(session, fund_id=fund_id)
    period_start = None
    filename = f"allocations-{data.as_of.isoformat()}.pdf"
    if data.kind is ReportKind.capital_account_statement:
        period_start = data.period_start or dt.date(data.as_of.year, 1, 1)
        if period_start > data.as_of:
            raise errors.RuleViolation("period_start must not be after as_of")
        if data.investor_id is None:
            return await _request_statement_run(
                session, actor=actor, fund_id=fund.id, period_start=period_start, end=data.as_of
            )
        if not await fund_repository.commitment_exists(
            session, fund_id=fund.id, investor_id=data.investor_id
        ):
            raise errors.RuleViolation("investor_id: no commitment to this fund")
        filename = f"capital-account-{period_start.isoformat()}-{data.as_of.isoformat()}.pdf"
    document = Document(
        org_id=actor.org_id,
        fund_id=fund.id,
        kind=KIND_OF_REPORT[data.kind],
        status=DocumentStatus.pending,
        investor_id=data.investor_id if period_start else None,
        period_start=period_start,
        as_of=data.as_of,
        filename=filename,
        requested_by=actor.user_id,
    )
    session.add(document)
    await session.flush()
    job = await job_service.start(
        session,
        document_tasks.render_report,
        org_id=actor.org_id,
        kind=f"report.{data.kind}",
        fund_id=fund.id,
        created_by=actor.user_id,
        document_id=document.id,
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="report.request",
        entity="document",
        entity_id=document.id,
        after={"kind": str(data.kind), "as_of": data.as_of.isoformat(), "job_id": str(job.id)},
    )
    return job


async def _request_statement_run(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    period_start: dt.date,
    end: dt.date,
) -> TenantJob:
    """A statement for every investor with a commitment to the fund, rendered by one job from
    one book of the fund (a statement each would build the whole book again each time). The
    statements are recorded here, pending, so the job and its retries know what is left."""
    # Investors committed by the period's end: a later one has no account for it.
    investors = sorted(await fund_repository.commitments(session, fund_id=fund_id, as_of=end))
    if not investors:
        raise errors.RuleViolation(f"the fund has no investors committed by {end}")
    job = await job_service.start(
        session,
        document_tasks.render_statements,
        org_id=actor.org_id,
        kind=f"report.{ReportKind.capital_account_statement}",
        fund_id=fund_id,
        created_by=actor.user_id,
    )
    period = f"{period_start.isoformat()}-{end.isoformat()}"
    await db.insert_many(
        session,
        Document,
        [
            {
                "id": new_id(),
                "investor_id": investor,
                "filename": f"capital-account-{period}-{investor}.pdf",
            }
            for investor in investors
        ],
        shared={
            "org_id": actor.org_id,
            "fund_id": fund_id,
            "kind": str(DocumentKind.capital_account_statement),
            "status": str(DocumentStatus.pending),
            "period_start": period_start,
            "as_of": end,
            "requested_by": actor.user_id,
            "run_id": job.id,
        },
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="report.request",
        entity="job",
        entity_id=job.id,
        after={
            "kind": str(ReportKind.capital_account_statement),
            "period_start": period_start.isoformat(),
            "as_of": end.isoformat(),
            "documents": len(investors),
        },
    )
    return job


def released() -> sa.ColumnElement[bool]:
    """Documents that are not notices held for approval (an LP sees a notice once its call's
    or distribution's notices are released, as its mail goes out; the GP previews it before)."""
    held = (NoticeRelease.awaiting_approval, NoticeRelease.scheduled)
    held_calls = sa.select(CapitalCall.id).where(CapitalCall.notices.in_(held))
    held_distributions = sa.select(Distribution.id).where(Distribution.notices.in_(held))
    return sa.and_(
        sa.or_(Document.call_id.is_(None), Document.call_id.not_in(held_calls)),
        sa.or_(
            Document.distribution_id.is_(None),
            Document.distribution_id.not_in(held_distributions),
        ),
    )


async def get(
    session: AsyncSession, *, document_id: uuid.UUID, released_only: bool = False
) -> tuple[Document, storage.Blob | None]:
    statement = (
        sa.select(Document, storage.Blob)
        .outerjoin(storage.Blob, storage.Blob.id == Document.blob_id)
        .where(Document.id == document_id)
    )
    if released_only:
        statement = statement.where(released())
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        raise errors.NotFound("no such document")
    return row[0], row[1]


def view(document: Document, blob: storage.Blob | None) -> DocumentOut:
    return DocumentOut(
        id=document.id,
        kind=document.kind,
        status=document.status,
        fund_id=document.fund_id,
        call_id=document.call_id,
        distribution_id=document.distribution_id,
        investor_id=document.investor_id,
        period_start=document.period_start,
        as_of=document.as_of,
        filename=document.filename,
        content_type=blob.content_type if blob else None,
        size=blob.size if blob else None,
        sha256=blob.sha256 if blob else None,
        pages=document.pages,
        created_at=document.created_at,
        ready_at=document.ready_at,
    )


async def page(
    session: AsyncSession,
    *,
    params: PageParams,
    fund_id: uuid.UUID | None,
    call_id: uuid.UUID | None,
    investor_id: uuid.UUID | None,
    kind: DocumentKind | None = None,
    distribution_id: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    released_only: bool = False,
) -> Page[DocumentOut]:
    statement = sa.select(Document)
    if released_only:
        statement = statement.where(released())
    filters: tuple[tuple[Any, object], ...] = (
        (Document.fund_id, fund_id),
        (Document.call_id, call_id),
        (Document.distribution_id, distribution_id),
        (Document.investor_id, investor_id),
        (Document.kind, kind),
        (Document.as_of, as_of),
    )
    for column, value in filters:
        if value is not None:
            statement = statement.where(column == value)
    documents = await keyset(session, statement, key=[Document.id], params=params, item=lambda d: d)
    blobs = {
        blob.id: blob
        for blob in await session.scalars(
            sa.select(storage.Blob).where(
                storage.Blob.id.in_([d.blob_id for d in documents.items if d.blob_id])
            )
        )
    }
    return Page[DocumentOut](
        items=[view(d, blobs.get(d.blob_id) if d.blob_id else None) for d in documents.items],
        next_cursor=documents.next_cursor,
    )


def ready(document: Document, blob: storage.Blob | None) -> storage.Blob:
    """The document's file, once rendered (409 before)."""
    if document.status is not DocumentStatus.ready or blob is None:
        raise errors.Conflict(f"the document is {document.status}, not ready yet")
    return blob


async def ready_blob(
    session: AsyncSession, *, document_id: uuid.UUID
) -> tuple[Document, storage.Blob]:
    document, blob = await get(session, document_id=document_id)
    return document, ready(document, blob)
