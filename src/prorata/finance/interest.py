"""Simple interest on a balance that changes over time (default interest on an unpaid line).

Interest from ``start`` to ``end`` on a principal that starts at ``principal`` and changes by
``changes`` (each a date and a signed amount: a payment is negative, from its date on) is

    Σ principal_i × rate × days_i / basis

over the stretches between consecutive change dates, with days and basis from the day-count
convention (`finance.daycount`). A change dated on or before ``start`` applies from ``start``;
one after ``end`` is ignored. The result is an exact Fraction: the caller rounds it once, to the
currency (`money.round_to_currency`).

*Example.* 100,000.00 unpaid from 2026-03-16, 10 % a year, act/365; 40,000.00 paid on
2026-04-15: to 2026-05-15 the interest is 100,000 × 0.10 × 30/365 + 60,000 × 0.10 × 30/365
= 160,000 × 3/365 = 1,315.07 (rounded).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

from prorata.finance.daycount import DayCount, days_between, year_basis


def simple_interest(
    *,
    principal: Decimal,
    changes: Iterable[tuple[dt.date, Decimal]],
    rate: Decimal,
    start: dt.date,
    end: dt.date,
    convention: DayCount,
) -> Fraction:
    """The interest of ``start`` .. ``end`` on the changing principal (0 when ``end`` is not
    after ``start``). A principal that falls below zero bears none."""
    if end <= start or rate == 0:
        return Fraction(0)
    balance = Fraction(principal)
    dated: dict[dt.date, Fraction] = {}
    for day, amount in changes:
        if day <= start:
            balance += Fraction(amount)
        elif day < end:
            dated[day] = dated.get(day, Fraction(0)) + Fraction(amount)
    total = Fraction(0)
    since = start
    for day in [*sorted(dated), end]:
        if balance > 0:
            total += balance * days_between(start=since, end=day, convention=convention)
        balance += dated.get(day, Fraction(0))
        since = day
    return total * Fraction(rate) / year_basis(convention)
