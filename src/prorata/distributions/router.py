"""Routes of distributions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.distributions import service as distribution_service
from prorata.distributions.schemas import (
    DistributionCreate,
    DistributionOut,
    DistributionSummary,
)
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute
from prorata.notices.schemas import NoticeSchedule

router = APIRouter(route_class=ApiRoute, tags=["distributions"])
BASE = "/funds/{fund_id}/distributions"


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    summary="Distribute cash: split by contributed capital, through the waterfall, to the ledger",
)
async def create_distribution(
    fund_id: uuid.UUID,
    body: DistributionCreate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DistributionOut:
    distribution = await distribution_service.create(
        session, actor=principal, fund_id=fund_id, data=body
    )
    return await distribution_service.view(session, distribution)


@router.get(BASE, summary="Distributions of a fund")
async def list_distributions(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[DistributionSummary]:
    found = await distribution_service.page(session, fund_id=fund_id, params=page)
    return Page[DistributionSummary](
        items=[distribution_service.summary_of(d, d.fund_currency) for d in found.items],
        next_cursor=found.next_cursor,
    )


@router.get(BASE + "/{distribution_id}", summary="One distribution with its lines and tiers")
async def get_distribution(
    fund_id: uuid.UUID, distribution_id: uuid.UUID, session: TenantSession
) -> DistributionOut:
    distribution = await distribution_service.get(
        session, fund_id=fund_id, distribution_id=distribution_id
    )
    return await distribution_service.view(session, distribution)


@router.post(
    BASE + "/{distribution_id}/cancel",
    summary="Cancel the fund's latest distribution: its ledger entries are reversed",
)
async def cancel_distribution(
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DistributionOut:
    distribution = await distribution_service.cancel(
        session, actor=principal, fund_id=fund_id, distribution_id=distribution_id
    )
    return await distribution_service.view(session, distribution)


@router.post(
    BASE + "/{distribution_id}/notices/approve",
    summary="Approve the notices: they are mailed now (an admin who did not make it)",
)
async def approve_notices(
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DistributionOut:
    distribution = await distribution_service.approve_notices(
        session, actor=principal, fund_id=fund_id, distribution_id=distribution_id
    )
    return await distribution_service.view(session, distribution)


@router.post(
    BASE + "/{distribution_id}/notices/schedule",
    summary="Approve the notices to be mailed at a given time (four eyes, as approving)",
)
async def schedule_notices(
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    body: NoticeSchedule,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DistributionOut:
    distribution = await distribution_service.schedule_notices(
        session,
        actor=principal,
        fund_id=fund_id,
        distribution_id=distribution_id,
        send_at=body.send_at,
    )
    return await distribution_service.view(session, distribution)
