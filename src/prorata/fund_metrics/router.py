"""The fund metrics route."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.fund_metrics import gross as gross_service
from prorata.fund_metrics import service as metrics_service
from prorata.fund_metrics import statement as statement_service
from prorata.fund_metrics.schemas import DealMetricsOut, MetricsOut, StatementOut
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.reads import HeavyReadSession
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import check_investor_scope, scoped_investor

router = APIRouter(route_class=ApiRoute, tags=["valuations and metrics"])


@router.get("/funds/{fund_id}/metrics", summary="Paid-in, distributions, NAV, DPI, RVPI, TVPI, IRR")
async def fund_metrics(
    fund_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: HeavyReadSession,  # the read replica when it keeps up
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
        gross=True,
    )


@router.get(
    "/funds/{fund_id}/deals/{deal_id}/metrics",
    summary="A deal's gross figures: invested, proceeds, unrealised at cost, multiples, IRR",
    tags=["valuations and metrics", "deals"],
)
async def deal_metrics(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    session: TenantSession,
    as_of: Annotated[dt.date | None, Query(description="Default: today.")] = None,
) -> DealMetricsOut:
    return await gross_service.deal_metrics(
        session, fund_id=fund_id, deal_id=deal_id, as_of=as_of or dt.date.today()
    )


@router.get(
    "/funds/{fund_id}/investors/{investor_id}/capital-account/statement",
    summary="An investor's ILPA-style capital account statement: QTD, YTD and ITD columns",
    tags=["capital accounts"],
    response_model_by_alias=True,
)
async def capital_account_statement(
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
    as_of: Annotated[
        dt.date | None, Query(description="The period's last day (E); default: today.")
    ] = None,
    start: Annotated[
        dt.date | None,
        Query(alias="from", description="Also a column from this day to `as_of` (`period`)."),
    ] = None,
) -> StatementOut:
    check_investor_scope(principal, investor_id)
    return await statement_service.statement(
        session,
        fund_id=fund_id,
        investor_id=investor_id,
        as_of=as_of or dt.date.today(),
        start=start,
    )
