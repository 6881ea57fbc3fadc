"""The email outbox: one row per message, written in the transaction that decided to send it."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class EmailStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # retries exhausted


class EmailMessage(Base):
    __tablename__ = "email_outbox"
    __table_args__ = (sa.Index("ix_email_outbox_document_id", "document_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(50))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.String(10000))  # our own short templates
    # The document the message is about (a call notice), for tracing; none for a plain message.
    document_id: Mapped[uuid.UUID | None] = mapped_column()
    # The stored file attached, under this name: the mail package reads no other package's rows.
    attachment_blob_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("blobs.id"))
    attachment_filename: Mapped[str | None] = mapped_column(sa.String(255))
    # The body holds a one-time link (an invitation, a password reset): once sent, it is
    # replaced, so the outbox keeps no usable secret.
    redact_after_send: Mapped[bool] = mapped_column(server_default=sa.false())
    status: Mapped[EmailStatus] = mapped_column(str_enum(EmailStatus, "email_status"))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
