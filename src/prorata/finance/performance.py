"""Fund performance metrics: multiples (DPI, RVPI, TVPI), XIRR, capital account roll-forward.

Multiples divide by paid-in capital (PIC): DPI = distributions / PIC, RVPI = NAV / PIC,
TVPI = (distributions + NAV) / PIC. With no paid-in capital there is no multiple (None).
They are computed to 28 significant digits, not rounded further.

XIRR is the annual rate r at which the net present value of dated cash flows is zero, on
ACT/365: Σ amount_i / (1 + r)^((d_i − d_0) / 365) = 0, d_0 the earliest date. It is solved in
x = ln(1 + r), where the NPV is smooth for every real x (r in (−1, ∞)): the solver scans outward
from r = 0 for a sign change of the NPV, so it finds the root nearest to 0, then narrows the
bracket with the Illinois method (regula falsi that halves the stale end), falling back to
bisection whenever a step fails to halve the bracket, so it cannot diverge. All in Decimal
(50 digits). The rate is returned rounded half-even to 10 decimal places (`IRR_PLACES`).
No rate (None, never an exception): fewer than two dates with a non-zero net flow, flows all of
one sign, or no root with |ln(1 + r)| ≤ 32768 (a bound only absurd flows reach: it is
10^39 times the money in one day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final

IRR_PLACES: Final = 10
_RATIO_PRECISION: Final = 28
_PRECISION: Final = 50
# The bracket scan tries x = ±(2^k / 32) for k = 0 .. 20, i.e. |ln(1 + r)| up to 32768.
_GRID_START: Final = Decimal(1) / 32
_GRID_STEPS: Final = 21
# Bracket width in x = ln(1 + r) at which we stop; far below 1e-10 even for r of 1e12.
_X_TOLERANCE: Final = Decimal("1e-30")
# Bisection alone needs about 120 steps from the widest bracket; this is a safety stop.
_MAX_STEPS: Final = 500
# exp() of |x × years| must not overflow or underflow: widen the exponent range.
_EXPONENT_LIMIT: Final = 10**9
_ZERO: Final = Decimal(0)

Npv = Callable[[Decimal], Decimal]


@dataclass(frozen=True)
class CashFlow:
    """A dated cash flow from the investor's side: contributions negative, receipts positive."""

    date: dt.date
    amount: Decimal


@dataclass(frozen=True)
class Multiples:
    paid_in: Decimal
    distributions: Decimal
    nav: Decimal
    dpi: Decimal | None
    rvpi: Decimal | None
    tvpi: Decimal | None


@dataclass(frozen=True)
class RollForward:
    """A capital account over a period: end = begin + contributions − distributions
    − carried interest + allocated gains (negative for losses) − fees − expenses."""

    begin: Decimal
    contributions: Decimal
    distributions: Decimal
    carried_interest: Decimal
    allocated_gains: Decimal
    fees: Decimal
    expenses: Decimal
    end: Decimal


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """numerator / paid-in capital; None when nothing has been paid in."""
    if denominator < 0:
        raise ValueError("paid-in capital must not be negative")
    if denominator == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = _RATIO_PRECISION
        return numerator / denominator


def dpi(*, paid_in: Decimal, distributions: Decimal) -> Decimal | None:
    """Distributions to paid-in capital: what investors have had back per unit paid in."""
    return _ratio(distributions, paid_in)


def rvpi(*, paid_in: Decimal, nav: Decimal) -> Decimal | None:
    """Residual value (NAV) to paid-in capital: what is still in the fund per unit paid in."""
    return _ratio(nav, paid_in)


def tvpi(*, paid_in: Decimal, distributions: Decimal, nav: Decimal) -> Decimal | None:
    """Total value (distributions + NAV) to paid-in capital; TVPI = DPI + RVPI."""
    return _ratio(distributions + nav, paid_in)


def multiples(*, paid_in: Decimal, distributions: Decimal, nav: Decimal) -> Multiples:
    """DPI, RVPI and TVPI together, with the figures they come from."""
    return Multiples(
        paid_in=paid_in,
        distributions=distributions,
        nav=nav,
        dpi=dpi(paid_in=paid_in, distributions=distributions),
        rvpi=rvpi(paid_in=paid_in, nav=nav),
        tvpi=tvpi(paid_in=paid_in, distributions=distributions, nav=nav),
    )


def roll_forward(
    *,
    begin: Decimal,
    contributions: Decimal,
    distributions: Decimal,
    allocated_gains: Decimal,
    fees: Decimal = _ZERO,
    expenses: Decimal = _ZERO,
    carried_interest: Decimal = _ZERO,
) -> RollForward:
    """Roll a capital account from its beginning balance to its ending balance."""
    end = (
        begin + contributions - distributions - carried_interest + allocated_gains - fees - expenses
    )
    return RollForward(
        begin=begin,
        contributions=contributions,
        distributions=distributions,
        carried_interest=carried_interest,
        allocated_gains=allocated_gains,
        fees=fees,
        expenses=expenses,
        end=end,
    )


def xirr(*, flows: Sequence[CashFlow]) -> Decimal | None:
    """The annual IRR of dated flows on ACT/365 (see the module docstring), or None."""
    series = _net_by_date(flows)
    amounts = [amount for _, amount in series]
    if len(series) < 2 or min(amounts) > 0 or max(amounts) < 0:
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.Emax, ctx.Emin = _EXPONENT_LIMIT, -_EXPONENT_LIMIT
        npv = _npv_in_log_rate(series)
        bracket = _bracket(npv)
        if bracket is None:
            return None
        rate = _solve(npv, *bracket).exp() - 1
        # Quantizing to 10 places needs that many digits beyond the rate's integer part.
        ctx.prec = max(_PRECISION, rate.adjusted() + IRR_PLACES + 2)
        return rate.quantize(Decimal(1).scaleb(-IRR_PLACES), rounding=ROUND_HALF_EVEN)


def _net_by_date(flows: Sequence[CashFlow]) -> list[tuple[dt.date, Decimal]]:
    """Flows netted per date, zero nets dropped, in date order."""
    net: dict[dt.date, Decimal] = {}
    for flow in flows:
        net[flow.date] = net.get(flow.date, _ZERO) + flow.amount
    return sorted((date, amount) for date, amount in net.items() if amount != 0)


def _npv_in_log_rate(series: list[tuple[dt.date, Decimal]]) -> Npv:
    """NPV as a function of x = ln(1 + r): Σ amount_i × e^(−x × years_i)."""
    start = series[0][0]
    terms = [(amount, Decimal((date - start).days) / 365) for date, amount in series]

    def npv(x: Decimal) -> Decimal:
        return sum((amount * (-x * years).exp() for amount, years in terms), _ZERO)

    return npv


def _bracket(npv: Npv) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
    """(a, npv(a), b, npv(b)) with a ≤ b and a sign change (or a zero) between them, scanning
    outward from x = 0 so the root nearest r = 0 wins; None if the scan finds none."""
    at_zero = npv(_ZERO)
    if at_zero == 0:
        return _ZERO, at_zero, _ZERO, at_zero
    inner = {1: (_ZERO, at_zero), -1: (_ZERO, at_zero)}
    for k in range(_GRID_STEPS):
        for side in (1, -1):
            x0, f0 = inner[side]
            x1 = side * _GRID_START * 2**k
            f1 = npv(x1)
            if f1 == 0 or (f0 < 0) != (f1 < 0):
                return (x0, f0, x1, f1) if x0 < x1 else (x1, f1, x0, f0)
            inner[side] = (x1, f1)
    return None


def _solve(npv: Npv, a: Decimal, fa: Decimal, b: Decimal, fb: Decimal) -> Decimal:
    """Narrow the bracket [a, b] (fa, fb of opposite signs, or one zero) to the root."""
    if fa == 0:
        return a
    if fb == 0:
        return b
    # Which end survived the last step (-1 a, +1 b): Illinois halves its value if it survives
    # again, which stops regula falsi from creeping in from one side only.
    stale = 0
    for _ in range(_MAX_STEPS):
        width = b - a
        if width <= _X_TOLERANCE:
            break
        x = (a * fb - b * fa) / (fb - fa)
        if not a < x < b:
            x = (a + b) / 2
        fx = npv(x)
        if fx == 0:
            return x
        if (fx < 0) == (fa < 0):
            a, fa = x, fx
            fb, stale = (fb / 2 if stale == 1 else fb), 1
        else:
            b, fb = x, fx
            fa, stale = (fa / 2 if stale == -1 else fa), -1
        if b - a > width / 2:
            # The secant step failed to halve the bracket: bisect too, so it cannot crawl.
            a, fa, b, fb = _bisect(npv, a, fa, b, fb)
    return (a + b) / 2


def _bisect(
    npv: Npv, a: Decimal, fa: Decimal, b: Decimal, fb: Decimal
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """One bisection step, which always halves the bracket whatever the NPV's rounding noise."""
    mid = (a + b) / 2
    fm = npv(mid)
    if fm == 0:
        return mid, fm, mid, fm
    if (fm < 0) == (fa < 0):
        return mid, fm, b, fb
    return a, fa, mid, fm
