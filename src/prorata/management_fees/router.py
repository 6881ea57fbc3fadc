"""Route of the management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.http.auth import TenantSession
from prorata.http.routing import ApiRoute
from prorata.management_fees import service as fee_service
from prorata.management_fees.schemas import FeeLineOut, FeePartOut, ManagementFeeOut

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
        lines=[FeeLineOut(investor_id=i, amount=a) for i, a in fee.lines.items()],
    )
