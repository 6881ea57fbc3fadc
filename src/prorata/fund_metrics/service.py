"""Fund metrics, computed from the ledger and the latest valuation.

Paid-in capital is what investors paid against calls (ledger `payment` entries); distributions
are `distribution` and `recallable_distribution` entries; NAV is the latest valuation on or
before `as_of`. For one investor, NAV is its capital account balance on that valuation's date
(`prorata.capital_accounts`: the valuation's gain or loss allocated with the one splitter, so
the investors' NAVs add up to the fund's to the minor unit). IRR is the XIRR of the investor-side
flows: payments out, distributions in, and the NAV as a final inflow on `as_of`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import ROUND_HALF_EVEN, Context, Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts import service as capital_accounts
from prorata.finance import money, performance
from prorata.fund_metrics.schemas import MetricsOut
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import errors
from prorata.valuations import service as valuation_service

_FIGURE = Decimal("1E-10")
_IN = (EntryKind.distribution, EntryKind.recallable_distribution)


async def _flows(
    session: AsyncSession, fund_id: uuid.UUID, as_of: dt.date
) -> list[tuple[uuid.UUID, EntryKind, dt.date, Decimal]]:
    rows = await session.execute(
        sa.select(
            LedgerEntry.investor_id,
            LedgerEntry.kind,
            LedgerEntry.effective_on,
            sa.func.sum(LedgerEntry.amount),
        )
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.effective_on <= as_of,
            LedgerEntry.kind.in_([EntryKind.payment, *_IN]),
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.kind, LedgerEntry.effective_on)
    )
    return [(investor, kind, day, Decimal(total)) for investor, kind, day, total in rows.all()]


def _figure(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    # A rate earned in days can have more digits before the point than the default context
    # holds (1.5× in a day is 65 digits a year): quantizing there raised InvalidOperation.
    wide = Context(prec=max(28, value.adjusted() + 12))
    return value.quantize(_FIGURE, rounding=ROUND_HALF_EVEN, context=wide)


async def compute(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date, investor_id: uuid.UUID | None
) -> MetricsOut:
    fund = await fund_service.get(session, fund_id=fund_id)
    flows = await _flows(session, fund_id, as_of)
    valuation = await valuation_service.latest(session, fund_id, as_of)
    nav = valuation.nav if valuation is not None else Decimal(0)
    if investor_id is not None:
        if not await fund_repository.commitment_exists(
            session, fund_id=fund_id, investor_id=investor_id
        ):
            raise errors.NotFound("no such investor in this fund")
        if valuation is not None:
            book = await capital_accounts.book(session, fund=fund, end=valuation.as_of)
            nav = book.balance(investor_id, valuation.as_of)
        flows = [f for f in flows if f[0] == investor_id]
    paid_in = sum((a for _, k, _, a in flows if k is EntryKind.payment), Decimal(0))
    distributed = sum((a for _, k, _, a in flows if k in _IN), Decimal(0))
    cash = [
        performance.CashFlow(date=d, amount=-a if k is EntryKind.payment else a)
        for _, k, d, a in flows
    ]
    if nav > 0:
        cash.append(performance.CashFlow(date=as_of, amount=nav))
    multiples = performance.multiples(paid_in=paid_in, distributions=distributed, nav=nav)
    quantum = money.quantum(fund.currency)
    return MetricsOut(
        fund_id=fund_id,
        investor_id=investor_id,
        as_of=as_of,
        currency=fund.currency,
        paid_in=paid_in.quantize(quantum),
        distributions=distributed.quantize(quantum),
        nav=nav.quantize(quantum),
        nav_as_of=valuation.as_of if valuation else None,
        dpi=_figure(multiples.dpi),
        rvpi=_figure(multiples.rvpi),
        tvpi=_figure(multiples.tvpi),
        irr=_figure(performance.xirr(flows=cash)),
    )


@dataclasses.dataclass(frozen=True)
class Summary:
    """A fund at a glance (the console's home): commitments, what was called of them, and the
    metrics of `compute`."""

    fund: Fund
    committed: Decimal
    called: Decimal
    metrics: MetricsOut

    @property
    def called_share(self) -> Decimal | None:
        return self.called / self.committed if self.committed else None


async def summary(session: AsyncSession, *, fund: Fund, as_of: dt.date) -> Summary:
    committed = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Commitment.amount), 0)).where(
            Commitment.fund_id == fund.id
        )
    )
    called = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.fund_id == fund.id,
            LedgerEntry.kind == EntryKind.contribution,
            LedgerEntry.effective_on <= as_of,
        )
    )
    metrics = await compute(session, fund_id=fund.id, as_of=as_of, investor_id=None)
    return Summary(fund, Decimal(committed or 0), Decimal(called or 0), metrics)
