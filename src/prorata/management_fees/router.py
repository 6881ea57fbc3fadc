"""Route of the management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.management_fees import offsets
from prorata.management_fees import service as fee_service
from prorata.management_fees.schemas import (
    FeeIncomeCreate,
    FeeIncomeOut,
    FeeLineOut,
    FeePartOut,
    FeeReductionOut,
    FeeWaiverCreate,
    FeeWaiverOut,
    ManagementFeeOut,
)

router = APIRouter(route_class=ApiRoute, tags=["management fees"])


@router.get(
    "/funds/{fund_id}/management-fees",
    summary="The management fee of a period (rate × basis × fraction), split by commitment",
)
async def management_fee(
    fund_id: uuid.UUID,
    session: TenantSession,
    start: Annotated[dt.date, Query(alias="from", description="First day of the period.")],
    end: Annotated[dt.date, Query(alias="to", description="Last day of the period (included).")],
) -> ManagementFeeOut:
    fee = await fee_service.calculate(session, fund_id=fund_id, start=start, end=end)
    return ManagementFeeOut(
        fund_id=fund_id,
        currency=fee.fund.currency,
        period_from=start,
        period_to=end,
        day_count=fee.fund.day_count,
        amount=fee.amount,
        parts=[
            FeePartOut(
                period_from=p.first,
                period_to=p.last,
                basis=p.basis,
                basis_amount=p.basis_amount,
                rate=p.rate,
                fraction=fee_service.fraction_text(p.fraction),
                amount=p.amount,
            )
            for p in fee.parts
        ],
        reduction=FeeReductionOut(
            fee_offset_rate=fee.fund.fee_offset_rate,
            fee_income=fee.fee_income,
            carried_in=fee.reduction.carried_in,
            credit=fee.reduction.credit,
            waived=fee.reduction.waived,
            offset=fee.reduction.offset,
            carried_forward=fee.reduction.carried_out,
        ),
        net_amount=fee.net_amount,
        lines=[
            FeeLineOut(
                investor_id=i,
                amount=a,
                offset=fee.reductions[i][0],
                waived=fee.reductions[i][1],
                net=fee.net_line(i),
            )
            for i, a in fee.lines.items()
        ],
    )


@router.post(
    "/funds/{fund_id}/fee-income",
    status_code=status.HTTP_201_CREATED,
    summary="Record a fee a portfolio company paid the GP (it offsets the management fee)",
)
async def create_fee_income(
    fund_id: uuid.UUID, body: FeeIncomeCreate, principal: CurrentPrincipal, session: TenantSession
) -> FeeIncomeOut:
    income = await offsets.record_income(
        session,
        actor=principal,
        fund_id=fund_id,
        date=body.date,
        kind=body.kind,
        amount=body.amount,
        deal_id=body.deal_id,
    )
    return FeeIncomeOut.model_validate(income)


@router.get("/funds/{fund_id}/fee-income", summary="Fee income of a fund")
async def list_fee_income(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[FeeIncomeOut]:
    found = await offsets.page_income(session, fund_id=fund_id, params=page)
    return render(found, FeeIncomeOut)


@router.post(
    "/funds/{fund_id}/fee-waivers",
    status_code=status.HTTP_201_CREATED,
    summary="Record part of a period's management fee the GP forgoes",
)
async def create_fee_waiver(
    fund_id: uuid.UUID, body: FeeWaiverCreate, principal: CurrentPrincipal, session: TenantSession
) -> FeeWaiverOut:
    waiver = await offsets.record_waiver(
        session,
        actor=principal,
        fund_id=fund_id,
        period_start=body.period_start,
        period_end=body.period_end,
        amount=body.amount,
    )
    return FeeWaiverOut.model_validate(waiver)


@router.get("/funds/{fund_id}/fee-waivers", summary="Fee waivers of a fund")
async def list_fee_waivers(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[FeeWaiverOut]:
    found = await offsets.page_waivers(session, fund_id=fund_id, params=page)
    return render(found, FeeWaiverOut)
