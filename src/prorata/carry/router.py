"""Routes of the fund's carry: its position, the clawback at wind-down, the GP's repayments of
it and escrow released before wind-down."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from prorata.carry import service as carry_service
from prorata.carry.schemas import CarryOut, ClawbackBook, ClawbackRepayment, EscrowRelease
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["distributions"])
PATH = "/funds/{fund_id}/clawback"


@router.get(PATH, summary="Carry earned, paid and in escrow, and the interim clawback measure")
async def carry_position(
    fund_id: uuid.UUID,
    session: TenantSession,
    as_of: Annotated[dt.date | None, Query(description="Default: today.")] = None,
) -> CarryOut:
    return await carry_service.position(session, fund_id=fund_id, as_of=as_of or dt.date.today())


@router.post(
    PATH,
    status_code=status.HTTP_201_CREATED,
    summary="Book the clawback at wind-down: from escrow first, the rest owed by the GP (once)",
)
async def book_clawback(
    fund_id: uuid.UUID,
    body: ClawbackBook,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CarryOut:
    return await carry_service.book(session, actor=principal, fund_id=fund_id, as_of=body.as_of)


@router.post(
    f"{PATH}/repayments",
    status_code=status.HTTP_201_CREATED,
    summary="The GP repays the clawback receivable: cash on to the investors pro rata to what "
    "each is owed (at most what is outstanding)",
)
async def repay_clawback(
    fund_id: uuid.UUID,
    body: ClawbackRepayment,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CarryOut:
    return await carry_service.repay(
        session, actor=principal, fund_id=fund_id, day=body.date, amount=body.amount
    )


@router.post(
    "/funds/{fund_id}/escrow/releases",
    status_code=status.HTTP_201_CREATED,
    summary="Release escrow to the GP before wind-down: at most escrow held − the interim "
    "clawback measure, per investor",
)
async def release_escrow(
    fund_id: uuid.UUID,
    body: EscrowRelease,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CarryOut:
    return await carry_service.release_escrow(
        session, actor=principal, fund_id=fund_id, day=body.date, amount=body.amount
    )
