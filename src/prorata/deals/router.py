"""Routes of a fund's deals."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.deals import realisations
from prorata.deals import service as deal_service
from prorata.deals.schemas import (
    DealCreate,
    DealOut,
    DealUpdate,
    RealisationCreate,
    RealisationOut,
    RealisationsOut,
)
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


@router.post(
    "/funds/{fund_id}/deals/{deal_id}/realisations",
    status_code=CREATED,
    tags=["deals"],
    summary="Realise a deal (full or partial exit, write-down): book the realised gain or loss",
)
async def create_realisation(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    body: RealisationCreate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> RealisationOut:
    realisation = await realisations.realise(
        session, actor=principal, fund_id=fund_id, deal_id=deal_id, data=body
    )
    return RealisationOut.model_validate(realisation)


@router.get(
    "/funds/{fund_id}/deals/{deal_id}/realisations",
    tags=["deals"],
    summary="A deal's cost, realised cost, remaining cost and realisations",
)
async def list_realisations(
    fund_id: uuid.UUID, deal_id: uuid.UUID, session: TenantSession
) -> RealisationsOut:
    return await realisations.view(session, fund_id=fund_id, deal_id=deal_id)
