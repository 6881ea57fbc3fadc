"""Fund metrics, computed from the ledger and the latest valuation.

Committed is the sum of commitments (or the investor's); called is what issued calls asked for
up to `as_of` (ledger `contribution` entries, paid or not).

Paid-in capital is what investors paid against calls (ledger `payment` entries); distributions
are `distribution` and `recallable_distribution` entries; NAV is the NAV on `as_of`
(`capital_accounts.fund_nav`): the latest valuation on or before it rolled forward by the
contributions, distributions (LP and GP), fees and expenses charged and realised gains since
(from zero before any valuation). For one investor, NAV is its capital account balance on
`as_of` (the valuations' gains allocated with the one splitter, realised gains booked on their
date, so the investors' NAVs add up to the fund's to the minor unit, on every date). IRR is
the XIRR of the investor-side flows: payments out, distributions in, and the NAV as a final
inflow on `as_of` (a fraction a
year; with several roots the one nearest 10 %, all listed in `irr_roots`). Each answer states this
basis in words (`basis`); the fund's view adds the gross, deal-level figures (`gross`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts import service as capital_accounts
from prorata.finance import money, performance
from prorata.fund_metrics import gross as gross_service
from prorata.fund_metrics.figures import figure
from prorata.fund_metrics.schemas import BasisOut, MetricsOut
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import errors
from prorata.valuations import service as valuation_service

_IN = (EntryKind.distribution, EntryKind.recallable_distribution)


@dataclasses.dataclass(frozen=True)
class Flow:
    """The ledger's entries of one kind on one day, summed."""

    kind: EntryKind
    day: dt.date
    amount: Decimal


FLOW_KINDS = (EntryKind.contribution, EntryKind.payment, *_IN)


async def flows(
    session: AsyncSession, *, fund_id: uuid.UUID, investor_id: uuid.UUID | None = None
) -> list[Flow]:
    """The fund's ledger (or one investor's) summed by kind and day, every date: capital called
    (contributions), paid and distributed. Metrics on any date, the called total and the
    console's charts are all made of these few rows, read once (a page needing all three scanned
    the fund's ledger three times: ~16 ms on 10,000 investors, bench/console)."""
    statement = (
        sa.select(LedgerEntry.kind, LedgerEntry.effective_on, sa.func.sum(LedgerEntry.amount))
        .where(LedgerEntry.fund_id == fund_id, LedgerEntry.kind.in_(FLOW_KINDS))
        .group_by(LedgerEntry.kind, LedgerEntry.effective_on)
        .order_by(LedgerEntry.effective_on)
    )
    if investor_id is not None:
        statement = statement.where(LedgerEntry.investor_id == investor_id)
    rows = await session.execute(statement)
    return [Flow(kind, day, Decimal(total)) for kind, day, total in rows.all()]


async def compute(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    as_of: dt.date,
    investor_id: uuid.UUID | None,
    fund: Fund | None = None,
    read: list[Flow] | None = None,
    gross: bool = False,
) -> MetricsOut:
    """Metrics on `as_of`; `fund` and the fund's `read` flows when the caller has them already;
    with `gross`, the fund's gross figures too (on the fund's view only, never an investor's)."""
    fund = fund or await fund_service.get(session, fund_id=fund_id)
    valuation = await valuation_service.latest(session, fund_id, as_of)
    committed = await _committed(session, fund_id, investor_id)
    if investor_id is None:
        rolled = await capital_accounts.fund_nav(
            session, fund_id=fund_id, day=as_of, valuation=valuation
        )
        nav, basis = rolled.nav, rolled.basis(fund.currency)
    else:
        book = await capital_accounts.investor_book(session, fund=fund, investor_id=investor_id)
        nav = book.balance(investor_id, as_of)
        start = f"the valuation of {valuation.as_of}" if valuation else "zero (no valuation yet)"
        basis = (
            f"the investor's capital account balance on {as_of}: its part of the fund's NAV, "
            f"{start} rolled forward"
        )
        read = None  # the fund's flows are not this investor's
    if read is None:
        read = await flows(session, fund_id=fund_id, investor_id=investor_id)
    called = sum(
        (f.amount for f in read if f.kind is EntryKind.contribution and f.day <= as_of),
        Decimal(0),
    )
    figures = performance_of(read, as_of=as_of, nav=nav)
    quantum = money.quantum(fund.currency)
    return MetricsOut(
        fund_id=fund_id,
        investor_id=investor_id,
        as_of=as_of,
        currency=fund.currency,
        committed=committed.quantize(quantum),
        called=called.quantize(quantum),
        paid_in=figures.paid_in.quantize(quantum),
        distributions=figures.distributed.quantize(quantum),
        nav=nav.quantize(quantum),
        nav_as_of=valuation.as_of if valuation else None,
        nav_basis=basis,
        dpi=figures.dpi,
        rvpi=figures.rvpi,
        tvpi=figures.tvpi,
        irr=figures.irr.rate,
        irr_roots=gross_service.roots_out(figures.irr),
        basis=BasisOut(),
        gross=(
            await gross_service.fund_gross(session, fund=fund, as_of=as_of)
            if gross and investor_id is None
            else None
        ),
    )


@dataclasses.dataclass(frozen=True)
class Performance:
    """Paid-in, distributed, the multiples and IRR of a fund's or an investor's flows."""

    paid_in: Decimal
    distributed: Decimal
    dpi: Decimal | None
    rvpi: Decimal | None
    tvpi: Decimal | None
    irr: performance.Irr


def performance_of(read: list[Flow], *, as_of: dt.date, nav: Decimal) -> Performance:
    """The figures on `as_of` of these flows (the fund's or one investor's) with `nav`: the
    investor-side cash flows (payments out, distributions in) and the NAV as a final inflow on
    `as_of`."""
    cash_flows = [f for f in read if f.day <= as_of and f.kind is not EntryKind.contribution]
    paid_in = sum((f.amount for f in cash_flows if f.kind is EntryKind.payment), Decimal(0))
    distributed = sum((f.amount for f in cash_flows if f.kind in _IN), Decimal(0))
    cash = [
        performance.CashFlow(
            date=f.day, amount=-f.amount if f.kind is EntryKind.payment else f.amount
        )
        for f in cash_flows
    ]
    if nav > 0:
        cash.append(performance.CashFlow(date=as_of, amount=nav))
    multiples = performance.multiples(paid_in=paid_in, distributions=distributed, nav=nav)
    return Performance(
        paid_in=paid_in,
        distributed=distributed,
        dpi=figure(multiples.dpi),
        rvpi=figure(multiples.rvpi),
        tvpi=figure(multiples.tvpi),
        irr=performance.xirr_roots(flows=cash),
    )


async def investor_flows(
    session: AsyncSession, *, fund_id: uuid.UUID
) -> dict[uuid.UUID, list[Flow]]:
    """Every investor's `flows`, read in one statement (a statement run: 10,000 investors)."""
    statement = (
        sa.select(
            LedgerEntry.investor_id,
            LedgerEntry.kind,
            LedgerEntry.effective_on,
            sa.func.sum(LedgerEntry.amount),
        )
        .where(LedgerEntry.fund_id == fund_id, LedgerEntry.kind.in_(FLOW_KINDS))
        .group_by(LedgerEntry.investor_id, LedgerEntry.kind, LedgerEntry.effective_on)
        .order_by(LedgerEntry.investor_id, LedgerEntry.effective_on)
    )
    found: dict[uuid.UUID, list[Flow]] = defaultdict(list)
    for investor, kind, day, total in (await session.execute(statement)).all():
        found[investor].append(Flow(kind, day, Decimal(total)))
    return found


async def _committed(
    session: AsyncSession, fund_id: uuid.UUID, investor_id: uuid.UUID | None
) -> Decimal:
    """The fund's commitments, or the investor's (404 when it has none in this fund)."""
    statement = sa.select(sa.func.sum(Commitment.amount)).where(Commitment.fund_id == fund_id)
    if investor_id is None:
        return Decimal(await session.scalar(statement) or 0)
    amount = await session.scalar(statement.where(Commitment.investor_id == investor_id))
    if amount is None:
        raise errors.NotFound("no such investor in this fund")
    return Decimal(amount)


@dataclasses.dataclass(frozen=True)
class Summary:
    """A fund at a glance (the console's home and fund page): its metrics, with the share of
    commitments called."""

    fund: Fund
    metrics: MetricsOut

    @property
    def committed(self) -> Decimal:
        return self.metrics.committed

    @property
    def called(self) -> Decimal:
        return self.metrics.called

    @property
    def called_share(self) -> Decimal | None:
        return self.called / self.committed if self.committed else None


async def summary(
    session: AsyncSession,
    *,
    fund: Fund,
    as_of: dt.date,
    read: list[Flow] | None = None,
    gross: bool = False,
) -> Summary:
    """`read`: the fund's flows, when the caller has them already (the fund page's charts);
    `gross`: with the fund's gross figures (the fund page)."""
    metrics = await compute(
        session, fund_id=fund.id, as_of=as_of, investor_id=None, fund=fund, read=read, gross=gross
    )
    return Summary(fund, metrics)
