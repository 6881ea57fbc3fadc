"""Management fees that add up: the basis is weighted by the days it holds.

A period ``first`` .. ``last`` (both included) is cut into stretches on every day something
changes: a commitment starts counting (its ``committed_on``), a deal's cost is invested (its
``invested_on``), or the investment period ends (the rate, and with a committed basis the basis,
change the day after). Within a stretch the basis and the rate are constant, and

    fee = Σ over stretches of rate × basis × fraction(stretch)

with the fraction under the fund's day count (`daycount.period_days` / the year basis). The
fractions telescope — every stretch starts where the one before it ended on the convention's
calendar — so for any day B in [A, C) the exact fee of A..C is the fee of A..B plus the fee of
B+1..C, whatever the day count: cutting a period adds a break where the basis does not change.

Each investor's exact share is its own rate × its part of the basis of every stretch it is
committed for (by commitment among those committed on the stretch's first day; a stretch
charged on invested cost before anyone committed goes to all commitments), so a later closer
pays only from the day it joined. Its own rate is the fund's (`Terms.rate`, then
`post_investment_period_rate`) unless its commitment has one (`Commitment.rate`: a side
letter's rate throughout; 0 for the GP's own commitment); a stretch's fee is the sum of its
investors' parts, so the cuts still add up and the lines to the total.
Only the total is rounded, once, to the currency's minor unit; the investors' lines and the
shown parts are that total split with the one splitter by their exact amounts, so both add up
to it exactly.
"""

from __future__ import annotations

import bisect
import calendar
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import accumulate
from typing import Literal

from prorata.finance import daycount, money

Basis = Literal["committed", "invested"]

_ONE_DAY = dt.timedelta(days=1)
_ONE = Decimal(1)


@dataclasses.dataclass(frozen=True)
class Terms:
    """The fund's fee terms: `post_investment_period_rate` (None: `rate` throughout) applies
    from the day after `investment_period_end`, when the basis also becomes invested cost."""

    rate: Decimal
    basis: Basis
    day_count: daycount.DayCount
    currency: str
    investment_period_end: dt.date | None = None
    post_investment_period_rate: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Commitment:
    """One investor's commitment (one per investor, as in the register). `rate` is its own
    rate throughout (a side letter; 0 for the GP's commitment), None: the fund's terms."""

    investor: uuid.UUID
    amount: Decimal
    since: dt.date  # counts from this day on
    rate: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Investment:
    amount: Decimal
    on: dt.date  # invested cost from this day on


@dataclasses.dataclass(frozen=True)
class Stretch:
    """Days over which the basis and the rate are constant, and their exact fee (each
    investor at its own rate: `rate` is the fund's)."""

    first: dt.date
    last: dt.date
    basis: Basis
    basis_amount: Decimal
    rate: Decimal
    fraction: Fraction
    exact: Fraction


@dataclasses.dataclass(frozen=True)
class Part:
    """Consecutive stretches with the same basis, basis amount and rate, as shown; `amount`
    is its share of the rounded total."""

    first: dt.date
    last: dt.date
    basis: Basis
    basis_amount: Decimal
    rate: Decimal
    fraction: Fraction
    exact: Fraction
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class Fee:
    parts: list[Part]
    exact: Fraction  # before rounding
    amount: Decimal  # rounded to the currency's minor unit, once
    exact_lines: dict[uuid.UUID, Fraction]
    lines: dict[uuid.UUID, Decimal]  # add up to `amount`


def charge(
    *,
    terms: Terms,
    first: dt.date,
    last: dt.date,
    commitments: Sequence[Commitment],
    investments: Sequence[Investment],
) -> Fee:
    """The fee of ``first`` .. ``last`` (``first`` ≤ ``last``), its parts and its lines."""
    stretches = accrue(
        terms=terms, first=first, last=last, commitments=commitments, investments=investments
    )
    exact = sum((s.exact for s in stretches), Fraction(0))
    amount = money.round_to_currency(exact, terms.currency)
    exact_lines = shares(stretches, commitments, terms.currency)
    weights = {investor: exact_lines[investor] for investor in sorted(exact_lines)}
    weights = {investor: share for investor, share in weights.items() if share}
    lines = money.split(amount, weights, terms.currency) if amount and weights else {}
    return Fee(
        parts=_parts(stretches, amount, terms.currency),
        exact=exact,
        amount=amount,
        exact_lines=exact_lines,
        lines=lines,
    )


def accrue(
    *,
    terms: Terms,
    first: dt.date,
    last: dt.date,
    commitments: Sequence[Commitment],
    investments: Sequence[Investment],
) -> list[Stretch]:
    """The stretches of ``first`` .. ``last``, cut on every day the basis or the rate changes."""
    if first > last:
        raise ValueError(f"the period is empty: {first} is after {last}")
    end = terms.investment_period_end
    breaks = {c.since for c in commitments} | {i.on for i in investments}
    if end is not None and first <= end < last:
        breaks.add(end + _ONE_DAY)
    starts = [first, *sorted(day for day in breaks if first < day <= last)]
    lasts = [day - _ONE_DAY for day in starts[1:]] + [last]
    # In integer minor units: exact, and cheap for 10,000 commitments. By own rate (None: the
    # fund's), as side letters are few: a stretch's fee is Σ over rates of rate × its basis.
    committed = _StepSum(
        (c.since, money.to_minor_units(c.amount, terms.currency)) for c in commitments
    )
    by_rate = {
        own: _StepSum(
            (c.since, money.to_minor_units(c.amount, terms.currency))
            for c in commitments
            if c.rate == own
        )
        for own in {c.rate for c in commitments}
    }
    invested = _StepSum((i.on, money.to_minor_units(i.amount, terms.currency)) for i in investments)
    # A year's fraction per minor unit: the fee of a stretch is rate × units × days / this.
    year = daycount.year_basis(terms.day_count) * money.to_minor_units(_ONE, terms.currency)
    stretches = []
    for start, stop in zip(starts, lasts, strict=True):
        investing = end is None or start <= end
        basis: Basis = "committed" if investing and terms.basis == "committed" else "invested"
        units = (committed if basis == "committed" else invested).on(start)
        rate = terms.rate
        if not investing and terms.post_investment_period_rate is not None:
            rate = terms.post_investment_period_rate
        days = daycount.period_days(first=start, last=stop, convention=terms.day_count)
        exact = Fraction(rate) * Fraction(units * days, year)
        if by_rate.keys() - {None}:
            # The basis split by commitment among those holding (all, before anyone holds).
            holding, whole = committed.on(start), committed.total
            weighted = Fraction(0)
            for own, steps in by_rate.items():
                part = (
                    Fraction(steps.on(start), holding) if holding else Fraction(steps.total, whole)
                )
                weighted += Fraction(rate if own is None else own) * part
            exact = weighted * Fraction(units * days, year)
        stretches.append(
            Stretch(
                first=start,
                last=stop,
                basis=basis,
                basis_amount=money.from_minor_units(units, terms.currency),
                rate=rate,
                fraction=Fraction(days, daycount.year_basis(terms.day_count)),
                exact=exact,
            )
        )
    return stretches


def shares(
    stretches: Sequence[Stretch], commitments: Sequence[Commitment], currency: str
) -> dict[uuid.UUID, Fraction]:
    """Each investor's exact part of the stretches' fees: its own rate (the fund's, unless a
    side letter or the GP's commitment sets one) × its part of the basis, by commitment among
    the investors committed on a stretch's first day, or among all when none is yet (an
    invested basis). They add up to the stretches' fees exactly.

    In one pass over the stretches (a fund has 10,000 investors): the basis per unit committed
    of each stretch × its year fraction, summed from the end, is what an investor committed
    from then on pays per unit at a rate of 1 (and, at the fund's rates, the same weighted by
    each stretch's rate)."""
    if not commitments:
        return {}
    ordered = sorted(commitments, key=lambda c: c.since)
    days = [c.since for c in ordered]
    units = [money.to_minor_units(c.amount, currency) for c in ordered]
    totals = [0, *accumulate(units)]
    # Per unit committed, for those committed by the stretch's start: at the fund's rate, at 1.
    at_fund: list[Fraction] = []
    at_one: list[Fraction] = []
    # Per unit of all commitments, for stretches before anyone is committed.
    everyone_fund, everyone_one = Fraction(0), Fraction(0)
    for stretch in stretches:
        holding = totals[bisect.bisect_right(days, stretch.first)]
        year = Fraction(stretch.basis_amount) * stretch.fraction  # the basis × the fraction
        if holding:
            at_one.append(year / holding)
            at_fund.append(Fraction(stretch.rate) * year / holding)
        else:
            at_one.append(Fraction(0))
            at_fund.append(Fraction(0))
            everyone_one += year / totals[-1]
            everyone_fund += Fraction(stretch.rate) * year / totals[-1]

    def suffix(values: list[Fraction], everyone: Fraction) -> list[Fraction]:
        # What a unit committed from stretch j on pays (and, past the last one, `everyone`).
        return [paid + everyone for paid in accumulate(reversed(values), initial=Fraction(0))][::-1]

    from_fund = suffix(at_fund, everyone_fund)
    from_one = suffix(at_one, everyone_one)
    starts = [s.first for s in stretches]
    result = {}
    for c, held in zip(ordered, units, strict=True):
        j = bisect.bisect_left(starts, c.since)  # the first stretch the commitment counts for
        per_unit = from_fund[j] if c.rate is None else Fraction(c.rate) * from_one[j]
        result[c.investor] = per_unit * held
    return result


def _parts(stretches: Sequence[Stretch], amount: Decimal, currency: str) -> list[Part]:
    """Stretches merged where nothing shown changes, each with its share of the total."""
    groups: list[list[Stretch]] = []
    for stretch in stretches:
        if groups and _shown(groups[-1][-1]) == _shown(stretch):
            groups[-1].append(stretch)
        else:
            groups.append([stretch])
    exact = {n: sum((s.exact for s in group), Fraction(0)) for n, group in enumerate(groups)}
    zero = money.quantum(currency) * 0
    weights = {n: value for n, value in exact.items() if value}
    amounts = money.split(amount, weights, currency) if weights else {}
    return [
        Part(
            first=group[0].first,
            last=group[-1].last,
            basis=group[0].basis,
            basis_amount=group[0].basis_amount,
            rate=group[0].rate,
            fraction=sum((s.fraction for s in group), Fraction(0)),
            exact=exact[n],
            amount=amounts.get(n, zero),
        )
        for n, group in enumerate(groups)
    ]


def _shown(stretch: Stretch) -> tuple[Basis, Decimal, Decimal]:
    return stretch.basis, stretch.basis_amount, stretch.rate


class _StepSum:
    """A sum of amounts (in minor units), each counting from its day on."""

    def __init__(self, steps: Iterable[tuple[dt.date, int]]) -> None:
        ordered = sorted(steps, key=lambda step: step[0])
        self._days = [day for day, _ in ordered]
        self._totals = [0, *accumulate(units for _, units in ordered)]

    @property
    def total(self) -> int:
        return self._totals[-1]

    def on(self, day: dt.date) -> int:
        return self._totals[bisect.bisect_right(self._days, day)]


# --- Offsets and waivers ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reduction:
    """How one period's fee is reduced: first by the waivers of the period (what the GP
    forgoes, at most the fee; a waiver is never carried), then by the offset available —
    carried in from earlier periods plus this period's credit (the offset rate × fee income
    dated in it) — at most what is left of the fee; the rest of the offset is carried out."""

    fee: Decimal
    carried_in: Decimal
    credit: Decimal
    waived: Decimal
    offset: Decimal
    carried_out: Decimal

    @property
    def net(self) -> Decimal:
        return self.fee - self.waived - self.offset


def reduce(*, fee: Decimal, waivers: Decimal, carried_in: Decimal, credit: Decimal) -> Reduction:
    """`fee` reduced by `waivers` and then by `carried_in` + `credit`, never below zero."""
    waived = min(waivers, fee)
    offset = min(fee - waived, carried_in + credit)
    return Reduction(
        fee=fee,
        carried_in=carried_in,
        credit=credit,
        waived=waived,
        offset=offset,
        carried_out=carried_in + credit - offset,
    )


def quarters(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The calendar quarters from the one holding `first` (from its first day) up to `last`,
    the last one cut at `last`; none when `last` is before that quarter."""
    start = dt.date(first.year, 3 * ((first.month - 1) // 3) + 1, 1)
    periods = []
    while start <= last:
        end = dt.date(
            start.year, start.month + 2, calendar.monthrange(start.year, start.month + 2)[1]
        )
        periods.append((start, min(end, last)))
        if end >= last:
            break
        start = end + _ONE_DAY
    return periods


def split_reduction(
    lines: dict[uuid.UUID, Decimal], reduction: Reduction, currency: str
) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """Each investor's (offset, waived) part of `reduction`, in proportion to its fee line:
    the whole reduction split by the lines, then each investor's part split into offset and
    waiver by the same splitter — so the offsets add up to the offset, the waivers to the
    waiver, and no investor's reduction exceeds its fee."""
    zero = money.quantum(currency) * 0
    total = reduction.waived + reduction.offset
    weights = {investor: amount for investor, amount in lines.items() if amount}
    if not total or not weights:
        return {investor: (zero, zero) for investor in lines}
    parts = money.split(total, weights, currency)
    cut = {investor: part for investor, part in parts.items() if part}
    offsets = money.split(reduction.offset, cut, currency) if cut else {}
    result = {}
    for investor in lines:
        part = parts.get(investor, zero)
        offset = offsets.get(investor, zero)
        result[investor] = (offset, part - offset)
    return result
