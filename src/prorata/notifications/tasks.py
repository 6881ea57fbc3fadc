"""The sending job: one outbox row → one message, retried with backoff, marked sent once.

At-least-once: a crash between the server's acceptance and marking the row sent sends the
message again on retry; its Message-ID (from the row id) is the same, so mail clients and
servers that deduplicate see one message.
"""

from __future__ import annotations

import dataclasses
import email.message
import email.utils
import uuid

import aiosmtplib
import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext, RetryStrategy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.jobs import attempts
from prorata.notifications.models import EmailMessage, EmailStatus
from prorata.platform import db, hooks, mail, storage

MAX_ATTEMPTS = 6


@dataclasses.dataclass(frozen=True)
class Settled:
    """A message was sent, or given up for good: its last word."""

    message_id: uuid.UUID
    kind: str
    document_id: uuid.UUID | None
    status: EmailStatus


# Fired in the transaction that records a message's last word: documents connects the
# announcement that all of a call's notices went out.
message_settled: hooks.Hook[Settled] = hooks.Hook("notifications.message_settled")

blueprint = procrastinate.Blueprint()


def build(
    row: EmailMessage, *, sender: str, attachment: tuple[str, bytes] | None
) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    # A header is one line: a subject carrying a fund name typed with a line break would
    # otherwise be refused by `email` on every attempt, and the notice never sent.
    message["Subject"] = " ".join(row.subject.split())
    message["Date"] = email.utils.format_datetime(row.created_at)
    message["Message-ID"] = f"<{row.id}@prorata>"
    message.set_content(row.body)
    if attachment is not None:
        filename, content = attachment
        message.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return message


@blueprint.task(
    name="notifications.send_email",
    queue="notifications",
    pass_context=True,
    # Five retries of its own (4 s … 17 min); a mail server that cannot be reached is waited out.
    retry=attempts.Retry(own=RetryStrategy(max_attempts=MAX_ATTEMPTS - 1, exponential_wait=4)),
)
async def send_email(context: JobContext, org_id: str, message_id: str) -> None:
    settings = jobs.settings_of(context)
    sessions = jobs.sessions_of(context)
    tenant = uuid.UUID(org_id)
    async with db.tenant_transaction(sessions, tenant) as session:
        row = await session.get(EmailMessage, uuid.UUID(message_id))
        if row is None or row.status is EmailStatus.sent:
            return
    try:
        # Inside the `try`: an attachment that cannot be read (its object missing, the store
        # down) is an attempt like a refused connection, recorded, and `failed` in the end.
        async with db.tenant_transaction(sessions, tenant) as session:
            attachment = await _attachment(session, jobs.blobs_of(context), row)
        await mail.send(settings, build(row, sender=settings.mail_from, attachment=attachment))
    except Exception as exc:
        permanent = _refused_for_good(exc)
        ended = attempts.failure(context, exc, final=permanent)
        await _record(
            sessions,
            tenant,
            row,
            status=EmailStatus.pending if ended.retried else EmailStatus.failed,
            last_error=ended.error,
            **({} if ended.retried else _redacted(row)),
        )
        if permanent:
            return  # recorded `failed`: sent again, it would only be refused again
        raise
    await _record(
        sessions, tenant, row, status=EmailStatus.sent, sent_at=sa.func.now(), **_redacted(row)
    )


REDACTED_BODY = "(removed once the message was sent or given up: it held a one-time link)"


def _redacted(row: EmailMessage) -> dict[str, object]:
    return {"body": REDACTED_BODY} if row.redact_after_send else {}


def _refused_for_good(exc: Exception) -> bool:
    """The server refused this message with a 5xx reply (RFC 5321: not to be repeated): its
    recipient does not exist, or its content is refused. Anything else (a server down, a 4xx,
    our own credentials) may pass on a later attempt."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(refused.code >= 500 for refused in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPDataError) and exc.code >= 500


async def _attachment(
    session: AsyncSession, store: storage.BlobStore, row: EmailMessage
) -> tuple[str, bytes] | None:
    if row.attachment_blob_id is None or row.attachment_filename is None:
        return None
    blob = await storage.get(session, blob_id=row.attachment_blob_id)
    if blob is None:
        raise storage.BlobNotFound(str(row.attachment_blob_id))
    return row.attachment_filename, await store.read(blob.key)


async def _record(
    sessions: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
    row: EmailMessage,
    *,
    status: EmailStatus,
    **values: object,
) -> None:
    async with db.tenant_transaction(sessions, org_id) as session:
        await session.execute(
            sa.update(EmailMessage)
            .where(EmailMessage.id == row.id)
            .values(attempts=EmailMessage.attempts + 1, status=status, **values)
        )
        if status is not EmailStatus.pending:
            await message_settled.fire(
                session,
                Settled(
                    message_id=row.id, kind=row.kind, document_id=row.document_id, status=status
                ),
            )
