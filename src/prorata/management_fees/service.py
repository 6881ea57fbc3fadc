"""The management fee of a period: rate × basis × period fraction, split across investors.

- **Basis**: with `management_fee_basis = committed`, total commitments during the investment
  period and invested cost after it; with `invested`, invested cost throughout. Commitments
  count from their `committed_on`; invested cost is the invested amount of deals invested on or
  before the day and not exited or written off (their current status).
- **Rate**: `management_fee_rate`, and after the investment period
  `post_investment_period_fee_rate` when the fund sets one.
- **Fraction**: 30/360 over the period, `to` inclusive, so every calendar quarter is exactly a
  quarter of the annual fee (as LPAs state it), every month a twelfth, and consecutive periods
  (the two parts below included) add up to the whole.
- A period that straddles the end of the investment period is charged in two parts, each on its
  own basis and rate, measured on its first day.
- The total is rounded to the currency's minor unit once per part, and each part split across
  the investors committed by its first day in proportion to their commitments with the one
  splitter.
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
from prorata.finance import daycount, money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, FeeBasis, Fund
from prorata.platform import errors

_ONE_DAY = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class FeePart:
    start: dt.date
    end: dt.date
    basis: FeeBasis
    basis_amount: Decimal
    rate: Decimal
    fraction: Fraction
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class FeeCalculation:
    fund: Fund
    parts: list[FeePart]
    amount: Decimal
    lines: dict[uuid.UUID, Decimal]


def _periods(fund: Fund, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, bool]]:
    """(start, end, in the investment period) for each part of [start, end]."""
    cutoff = fund.investment_period_end
    if cutoff is None or end <= cutoff:
        return [(start, end, True)]
    if start > cutoff:
        return [(start, end, False)]
    return [(start, cutoff, True), (cutoff + _ONE_DAY, end, False)]


async def _committed(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> Decimal:
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Commitment.amount), 0)).where(
            Commitment.fund_id == fund_id, Commitment.committed_on <= day
        )
    )
    return Decimal(total or 0)


async def _invested(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> Decimal:
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Deal.invested_amount), 0)).where(
            Deal.fund_id == fund_id,
            Deal.invested_on <= day,
            Deal.status.not_in([DealStatus.exited, DealStatus.written_off]),
        )
    )
    return Decimal(total or 0)


async def _part(
    session: AsyncSession, fund: Fund, start: dt.date, end: dt.date, investing: bool
) -> FeePart:
    on_commitments = investing and fund.management_fee_basis is FeeBasis.committed
    basis = FeeBasis.committed if on_commitments else FeeBasis.invested
    amount = await (_committed if on_commitments else _invested)(session, fund.id, start)
    rate = fund.management_fee_rate
    if not investing and fund.post_investment_period_fee_rate is not None:
        rate = fund.post_investment_period_fee_rate
    fraction = Fraction(daycount.days_30_360_inclusive(first=start, last=end), 360)
    return FeePart(
        start=start,
        end=end,
        basis=basis,
        # An empty SUM is a bare 0: the basis is money, shown in the currency's minor unit.
        basis_amount=amount.quantize(money.quantum(fund.currency)),
        rate=rate,
        fraction=fraction,
        # Exact (a month is 1/12 of a year) until the currency's rounding, once.
        amount=money.round_to_currency(Fraction(rate) * Fraction(amount) * fraction, fund.currency),
    )


async def calculate(
    session: AsyncSession, *, fund_id: uuid.UUID, start: dt.date, end: dt.date
) -> FeeCalculation:
    fund = await fund_service.get(session, fund_id=fund_id)
    if start > end:
        raise errors.RuleViolation(f"the period is empty: from {start} is after to {end}")
    parts = [await _part(session, fund, *period) for period in _periods(fund, start, end)]
    zero = money.quantum(fund.currency) * 0
    lines: dict[uuid.UUID, Decimal] = {}
    for part in parts:
        for investor, amount in (await _split(session, fund, part)).items():
            lines[investor] = lines.get(investor, zero) + amount
    return FeeCalculation(
        fund=fund, parts=parts, amount=sum((p.amount for p in parts), zero), lines=lines
    )


async def _split(session: AsyncSession, fund: Fund, part: FeePart) -> dict[uuid.UUID, Decimal]:
    """A part's fee by commitment, among the investors committed by its first day (the day
    its basis is measured): a later closer does not pay for the time before it joined."""
    if not part.amount:
        return {}
    for as_of in (part.start, None):  # nobody committed yet (an invested basis): everyone
        committed = await fund_repository.commitments(session, fund_id=fund.id, as_of=as_of)
        weights = {investor: amount for investor, amount in committed.items() if amount > 0}
        if weights:
            return money.split(part.amount, weights, fund.currency)
    return {}


def fraction_text(value: Fraction) -> str:
    """A year fraction as people read it: a decimal when it terminates ("0.25"), else the
    exact ratio ("1/12")."""
    shown = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{shown.normalize():f}" if Fraction(shown) == value else str(value)
