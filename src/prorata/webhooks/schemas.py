"""API shapes of webhooks and deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field, field_validator

from prorata.http.schemas import RequestModel, ResponseModel
from prorata.platform.events import Announcement
from prorata.webhooks.models import DeliveryStatus

# http(s), a host (name, IPv4 or [IPv6]) and an optional port, no user:password@ (it would be
# stored and shown in clear), then printable ASCII.
URL_PATTERN = r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?(/[!-~]*)?$"
Url = Annotated[str, Field(min_length=10, max_length=2000, pattern=URL_PATTERN)]


class WebhookCreate(RequestModel):
    url: Url = Field(description="Where deliveries are POSTed; must resolve to a public address.")
    events: list[Announcement] = Field(min_length=1, max_length=len(Announcement))

    @field_validator("events")
    @classmethod
    def _distinct(cls, events: list[Announcement]) -> list[Announcement]:
        return sorted(set(events))


class WebhookOut(ResponseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: dt.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signing secret: shown once. Deliveries carry `Prorata-Signature: "
        "t=<unix>,v1=<hex>`, the HMAC-SHA256 of `<t>.<body>` with this secret."
    )


class DeliveryOut(ResponseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    status: DeliveryStatus
    attempts: int
    response_status: int | None
    last_error: str | None
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
