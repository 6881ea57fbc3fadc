"""Mailing call notices: one message per rendered notice, its PDF attached, at most once.

A notice is mailed as it is rendered when its call's notices are released (or need no
approval); otherwise when they are released (`on_notices_released`), for every notice rendered
by then — the render job mails the rest as it stores them. The call row's lock orders the two:
the render job holds it shared while storing, the release holds it for update.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CapitalCall, NoticeRelease
from prorata.capital_calls.release import Released
from prorata.documents import content
from prorata.documents.models import Document, DocumentStatus
from prorata.notifications import service as notification_service
from prorata.notifications.models import EmailMessage

MAILED_AT_ONCE = frozenset({NoticeRelease.not_required, NoticeRelease.released, None})


def released(call_notices: NoticeRelease | None) -> bool:
    """May notices of a call in this state be mailed now?"""
    return call_notices in MAILED_AT_ONCE


def _body(notice: content.Notice) -> str:
    return (
        f"Dear {notice.investor_name},\n\n"
        f"{notice.fund_name} calls capital: {notice.total:,} {notice.currency} is due on "
        f"{notice.due_date.isoformat()}.\n"
        f"Your notice ({notice.reference}) is attached, with the wire instructions.\n"
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
    if not notice.email:
        return
    await notification_service.queue_email(
        session,
        org_id=org_id,
        kind="call_notice",
        recipient=notice.email,
        subject=f"Capital call notice {notice.reference}: {notice.fund_name}",
        body=_body(notice),
        document_id=document_id,
        attachment=notification_service.Attachment(blob_id=blob_id, filename=filename),
    )


async def on_notices_released(session: AsyncSession, event: Released) -> None:
    """Mail every notice of the call rendered so far and not mailed yet. Connected to
    `capital_calls.release.notices_released`."""
    call: CapitalCall = event.call
    mailed = sa.select(EmailMessage.document_id).where(EmailMessage.document_id.is_not(None))
    documents = {
        document.investor_id: document
        for document in await session.scalars(
            sa.select(Document).where(
                Document.call_id == call.id,
                Document.status == DocumentStatus.ready,
                Document.id.not_in(mailed),
            )
        )
    }
    if not documents:
        return
    for notice in await content.call_notices(session, call=call):
        document = documents.get(notice.investor_id)
        if document is not None and document.blob_id is not None:
            await queue_notice(
                session,
                org_id=call.org_id,
                notice=notice,
                document_id=document.id,
                blob_id=document.blob_id,
                filename=document.filename,
            )
