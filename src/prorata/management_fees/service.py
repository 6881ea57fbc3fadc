"""The management fee of a period, weighted by the days its basis holds, split across investors.

- **Basis**: with `management_fee_basis = committed`, total commitments during the investment
  period and invested cost after it; with `invested`, invested cost throughout. Commitments
  count from their `committed_on`; invested cost is the invested amount of deals from their
  `invested_on`, for deals not exited or written off (their current status).
- **Rate**: `management_fee_rate`, and after the investment period
  `post_investment_period_fee_rate` when the fund sets one; an investor with a side-letter
  `management_fee_rate` on its commitment pays that rate throughout instead, and the GP's own
  commitment (`general_partner`) pays none. Each investor's fee is its own rate × its own
  part of the basis (its share of commitments).
- **Days**: the period (`to` included) is cut on every day the basis or the rate changes, and
  each stretch is charged rate × basis × its year fraction under the fund's `fee_day_count`
  (30/360 unless the fund says otherwise)
  (`finance.fees`): the fee of a period is the sum of the fees of any cut of it, exactly before
  rounding, and an investor who commits inside a period pays from that day only.
- The total is rounded to the currency's minor unit once; the investors' lines (and the parts
  shown) are it split with the one splitter by their exact amounts, so they add up to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.deals.models import Deal, DealStatus
from prorata.finance import fees, money
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund
from prorata.management_fees import offsets
from prorata.platform import errors


@dataclasses.dataclass(frozen=True)
class FeeCalculation:
    """A period's fee for a fund: the parts shown, the total and the investors' lines (gross),
    how offsets and waivers reduce it, and each investor's (offset, waived) part."""

    fund: Fund
    period_from: dt.date
    period_to: dt.date
    parts: list[fees.Part]
    amount: Decimal
    lines: dict[uuid.UUID, Decimal]
    reduction: fees.Reduction
    fee_income: Decimal
    reductions: dict[uuid.UUID, tuple[Decimal, Decimal]]

    @property
    def net_amount(self) -> Decimal:
        return self.reduction.net

    def net_line(self, investor: uuid.UUID) -> Decimal:
        offset, waived = self.reductions[investor]
        return self.lines[investor] - offset - waived


def terms_of(fund: Fund) -> fees.Terms:
    """The fund's fee terms, as `finance.fees` takes them."""
    return fees.Terms(
        rate=fund.management_fee_rate,
        basis=fund.management_fee_basis.value,
        day_count=fund.fee_day_count.value,
        currency=fund.currency,
        investment_period_end=fund.investment_period_end,
        post_investment_period_rate=fund.post_investment_period_fee_rate,
    )


async def fee_commitments(session: AsyncSession, fund_id: uuid.UUID) -> list[fees.Commitment]:
    result = await session.execute(
        sa.select(
            Commitment.investor_id,
            Commitment.amount,
            Commitment.committed_on,
            Commitment.general_partner,
            Commitment.management_fee_rate,
        )
        .where(Commitment.fund_id == fund_id)
        # One order, so the same register always gives the same cents.
        .order_by(Commitment.investor_id)
    )
    return [
        # The GP's own commitment pays no fee; a side letter's rate replaces the fund's.
        fees.Commitment(investor=i, amount=a, since=d, rate=Decimal(0) if gp else own)
        for i, a, d, gp, own in result.all()
    ]


async def fee_investments(session: AsyncSession, fund_id: uuid.UUID) -> list[fees.Investment]:
    result = await session.execute(
        sa.select(Deal.invested_amount, Deal.invested_on).where(
            Deal.fund_id == fund_id,
            Deal.invested_amount.is_not(None),
            Deal.invested_on.is_not(None),
            Deal.status.not_in([DealStatus.exited, DealStatus.written_off]),
        )
    )
    return [fees.Investment(amount=a, on=d) for a, d in result.all() if a is not None and d]


async def calculate(
    session: AsyncSession, *, fund_id: uuid.UUID, start: dt.date, end: dt.date
) -> FeeCalculation:
    fund = await fund_service.get(session, fund_id=fund_id)
    if start > end:
        raise errors.RuleViolation(f"the period is empty: from {start} is after to {end}")
    offsets.check_period(fund, "from .. to", start, end)
    commitments = await fee_commitments(session, fund.id)
    investments = await fee_investments(session, fund.id)
    fee = fees.charge(
        terms=terms_of(fund),
        first=start,
        last=end,
        commitments=commitments,
        investments=investments,
    )
    reduction, income = await offsets.reduction(
        session,
        fund=fund,
        start=start,
        end=end,
        fee=fee.amount,
        charged=lambda first, last: _amount(fund, first, last, commitments, investments),
        changes=_changes(fund, commitments, investments),
    )
    return FeeCalculation(
        fund=fund,
        period_from=start,
        period_to=end,
        parts=fee.parts,
        amount=fee.amount,
        lines=fee.lines,
        reduction=reduction,
        fee_income=income,
        reductions=fees.split_reduction(fee.lines, reduction, fund.currency),
    )


def _amount(
    fund: Fund,
    first: dt.date,
    last: dt.date,
    commitments: list[fees.Commitment],
    investments: list[fees.Investment],
) -> Decimal:
    """The (gross) fee of `first` .. `last`, rounded as `fees.charge` rounds it (none before
    anything counts)."""
    days = [c.since for c in commitments] + [i.on for i in investments]
    if not days or last < min(days):
        return money.round_to_currency(Fraction(0), fund.currency)
    stretches = fees.accrue(
        terms=terms_of(fund),
        first=first,
        last=last,
        commitments=commitments,
        investments=investments,
    )
    return money.round_to_currency(sum((s.exact for s in stretches), Fraction(0)), fund.currency)


def _changes(
    fund: Fund, commitments: list[fees.Commitment], investments: list[fees.Investment]
) -> list[dt.date]:
    """The days a fee's basis or rate can change, sorted: a commitment counts, an investment
    counts, the investment period has ended."""
    days = {c.since for c in commitments} | {i.on for i in investments}
    if fund.investment_period_end is not None and fund.investment_period_end < dt.date.max:
        days.add(fund.investment_period_end + dt.timedelta(days=1))
    return sorted(days)


def fraction_text(value: Fraction) -> str:
    """A year fraction as people read it: a decimal when it terminates ("0.25"), else the
    exact ratio ("1/12")."""
    shown = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{shown.normalize():f}" if Fraction(shown) == value else str(value)


async def catch_up(
    session: AsyncSession,
    *,
    fund: Fund,
    investors: set[uuid.UUID],
    first: dt.date,
    last: dt.date,
) -> dict[uuid.UUID, Decimal]:
    """What each of `investors` (later closers) would have paid for `first` .. `last` had it
    committed on `first` (the fund's first closing date): its exact fee under the fund's rules
    with its own rate (none for the GP's commitment), each rounded to the minor unit."""
    commitments = [
        dataclasses.replace(c, since=min(c.since, first)) if c.investor in investors else c
        for c in await fee_commitments(session, fund.id)
    ]
    fee = fees.charge(
        terms=terms_of(fund),
        first=first,
        last=last,
        commitments=commitments,
        investments=await fee_investments(session, fund.id),
    )
    exact = {i: fee.exact_lines.get(i, Fraction(0)) for i in sorted(investors)}
    rounded = {i: money.round_to_currency(value, fund.currency) for i, value in exact.items()}
    return {investor: amount for investor, amount in rounded.items() if amount}
