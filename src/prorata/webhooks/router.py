"""Routes of webhooks (admins: they name where the organisation's data is sent)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.webhooks import service as webhook_service
from prorata.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut

router = APIRouter(route_class=ApiRoute, tags=["webhooks"])


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook (its signing secret is shown once)",
)
async def create_webhook(
    body: WebhookCreate, principal: CurrentPrincipal, session: TenantSession
) -> WebhookCreated:
    webhook, secret = await webhook_service.create(session, actor=principal, data=body)
    return WebhookCreated(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        created_at=webhook.created_at,
        secret=secret,
    )


@router.get("/webhooks", summary="Webhooks of the organisation (never their secrets)")
async def list_webhooks(session: TenantSession, page: PageQuery) -> Page[WebhookOut]:
    webhooks = await webhook_service.page(session, params=page)
    return render(webhooks, WebhookOut)


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook and its delivery records",
)
async def delete_webhook(
    webhook_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    await webhook_service.delete(session, actor=principal, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="Deliveries of a webhook: status, attempts, last response or error",
)
async def list_deliveries(
    webhook_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[DeliveryOut]:
    deliveries = await webhook_service.deliveries(session, webhook_id=webhook_id, params=page)
    return render(deliveries, DeliveryOut)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a failed delivery again, with a fresh set of attempts",
)
async def retry_delivery(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DeliveryOut:
    found = await webhook_service.redeliver(
        session, actor=principal, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return DeliveryOut.model_validate(found)
