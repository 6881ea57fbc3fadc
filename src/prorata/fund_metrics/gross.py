"""Gross (deal-level) performance: the deals' own cash flows, before fees, expenses and carry.

Net figures (`service`) are the investors': what they paid in and got back. Gross figures are
the investments': per deal,

- invested: contributed capital booked for the deal — `payment` ledger entries of `investment`
  call lines with the deal's id (cash received, net of reversals), on their dates, up to
  `as_of`; an outflow for the fund;
- proceeds: the distributions made with the deal's id (the gross amount, LP + GP: carry is
  paid out of the deal's proceeds), not cancelled, on their dates, up to `as_of`;
- unrealised value on `as_of`: the deal's cost still held — invested less the cost realised
  (`cost_realised`, 0 until the deal's realisations are recorded) — while the deal is `open` or
  `closed`; 0 once it is `exited` or `written_off` (the deal's status now: statuses are not
  dated). No deal is valued above cost: the fund has
  no deal-level valuation, so cost is the best value there is.

Multiples divide by invested (DPI = proceeds / invested, RVPI = unrealised / invested, TVPI =
MOIC = (proceeds + unrealised) / invested); the gross IRR is the XIRR of −invested, +proceeds
and +unrealised on `as_of` (`prorata.finance.performance`). The fund's gross figures are the
same over all its deals' flows together, plus investment capital and distributions that name no
deal (a European fund's distributions usually do not): they are the investments' too, and such
capital is held at cost.
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
from prorata.deals.models import Deal, DealStatus
from prorata.distributions.models import Distribution
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
    "(cash received); proceeds = distributions of the deals, LP + GP, before carry; unrealised "
    "= cost still held in open or closed deals (exited and written-off deals: 0); before "
    "management fees, fund expenses and carried interest."
)


@dataclasses.dataclass
class DealFlows:
    """One deal's (or the deal-less capital's) dated flows, from the fund's side."""

    invested: dict[dt.date, Decimal] = dataclasses.field(default_factory=dict)
    proceeds: dict[dt.date, Decimal] = dataclasses.field(default_factory=dict)


def unrealised_value(
    status: DealStatus | None, *, invested: Decimal, cost_realised: Decimal = _ZERO
) -> Decimal:
    """A deal's unrealised value at cost (module docstring); `status` None: capital that names
    no deal, held at cost. `cost_realised` is the narrow interface for realisations (item 1 of
    issue 19): the cost of the part sold or written down."""
    if status is not None and status not in _HELD:
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
    proceeds = (
        sa.select(
            Distribution.deal_id, Distribution.distributed_on, sa.func.sum(Distribution.amount)
        )
        .where(
            Distribution.fund_id == fund_id,
            Distribution.cancelled_at.is_(None),
            Distribution.distributed_on <= as_of,
        )
        .group_by(Distribution.deal_id, Distribution.distributed_on)
    )
    if deal_id is not None:
        invested = invested.where(LedgerEntry.deal_id == deal_id)
        proceeds = proceeds.where(Distribution.deal_id == deal_id)
    found: dict[uuid.UUID | None, DealFlows] = defaultdict(DealFlows)
    for deal, day, amount in (await session.execute(invested)).all():
        found[deal].invested[day] = Decimal(amount)
    for deal, day, amount in (await session.execute(proceeds)).all():
        found[deal].proceeds[day] = Decimal(amount)
    return found


@dataclasses.dataclass(frozen=True)
class Gross:
    invested: Decimal
    proceeds: Decimal
    unrealised: Decimal
    multiples: performance.Multiples
    irr: performance.Irr


def gross_of(flows: list[tuple[DealFlows, DealStatus | None]], *, as_of: dt.date) -> Gross:
    """The gross figures of these deals' flows together, each valued by its status."""
    cash: list[performance.CashFlow] = []
    invested = proceeds = unrealised = _ZERO
    for deal, status in flows:
        deal_invested = sum(deal.invested.values(), _ZERO)
        invested += deal_invested
        proceeds += sum(deal.proceeds.values(), _ZERO)
        unrealised += unrealised_value(status, invested=deal_invested)
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
    statuses = await _statuses(session, fund.id, [d for d in flows if d is not None])
    gross = gross_of([(f, statuses.get(d) if d else None) for d, f in flows.items()], as_of=as_of)
    return gross_out(gross, fund.currency)


async def deal_metrics(
    session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID, as_of: dt.date
) -> DealMetricsOut:
    """One deal's gross figures on `as_of` (404: no such fund, or no such deal in it)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    deal = await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    flows = await deal_flows(session, fund_id=fund_id, as_of=as_of, deal_id=deal_id)
    gross = gross_of([(flows[deal_id], deal.status)], as_of=as_of)
    return DealMetricsOut(
        fund_id=fund_id,
        deal_id=deal_id,
        as_of=as_of,
        currency=fund.currency,
        status=deal.status,
        gross=gross_out(gross, fund.currency),
    )


async def _statuses(
    session: AsyncSession, fund_id: uuid.UUID, deal_ids: list[uuid.UUID]
) -> dict[uuid.UUID, DealStatus]:
    if not deal_ids:
        return {}
    rows = await session.execute(
        sa.select(Deal.id, Deal.status).where(Deal.fund_id == fund_id, Deal.id.in_(deal_ids))
    )
    return {deal: status for deal, status in rows.all()}
