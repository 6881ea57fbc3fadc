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
    description="Books proceeds − cost_realised to the investors' capital accounts on `date` "
    "(`gain_loss`), by their contributed capital to the deal. When the deal's cost is then "
    "realised in full, the deal gets `realised_on` = the latest realisation's date and status "
    "`exited` (`written_off` when no proceeds at all). The proceeds are distributed by "
    "distributions naming the realisation (`realisation_id` on POST /funds/{f}/distributions).",
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
    return await realisations.one(session, realisation)


@router.post(
    "/funds/{fund_id}/deals/{deal_id}/realisations/{realisation_id}/cancel",
    tags=["deals"],
    summary="Cancel a realisation: its realised gain or loss is reversed",
    description="Its `gain_loss` entries are reversed on their own dates (the exit never "
    "happened as of any date); the realisation stays, with `cancelled_at`. Refused (409) while "
    "a standing distribution distributes its proceeds: cancel that first. A deal it had "
    "realised in full is held again (`realised_on` null, status `closed`).",
)
async def cancel_realisation(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    realisation_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> RealisationOut:
    realisation = await realisations.cancel(
        session,
        actor=principal,
        fund_id=fund_id,
        deal_id=deal_id,
        realisation_id=realisation_id,
    )
    return await realisations.one(session, realisation)


@router.get(
    "/funds/{fund_id}/deals/{deal_id}/realisations",
    tags=["deals"],
    summary="A deal's cost, realised cost, remaining cost and realisations",
    description="With what of the proceeds distributions have distributed and what remains "
    "(`distributed`, `undistributed`, per realisation and in all).",
)
async def list_realisations(
    fund_id: uuid.UUID, deal_id: uuid.UUID, session: TenantSession
) -> RealisationsOut:
    return await realisations.view(session, fund_id=fund_id, deal_id=deal_id)
