"""Mailing notices of calls and distributions: one message per rendered notice and contact,
its PDF attached, at most once.

A notice is mailed as it is rendered when its call's or distribution's notices are released
(or need no approval); otherwise when they are released (`on_notices_released`), for every
notice rendered by then — the render job mails the rest as it stores them. The row's lock
orders the two: the render job holds it shared while storing, the release holds it for update.

Once every notice of a released call or distribution is rendered and none of its messages is
pending, its `notices.sent` is announced, once (`notices_sent_at`), by whichever comes last: a
message's last word, the render job's end, or the release itself.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CallLine, CallStatus, CapitalCall
from prorata.distributions.models import Distribution, DistributionLine
from prorata.documents import content, distribution_content
from prorata.documents.models import Document, DocumentStatus
from prorata.notices import release
from prorata.notices.models import NoticeRelease, ReleasedNotices
from prorata.notifications import service as notification_service
from prorata.notifications.models import EmailMessage, EmailStatus
from prorata.notifications.tasks import Settled
from prorata.orgs.models import StatementDelivery
from prorata.platform import events

CALL_NOTICE = "call_notice"  # the outbox kind of a call notice's message
STATEMENT = "statement"  # the outbox kind of a statement run's message

MAILED_AT_ONCE = frozenset({NoticeRelease.not_required, NoticeRelease.released, None})


def released(notices: NoticeRelease | None) -> bool:
    """May notices of a call or a distribution in this state be mailed now?"""
    return notices in MAILED_AT_ONCE


def _body(notice: content.Notice) -> str:
    return (
        f"Dear {notice.investor_name},\n\n"
        f"{notice.fund_name} calls capital: {notice.amount_due:,} {notice.currency} is due on "
        f"{notice.due_date.isoformat()}.\n"
        f"Your notice ({notice.reference}) is attached, with the wire instructions.\n"
        + (
            f"Please quote {notice.payment_reference} with your payment.\n"
            if notice.payment_reference
            else ""
        )
    )


async def queue_notice(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    notice: content.Notice,
    document_id: uuid.UUID,
    blob_id: uuid.UUID,
    filename: str,
) -> None:
    for recipient in notice.recipients:  # one message each: a bounce is one contact's
        await notification_service.queue_email(
            session,
            org_id=org_id,
            kind=CALL_NOTICE,
            recipient=recipient,
            subject=f"Capital call notice {notice.reference}: {notice.fund_name}",
            body=_body(notice),
            document_id=document_id,
            attachment=notification_service.Attachment(blob_id=blob_id, filename=filename),
        )


DISTRIBUTION_NOTICE = "distribution_notice"  # the outbox kind of a distribution notice's message


def _distribution_body(notice: distribution_content.DistributionNotice) -> str:
    return (
        f"Dear {notice.investor_name},\n\n"
        f"{notice.fund_name} makes Distribution No. {notice.number}: {notice.net:,} "
        f"{notice.currency} will be paid to you on {notice.payment_date.isoformat()} "
        f"(reference {notice.payment_reference}).\n"
        f"Your notice, with the breakdown of your share, is attached.\n"
    )


async def queue_distribution_notice(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    notice: distribution_content.DistributionNotice,
    document_id: uuid.UUID,
    blob_id: uuid.UUID,
    filename: str,
) -> None:
    """One message per contact receiving distributions, the notice attached (once the
    distribution's notices are released, as a call's)."""
    for recipient in notice.recipients:
        await notification_service.queue_email(
            session,
            org_id=org_id,
            kind=DISTRIBUTION_NOTICE,
            recipient=recipient,
            subject=(
                f"Distribution No. {notice.number} notice {notice.payment_reference}: "
                f"{notice.fund_name}"
            ),
            body=_distribution_body(notice),
            document_id=document_id,
            attachment=notification_service.Attachment(blob_id=blob_id, filename=filename),
        )


async def on_notices_released(session: AsyncSession, event: release.Released) -> None:
    """Mail every notice of the call or distribution rendered so far and not mailed yet.
    Connected to `prorata.notices.release.notices_released`."""
    mailed = sa.select(EmailMessage.document_id).where(EmailMessage.document_id.is_not(None))
    documents = {
        document.investor_id: document
        for document in await session.scalars(
            sa.select(Document).where(
                _notices_of(event.subject, event.id),
                Document.status == DocumentStatus.ready,
                Document.id.not_in(mailed),
            )
        )
    }
    if documents and event.subject is release.CALL:
        call = await session.get_one(CapitalCall, event.id)
        for notice in await content.call_notices(session, call=call):
            document = documents.get(notice.investor_id)
            if document is not None and document.blob_id is not None:
                await queue_notice(
                    session,
                    org_id=event.org_id,
                    notice=notice,
                    document_id=document.id,
                    blob_id=document.blob_id,
                    filename=document.filename,
                )
    elif documents:
        distribution = await session.get_one(Distribution, event.id)
        notices = await distribution_content.distribution_notices(
            session, distribution=distribution
        )
        for distribution_notice in notices:
            document = documents.get(distribution_notice.investor_id)
            if document is not None and document.blob_id is not None:
                await queue_distribution_notice(
                    session,
                    org_id=event.org_id,
                    notice=distribution_notice,
                    document_id=document.id,
                    blob_id=document.blob_id,
                    filename=document.filename,
                )
    await announce_if_sent(session, event.subject, event.id)


def _notices_of(subject: release.Subject, id: uuid.UUID) -> sa.ColumnElement[bool]:
    """The notices (documents) of a call or a distribution."""
    if subject is release.CALL:
        return Document.call_id == id
    return Document.distribution_id == id


# The outbox kind of each subject's notice messages.
MESSAGE_KIND = {release.CALL: CALL_NOTICE, release.DISTRIBUTION: DISTRIBUTION_NOTICE}


async def on_message_settled(session: AsyncSession, event: Settled) -> None:
    """A notice's message was sent or given up: perhaps its call's or distribution's last.
    Connected to `notifications.tasks.message_settled`."""
    if event.kind not in (CALL_NOTICE, DISTRIBUTION_NOTICE) or event.document_id is None:
        return
    owner = (
        await session.execute(
            sa.select(Document.call_id, Document.distribution_id).where(
                Document.id == event.document_id
            )
        )
    ).one_or_none()
    if owner is None:
        return
    call_id, distribution_id = owner
    if event.kind == CALL_NOTICE and call_id is not None:
        await announce_if_sent(session, release.CALL, call_id)
    elif event.kind == DISTRIBUTION_NOTICE and distribution_id is not None:
        await announce_if_sent(session, release.DISTRIBUTION, distribution_id)


async def _locked(
    session: AsyncSession, subject: release.Subject, id: uuid.UUID
) -> tuple[ReleasedNotices, bool, int | None]:
    """The call or distribution, locked; whether it stands with its notices rendering; how
    many notices it has (one per investor with a line)."""
    if subject is release.CALL:
        call = (
            await session.scalars(
                sa.select(CapitalCall).where(CapitalCall.id == id).with_for_update()
            )
        ).one()
        standing = call.issued_at is not None and call.status is not CallStatus.cancelled
        expected = await session.scalar(
            sa.select(sa.func.count(sa.distinct(CallLine.investor_id))).where(
                CallLine.fund_id == call.fund_id, CallLine.call_id == call.id
            )
        )
        return call, standing, expected
    distribution = (
        await session.scalars(
            sa.select(Distribution).where(Distribution.id == id).with_for_update()
        )
    ).one()
    expected = await session.scalar(
        sa.select(sa.func.count()).where(
            DistributionLine.fund_id == distribution.fund_id,
            DistributionLine.distribution_id == distribution.id,
        )
    )
    return distribution, distribution.cancelled_at is None, expected


async def announce_if_sent(session: AsyncSession, subject: release.Subject, id: uuid.UUID) -> None:
    """Announce `notices.sent` if every notice of the call or distribution is rendered and
    released and no message of them is pending; once. The row lock orders the messages
    settling at once, so the last one sees the others' last words."""
    row, standing, expected = await _locked(session, subject, id)
    if row.notices_sent_at is not None or not standing or not released(row.notices):
        return
    notice_ids = sa.select(Document.id).where(
        _notices_of(subject, id), Document.status == DocumentStatus.ready
    )
    rendered = await session.scalar(sa.select(sa.func.count()).select_from(notice_ids.subquery()))
    if rendered is None or expected is None or rendered < expected:
        return
    messages = await session.execute(
        sa.select(EmailMessage.status, sa.func.count())
        .where(EmailMessage.kind == MESSAGE_KIND[subject], EmailMessage.document_id.in_(notice_ids))
        .group_by(EmailMessage.status)
    )
    counts = {status: count for status, count in messages.all()}
    if counts.get(EmailStatus.pending):
        return
    row.notices_sent_at = sa.func.now()
    await events.announce(
        session,
        org_id=row.org_id,
        fund_id=row.fund_id,
        kind=events.Announcement.notices_sent,
        data={
            subject.key: str(id),
            "notices": rendered,
            "sent": counts.get(EmailStatus.sent, 0),
            "failed": counts.get(EmailStatus.failed, 0),
        },
    )


async def queue_statement(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    statement: content.Statement,
    delivery: StatementDelivery,
    portal_url: str,
    document_id: uuid.UUID,
    blob_id: uuid.UUID,
    filename: str,
) -> None:
    """A statement of a run to each contact who receives statements: a link to the portal's
    documents page, or the PDF attached (the organisation's `statement_delivery`)."""
    quarter = statement.ilpa.quarter
    said = (
        "It is attached."
        if delivery is StatementDelivery.attachment
        else f"Read and download it in your investor portal: {portal_url}/portal/documents"
    )
    body = (
        f"Dear {statement.investor_name},\n\n"
        f"Your capital account statement in {statement.fund_name} for the period ended "
        f"{statement.period_end.isoformat()} ({quarter}) is ready.\n{said}\n"
    )
    attachment = (
        notification_service.Attachment(blob_id=blob_id, filename=filename)
        if delivery is StatementDelivery.attachment
        else None
    )
    for recipient in statement.recipients:  # one message each: a bounce is one contact's
        await notification_service.queue_email(
            session,
            org_id=org_id,
            kind=STATEMENT,
            recipient=recipient,
            subject=f"Capital account statement {quarter}: {statement.fund_name}",
            body=body,
            document_id=document_id,
            attachment=attachment,
        )
