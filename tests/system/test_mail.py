"""Mail: the outbox job sends through a real SMTP server (aiosmtpd on loopback), or writes
`.eml` files when no server is configured, and records the outcome."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from pathlib import Path

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.notifications import service as notification_service
from prorata.notifications.models import EmailMessage
from prorata.orgs.service import NewOrg
from prorata.platform import db, storage
from tests.fund_support import FundApi
from tests.servers import smtp_server, worker
from tests.support import TestDatabase, eventually


async def _queue(sessions: async_sessionmaker[AsyncSession], org: NewOrg) -> EmailMessage:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        return await notification_service.queue_email(
            session,
            org_id=org.org_id,
            kind="test",
            recipient="lp@investor.example",
            subject="Capital call notice",
            body="Your notice is attached.",
        )


async def _status(sessions: async_sessionmaker[AsyncSession], org: NewOrg) -> list[str]:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        return [str(s) for s in (await session.scalars(sa.select(EmailMessage.status))).all()]


async def test_mail_goes_out_through_smtp(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    queued = await _queue(sessions, org)

    async def sent() -> bool:
        return await _status(sessions, org) == ["sent"]

    with smtp_server() as (port, mailbox):
        env = {
            "PRORATA_SMTP_HOST": "127.0.0.1",
            "PRORATA_SMTP_PORT": str(port),
            "PRORATA_SMTP_SECURITY": "none",
            "PRORATA_MAIL_FROM": "Prorata <notices@gp.example>",
        }
        with worker(database, log=tmp_path / "worker.log", **env):
            await eventually(sent, timeout=60, what="the message to be sent")
    [envelope] = mailbox.messages
    assert envelope.rcpt_tos == ["lp@investor.example"]
    assert envelope.mail_from == "notices@gp.example"
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "Capital call notice"
    assert message["Message-ID"] == f"<{queued.id}@prorata>"
    assert "Your notice is attached." in message.get_body().get_content()  # type: ignore[union-attr]


async def test_without_smtp_mail_is_written_to_files_and_the_log_says_where(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    await _queue(sessions, org)

    async def sent() -> bool:
        return await _status(sessions, org) == ["sent"]

    log = tmp_path / "worker.log"
    data_dir = tmp_path / "var"
    with worker(database, log=log, PRORATA_DATA_DIR=str(data_dir), PRORATA_LOG_LEVEL="INFO"):
        await eventually(sent, timeout=60, what="the message to be written")
    [path] = (data_dir / "mail").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "lp@investor.example"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    written = [line for line in lines if line.get("event", "").startswith("mail written")]
    assert written[0]["path"] == str(path.resolve())
    assert "lp@investor.example" not in log.read_text()  # addresses stay out of logs


async def test_a_refused_connection_is_recorded_and_retried(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    await _queue(sessions, org)

    async def attempted() -> bool:
        async with db.tenant_transaction(sessions, org.org_id) as session:
            row = (await session.scalars(sa.select(EmailMessage))).one()
            return row.attempts >= 1

    env = {
        "PRORATA_SMTP_HOST": "127.0.0.1",
        "PRORATA_SMTP_PORT": "1",
        "PRORATA_SMTP_SECURITY": "none",
    }
    with worker(database, log=tmp_path / "worker.log", **env):
        await eventually(attempted, timeout=60, what="the first attempt")
    async with db.tenant_transaction(sessions, org.org_id) as session:
        row = (await session.scalars(sa.select(EmailMessage))).one()
    assert row.status == "pending"  # retried later, with backoff
    assert row.last_error is not None


async def test_a_subject_with_line_breaks_goes_out_on_one_line_with_no_injected_header(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    # Subjects carry the fund's name, and a name may hold a line break (the API allows it).
    async with db.tenant_transaction(sessions, org.org_id) as session:
        await notification_service.queue_email(
            session,
            org_id=org.org_id,
            kind="call_notice",
            recipient="lp@investor.example",
            subject="Capital call notice CALL-1: Alpha\r\nBcc: eve@evil.example",
            body="Your notice is attached.",
        )

    async def sent() -> bool:
        return await _status(sessions, org) == ["sent"]

    with smtp_server() as (port, mailbox):
        env = {
            "PRORATA_SMTP_HOST": "127.0.0.1",
            "PRORATA_SMTP_PORT": str(port),
            "PRORATA_SMTP_SECURITY": "none",
        }
        with worker(database, log=tmp_path / "worker.log", **env):
            await eventually(sent, timeout=60, what="the message to be sent")
    [envelope] = mailbox.messages
    assert envelope.rcpt_tos == ["lp@investor.example"]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "Capital call notice CALL-1: Alpha Bcc: eve@evil.example"
    assert message["Bcc"] is None


async def test_a_missing_attachment_is_recorded_as_an_attempt_and_nothing_goes_out(
    client: AsyncClient,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    fund_id = await FundApi(client, org.api_key).fund()
    store = storage.open_store(settings)
    async with db.tenant_transaction(sessions, org.org_id) as session:
        blob = await storage.save(
            session,
            store,
            org_id=org.org_id,
            purpose="documents",
            source=b"%PDF-1.4\n%%EOF\n",
            content_type="application/pdf",
            suffix=".pdf",
        )
        document = Document(
            org_id=org.org_id,
            fund_id=uuid.UUID(fund_id),
            kind=DocumentKind.call_notice,
            status=DocumentStatus.ready,
            filename="call-notice.pdf",
            blob_id=blob.id,
        )
        session.add(document)
        await session.flush()
        await notification_service.queue_email(
            session,
            org_id=org.org_id,
            kind="call_notice",
            recipient="lp@investor.example",
            subject="Capital call notice",
            body="Your notice is attached.",
            document_id=document.id,
            attachment=notification_service.Attachment(blob_id=blob.id, filename=document.filename),
        )
    await store.delete(blob.key)  # the object is lost; its row stays

    async def attempted() -> bool:
        async with db.tenant_transaction(sessions, org.org_id) as session:
            row = (await session.scalars(sa.select(EmailMessage))).one()
            return row.attempts >= 1

    with worker(database, log=tmp_path / "worker.log", PRORATA_DATA_DIR=str(settings.data_dir)):
        await eventually(attempted, timeout=30, what="the attempt to be recorded")
    async with db.tenant_transaction(sessions, org.org_id) as session:
        row = (await session.scalars(sa.select(EmailMessage))).one()
    assert row.status == "pending"  # retried later: the object may come back
    assert row.last_error is not None
    assert "BlobNotFound" in row.last_error
    assert not list((settings.data_dir / "mail").glob("*.eml"))  # no notice without its file


async def test_a_recipient_the_server_refuses_for_good_is_failed_at_once_not_retried(
    sessions: async_sessionmaker[AsyncSession], database: TestDatabase, org: NewOrg, tmp_path: Path
) -> None:
    await _queue(sessions, org)

    async def failed() -> bool:
        return await _status(sessions, org) == ["failed"]

    with smtp_server(unknown=frozenset({"lp@investor.example"})) as (port, mailbox):
        env = {
            "PRORATA_SMTP_HOST": "127.0.0.1",
            "PRORATA_SMTP_PORT": str(port),
            "PRORATA_SMTP_SECURITY": "none",
        }
        with worker(database, log=tmp_path / "worker.log", **env):
            await eventually(failed, timeout=30, what="the message to be marked failed")
    assert mailbox.messages == []
    async with db.tenant_transaction(sessions, org.org_id) as session:
        row = (await session.scalars(sa.select(EmailMessage))).one()
    assert row.attempts == 1
    assert row.last_error is not None
    assert "no such mailbox" in row.last_error
