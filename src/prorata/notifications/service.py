"""Queueing email: an outbox row and its sending job, in the caller's transaction."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.notifications import tasks as notification_tasks
from prorata.notifications.models import EmailMessage, EmailStatus


@dataclasses.dataclass(frozen=True)
class Attachment:
    """A stored file to attach (a notice is a page: small enough to attach whole)."""

    blob_id: uuid.UUID
    filename: str


async def queue_email(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
    document_id: uuid.UUID | None = None,
    attachment: Attachment | None = None,
    redact_after_send: bool = False,
) -> EmailMessage:
    message = EmailMessage(
        org_id=org_id,
        kind=kind,
        recipient=recipient,
        subject=subject,  # made one line when sent (`mail`): a header is one line
        body=body,
        document_id=document_id,
        attachment_blob_id=attachment.blob_id if attachment else None,
        attachment_filename=attachment.filename if attachment else None,
        redact_after_send=redact_after_send,
        status=EmailStatus.pending,
        attempts=0,
    )
    session.add(message)
    await session.flush()
    await jobs.defer(
        session, notification_tasks.send_email, org_id=str(org_id), message_id=str(message.id)
    )
    return message
