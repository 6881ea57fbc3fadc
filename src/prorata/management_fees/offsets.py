"""Fee offsets and waivers: what reduces a period's management fee.

- **Fee income** (`fee_income`): transaction, monitoring, director and other fees a portfolio
  company paid the GP. Each item's *credit* is its `offset_rate` × its amount, rounded to the
  minor unit (per item, so the credits do not depend on how periods are cut). The rate is the
  fund's `fee_offset_rate` when the income was recorded, stored on it: changing the term later
  changes the credit of income recorded afterwards only, so a fee already called keeps the
  rate it was reduced at and the carry-forward into later periods does not move under it.
  Fee income is not the fund's money: it is never booked in the fund's ledger; it only lowers
  the fee the investors owe.
- **Waivers** (`fee_waivers`): an amount of the fee of a period the GP forgoes. A waiver
  counts in a fee period that contains its whole period; as fees are charged by calendar
  quarter, a waiver's period lies within one quarter.
- **Cancelled** income and waivers (`fee_cancellations`, append-only) no longer count. A
  cancellation is refused (409) while a fee call that counts relied on the item: for fee
  income, a fee call of a period ending on or after its date that applied an offset (the
  offset may be its credit); for a waiver, a fee call of a period ending on or after its
  start. Cancel the fee call first (`management_fees.calls`), then the item.
- **Dates** are bounded so a typo cannot make a fee calculation walk millennia: fee income is
  dated on or before today (the day the GP received it), a waiver's period ends at most a year
  from today, and neither is before 1 January of the fund's vintage year (when it has one) nor
  more than `_YEARS_BACK` years ago. A fee period — of a calculation or a fee call — lies
  within the same first day and 31 December `YEARS_AHEAD` years from now (`check_period`).
  So the carry-forward below, which walks at most one step per quarter from the earliest fee
  income to the period, computes at most 4 × (`_YEARS_BACK` + `YEARS_AHEAD` + 1) quarters.
- **A period's reduction** (`finance.fees.reduce`): the fee less its waivers (never below
  zero; a waiver is not carried), then less the offset available — carried in from earlier
  periods plus the credits of the income dated in the period — at most what is left; the rest
  of the offset is carried forward.
- **Which periods were charged** (so the carry-forward is well defined): the fund's fee
  periods are calendar quarters. The offset carried into a period `from` .. `to` is computed
  afresh from the calendar quarter of the earliest fee income dated before `from`, over the
  quarters up to the day before `from` (the last one cut there when `from` is not a quarter's
  first day): each quarter's gross fee under the fund's current terms and register, its
  waivers and its credits — except a quarter already called (a fee call of exactly that
  calendar quarter that counts), which is taken as called: its fee and the offset it applied,
  so a fee income recorded late (dated in a quarter already called) is carried forward
  rather than deemed used by a call that did not use it. Only quarters that can change what
  is carried are computed: while nothing is carried the walk jumps to the next quarter with
  fee income, and over quarters without any fee the credits are carried unchanged up to the
  next day the fee's basis or rate changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls.models import CallStatus, CapitalCall
from prorata.deals import service as deal_service
from prorata.finance import fees, money
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.management_fees.models import (
    FeeCall,
    FeeCancellation,
    FeeIncome,
    FeeWaiver,
)
from prorata.management_fees.schemas import FeeIncomeCreate, FeeWaiverCreate
from prorata.platform import audit, errors

_ONE_DAY = dt.timedelta(days=1)


async def record(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    data: FeeIncomeCreate | FeeWaiverCreate,
) -> FeeIncome | FeeWaiver:
    """Record a fee income or a waiver: the amount in the currency's minor unit, the dates
    bounded (module doc), audited (`fee_income.create` / `fee_waiver.create`)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    checked = validation.amount(data.amount, fund.currency, field="amount")
    row: FeeIncome | FeeWaiver
    if isinstance(data, FeeIncomeCreate):
        row = await _income(session, fund, data)
    else:
        row = _waiver(fund, data)
    row.org_id, row.fund_id, row.amount, row.created_by = (
        actor.org_id,
        fund.id,
        checked,
        actor.user_id,
    )
    session.add(row)
    await session.flush()
    entity = _ENTITY[type(row)]
    after = {**data.model_dump(mode="json"), "fund_id": str(fund.id), "amount": str(checked)}
    if isinstance(row, FeeIncome):
        after["offset_rate"] = str(row.offset_rate)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=f"{entity}.create",
        entity=entity,
        entity_id=row.id,
        after=after,
    )
    return row


async def _income(session: AsyncSession, fund: Fund, data: FeeIncomeCreate) -> FeeIncome:
    _check_dates(fund, "date", data.date, data.date, latest=dt.date.today())
    if data.deal_id is not None:
        try:
            await deal_service.get(session, fund_id=fund.id, deal_id=data.deal_id)
        except errors.NotFound:
            raise errors.RuleViolation("deal_id: no such deal in this fund") from None
    # The rate in force today stays this income's (module doc).
    return FeeIncome(
        date=data.date, kind=data.kind, deal_id=data.deal_id, offset_rate=fund.fee_offset_rate
    )


def _waiver(fund: Fund, data: FeeWaiverCreate) -> FeeWaiver:
    start, end = data.period_start, data.period_end
    if start > end:
        raise errors.RuleViolation(
            f"the period is empty: period_start {start} is after period_end {end}"
        )
    _check_dates(fund, "period", start, end, latest=dt.date.today() + dt.timedelta(days=366))
    if len(quarters := fees.quarters(start, end)) > 1:
        raise errors.RuleViolation(
            "a waiver's period lies within one calendar quarter (fees are charged by quarter): "
            f"period_end must be on or before {quarters[0][1]}"
        )
    return FeeWaiver(period_start=start, period_end=end)


# A fund's fee history is not older than this (a bound on the quarters a calculation walks).
_YEARS_BACK = 60
# A fee period (a calculation's, a fee call's) ends at the latest on 31 December of the year
# this many years from now: fees are budgeted ahead, never centuries ahead.
YEARS_AHEAD = 10


def earliest(vintage_year: int | None, today: dt.date) -> dt.date:
    """The first day a fund's fee history can hold: 1 January of its vintage year (when it
    has one), and not more than `_YEARS_BACK` years ago."""
    oldest = today.replace(year=today.year - _YEARS_BACK, day=1)
    return oldest if vintage_year is None else max(oldest, dt.date(vintage_year, 1, 1))


def latest_period_end(today: dt.date) -> dt.date:
    return dt.date(today.year + YEARS_AHEAD, 12, 31)


def check_period(fund: Fund, field: str, first: dt.date, last: dt.date) -> None:
    """A fee period (of a calculation or a fee call) within the fund's fee history: from
    `earliest` to 31 December `YEARS_AHEAD` years from now (module doc)."""
    latest = latest_period_end(dt.date.today())
    _check_dates(
        fund, field, first, last, latest, f"a fee period ends at most {YEARS_AHEAD} years ahead"
    )


def _check_dates(
    fund: Fund,
    field: str,
    first: dt.date,
    last: dt.date,
    latest: dt.date,
    why: str = "fee income is dated when received, a waiver ends at most a year from today",
) -> None:
    """`first` .. `last` within what a fund's fee history can hold (see the module's doc)."""
    first_day = earliest(fund.vintage_year, dt.date.today())
    if first < first_day or last > latest:
        raise errors.RuleViolation(
            f"{field}: must lie between {first_day} and {latest} (not before the fund's "
            f"vintage year nor {_YEARS_BACK} years ago; {why})",
            extensions={"earliest": first_day.isoformat(), "latest": latest.isoformat()},
        )


_ENTITY: dict[type[FeeIncome | FeeWaiver], str] = {
    FeeIncome: "fee_income",
    FeeWaiver: "fee_waiver",
}


async def page(
    session: AsyncSession,
    kind: type[FeeIncome] | type[FeeWaiver],
    *,
    fund_id: uuid.UUID,
    params: PageParams,
) -> Page[FeeIncome] | Page[FeeWaiver]:
    """A page of the fund's fee income or waivers, each saying whether it was cancelled
    (cancelled ones stay). Columns, not objects: a row carries its `cancelled` flag."""
    column = FeeCancellation.fee_income_id if kind is FeeIncome else FeeCancellation.fee_waiver_id
    cancelled = sa.exists().where(column == kind.id).label("cancelled")
    return await keyset(
        session,
        sa.select(*kind.__table__.columns, cancelled).where(kind.fund_id == fund_id),
        key=[kind.id],
        params=params,
        item=lambda row: row,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )


async def cancel(
    session: AsyncSession,
    kind: type[FeeIncome] | type[FeeWaiver],
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    item_id: uuid.UUID,
    reason: str,
) -> FeeCancellation:
    """Cancel a fee income or a waiver recorded by mistake: a cancellation is appended (the
    row stays), once; refused while an issued fee call relies on it (module doc)."""
    await fund_service.get(session, fund_id=fund_id, for_update=True)
    row = await session.get(kind, item_id, with_for_update=True)
    entity = _ENTITY[kind]
    if not isinstance(row, FeeIncome | FeeWaiver) or row.fund_id != fund_id:
        raise errors.NotFound(f"no such {entity.replace('_', ' ')} in this fund")
    column = FeeCancellation.fee_income_id if kind is FeeIncome else FeeCancellation.fee_waiver_id
    if await session.scalar(sa.select(sa.exists().where(column == item_id))):
        raise errors.Conflict(f"this {entity.replace('_', ' ')} is already cancelled")
    if relied := await _relying_call(session, row):
        raise errors.Conflict(
            f"the fee call of {relied.period_start} .. {relied.period_end} relies on this "
            f"{entity.replace('_', ' ')}: cancel that fee call first",
            extensions={"fee_call_id": str(relied.id)},
        )
    cancellation = FeeCancellation(
        org_id=actor.org_id,
        fund_id=fund_id,
        fee_income_id=item_id if kind is FeeIncome else None,
        fee_waiver_id=item_id if kind is FeeWaiver else None,
        reason=reason,
        cancelled_by=actor.user_id,
    )
    session.add(cancellation)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=f"{entity}.cancel",
        entity=entity,
        entity_id=item_id,
        after={"fund_id": str(fund_id), "reason": reason},
    )
    return cancellation


def live_fee_calls() -> sa.Select[FeeCall]:
    """The fee calls that count: not cancelled, nor their capital call (if they have one)."""
    cancelled_calls = sa.select(CapitalCall.id).where(CapitalCall.status == CallStatus.cancelled)
    cancelled = sa.select(FeeCancellation.fee_call_id).where(
        FeeCancellation.fee_call_id.is_not(None)
    )
    return sa.select(FeeCall).where(
        sa.or_(FeeCall.call_id.is_(None), FeeCall.call_id.not_in(cancelled_calls)),
        FeeCall.id.not_in(cancelled),
    )


async def _relying_call(session: AsyncSession, row: FeeIncome | FeeWaiver) -> FeeCall | None:
    if isinstance(row, FeeIncome):
        relies = sa.and_(FeeCall.period_end >= row.date, FeeCall.offset > 0)
    else:
        relies = FeeCall.period_end >= row.period_start
    statement = live_fee_calls().where(FeeCall.fund_id == row.fund_id, relies)
    return (await session.scalars(statement.order_by(FeeCall.period_start).limit(1))).first()


async def reduction(
    session: AsyncSession,
    *,
    fund: Fund,
    start: dt.date,
    end: dt.date,
    fee: Decimal,
    charged: Callable[[dt.date, dt.date], Decimal],
    changes: list[dt.date],
) -> tuple[fees.Reduction, Decimal]:
    """How the fee `fee` of `start` .. `end` is reduced, and the fee income dated in it.
    `charged(first, last)` is the gross fee of an earlier period (for the carry-forward);
    `changes` the days its basis or rate changes, sorted."""
    incomes = (
        await session.execute(
            sa.select(FeeIncome.date, FeeIncome.amount, FeeIncome.offset_rate)
            .where(
                FeeIncome.fund_id == fund.id,
                FeeIncome.date <= end,
                FeeIncome.id.not_in(
                    sa.select(FeeCancellation.fee_income_id).where(
                        FeeCancellation.fee_income_id.is_not(None)
                    )
                ),
            )
            .order_by(FeeIncome.date)
        )
    ).all()
    waivers = (
        await session.execute(
            sa.select(FeeWaiver.period_start, FeeWaiver.period_end, FeeWaiver.amount).where(
                FeeWaiver.fund_id == fund.id,
                FeeWaiver.period_end <= end,
                FeeWaiver.id.not_in(
                    sa.select(FeeCancellation.fee_waiver_id).where(
                        FeeCancellation.fee_waiver_id.is_not(None)
                    )
                ),
            )
        )
    ).all()
    zero = money.quantum(fund.currency) * 0
    # Each credit as a one-day period, so credits and waivers are summed the same way.
    credits = [
        _Dated(day, day, money.round_to_currency(rate * amount, fund.currency))
        for day, amount, rate in incomes
        if rate
    ]
    called = (
        await session.scalars(
            live_fee_calls().where(FeeCall.fund_id == fund.id, FeeCall.period_end < start)
        )
    ).all()
    history = _History(
        credits=credits,
        waivers=[_Dated(*w) for w in waivers],
        zero=zero,
        called={(c.period_start, c.period_end): (c.amount, c.offset) for c in called},
    )
    carried = history.carried_into(start, charged, changes)
    income = sum((a for day, a, _ in incomes if start <= day), zero)
    result = fees.reduce(
        fee=fee,
        waivers=history.waived(start, end),
        carried_in=carried,
        credit=history.credit(start, end),
    )
    return result, income


@dataclasses.dataclass(frozen=True)
class _Dated:
    first: dt.date
    last: dt.date
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class _History:
    """A fund's credits (sorted by date) and waivers, as the carry-forward reads them."""

    credits: list[_Dated]
    waivers: list[_Dated]
    zero: Decimal
    # The quarters already called (a live fee call of exactly that quarter): their fee and
    # the offset they applied, as called.
    called: dict[tuple[dt.date, dt.date], tuple[Decimal, Decimal]] = dataclasses.field(
        default_factory=dict
    )

    def _within(self, items: list[_Dated], first: dt.date, last: dt.date) -> Decimal:
        return sum((i.amount for i in items if first <= i.first and i.last <= last), self.zero)

    def credit(self, first: dt.date, last: dt.date) -> Decimal:
        return self._within(self.credits, first, last)

    def waived(self, first: dt.date, last: dt.date) -> Decimal:
        return self._within(self.waivers, first, last)

    def carried_into(
        self,
        start: dt.date,
        charged: Callable[[dt.date, dt.date], Decimal],
        changes: list[dt.date],
    ) -> Decimal:
        """The offset carried into a period starting on `start`, quarter by quarter from the
        first credit, computing only the quarters that can change it (module doc). `changes`:
        the days the fee's basis or rate changes, sorted (between two of them a quarter's fee
        is the same, so after a quarter without fee the next ones have none either)."""
        carried = self.zero
        day = self._next(self.credits, dt.date.min)
        while day is not None and day < start:
            first = _quarter_start(day)
            last = fees.quarters(first, start - _ONE_DAY)[0][1]
            if (called := self.called.get((first, last))) is not None:
                # As called: a credit recorded since (dated in it) is carried, not lost.
                fee, offset = called
                carried = max(carried + self.credit(first, last) - offset, self.zero)
            else:
                fee = charged(first, last)
                carried = fees.reduce(
                    fee=fee,
                    waivers=self.waived(first, last),
                    carried_in=carried,
                    credit=self.credit(first, last),
                ).carried_out
            day = last + _ONE_DAY
            if not carried:  # nothing carried: only the next credit can change that
                day = self._next(self.credits, day)
            elif not fee:  # no fee until the basis or the rate changes: credits only add up
                change = next((c for c in changes if c >= day), None)
                until = start if change is None else min(start, _quarter_start(change))
                carried += self.credit(day, until - _ONE_DAY)
                day = until
        return carried

    @staticmethod
    def _next(items: list[_Dated], day: dt.date) -> dt.date | None:
        return next((i.first for i in items if i.first >= day), None)


def _quarter_start(day: dt.date) -> dt.date:
    return fees.quarters(day, day)[0][0]
