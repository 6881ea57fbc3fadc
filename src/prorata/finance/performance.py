"""Fund performance metrics: multiples (DPI, RVPI, TVPI), XIRR, capital account roll-forward.

Multiples divide by paid-in capital (PIC): DPI = distributions / PIC, RVPI = NAV / PIC,
TVPI = (distributions + NAV) / PIC. With no paid-in capital there is no multiple (None).
They are computed to 28 significant digits, not rounded further.

XIRR is the annual rate r at which the net present value of dated cash flows is zero, on
ACT/365: Σ amount_i / (1 + r)^((d_i − d_0) / 365) = 0, d_0 the earliest date. The rate is a
fraction (0.1 = 10 % a year), returned rounded half-even to 10 decimal places (`IRR_PLACES`);
it lies in (−1, ∞) and, for absurd flows, can have thousands of integer digits (below
e^32768, see the bound). It is solved in x = ln(1 + r), where the NPV is smooth for every real
x, with the Illinois method (regula falsi that halves the stale end), falling back to bisection
whenever a step fails to halve the bracket, so it cannot diverge. All in Decimal (50 digits).

Which root. The flows netted per date and put in date order change sign some number of times;
by Descartes' rule of signs (which holds for real exponents) the NPV has at most that many
roots. With one sign change there is exactly one root (or none) and it is the answer. With
several there may be several roots: the NPV's sign is scanned on a fixed grid of x (every
1/128 for |x| ≤ 1, i.e. r from −63 % to +172 %, then x = ±2, ±4, … ±32768), each interval where
it changes sign holds a root, and the root returned is **the one nearest the 10 % guess**
(least |r − 0.1|, the lower on a tie). `multiple_roots` says the scan found more than one;
the roots themselves (at most `MAX_ROOTS`, those nearest the guess) are returned too, so none
is hidden. Two roots closer together than the grid's spacing may be seen as none (the NPV
touches zero without changing sign between two grid points).

No rate (None, never an exception): fewer than two dates with a non-zero net flow, flows all of
one sign, or no root with |ln(1 + r)| ≤ 32768 (a bound only absurd flows reach: it is
10^39 times the money in one day).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final

IRR_PLACES: Final = 10
# The guess the returned root is nearest to, when the NPV has several roots.
IRR_GUESS: Final = Decimal("0.1")
# At most this many roots are solved and reported (those nearest the guess).
MAX_ROOTS: Final = 5
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
# Where the NPV's sign is scanned when it may have several roots (see the module docstring).
_FINE_STEPS: Final = 128
_SCAN_GRID: Final = sorted(
    {k / _FINE_STEPS for k in range(-_FINE_STEPS, _FINE_STEPS + 1)}
    | {side * 2.0**k for k in range(1, 16) for side in (1, -1)}
)


@dataclass(frozen=True)
class CashFlow:
    """A dated cash flow from the investor's side: contributions negative, receipts positive."""

    date: dt.date
    amount: Decimal


@dataclass(frozen=True)
class Irr:
    """An XIRR and how it was chosen: `rate` is the root returned (None: no root); `roots`
    are the roots found, ascending (at most `MAX_ROOTS`, those nearest the guess);
    `multiple_roots` is true when the NPV has more than one."""

    rate: Decimal | None
    roots: tuple[Decimal, ...]
    multiple_roots: bool


NO_IRR: Final = Irr(rate=None, roots=(), multiple_roots=False)


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
    return xirr_roots(flows=flows).rate


def xirr_roots(*, flows: Sequence[CashFlow]) -> Irr:
    """The annual IRR of dated flows with the roots it was chosen from (module docstring)."""
    series = _net_by_date(flows)
    amounts = [amount for _, amount in series]
    if len(series) < 2 or min(amounts) > 0 or max(amounts) < 0:
        return NO_IRR
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.Emax, ctx.Emin = _EXPONENT_LIMIT, -_EXPONENT_LIMIT
        npv = _npv_in_log_rate(series)
        if _sign_changes(amounts) == 1:
            bracket = _bracket(npv)
            if bracket is None:
                return NO_IRR
            rate = _rate(_solve(npv, *bracket))
            return Irr(rate=rate, roots=(rate,), multiple_roots=False)
        brackets = _scan(series)
        guess = (1 + IRR_GUESS).ln()
        nearest = sorted(brackets, key=lambda ab: _distance(ab, guess))[:MAX_ROOTS]
        found: set[Decimal] = set()
        for a, b in nearest:
            fa, fb = npv(a), npv(b)
            if fa == 0 or fb == 0 or (fa < 0) != (fb < 0):
                found.add(_rate(_solve(npv, a, fa, b, fb)))
        if not found:
            return NO_IRR
        roots = tuple(sorted(found))
        chosen = min(roots, key=lambda r: (abs(r - IRR_GUESS), r))
        unsolved = len(brackets) > len(nearest)
        return Irr(rate=chosen, roots=roots, multiple_roots=len(roots) > 1 or unsolved)


def _rate(x: Decimal) -> Decimal:
    """r = e^x − 1 rounded half-even to `IRR_PLACES` (inside the caller's wide context)."""
    rate = x.exp() - 1
    with localcontext() as ctx:
        # Quantizing to 10 places needs that many digits beyond the rate's integer part.
        ctx.prec = max(_PRECISION, rate.adjusted() + IRR_PLACES + 2)
        return rate.quantize(Decimal(1).scaleb(-IRR_PLACES), rounding=ROUND_HALF_EVEN)


def _sign_changes(amounts: list[Decimal]) -> int:
    return sum(1 for a, b in itertools.pairwise(amounts) if (a < 0) != (b < 0))


def _distance(bracket: tuple[Decimal, Decimal], guess: Decimal) -> Decimal:
    a, b = bracket
    return _ZERO if a <= guess <= b else min(abs(a - guess), abs(b - guess))


def _scan(series: list[tuple[dt.date, Decimal]]) -> list[tuple[Decimal, Decimal]]:
    """The intervals [a, b] of `_SCAN_GRID` (in x) where the NPV changes sign (or a == b, a
    grid point where it is zero). The sign is read in floats on logarithms, which cannot
    overflow: Σ sign_i × e^(ln|amount_i| − x × years_i − m), m the largest exponent; the solver
    then checks each interval's ends in Decimal."""
    start = series[0][0]
    terms = [
        (math.copysign(1.0, amount), math.log(abs(amount)), (date - start).days / 365)
        for date, amount in series
    ]

    def sign(x: float) -> int:
        logs = [log - x * years for _, log, years in terms]
        top = max(logs)
        total = math.fsum(
            s * math.exp(log - top) for (s, _, _), log in zip(terms, logs, strict=True)
        )
        return (total > 0) - (total < 0)

    signs = [(x, sign(x)) for x in _SCAN_GRID]
    found: list[tuple[Decimal, Decimal]] = []
    for (x0, s0), (x1, s1) in itertools.pairwise(signs):
        if s0 == 0:
            found.append((Decimal(x0), Decimal(x0)))
        elif s1 != 0 and s0 != s1:
            found.append((Decimal(x0), Decimal(x1)))
    if signs[-1][1] == 0:
        found.append((Decimal(signs[-1][0]), Decimal(signs[-1][0])))
    return found


def _net_by_date(flows: Sequence[CashFlow]) -> list[tuple[dt.date, Decimal]]:
    """Flows netted per date, zero nets dropped, in date order."""
    net: dict[dt.date, Decimal] = {}
    for flow in flows:
        net[flow.date] = net.get(flow.date, _ZERO) + flow.amount
    return sorted((date, amount) for date, amount in net.items() if amount != 0)


def _npv_in_log_rate(series: list[tuple[dt.date, Decimal]]) -> Npv:
    """NPV as a function of x = ln(1 + r): Σ amount_i × e^(−x × days_i / 365).

    Dates are whole days, so e^(−x × days / 365) = q^days with q = e^(−x / 365): one exp per
    evaluation, then each date's factor from the previous one times q^gap (exact integer
    powers), which is an order of magnitude cheaper than an exp per flow."""
    dates = [date for date, _ in series]
    steps = [
        (amount, (date - previous).days)
        for previous, (date, amount) in zip([dates[0], *dates], series, strict=False)
    ]

    def npv(x: Decimal) -> Decimal:
        q = (-x / 365).exp()
        factor = Decimal(1)
        total = _ZERO
        for amount, gap in steps:
            if gap:
                factor *= q**gap
            total += amount * factor
        return total

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
