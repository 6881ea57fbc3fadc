"""Route of capital account statements."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from prorata.capital_accounts import service as account_service
from prorata.capital_accounts.schemas import CapitalAccountOut
from prorata.http.auth import CurrentPrincipal, TenantSession
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
    session: TenantSession,
    start: Annotated[
        dt.date | None, Query(alias="from", description="First day; default: inception.")
    ] = None,
    end: Annotated[
        dt.date | None, Query(alias="to", description="Last day; default: today.")
    ] = None,
) -> CapitalAccountOut:
    check_investor_scope(principal, investor_id)
    end = end or dt.date.today()
    fund, account = await account_service.account(
        session, fund_id=fund_id, investor_id=investor_id, start=start, end=end
    )
    s = account.statement
    return CapitalAccountOut(
        fund_id=fund_id,
        investor_id=investor_id,
        currency=fund.currency,
        period_from=start,
        period_to=end,
        beginning_balance=s.begin,
        contributions=s.contributions,
        distributions=s.distributions,
        carried_interest=s.carried_interest,
        management_fees=s.fees,
        expenses=s.expenses,
        allocated_gains_losses=s.allocated_gains,
        ending_balance=s.end,
        commitment=account.commitment,
        contributed=account.contributed,
        unfunded=account.unfunded,
    )
