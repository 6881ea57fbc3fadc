"""Rules of webhooks: registration, and one delivery per subscribed webhook per event.

`dispatch` runs in the transaction of the change it announces: the delivery rows and their jobs
exist if and only if the change committed. Each delivery is a job (`webhooks.deliver`), retried
with exponential backoff, its attempts recorded on the delivery row.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.platform import audit, errors, events
from prorata.platform.ids import new_id
from prorata.webhooks import delivery
from prorata.webhooks import tasks as webhook_tasks
from prorata.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from prorata.webhooks.schemas import WebhookCreate

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_WEBHOOKS_PER_ORG = 50


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise errors.RuleViolation("url: not a valid URL") from None
    if not parsed.host or parsed.userinfo:
        raise errors.RuleViolation("url: needs a host and no user:password@")
    if not delivery.valid_host(parsed.host):
        raise errors.RuleViolation("url: not a valid host name (empty or over-long label)")
    if parsed.port is not None and not delivery.valid_port(parsed.port):
        raise errors.RuleViolation("url: the port must be between 1 and 65535")


async def create(
    session: AsyncSession, *, actor: Principal, data: WebhookCreate
) -> tuple[Webhook, str]:
    """Register a webhook; return it with its secret (shown once)."""
    _check_url(data.url)
    count = await session.scalar(sa.select(sa.func.count()).select_from(Webhook))
    if (count or 0) >= MAX_WEBHOOKS_PER_ORG:
        raise errors.RuleViolation(f"an organisation has at most {MAX_WEBHOOKS_PER_ORG} webhooks")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    webhook = Webhook(
        org_id=actor.org_id,
        url=data.url,
        events=[str(event) for event in data.events],
        secret=secret,
        created_by=actor.user_id,
    )
    session.add(webhook)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="webhook.create",
        entity="webhook",
        entity_id=webhook.id,
        after={"url": webhook.url, "events": webhook.events},
    )
    return webhook, secret


async def get(session: AsyncSession, *, webhook_id: uuid.UUID) -> Webhook:
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None:
        raise errors.NotFound("no such webhook")
    return webhook


async def page(session: AsyncSession, *, params: PageParams) -> Page[Webhook]:
    return await keyset(
        session, sa.select(Webhook), key=[Webhook.id], params=params, item=lambda w: w
    )


async def delete(session: AsyncSession, *, actor: Principal, webhook_id: uuid.UUID) -> None:
    """Remove a webhook with its delivery records; queued deliveries find nothing and stop."""
    webhook = await get(session, webhook_id=webhook_id)
    await session.delete(webhook)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="webhook.delete",
        entity="webhook",
        entity_id=webhook_id,
        before={"url": webhook.url, "events": webhook.events},
    )


async def deliveries(
    session: AsyncSession, *, webhook_id: uuid.UUID, params: PageParams
) -> Page[WebhookDelivery]:
    await get(session, webhook_id=webhook_id)
    return await keyset(
        session,
        sa.select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id),
        key=[WebhookDelivery.id],
        params=params,
        item=lambda d: d,
    )


async def redeliver(
    session: AsyncSession, *, actor: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    """A failed delivery (retries exhausted, or refused) goes out again, the same body with a
    fresh set of attempts — once the receiver is fixed; its record and attempts so far stay."""
    await get(session, webhook_id=webhook_id)
    found = await session.scalar(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)
        .with_for_update()
    )
    if found is None:
        raise errors.NotFound("no such delivery of this webhook")
    if found.status is not DeliveryStatus.failed:
        raise errors.Conflict(
            f"only a failed delivery can be sent again; this one is {found.status}"
        )
    found.status = DeliveryStatus.pending
    await session.flush()
    await jobs.defer(
        session, webhook_tasks.deliver, org_id=str(actor.org_id), delivery_id=str(found.id)
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="webhook.redeliver",
        entity="webhook_delivery",
        entity_id=found.id,
        after={"webhook_id": str(webhook_id), "attempts": found.attempts},
    )
    return found


def body(*, delivery_id: uuid.UUID, kind: str, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": str(delivery_id),
            "type": kind,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    )


async def dispatch(session: AsyncSession, announced: events.Announced) -> None:
    """One delivery (row + job) per webhook of the org subscribed to the announced kind.
    Connected to `events.announced` by `prorata.wiring`."""
    kind = announced.kind
    data = {"fund_id": announced.fund_id, **announced.data}
    webhook_ids = (
        await session.scalars(sa.select(Webhook.id).where(Webhook.events.contains([kind])))
    ).all()
    for webhook_id in webhook_ids:
        delivery_id = new_id()
        session.add(
            WebhookDelivery(
                id=delivery_id,
                org_id=announced.org_id,
                webhook_id=webhook_id,
                event=kind,
                body=body(delivery_id=delivery_id, kind=kind, data=data),
                status=DeliveryStatus.pending,
                attempts=0,
            )
        )
        await session.flush()
        await jobs.defer(
            session,
            webhook_tasks.deliver,
            org_id=str(announced.org_id),
            delivery_id=str(delivery_id),
        )
