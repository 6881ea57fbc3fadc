"""Routes of a fund's deals."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.deals import service as deal_service
from prorata.deals.schemas import DealCreate, DealOut, DealUpdate
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute)
CREATED = status.HTTP_201_CREATED


@router.post(
    "/funds/{fund_id}/deals",
    status_code=CREATED,
    tags=["deals"],
    summary="Create a deal",
)
async def create_deal(
    fund_id: uuid.UUID, body: DealCreate, principal: CurrentPrincipal, session: TenantSession
) -> DealOut:
    deal = await deal_service.create(session, actor=principal, fund_id=fund_id, data=body)
    return DealOut.model_validate(deal)


@router.get("/funds/{fund_id}/deals", tags=["deals"], summary="Deals of a fund")
async def list_deals(fund_id: uuid.UUID, session: TenantSession, page: PageQuery) -> Page[DealOut]:
    deals = await deal_service.page(session, fund_id=fund_id, params=page)
    return render(deals, DealOut)


@router.get("/funds/{fund_id}/deals/{deal_id}", tags=["deals"], summary="One deal")
async def get_deal(fund_id: uuid.UUID, deal_id: uuid.UUID, session: TenantSession) -> DealOut:
    return DealOut.model_validate(await deal_service.get(session, fund_id=fund_id, deal_id=deal_id))


@router.patch("/funds/{fund_id}/deals/{deal_id}", tags=["deals"], summary="Change a deal")
async def update_deal(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    body: DealUpdate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DealOut:
    deal = await deal_service.update(
        session, actor=principal, fund_id=fund_id, deal_id=deal_id, data=body
    )
    return DealOut.model_validate(deal)
