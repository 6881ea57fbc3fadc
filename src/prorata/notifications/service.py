"""Queueing email: an outbox row and its sending job, in the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prorata.jobs import queue as jobs
from prorata.notifications import tasks as notification_tasks
from prorata.notifications.models import EmailMessage, EmailStatus


async def queue_email(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    document_id: uuid.UUID | None = None,
) -> EmailMessage:
    message = EmailMessage(
        org_id=org_id,
        kind=kind,
        recipient=recipient,
        subject=subject,  # made one line when sent (`mail`): a header is one line
        body=body,
        document_id=document_id,
        status=EmailStatus.pending,
        attempts=0,
    )
    session.add(message)
    await session.flush()
    await jobs.defer(
        session, notification_tasks.send_email, org_id=str(org_id), message_id=str(message.id)
    )
    return message
