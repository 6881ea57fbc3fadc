"""Fee offsets and waivers: what reduces a period's management fee.

- **Fee income** (`fee_income`): transaction, monitoring, director and other fees a portfolio
  company paid the GP. Each item's *credit* is the fund's `fee_offset_rate` × its amount,
  rounded to the minor unit (per item, so the credits do not depend on how periods are cut).
  Fee income is not the fund's money: it is never booked in the fund's ledger; it only lowers
  the fee the investors owe.
- **Waivers** (`fee_waivers`): an amount of the fee of a period the GP forgoes. A waiver
  counts in a fee period that contains its whole period; as fees are charged by calendar
  quarter, a waiver's period lies within one quarter.
- **A period's reduction** (`finance.fees.reduce`): the fee less its waivers (never below
  zero; a waiver is not carried), then less the offset available — carried in from earlier
  periods plus the credits of the income dated in the period — at most what is left; the rest
  of the offset is carried forward.
- **Which periods were charged** (so the carry-forward is well defined): the fund's fee
  periods are calendar quarters. The offset carried into a period `from` .. `to` is computed
  afresh from the calendar quarter of the earliest fee income dated before `from`, over
  consecutive quarters up to the day before `from` (the last one cut there when `from` is not
  a quarter's first day): each quarter's gross fee under the fund's current terms and
  register, its waivers and its credits. Nothing is stored when a fee is called, so the
  answer is the same whenever it is asked and whatever was asked before — a stored history
  would depend on the order in which periods were calculated, and on calls corrected later.
  (Before the first fee income nothing is carried, so the quarters before it do not matter.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.deals import service as deal_service
from prorata.finance import fees, money
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.management_fees.models import FeeIncome, FeeIncomeKind, FeeWaiver
from prorata.platform import audit, errors

_ONE_DAY = dt.timedelta(days=1)


async def record_income(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    date: dt.date,
    kind: FeeIncomeKind,
    amount: Decimal,
    deal_id: uuid.UUID | None,
) -> FeeIncome:
    fund = await fund_service.get(session, fund_id=fund_id)
    checked = validation.amount(amount, fund.currency, field="amount")
    if deal_id is not None:
        try:
            await deal_service.get(session, fund_id=fund.id, deal_id=deal_id)
        except errors.NotFound:
            raise errors.RuleViolation("deal_id: no such deal in this fund") from None
    income = FeeIncome(
        org_id=actor.org_id,
        fund_id=fund.id,
        deal_id=deal_id,
        date=date,
        kind=kind,
        amount=checked,
        created_by=actor.user_id,
    )
    session.add(income)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fee_income.create",
        entity="fee_income",
        entity_id=income.id,
        after={
            "fund_id": str(fund.id),
            "date": date.isoformat(),
            "kind": kind.value,
            "amount": str(checked),
            "deal_id": None if deal_id is None else str(deal_id),
        },
    )
    return income


async def record_waiver(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    period_start: dt.date,
    period_end: dt.date,
    amount: Decimal,
) -> FeeWaiver:
    fund = await fund_service.get(session, fund_id=fund_id)
    checked = validation.amount(amount, fund.currency, field="amount")
    if period_start > period_end:
        raise errors.RuleViolation(
            f"the period is empty: period_start {period_start} is after period_end {period_end}"
        )
    if len(quarters := fees.quarters(period_start, period_end)) > 1:
        raise errors.RuleViolation(
            "a waiver's period lies within one calendar quarter (fees are charged by quarter): "
            f"period_end must be on or before {quarters[0][1]}"
        )
    waiver = FeeWaiver(
        org_id=actor.org_id,
        fund_id=fund.id,
        period_start=period_start,
        period_end=period_end,
        amount=checked,
        created_by=actor.user_id,
    )
    session.add(waiver)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fee_waiver.create",
        entity="fee_waiver",
        entity_id=waiver.id,
        after={
            "fund_id": str(fund.id),
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "amount": str(checked),
        },
    )
    return waiver


async def page_income(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[FeeIncome]:
    return await keyset(
        session,
        sa.select(FeeIncome).where(FeeIncome.fund_id == fund_id),
        key=[FeeIncome.id],
        params=params,
        item=lambda i: i,
        parent=lambda: fund_service.get(session, fund_id=fund_id),
    )


async def page_waivers(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[FeeWaiver]:
    return await keyset(
        session,
        sa.select(FeeWaiver).where(FeeWaiver.fund_id == fund_id),
        key=[FeeWaiver.id],
        params=params,
        item=lambda w: w,
        parent=lambda: fund_service.get(session, fund_id=fund_id),
    )


async def reduction(
    session: AsyncSession,
    *,
    fund: Fund,
    start: dt.date,
    end: dt.date,
    fee: Decimal,
    charged: Callable[[dt.date, dt.date], Decimal],
) -> tuple[fees.Reduction, Decimal]:
    """How the fee `fee` of `start` .. `end` is reduced, and the fee income dated in it.
    `charged(first, last)` is the gross fee of an earlier period (for the carry-forward)."""
    incomes = (
        await session.execute(
            sa.select(FeeIncome.date, FeeIncome.amount)
            .where(FeeIncome.fund_id == fund.id, FeeIncome.date <= end)
            .order_by(FeeIncome.date)
        )
    ).all()
    waivers = (
        await session.execute(
            sa.select(FeeWaiver.period_start, FeeWaiver.period_end, FeeWaiver.amount).where(
                FeeWaiver.fund_id == fund.id, FeeWaiver.period_end <= end
            )
        )
    ).all()
    rate = fund.fee_offset_rate
    zero = money.quantum(fund.currency) * 0

    def credit(first: dt.date, last: dt.date) -> Decimal:
        return sum(
            (
                money.round_to_currency(rate * amount, fund.currency)
                for day, amount in incomes
                if first <= day <= last
            ),
            zero,
        )

    def waived(first: dt.date, last: dt.date) -> Decimal:
        return sum((a for s, e, a in waivers if first <= s and e <= last), zero)

    carried = zero
    earlier = [day for day, _ in incomes if day < start]
    if rate and earlier:
        for first, last in fees.quarters(earlier[0], start - _ONE_DAY):
            carried = fees.reduce(
                fee=charged(first, last),
                waivers=waived(first, last),
                carried_in=carried,
                credit=credit(first, last),
            ).carried_out
    income = sum((a for day, a in incomes if start <= day), zero)
    result = fees.reduce(
        fee=fee,
        waivers=waived(start, end),
        carried_in=carried,
        credit=credit(start, end) if rate else zero,
    )
    return result, income
