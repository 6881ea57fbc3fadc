"""Webhooks (an endpoint, the events it wants, its signing secret) and their deliveries."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import Base, str_enum
from prorata.platform.ids import new_id


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # not attempted yet, or waiting for its next retry
    succeeded = "succeeded"
    failed = "failed"  # retries exhausted, or refused (an address we never call)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (sa.UniqueConstraint("org_id", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(sa.String(50)))
    # Kept to sign every delivery (HMAC needs the secret itself); shown to the client once.
    secret: Mapped[str] = mapped_column(sa.String(100))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "webhook_id"], ["webhooks.org_id", "webhooks.id"], ondelete="CASCADE"
        ),
        sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    webhook_id: Mapped[uuid.UUID] = mapped_column()
    event: Mapped[str] = mapped_column(sa.String(50))
    # The exact bytes sent (as text): every retry signs and sends the same body. Event data
    # names ids and amounts, never documents (see `events`): 16 KiB is plenty.
    body: Mapped[str] = mapped_column(sa.String(16384))
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus, "delivery_status"))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
