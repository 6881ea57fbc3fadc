"""Route of capital account statements."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.capital_accounts import service as account_service
from prorata.capital_accounts.schemas import CapitalAccountOut
from prorata.http.auth import CurrentPrincipal
from prorata.http.reads import HeavyReadSession
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import check_investor_scope

router = APIRouter(route_class=ApiRoute, tags=["capital accounts"])


@router.get(
    "/funds/{fund_id}/investors/{investor_id}/capital-account",
    summary="An investor's capital account roll-forward for a period",
    response_model_by_alias=True,
)
async def capital_account(
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: HeavyReadSession,  # the read replica when it keeps up
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day; default: inception.")
    ] = None,
    end: Annotated[
        dt.date | None, Query(alias="to", description="Last day; default: today.")
    ] = None,
) -> CapitalAccountOut:
    check_investor_scope(principal, investor_id)
    end = end or dt.date.today()
    return await account_service.statement(
        session, fund_id=fund_id, investor_id=investor_id, start=start, end=end
    )
