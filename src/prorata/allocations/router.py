"""Routes of allocations (writes through the one allocation service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from prorata.allocations import service as allocation_service
from prorata.allocations.schemas import AllocationAmount, AllocationOut, DealAllocated
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageParams, page_params, render
from prorata.http.reads import HeavyReadSession
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["allocations"])
Filter = Annotated[uuid.UUID | None, Query()]
# Allocations are ordered by their primary key (fund, investor, deal): a three-part cursor.
AllocationPage = Annotated[PageParams, Depends(page_params(len(allocation_service.KEY)))]


@router.put(
    "/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}",
    summary="Set one investor's allocation of a deal",
)
async def put_allocation(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    investor_id: uuid.UUID,
    body: AllocationAmount,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> AllocationOut:
    row = await allocation_service.upsert(
        session,
        actor=principal,
        fund_id=fund_id,
        deal_id=deal_id,
        investor_id=investor_id,
        amount=body.amount,
    )
    return AllocationOut.model_validate(row)


@router.post(
    "/funds/{fund_id}/deals/{deal_id}/allocations/prorata",
    summary="Split an amount across the fund's investors by commitment",
)
async def prorata_allocations(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    body: AllocationAmount,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> list[AllocationOut]:
    rows = await allocation_service.replace_prorata(
        session, actor=principal, fund_id=fund_id, deal_id=deal_id, amount=body.amount
    )
    return [AllocationOut.model_validate(r) for r in rows]


@router.get(
    "/funds/{fund_id}/allocations/totals",
    summary="Allocations of a fund summed by deal (deals with none are left out)",
)
async def allocation_totals(fund_id: uuid.UUID, session: TenantSession) -> list[DealAllocated]:
    found = await allocation_service.totals(session, fund_id=fund_id)
    return [DealAllocated.model_validate(row, from_attributes=True) for row in found.values()]


@router.get("/funds/{fund_id}/allocations", summary="Allocations of a fund")
async def fund_allocations(
    fund_id: uuid.UUID,
    session: HeavyReadSession,  # the read replica when it keeps up
    page: AllocationPage,
    deal_id: Filter = None,
    investor_id: Filter = None,
) -> Page[AllocationOut]:
    found = await allocation_service.page(
        session,
        params=page,
        fund_id=fund_id,
        deal_id=deal_id,
        investor_id=investor_id,
        fund_must_exist=True,
    )
    return render(found, AllocationOut)


@router.get("/allocations", summary="Allocations across the organisation's funds")
async def all_allocations(
    session: HeavyReadSession,  # the read replica when it keeps up
    page: AllocationPage,
    fund_id: Filter = None,
    deal_id: Filter = None,
    investor_id: Filter = None,
) -> Page[AllocationOut]:
    found = await allocation_service.page(
        session, params=page, fund_id=fund_id, deal_id=deal_id, investor_id=investor_id
    )
    return render(found, AllocationOut)
