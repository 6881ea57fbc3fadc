"""Routes of valuations."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.valuations import service as valuation_service
from prorata.valuations.schemas import ValuationCreate, ValuationOut

router = APIRouter(route_class=ApiRoute, tags=["valuations and metrics"])


@router.post(
    "/funds/{fund_id}/valuations",
    status_code=status.HTTP_201_CREATED,
    summary="Record the fund's NAV as of a date",
)
async def create_valuation(
    fund_id: uuid.UUID, body: ValuationCreate, principal: CurrentPrincipal, session: TenantSession
) -> ValuationOut:
    valuation = await valuation_service.record(session, actor=principal, fund_id=fund_id, data=body)
    return ValuationOut.model_validate(valuation)


@router.get("/funds/{fund_id}/valuations", summary="Valuations of a fund")
async def list_valuations(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[ValuationOut]:
    found = await valuation_service.page(session, fund_id=fund_id, params=page)
    return render(found, ValuationOut)
