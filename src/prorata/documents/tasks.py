"""Rendering jobs. The PDF code (`documents.render`, `prorata.pdf`, reportlab) is imported inside
the tasks, so the web process, which only enqueues them, never loads it.

Both tasks are idempotent (at-least-once delivery): notices already rendered for a call are
skipped (one per investor per call, by constraint), and a report already ready is left alone.
CPU-bound rendering runs in a thread, so the worker's event loop keeps sending heartbeats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext, RetryStrategy
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.capital_calls.models import CallStatus, CapitalCall
from prorata.closings.models import Closing
from prorata.distributions.models import Distribution
from prorata.documents import closing_content, content, distribution_content, letters, mailing
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.funds.models import Fund
from prorata.investors.models import Investor
from prorata.jobs import attempts
from prorata.notices import release
from prorata.notifications import service as notification_service
from prorata.observability import instruments
from prorata.orgs.models import Org, User
from prorata.platform import db, events, storage
from prorata.platform.ids import new_id
from prorata.tenant_jobs import service as job_service

if TYPE_CHECKING:  # the PDF code is imported inside the tasks, in the worker only
    from prorata.documents.render import Rendered


class _Notice(Protocol):
    @property
    def investor_id(self) -> uuid.UUID: ...


N = TypeVar("N", bound=_Notice, contravariant=True)

PDF = "application/pdf"
NOTICE_BATCH = 50


async def _in_batches(
    job: job_service.Running,
    notices: Sequence[_Notice],
    done: Collection[uuid.UUID | None],
    store: Callable[[Any], Awaitable[None]],
) -> None:
    """Store the notices not stored yet (a retried job resumes), NOTICE_BATCH at a time, each
    batch in its own transaction, the job's progress after each."""
    todo = [n for n in notices if n.investor_id not in done]
    for start in range(0, len(todo), NOTICE_BATCH):
        batch = todo[start : start + NOTICE_BATCH]
        await store(batch)
        await job.progress(len(done) + start + len(batch), len(notices))


# Two retries of its own (5 s, 25 s); an outage of the database or the store is waited out.
RETRY = attempts.Retry(own=RetryStrategy(max_attempts=2, exponential_wait=5))

blueprint = procrastinate.Blueprint()


@blueprint.task(
    name="documents.render_call_notices", queue="documents", pass_context=True, retry=RETRY
)
async def render_call_notices(
    context: JobContext, org_id: str, tenant_job_id: str, call_id: str
) -> None:
    async with job_service.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        sessions = jobs.sessions_of(context)
        tenant = uuid.UUID(org_id)
        async with db.tenant_transaction(sessions, tenant) as session:
            call = await session.get_one(CapitalCall, uuid.UUID(call_id))
            notices = await content.call_notices(session, call=call)
            letter = await letters.letterhead(session, jobs.blobs_of(context), org_id=tenant)
            done = set(
                await session.scalars(
                    sa.select(Document.investor_id).where(Document.call_id == call.id)
                )
            )
        await _in_batches(
            job,
            notices,
            done,
            lambda batch: _store_notices(context, tenant, call, batch, letter),
        )
        async with db.tenant_transaction(sessions, tenant) as session:
            await events.announce(
                session,
                org_id=tenant,
                fund_id=call.fund_id,
                kind=events.Announcement.notices_ready,
                data={"call_id": call_id, "documents": len(notices), "job_id": tenant_job_id},
            )
            await mailing.announce_if_sent(session, release.CALL, call.id)


async def _store_notices(
    context: JobContext,
    org_id: uuid.UUID,
    call: CapitalCall,
    notices: list[content.Notice],
    letter: letters.Letterhead,
) -> None:
    from prorata.documents import render

    files = await asyncio.to_thread(lambda: [render.notice_pdf(n, letter) for n in notices])
    blobs = jobs.blobs_of(context)
    async with db.tenant_transaction(jobs.sessions_of(context), org_id) as session:
        # Shared lock: a cancel (which locks the call for update) waits for these notices,
        # or these wait for it and are not stored nor mailed.
        status, notices_state = (
            await session.execute(
                sa.select(CapitalCall.status, CapitalCall.notices)
                .where(CapitalCall.id == call.id)
                .with_for_update(read=True)
            )
        ).one()
        if status is CallStatus.cancelled:
            return
        source = _Source(
            DocumentKind.call_notice, "call_id", call.id, call.fund_id, call.notice_date
        )
        named = [
            (n, f, f"call-notice-{n.reference}-{n.investor_id}.pdf")
            for n, f in zip(notices, files, strict=True)
        ]
        mail = mailing.queue_notice if mailing.released(notices_state) else None
        await _save(session, blobs, org_id, source, named, mail)


@blueprint.task(
    name="documents.render_distribution_notices",
    queue="documents",
    pass_context=True,
    retry=RETRY,
)
async def render_distribution_notices(
    context: JobContext, org_id: str, tenant_job_id: str, distribution_id: str
) -> None:
    """One notice per investor with a share of the distribution, mailed as it is stored to
    the investor's contacts who receive distributions once its notices are released (or
    need no approval; else `mailing.on_notices_released` mails them)."""
    async with job_service.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        sessions = jobs.sessions_of(context)
        tenant = uuid.UUID(org_id)
        async with db.tenant_transaction(sessions, tenant) as session:
            distribution = await session.get_one(Distribution, uuid.UUID(distribution_id))
            notices = await distribution_content.distribution_notices(
                session, distribution=distribution
            )
            letter = await letters.letterhead(session, jobs.blobs_of(context), org_id=tenant)
            done = set(
                await session.scalars(
                    sa.select(Document.investor_id).where(
                        Document.distribution_id == distribution.id
                    )
                )
            )
        await _in_batches(
            job,
            notices,
            done,
            lambda batch: _store_distribution_notices(context, tenant, distribution, batch, letter),
        )
        async with db.tenant_transaction(sessions, tenant) as session:
            await events.announce(
                session,
                org_id=tenant,
                fund_id=distribution.fund_id,
                kind=events.Announcement.notices_ready,
                data={
                    "distribution_id": distribution_id,
                    "documents": len(notices),
                    "job_id": tenant_job_id,
                },
            )
            await mailing.announce_if_sent(session, release.DISTRIBUTION, distribution.id)


async def _store_distribution_notices(
    context: JobContext,
    org_id: uuid.UUID,
    distribution: Distribution,
    notices: list[distribution_content.DistributionNotice],
    letter: letters.Letterhead,
) -> None:
    from prorata.documents import render

    files = await asyncio.to_thread(
        lambda: [render.distribution_notice_pdf(n, letter) for n in notices]
    )
    blobs = jobs.blobs_of(context)
    async with db.tenant_transaction(jobs.sessions_of(context), org_id) as session:
        # Shared lock: a cancel or a release (which update the row) waits for these notices,
        # or these wait for it: neither stored nor mailed if cancelled, mailed if released.
        cancelled, notices_state = (
            await session.execute(
                sa.select(Distribution.cancelled_at, Distribution.notices)
                .where(Distribution.id == distribution.id)
                .with_for_update(read=True)
            )
        ).one()
        if cancelled is not None:
            return
        source = _Source(
            DocumentKind.distribution_notice,
            "distribution_id",
            distribution.id,
            distribution.fund_id,
            distribution.distributed_on,
        )
        named = [
            (n, f, f"distribution-notice-{n.number}-{n.payment_reference}-{n.investor_id}.pdf")
            for n, f in zip(notices, files, strict=True)
        ]
        mail = mailing.queue_distribution_notice if mailing.released(notices_state) else None
        await _save(session, blobs, org_id, source, named, mail)


@blueprint.task(
    name="documents.render_closing_notices", queue="documents", pass_context=True, retry=RETRY
)
async def render_closing_notices(
    context: JobContext, org_id: str, tenant_job_id: str, closing_id: str
) -> None:
    """One letter per investor of an issued closing (stored, listed with the fund's
    documents; the new investors' equalization call is mailed as a call's notices are)."""
    async with job_service.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        sessions = jobs.sessions_of(context)
        tenant = uuid.UUID(org_id)
        async with db.tenant_transaction(sessions, tenant) as session:
            closing = await session.get_one(Closing, uuid.UUID(closing_id))
            notices = await closing_content.closing_notices(session, closing=closing)
            letter = await letters.letterhead(session, jobs.blobs_of(context), org_id=tenant)
            done = set(
                await session.scalars(
                    sa.select(Document.investor_id).where(Document.closing_id == closing.id)
                )
            )
        await _in_batches(
            job,
            notices,
            done,
            lambda batch: _store_closing_notices(context, tenant, closing, batch, letter),
        )


async def _store_closing_notices(
    context: JobContext,
    org_id: uuid.UUID,
    closing: Closing,
    notices: list[closing_content.ClosingNotice],
    letter: letters.Letterhead,
) -> None:
    from prorata.documents import render

    files = await asyncio.to_thread(lambda: [render.closing_notice_pdf(n, letter) for n in notices])
    async with db.tenant_transaction(jobs.sessions_of(context), org_id) as session:
        source = _Source(
            DocumentKind.closing_notice,
            "closing_id",
            closing.id,
            closing.fund_id,
            closing.closing_date,
        )
        named = [
            (n, f, f"closing-{n.number}-{n.investor_id}.pdf")
            for n, f in zip(notices, files, strict=True)
        ]
        mail: _Mail[closing_content.ClosingNotice] | None = None
        await _save(session, jobs.blobs_of(context), org_id, source, named, mail)


@dataclasses.dataclass(frozen=True)
class _Source:
    """What a batch of notices is of: its kind, the documents column naming its call or
    distribution (unique with the investor: at-least-once delivery stores each notice once),
    that call's or distribution's id, fund and date."""

    kind: DocumentKind
    key: str
    id: uuid.UUID
    fund_id: uuid.UUID
    as_of: dt.date


class _Mail(Protocol[N]):
    async def __call__(
        self,
        session: AsyncSession,
        *,
        org_id: uuid.UUID,
        notice: N,
        document_id: uuid.UUID,
        blob_id: uuid.UUID,
        filename: str,
    ) -> None: ...


async def _save(
    session: AsyncSession,
    blobs: storage.BlobStore,
    org_id: uuid.UUID,
    source: _Source,
    named: list[tuple[N, Rendered, str]],
    mail: _Mail[N] | None,
) -> None:
    """Store each rendered notice (its file, its document) and, when `mail` (the notices are
    released), queue its mail; a notice stored before is skipped, never mailed twice."""
    for notice, rendered, filename in named:
        blob = await storage.save(
            session,
            blobs,
            org_id=org_id,
            purpose="documents",
            source=rendered.data,
            content_type=PDF,
            suffix=".pdf",
            filename=filename,
        )
        document_id = await session.scalar(
            insert(Document)
            .values(
                id=new_id(),
                org_id=org_id,
                fund_id=source.fund_id,
                kind=source.kind,
                status=DocumentStatus.ready,
                investor_id=notice.investor_id,
                as_of=source.as_of,
                filename=filename,
                blob_id=blob.id,
                pages=rendered.pages,
                ready_at=sa.func.now(),
                **{source.key: source.id},
            )
            .on_conflict_do_nothing(index_elements=[source.key, "investor_id"])
            .returning(Document.id)
        )
        if document_id is None:
            continue
        instruments.count_document_rendered(kind=source.kind)
        if mail is not None:
            await mail(
                session,
                org_id=org_id,
                notice=notice,
                document_id=document_id,
                blob_id=blob.id,
                filename=filename,
            )


@blueprint.task(name="documents.render_report", queue="documents", pass_context=True, retry=RETRY)
async def render_report(
    context: JobContext, org_id: str, tenant_job_id: str, document_id: str
) -> None:
    # A failure for good marks the document failed with the job (`job_service.running`).
    async with job_service.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        await _render_report(context, job, uuid.UUID(org_id), uuid.UUID(document_id))


async def _render_report(
    context: JobContext, job: job_service.Running, org_id: uuid.UUID, document_id: uuid.UUID
) -> None:
    sessions = jobs.sessions_of(context)
    async with db.tenant_transaction(sessions, org_id) as session:
        document = await session.get_one(Document, document_id)
        if document.status is DocumentStatus.ready:
            return
        fund = await session.get_one(Fund, document.fund_id)
    with tempfile.TemporaryFile() as out:
        if document.kind is DocumentKind.allocations_report:
            pages = await _allocations(context, job, fund, document, out)
        else:
            pages = await _statement(context, fund, document, out)
        out.seek(0)
        async with db.tenant_transaction(sessions, org_id) as session:
            blob = await storage.save(
                session,
                jobs.blobs_of(context),
                org_id=org_id,
                purpose="documents",
                source=out,
                content_type=PDF,
                suffix=".pdf",
                filename=document.filename,
            )
            await session.execute(
                sa.update(Document)
                .where(Document.id == document_id)
                .values(
                    status=DocumentStatus.ready,
                    blob_id=blob.id,
                    pages=pages,
                    ready_at=sa.func.now(),
                )
            )
            await _report_ready(session, document, job)
        instruments.count_document_rendered(kind=document.kind)


async def _allocations(
    context: JobContext,
    job: job_service.Running,
    fund: Fund,
    document: Document,
    out: Any,
) -> int:
    from prorata.documents import render

    async with db.tenant_transaction(await jobs.reads_of(context), fund.org_id) as session:
        total = await content.allocation_count(session, fund_id=fund.id)
        assert document.as_of is not None
        report = render.AllocationsReport(
            out,
            fund_name=fund.name,
            currency=fund.currency,
            as_of=document.as_of,
            total_rows=total,
        )
        async for batch in content.allocation_batches(session, fund_id=fund.id):
            await asyncio.to_thread(report.rows, batch)
            await job.progress(report.count, total)
    return await asyncio.to_thread(report.finish)


async def _statement(context: JobContext, fund: Fund, document: Document, out: Any) -> int:
    from prorata.documents import render

    assert document.investor_id
    assert document.as_of
    async with db.tenant_transaction(await jobs.reads_of(context), fund.org_id) as session:
        investor = await session.get_one(Investor, document.investor_id)
        (statement,) = await content.statements(
            session, fund=fund, investors=[investor], period_end=document.as_of
        )
        letter = await letters.letterhead(session, jobs.blobs_of(context), org_id=fund.org_id)
    rendered = await asyncio.to_thread(
        render.statement_pdf, statement, letter, letters.addressee(investor)
    )
    out.write(rendered.data)
    return rendered.pages


@blueprint.task(
    name="documents.render_statements", queue="documents", pass_context=True, retry=RETRY
)
async def render_statements(context: JobContext, org_id: str, tenant_job_id: str) -> None:
    """Every statement of a run (`documents.service`): those still pending, from one book.
    A failure for good marks them failed with the job (`job_service.running`)."""
    tenant, run = uuid.UUID(org_id), uuid.UUID(tenant_job_id)
    async with job_service.running(context, org_id=org_id, tenant_job_id=tenant_job_id) as job:
        await _render_run(context, job, tenant, run)


async def _render_run(
    context: JobContext, job: job_service.Running, org_id: uuid.UUID, run: uuid.UUID
) -> None:

    sessions = jobs.sessions_of(context)
    # The run's documents were written before it was queued: `reads_of` waits for them.
    async with db.tenant_transaction(await jobs.reads_of(context), org_id) as session:
        rows = (
            await session.execute(
                sa.select(Document, Investor)
                .join(Investor, Investor.id == Document.investor_id)
                .where(Document.run_id == run)
                .order_by(Document.id)
            )
        ).all()
        todo = [(document, investor) for document, investor in rows if _pending(document)]
        first = rows[0][0]
        assert first.as_of is not None
        fund = await session.get_one(Fund, first.fund_id)
        delivery = (await session.get_one(Org, org_id)).statement_delivery
        statements = await content.statements(
            session,
            fund=fund,
            investors=[investor for _, investor in todo],
            period_end=first.as_of,
        )
        letter = await letters.letterhead(session, jobs.blobs_of(context), org_id=org_id)
    addressees = [letters.addressee(investor) for _, investor in todo]
    done = len(rows) - len(todo)
    for start in range(0, len(todo), NOTICE_BATCH):
        batch = statements[start : start + NOTICE_BATCH]
        to = addressees[start : start + NOTICE_BATCH]
        files = await asyncio.to_thread(_statement_files, batch, letter, to)
        documents = [document for document, _ in todo[start : start + NOTICE_BATCH]]
        async with db.tenant_transaction(sessions, org_id) as session:
            for document, statement, rendered in zip(documents, batch, files, strict=True):
                blob_id = await _store_statement(context, session, document, rendered)
                if blob_id is not None:  # stored now, in this transaction: mailed once
                    await mailing.queue_statement(
                        session,
                        org_id=org_id,
                        statement=statement,
                        delivery=delivery,
                        portal_url=jobs.settings_of(context).base_url,
                        document_id=document.id,
                        blob_id=blob_id,
                        filename=document.filename,
                    )
        await job.progress(done + start + len(batch), len(rows))
    async with db.tenant_transaction(sessions, org_id) as session:
        await _run_ready(session, first, len(rows), job)


def _statement_files(
    statements: list[content.Statement],
    letter: letters.Letterhead,
    addressees: list[letters.Addressee],
) -> list[Rendered]:
    from prorata.documents import render

    return [render.statement_pdf(s, letter, a) for s, a in zip(statements, addressees, strict=True)]


def _pending(document: Document) -> bool:
    return document.status is DocumentStatus.pending


async def _store_statement(
    context: JobContext, session: AsyncSession, document: Document, rendered: Rendered
) -> uuid.UUID | None:
    """Store a run's statement; its file's blob, or None if it was no longer pending."""
    blob = await storage.save(
        session,
        jobs.blobs_of(context),
        org_id=document.org_id,
        purpose="documents",
        source=rendered.data,
        content_type=PDF,
        suffix=".pdf",
        filename=document.filename,
    )
    stored = await session.scalar(
        sa.update(Document)
        .where(Document.id == document.id, Document.status == DocumentStatus.pending)
        .values(
            status=DocumentStatus.ready,
            blob_id=blob.id,
            pages=rendered.pages,
            ready_at=sa.func.now(),
        )
        .returning(Document.id)
    )
    if stored is None:
        return None
    instruments.count_document_rendered(kind=document.kind)
    return blob.id


async def _report_ready(
    session: AsyncSession, document: Document, job: job_service.Running
) -> None:
    """Tell live clients and webhooks, and mail the user who asked for it."""
    await events.announce(
        session,
        org_id=document.org_id,
        fund_id=document.fund_id,
        kind=events.Announcement.report_ready,
        data={
            "document_id": str(document.id),
            "kind": str(document.kind),
            "job_id": str(job.job_id),
        },
    )
    await _tell_requester(
        session,
        document,
        subject=f"Your report is ready: {document.filename}",
        body=(
            f"The report you asked for is ready: {document.filename}.\n"
            f"Download it with GET /api/v1/documents/{document.id}/content.\n"
        ),
    )


async def _run_ready(
    session: AsyncSession, document: Document, count: int, job: job_service.Running
) -> None:
    """One announcement and one mail for a run, however many statements it has."""
    period = f"{document.period_start} to {document.as_of}"
    await events.announce(
        session,
        org_id=document.org_id,
        fund_id=document.fund_id,
        kind=events.Announcement.statements_ready,
        data={
            "kind": str(document.kind),
            "period_start": str(document.period_start),
            "as_of": str(document.as_of),
            "documents": count,
            "job_id": str(job.job_id),
        },
    )
    await _tell_requester(
        session,
        document,
        subject=f"Your capital account statements are ready: {period}",
        body=(
            f"{count} capital account statements for {period} are ready.\n"
            f"List them with GET /api/v1/documents?fund_id={document.fund_id}.\n"
        ),
    )


async def _tell_requester(
    session: AsyncSession, document: Document, *, subject: str, body: str
) -> None:
    email = await session.scalar(sa.select(User.email).where(User.id == document.requested_by))
    if email:
        await notification_service.queue_email(
            session,
            org_id=document.org_id,
            kind=events.Announcement.report_ready,
            recipient=email,
            subject=subject,
            body=body,
        )
