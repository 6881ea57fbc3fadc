"""POST /calculations/{prorata,xirr,waterfall}: the engines behind capital calls and
distributions, callable on any inputs. Authenticated like everything else (any role); they
read and write no tenant data. The engines are pure CPU (seconds for the largest waterfall
or XIRR a request may ask), so they run in a worker thread, not on the event loop that every
other request shares."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable

from fastapi import APIRouter

from prorata.calculations.schemas import (
    EARLIEST,
    LATEST,
    FlowIn,
    Part,
    ProrataRequest,
    ProrataResponse,
    TierOut,
    WaterfallRequest,
    WaterfallResponse,
    XirrRequest,
    XirrResponse,
)
from prorata.finance import money, waterfall
from prorata.finance import performance as metrics
from prorata.http.auth import CurrentPrincipal
from prorata.http.routing import ApiRoute
from prorata.platform import errors

router = APIRouter(route_class=ApiRoute, tags=["calculations"])


def _check_dates(dates: Iterable[dt.date]) -> None:
    for date in dates:
        if not EARLIEST <= date <= LATEST:
            raise errors.RuleViolation(f"dates must lie between {EARLIEST} and {LATEST}: {date}")


def _flows(flows: list[FlowIn], currency: str) -> list[waterfall.Flow]:
    """Flows in `currency`, each amount checked like every amount: in the minor unit and of a
    sane size (exact arithmetic on 1E+999999 would run for minutes)."""
    return [
        waterfall.Flow(f.date, money.check_amount(f.amount, currency), f.deal_id) for f in flows
    ]


@router.post("/calculations/prorata", summary="Split an amount by weights (largest remainder)")
async def prorata(body: ProrataRequest, principal: CurrentPrincipal) -> ProrataResponse:
    if len({w.id for w in body.weights}) != len(body.weights):
        raise errors.RuleViolation("weight ids must be unique")
    try:
        parts = money.split(body.total, {w.id: w.weight for w in body.weights}, body.currency)
    except ValueError as exc:
        raise errors.RuleViolation(str(exc)) from None
    return ProrataResponse(parts=[Part(id=key, amount=amount) for key, amount in parts.items()])


@router.post("/calculations/xirr", summary="Internal rate of return (XIRR, ACT/365)")
async def xirr(body: XirrRequest, principal: CurrentPrincipal) -> XirrResponse:
    _check_dates(f.date for f in body.cash_flows)
    flows = [metrics.CashFlow(date=f.date, amount=f.amount) for f in body.cash_flows]
    try:
        irr = await asyncio.to_thread(metrics.xirr_roots, flows=flows)
    except ValueError as exc:
        raise errors.RuleViolation(str(exc)) from None
    return XirrResponse(irr=irr.rate, multiple_roots=irr.multiple_roots, roots=list(irr.roots))


@router.post("/calculations/waterfall", summary="Run a distribution waterfall, explained")
async def run_waterfall(body: WaterfallRequest, principal: CurrentPrincipal) -> WaterfallResponse:
    _check_dates(f.date for f in [*body.contributions, *body.proceeds])
    try:
        result = await asyncio.to_thread(
            waterfall.run_waterfall,
            terms=waterfall.Terms(**body.terms.model_dump()),
            contributions=_flows(body.contributions, body.currency),
            proceeds=_flows(body.proceeds, body.currency),
            exponent=money.minor_unit(body.currency),
        )
    except ValueError as exc:
        raise errors.RuleViolation(str(exc)) from None
    tiers = result.tiers
    return WaterfallResponse(
        lp_total=result.lp_total,
        gp_total=result.gp_total,
        clawback=result.clawback,
        tiers=[
            TierOut(tier=name, lp=split.lp, gp=split.gp)
            for name, split in (
                ("return_of_capital", tiers.return_of_capital),
                ("preferred_return", tiers.preferred_return),
                ("catch_up", tiers.catch_up),
                ("carried_interest", tiers.carried_interest),
            )
        ],
        explanation=list(result.explanation),
    )
