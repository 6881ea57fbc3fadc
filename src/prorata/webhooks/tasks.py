"""The delivery job: one POST per attempt, recorded on the delivery row, retried with backoff.

Retries: 10 attempts in all, waiting 3^n seconds before the n-th retry (3 s, 9 s, 27 s, …,
about 8 hours in all). A refused address is final at once: it will not become public by waiting.
"""

from __future__ import annotations

import time
import uuid

import procrastinate
import sqlalchemy as sa
from procrastinate import JobContext, RetryStrategy

from prorata import jobs
from prorata.jobs import attempts
from prorata.platform import db
from prorata.webhooks import delivery
from prorata.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery

MAX_ATTEMPTS = 10
# procrastinate's `max_attempts` counts retries after the first run.
RETRIES = MAX_ATTEMPTS - 1

blueprint = procrastinate.Blueprint()


@blueprint.task(
    name="webhooks.deliver",
    queue="webhooks",
    pass_context=True,
    retry=attempts.Retry(
        own=RetryStrategy(
            max_attempts=RETRIES, exponential_wait=3, retry_exceptions=[delivery.Failed]
        )
    ),
)
async def deliver(context: JobContext, org_id: str, delivery_id: str) -> None:
    settings = jobs.settings_of(context)
    sessions = jobs.sessions_of(context)
    async with db.tenant_transaction(sessions, uuid.UUID(org_id)) as session:
        row = await session.execute(
            sa.select(WebhookDelivery, Webhook.url, Webhook.secret)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id == uuid.UUID(delivery_id))
        )
        found = row.one_or_none()
    if found is None or found[0].status is DeliveryStatus.succeeded:
        return  # the webhook was deleted, or an earlier run delivered (at-least-once jobs)
    record, url, secret = found
    body = record.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Prorata-Webhooks/1",
        "Prorata-Event": record.event,
        "Prorata-Delivery": str(record.id),
        delivery.SIGNATURE_HEADER: delivery.sign(secret, int(time.time()), body),
    }
    outcome: dict[str, object] = {"last_attempt_at": sa.func.now()}
    failure: delivery.Failed | None = None
    try:
        status = await delivery.post(
            url,
            body=body,
            headers=headers,
            allow_loopback=settings.webhook_allow_loopback,
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        outcome |= {"status": DeliveryStatus.succeeded, "response_status": status}
        outcome |= {"delivered_at": sa.func.now(), "last_error": None}
    except delivery.Refused as exc:
        ended = attempts.failure(context, exc, final=True)
        outcome |= {"status": DeliveryStatus.failed, "last_error": ended.error}
    except delivery.Failed as exc:
        failure = exc
        ended = attempts.failure(context, exc)
        outcome |= {
            "status": DeliveryStatus.pending if ended.retried else DeliveryStatus.failed,
            "response_status": exc.status,
            "last_error": ended.error,
        }
    async with db.tenant_transaction(sessions, uuid.UUID(org_id)) as session:
        await session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == record.id)
            .values(attempts=WebhookDelivery.attempts + 1, **outcome)
        )
    if failure is not None:
        raise failure
