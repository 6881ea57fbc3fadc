"""Valuations, and fund metrics computed from the ledger and the latest valuation.

Paid-in capital is what investors paid against calls (ledger `payment` entries); distributions
are `distribution` and `recallable_distribution` entries; NAV is the latest valuation on or
before `as_of`. For one investor, NAV is its capital account balance on that valuation's date
(`prorata.capital_accounts`: the valuation's gain or loss allocated with the one splitter, so
the investors' NAVs add up to the fund's to the minor unit). IRR is the XIRR of the investor-side
flows: payments out, distributions in, and the NAV as a final inflow on `as_of`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_EVEN, Context, Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts import service as capital_accounts
from prorata.finance import money
from prorata.finance import performance as metrics
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import audit, errors
from prorata.valuations.models import Valuation
from prorata.valuations.schemas import MetricsOut, ValuationCreate

_FIGURE = Decimal("1E-10")
_IN = (EntryKind.distribution, EntryKind.recallable_distribution)


async def record(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: ValuationCreate
) -> Valuation:
    fund = await fund_service.get(session, fund_id=fund_id)
    nav = validation.amount(data.nav, fund.currency, field="nav", allow_zero=True)
    exists = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Valuation)
        .where(Valuation.fund_id == fund_id, Valuation.as_of == data.as_of)
    )
    taken = errors.Conflict(f"the fund already has a valuation as of {data.as_of}")
    if exists:
        raise taken
    valuation = Valuation(org_id=actor.org_id, fund_id=fund_id, as_of=data.as_of, nav=nav)
    session.add(valuation)
    try:
        await session.flush()
    except sa.exc.IntegrityError as exc:
        # A concurrent request recorded a valuation of the same date after the check above.
        if "uq_valuations_fund_id_as_of" not in str(exc.orig):
            raise
        raise taken from None
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="valuation.create",
        entity="valuation",
        entity_id=valuation.id,
        after={"as_of": data.as_of.isoformat(), "nav": str(nav)},
    )
    return valuation


async def page(session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams) -> Page[Valuation]:
    await fund_service.get(session, fund_id=fund_id)
    return await keyset(
        session,
        sa.select(Valuation).where(Valuation.fund_id == fund_id),
        key=[Valuation.id],
        params=params,
        item=lambda v: v,
    )


async def _latest(session: AsyncSession, fund_id: uuid.UUID, as_of: dt.date) -> Valuation | None:
    return (
        await session.scalars(
            sa.select(Valuation)
            .where(Valuation.fund_id == fund_id, Valuation.as_of <= as_of)
            .order_by(Valuation.as_of.desc())
            .limit(1)
        )
    ).one_or_none()


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
    valuation = await _latest(session, fund_id, as_of)
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
        metrics.CashFlow(date=d, amount=-a if k is EntryKind.payment else a) for _, k, d, a in flows
    ]
    if nav > 0:
        cash.append(metrics.CashFlow(date=as_of, amount=nav))
    multiples = metrics.multiples(paid_in=paid_in, distributions=distributed, nav=nav)
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
        irr=_figure(metrics.xirr(flows=cash)),
    )
