"""Gross (deal-level) performance: the deals' own cash flows, before fees, expenses and carry.

Net figures (`service`) are the investors': what they paid in and got back. Gross figures are
the investments': per deal, up to `as_of`,

- invested: contributed capital booked for the deal — `payment` ledger entries of `investment`
  call lines with the deal's id (cash received, net of reversals), on their dates; an outflow;
- proceeds: what its standing realisations (`prorata.deals.realisations`) received, each on
  its date; an inflow. Distributions are not gross proceeds: they are the investors' cash
  (net), after fees and carry, and a European fund's name no deal;
- unrealised value on `as_of`: the cost still held, invested − the cost its realisations
  dated up to `as_of` realised (`unrealised_value`), while the deal is held on `as_of`: a
  deal realised in full (`realised_on`) is held before that date; one marked `exited` or
  `written_off` by hand with no such date is worth 0. The fund has no deal-level valuation, so
  remaining cost is the best value there is.

Multiples divide by invested (DPI = proceeds / invested, RVPI = unrealised / invested, TVPI =
MOIC = (proceeds + unrealised) / invested); the gross IRR is the XIRR of −invested, +proceeds
and +unrealised on `as_of` (`prorata.finance.performance`). The fund's gross figures are the
same over all its deals' flows together, plus investment capital that names no deal (held at
cost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import Purpose
from prorata.deals import service as deal_service
from prorata.deals.models import Deal, DealStatus, Realisation
from prorata.finance import money, performance
from prorata.fund_metrics.figures import figure
from prorata.fund_metrics.schemas import DealMetricsOut, GrossOut, RootsOut
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.ledger.models import EntryKind, LedgerEntry

_ZERO = Decimal(0)
_HELD = (DealStatus.open, DealStatus.closed)
GROSS_BASIS = (
    "Gross (deal-level): invested = contributed capital of the deals' investment call lines "
    "(cash received), on their dates; proceeds = the deals' realisations' proceeds, on their "
    "dates (distributions are the investors' cash, not gross proceeds); unrealised = cost "
    "still held on as_of (cost − cost realised by then; 0 from the date a deal is realised in "
    "full, or when marked exited or written off by hand); before management fees, fund "
    "expenses and carried interest."
)


@dataclasses.dataclass
class DealFlows:
    """One deal's (or the deal-less capital's) dated flows up to `as_of`, from the fund's side,
    with the cost its realisations realised by then and whether it is held on `as_of`."""

    invested: dict[dt.date, Decimal] = dataclasses.field(default_factory=dict)
    proceeds: dict[dt.date, Decimal] = dataclasses.field(default_factory=dict)
    cost_realised: Decimal = _ZERO
    held: bool = True


def held_on(status: DealStatus, realised_on: dt.date | None, as_of: dt.date) -> bool:
    """Whether a deal is held on `as_of`: before the date it was realised in full; with no
    such date, while its status is open or closed (a hand-marked exit or write-off is not)."""
    if realised_on is not None:
        return as_of < realised_on
    return status in _HELD


def unrealised_value(held: bool, *, invested: Decimal, cost_realised: Decimal = _ZERO) -> Decimal:
    """A deal's unrealised value at cost (module docstring): the cost not realised while held."""
    if not held:
        return _ZERO
    return max(invested - cost_realised, _ZERO)


async def deal_flows(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date, deal_id: uuid.UUID | None = None
) -> dict[uuid.UUID | None, DealFlows]:
    """The fund's investment flows up to `as_of` by deal (None: naming no deal); one deal's
    when `deal_id` is given."""
    invested = (
        sa.select(LedgerEntry.deal_id, LedgerEntry.effective_on, sa.func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.kind == EntryKind.payment,
            LedgerEntry.purpose == Purpose.investment.value,
            LedgerEntry.effective_on <= as_of,
        )
        .group_by(LedgerEntry.deal_id, LedgerEntry.effective_on)
    )
    realised = (
        sa.select(
            Realisation.deal_id,
            Realisation.realised_on,
            sa.func.sum(Realisation.proceeds),
            sa.func.sum(Realisation.cost_realised),
        )
        .where(
            Realisation.fund_id == fund_id,
            Realisation.cancelled_at.is_(None),
            Realisation.realised_on <= as_of,
        )
        .group_by(Realisation.deal_id, Realisation.realised_on)
    )
    deals = sa.select(Deal.id, Deal.status, Deal.realised_on).where(Deal.fund_id == fund_id)
    if deal_id is not None:
        invested = invested.where(LedgerEntry.deal_id == deal_id)
        realised = realised.where(Realisation.deal_id == deal_id)
        deals = deals.where(Deal.id == deal_id)
    found: dict[uuid.UUID | None, DealFlows] = defaultdict(DealFlows)
    for deal, day, amount in (await session.execute(invested)).all():
        found[deal].invested[day] = Decimal(amount)
    for deal, day, proceeds, cost in (await session.execute(realised)).all():
        if proceeds:
            found[deal].proceeds[day] = Decimal(proceeds)
        found[deal].cost_realised += Decimal(cost)
    for deal, status, realised_on in (await session.execute(deals)).all():
        if deal in found:
            found[deal].held = held_on(status, realised_on, as_of)
    return found


@dataclasses.dataclass(frozen=True)
class Gross:
    invested: Decimal
    proceeds: Decimal
    unrealised: Decimal
    multiples: performance.Multiples
    irr: performance.Irr


def gross_of(flows: list[DealFlows], *, as_of: dt.date) -> Gross:
    """The gross figures of these deals' flows together, each valued at its cost still held."""
    cash: list[performance.CashFlow] = []
    invested = proceeds = unrealised = _ZERO
    for deal in flows:
        deal_invested = sum(deal.invested.values(), _ZERO)
        invested += deal_invested
        proceeds += sum(deal.proceeds.values(), _ZERO)
        unrealised += unrealised_value(
            deal.held, invested=deal_invested, cost_realised=deal.cost_realised
        )
        cash += [performance.CashFlow(day, -amount) for day, amount in deal.invested.items()]
        cash += [performance.CashFlow(day, amount) for day, amount in deal.proceeds.items()]
    if unrealised > 0:
        cash.append(performance.CashFlow(as_of, unrealised))
    return Gross(
        invested=invested,
        proceeds=proceeds,
        unrealised=unrealised,
        multiples=performance.multiples(
            paid_in=max(invested, _ZERO), distributions=proceeds, nav=unrealised
        ),
        irr=performance.xirr_roots(flows=cash),
    )


def roots_out(irr: performance.Irr) -> RootsOut:
    return RootsOut(
        multiple_roots=irr.multiple_roots,
        roots=[root for root in (figure(r) for r in irr.roots) if root is not None],
    )


def gross_out(gross: Gross, currency: str) -> GrossOut:
    quantum = money.quantum(currency)
    return GrossOut(
        invested=gross.invested.quantize(quantum),
        proceeds=gross.proceeds.quantize(quantum),
        unrealised=gross.unrealised.quantize(quantum),
        dpi=figure(gross.multiples.dpi),
        rvpi=figure(gross.multiples.rvpi),
        tvpi=figure(gross.multiples.tvpi),
        irr=figure(gross.irr.rate),
        irr_roots=roots_out(gross.irr),
        basis=GROSS_BASIS,
    )


async def fund_gross(session: AsyncSession, *, fund: Fund, as_of: dt.date) -> GrossOut:
    """The fund's gross figures on `as_of`, across its deals."""
    flows = await deal_flows(session, fund_id=fund.id, as_of=as_of)
    return gross_out(gross_of(list(flows.values()), as_of=as_of), fund.currency)


async def deal_metrics(
    session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID, as_of: dt.date
) -> DealMetricsOut:
    """One deal's gross figures on `as_of` (404: no such fund, or no such deal in it)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    deal = await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    flows = await deal_flows(session, fund_id=fund_id, as_of=as_of, deal_id=deal_id)
    gross = gross_of([flows[deal_id]], as_of=as_of)
    return DealMetricsOut(
        fund_id=fund_id,
        deal_id=deal_id,
        as_of=as_of,
        currency=fund.currency,
        status=deal.status,
        gross=gross_out(gross, fund.currency),
    )
