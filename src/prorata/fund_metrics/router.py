"""The fund metrics route."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.fund_metrics import service as metrics_service
from prorata.fund_metrics.schemas import MetricsOut
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import scoped_investor

router = APIRouter(route_class=ApiRoute, tags=["valuations and metrics"])


@router.get("/funds/{fund_id}/metrics", summary="Paid-in, distributions, NAV, DPI, RVPI, TVPI, IRR")
async def fund_metrics(
    fund_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
    as_of: Annotated[dt.date | None, Query(description="Default: today.")] = None,
    investor_id: Annotated[
        uuid.UUID | None,
        Query(description="One investor's view (an `investor` member: its own, the default)."),
    ] = None,
) -> MetricsOut:
    return await metrics_service.compute(
        session,
        fund_id=fund_id,
        as_of=as_of or dt.date.today(),
        investor_id=scoped_investor(principal, investor_id),
    )
