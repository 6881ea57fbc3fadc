"""Routes of distributions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.distributions import service as distribution_service
from prorata.distributions.models import Distribution
from prorata.distributions.schemas import (
    DistributionCreate,
    DistributionLineOut,
    DistributionOut,
    DistributionSummary,
    TierOut,
    TiersOut,
)
from prorata.finance import money
from prorata.funds import service as fund_service
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["distributions"])
BASE = "/funds/{fund_id}/distributions"


def _summary(distribution: Distribution, currency: str) -> DistributionSummary:
    q = money.quantum(currency)
    return DistributionSummary(
        id=distribution.id,
        fund_id=distribution.fund_id,
        deal_id=distribution.deal_id,
        kind=distribution.kind,
        date=distribution.distributed_on,
        amount=distribution.amount.quantize(q),
        currency=currency,
        lp_amount=distribution.lp_amount.quantize(q),
        gp_amount=distribution.gp_amount.quantize(q),
        clawback=distribution.clawback.quantize(q),
        created_at=distribution.created_at,
        cancelled_at=distribution.cancelled_at,
    )


async def _view(session: AsyncSession, distribution: Distribution) -> DistributionOut:
    fund = await fund_service.get(session, fund_id=distribution.fund_id)
    lines = [
        DistributionLineOut(
            investor_id=line.investor_id,
            amount=line.amount,
            lp_amount=line.lp_amount,
            gp_amount=line.gp_amount,
            tiers=TiersOut.model_validate(line.tiers),
        )
        for line in await distribution_service.lines_of(session, distribution)
    ]
    zero = money.quantum(fund.currency) * 0
    totals = {
        name: TierOut(
            lp=sum((getattr(line.tiers, name).lp for line in lines), zero),
            gp=sum((getattr(line.tiers, name).gp for line in lines), zero),
        )
        for name in distribution_service.TIER_NAMES
    }
    return DistributionOut(
        **_summary(distribution, fund.currency).model_dump(),
        tiers=TiersOut(**totals),
        lines=lines,
    )


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
    return await _view(session, distribution)


@router.get(BASE, summary="Distributions of a fund")
async def list_distributions(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[DistributionSummary]:
    fund = await fund_service.get(session, fund_id=fund_id)
    found = await distribution_service.page(session, fund_id=fund_id, params=page)
    return Page[DistributionSummary](
        items=[_summary(d, fund.currency) for d in found.items], next_cursor=found.next_cursor
    )


@router.get(BASE + "/{distribution_id}", summary="One distribution with its lines and tiers")
async def get_distribution(
    fund_id: uuid.UUID, distribution_id: uuid.UUID, session: TenantSession
) -> DistributionOut:
    distribution = await distribution_service.get(
        session, fund_id=fund_id, distribution_id=distribution_id
    )
    return await _view(session, distribution)


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
    return await _view(session, distribution)
