"""Distribution waterfall: return of capital → preferred return → GP catch-up → carried interest.

Each distribution (proceed), in date order, runs through four tiers given everything paid before
it:

1. **Return of capital** — the LP gets back capital contributed up to and including the
   distribution date that has not been returned yet.
2. **Preferred return** — the LP gets the pref owed. The pref is an annual effective rate,
   compounded annually: a flow of amount A dated d grows to A × (1 + pref)^t by date T, where t
   is the day-count year fraction from d to T (fractional years use (1 + r)^t, so the hurdle is
   exactly an IRR of ``pref_rate`` on the same day count). The *hurdle balance* at T is
   Σ contributions × (1 + r)^t − Σ (return of capital + pref paid) × (1 + r)^t, each flow
   compounded from its own date. Pref owed = hurdle balance − unreturned capital: pref accrues on
   unreturned capital, capital returned stops accruing on its date, and unpaid pref compounds.
3. **Catch-up** — the GP gets ``catch_up`` of each further unit (the LP the rest) until the GP
   holds ``carry`` × all profit distributed so far (pref + catch-up + carried interest). With
   GP-so-far G and profit-so-far P, the tier is x = (carry × P − G) / (catch_up − carry), the
   exact solution of G + catch_up × x = carry × (P + x). ``catch_up`` = 0 means no catch-up.
4. **Carried interest** — the rest: ``carry`` to the GP, 1 − ``carry`` to the LP.

European (whole fund): all contributions and proceeds run through one waterfall, so the GP gets
nothing until all capital contributed to date and its pref are returned. American (deal by
deal): each deal's proceeds run against that deal's contributions alone; the result also
reports the clawback = GP total under American − GP total the same flows give under European,
when positive.

Arithmetic is on rationals and the totals are rounded to the currency's minor unit once, at the
end. Two steps are taken to a fixed precision so that the numbers stay short however many flows
and years there are (exactly, (1 + r)^n has 10·n decimals and each distribution's pref would
carry the digits of every factor before it): (1 + r)^t to 60 significant digits unless it is a
short exact power (whole years at low n), and the pref owed rounded up (in the LP's favour) to
10^-30 of a minor unit. Neither can move a rounded figure except on a tie 10^-30 units wide.

Rounding never favours the GP: each GP amount is rounded down (cumulatively, tier by tier), the
LP gets the remainder, so LP + GP equals the amount distributed exactly. The LP's own tiers are
rounded half-up cumulatively, the carried-interest tier taking the remainder.

Inputs must be in the currency's minor unit (amount × 10^exponent is an integer), otherwise no
rounding could make LP + GP equal the amount distributed.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Final, Literal, get_args

from prorata.finance.daycount import DayCount, check_day_count, days_between, year_basis

Style = Literal["european", "american"]
STYLES: Final[tuple[Style, ...]] = get_args(Style)

_ZERO: Final = Fraction(0)
# Digits for (1 + r)^t when it is not a short exact power; far beyond any currency's minor unit.
_POWER_PRECISION: Final = 60
# An exact whole-year power is kept while its denominator is this short (about 60 digits).
_EXACT_POWER_BITS: Final = 200
# The pref owed is rounded up to this many digits below the minor unit.
_PREF_DIGITS: Final = 30
# Digits shown for figures that are not a whole number of minor units.
_EXTRA_DIGITS: Final = 6


@dataclass(frozen=True, kw_only=True)
class Terms:
    """One fund's distribution terms (rates as fractions: 0.08 is 8 %)."""

    style: Style = "european"
    pref_rate: Decimal = Decimal("0.08")
    catch_up: Decimal = Decimal("1")
    carry: Decimal = Decimal("0.20")
    day_count: DayCount = "act/365"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown waterfall style {self.style!r}; expected one of {STYLES}")
        check_day_count(self.day_count)
        if self.pref_rate < 0:
            raise ValueError("pref_rate must not be negative")
        if not 0 <= self.carry < 1:
            raise ValueError("carry must be in [0, 1)")
        # A catch-up at or below the carry share could never bring the GP up to its carry.
        if self.catch_up != 0 and not self.carry < self.catch_up <= 1:
            raise ValueError("catch_up must be 0 (none) or in (carry, 1]")


@dataclass(frozen=True)
class Flow:
    """A contribution or a proceed: a non-negative amount on a date, for a deal (American)."""

    date: dt.date
    amount: Decimal
    deal_id: str | None = None


@dataclass(frozen=True)
class Split:
    """What one tier paid to the LP and to the GP."""

    lp: Decimal
    gp: Decimal

    @property
    def total(self) -> Decimal:
        return self.lp + self.gp


@dataclass(frozen=True)
class Tiers:
    return_of_capital: Split
    preferred_return: Split
    catch_up: Split
    carried_interest: Split


@dataclass(frozen=True)
class WaterfallResult:
    """Rounded tier amounts and totals; ``explanation`` reproduces every figure step by step."""

    tiers: Tiers
    lp_total: Decimal
    gp_total: Decimal
    clawback: Decimal
    explanation: tuple[str, ...]


@dataclass(frozen=True)
class _Alloc:
    """Exact tier amounts: of one distribution, or summed over several."""

    roc: Fraction = _ZERO
    pref: Fraction = _ZERO
    catch_up_lp: Fraction = _ZERO
    catch_up_gp: Fraction = _ZERO
    carry_lp: Fraction = _ZERO
    carry_gp: Fraction = _ZERO

    def __add__(self, other: _Alloc) -> _Alloc:
        return _Alloc(
            roc=self.roc + other.roc,
            pref=self.pref + other.pref,
            catch_up_lp=self.catch_up_lp + other.catch_up_lp,
            catch_up_gp=self.catch_up_gp + other.catch_up_gp,
            carry_lp=self.carry_lp + other.carry_lp,
            carry_gp=self.carry_gp + other.carry_gp,
        )

    @property
    def total(self) -> Fraction:
        return self.roc + self.profit

    @property
    def gp(self) -> Fraction:
        return self.catch_up_gp + self.carry_gp

    @property
    def profit(self) -> Fraction:
        """Everything distributed above returned capital."""
        return self.pref + self.catch_up_lp + self.catch_up_gp + self.carry_lp + self.carry_gp


@dataclass(frozen=True)
class _History:
    """What one waterfall (the fund, or one deal) has paid before the current distribution."""

    paid: _Alloc = _Alloc()
    # (date, return of capital + pref paid): the payments that reduce the hurdle balance.
    hurdle_payments: tuple[tuple[dt.date, Fraction], ...] = ()


@dataclass(frozen=True)
class _Context:
    terms: Terms
    exponent: int

    def money(self, amount: Fraction) -> str:
        """An amount in minor units when it is a whole number of them, else approximately."""
        scaled = amount * 10**self.exponent
        if scaled.denominator == 1:
            return f"{Decimal(scaled.numerator).scaleb(-self.exponent):f}"
        return "≈" + _decimal_text(amount, places=self.exponent + _EXTRA_DIGITS)


def run_waterfall(
    *, terms: Terms, contributions: Sequence[Flow], proceeds: Sequence[Flow], exponent: int
) -> WaterfallResult:
    """Split ``proceeds`` between LP and GP under ``terms``; amounts in units of 10^-exponent."""
    _check_flows(contributions=contributions, proceeds=proceeds, exponent=exponent)
    if terms.style == "american" and any(f.deal_id is None for f in (*contributions, *proceeds)):
        raise ValueError("an American waterfall needs a deal_id on every flow")
    ctx = _Context(terms=terms, exponent=exponent)
    lines = [_describe_terms(ctx)]
    if terms.style == "european":
        alloc, run_lines = _run_stream(ctx=ctx, contributions=contributions, proceeds=proceeds)
        clawback = Decimal(0).scaleb(-exponent)
    else:
        alloc, clawback, run_lines = _run_american(
            ctx=ctx, contributions=contributions, proceeds=proceeds
        )
    lines += run_lines
    distributed = sum((Fraction(p.amount) for p in proceeds), _ZERO)
    tiers, lp_total, gp_total = _round(alloc, distributed=distributed, exponent=exponent)
    lines += _describe_rounding(ctx, alloc=alloc, lp_total=lp_total, gp_total=gp_total)
    return WaterfallResult(
        tiers=tiers,
        lp_total=lp_total,
        gp_total=gp_total,
        clawback=clawback,
        explanation=tuple(lines),
    )


def _check_flows(*, contributions: Sequence[Flow], proceeds: Sequence[Flow], exponent: int) -> None:
    if exponent < 0:
        raise ValueError("exponent must not be negative")
    for flow in (*contributions, *proceeds):
        if flow.amount < 0:
            raise ValueError(f"flow amounts must not be negative: {flow}")
        if (Fraction(flow.amount) * 10**exponent).denominator != 1:
            raise ValueError(f"flow amount is not in minor units of 10^-{exponent}: {flow}")


def _run_american(
    *, ctx: _Context, contributions: Sequence[Flow], proceeds: Sequence[Flow]
) -> tuple[_Alloc, Decimal, list[str]]:
    """Deal by deal, then the clawback against a European run of the same flows."""
    total = _Alloc()
    lines: list[str] = []
    deal_ids = sorted({f.deal_id for f in (*contributions, *proceeds) if f.deal_id is not None})
    for deal_id in deal_ids:
        lines.append(f"Deal {deal_id}: its proceeds run against its own contributions only.")
        alloc, deal_lines = _run_stream(
            ctx=ctx,
            contributions=[c for c in contributions if c.deal_id == deal_id],
            proceeds=[p for p in proceeds if p.deal_id == deal_id],
        )
        lines += [f"  [{deal_id}] {line}" for line in deal_lines]
        total += alloc
    european, _ = _run_stream(ctx=ctx, contributions=contributions, proceeds=proceeds)
    q = Fraction(1, 10**ctx.exponent)
    american_gp, european_gp = _floor(total.gp, q), _floor(european.gp, q)
    clawback = max(_ZERO, american_gp - european_gp)
    lines.append(
        f"Clawback: GP total deal by deal {ctx.money(american_gp)} − GP total on the same flows "
        f"as one European waterfall {ctx.money(european_gp)} (both rounded down), "
        f"if positive = {ctx.money(clawback)}."
    )
    return total, _to_decimal(clawback, exponent=ctx.exponent), lines


def _run_stream(
    *, ctx: _Context, contributions: Sequence[Flow], proceeds: Sequence[Flow]
) -> tuple[_Alloc, list[str]]:
    """One waterfall (the fund, or one deal): each proceed in date order, given the history."""
    history = _History()
    lines: list[str] = []
    # sorted() is stable: proceeds on the same date keep their input order.
    for proceed in sorted(proceeds, key=lambda p: p.date):
        alloc, step_lines = _distribute(
            ctx=ctx, contributions=contributions, history=history, proceed=proceed
        )
        lines += step_lines
        history = _History(
            paid=history.paid + alloc,
            hurdle_payments=(*history.hurdle_payments, (proceed.date, alloc.roc + alloc.pref)),
        )
    return history.paid, lines


def _distribute(
    *, ctx: _Context, contributions: Sequence[Flow], history: _History, proceed: Flow
) -> tuple[_Alloc, list[str]]:
    """Run one proceed through the four tiers (exactly, unrounded)."""
    amount = Fraction(proceed.amount)
    money = ctx.money
    contributed = sum((Fraction(c.amount) for c in contributions if c.date <= proceed.date), _ZERO)
    unreturned = contributed - history.paid.roc
    lines = [
        f"Distribution on {proceed.date}: {money(amount)}.",
        f"  Capital contributed to date {money(contributed)}, returned before "
        f"{money(history.paid.roc)}, unreturned {money(unreturned)}.",
    ]
    roc = min(amount, unreturned)
    lines.append(f"  Tier 1 return of capital: LP {money(roc)} = min({money(amount)}, unreturned).")
    owed, pref_lines = _pref_owed(
        ctx=ctx,
        contributions=contributions,
        history=history,
        on=proceed.date,
        unreturned=unreturned,
    )
    pref = min(amount - roc, owed)
    lines += pref_lines
    lines.append(f"  Tier 2 preferred return: LP {money(pref)} = min(remaining, owed).")
    profit_before = history.paid.profit + pref
    catch_lp, catch_gp, catch_lines = _catch_up(
        ctx=ctx, available=amount - roc - pref, profit=profit_before, gp=history.paid.gp
    )
    lines += catch_lines
    carry_lp, carry_gp, carry_lines = _carried_interest(
        ctx=ctx, available=amount - roc - pref - catch_lp - catch_gp
    )
    lines += carry_lines
    alloc = _Alloc(
        roc=roc,
        pref=pref,
        catch_up_lp=catch_lp,
        catch_up_gp=catch_gp,
        carry_lp=carry_lp,
        carry_gp=carry_gp,
    )
    return alloc, lines


def _pref_owed(
    *,
    ctx: _Context,
    contributions: Sequence[Flow],
    history: _History,
    on: dt.date,
    unreturned: Fraction,
) -> tuple[Fraction, list[str]]:
    """Pref owed on ``on`` = hurdle balance − unreturned capital (never below zero)."""
    lines = [f"  Hurdle balance on {on}, each flow compounded from its date:"]
    balance = _ZERO
    # Contributions add to the balance, earlier payments of capital and pref reduce it.
    dated = [(c.date, 1, Fraction(c.amount), "contribution") for c in contributions if c.date <= on]
    dated += [(d, -1, paid, "capital + pref paid") for d, paid in history.hurdle_payments if paid]
    for date, sign, amount, label in dated:
        factor, how = _growth(ctx=ctx, start=date, end=on)
        balance += sign * amount * factor
        lines.append(
            f"    {'+' if sign > 0 else '−'} {label} {date}: {ctx.money(amount)} × {how} "
            f"= {ctx.money(amount * factor)}"
        )
    # Rounding of the convention can leave the balance a hair below unreturned capital once
    # everything is paid; the LP is never owed a negative pref. Rounded up to a fine grid: the
    # exact figure would carry the digits of every growth factor into every later distribution.
    grid = Fraction(1, 10 ** (ctx.exponent + _PREF_DIGITS))
    owed = max(_ZERO, _ceil(balance - unreturned, grid))
    lines.append(
        f"  Pref owed = hurdle balance {ctx.money(balance)} − unreturned capital "
        f"{ctx.money(unreturned)} = {ctx.money(owed)} (not below 0)."
    )
    return owed, lines


def _growth(*, ctx: _Context, start: dt.date, end: dt.date) -> tuple[Fraction, str]:
    """(1 + pref)^t from ``start`` to ``end``, and how it was computed."""
    convention = ctx.terms.day_count
    days = days_between(start=start, end=end, convention=convention)
    basis = year_basis(convention)
    years = Fraction(days, basis)
    factor = _power(1 + Fraction(ctx.terms.pref_rate), years)
    text = _decimal_text(factor, places=12)
    how = f"(1 + {ctx.terms.pref_rate})^({days} days / {basis}, {convention}) [= {text}]"
    return factor, how


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    """base^exponent: exact for whole years while that is short, otherwise to 60 significant
    digits."""
    # The denominator of base^n is the base's to the n (lowest terms stay lowest).
    if exponent.denominator == 1 and (
        exponent.numerator * base.denominator.bit_length() <= _EXACT_POWER_BITS
    ):
        return base**exponent.numerator
    with localcontext() as ctx:
        ctx.prec = _POWER_PRECISION
        return Fraction((_ln(base) * exponent.numerator / exponent.denominator).exp())


@functools.lru_cache(maxsize=64)
def _ln(base: Fraction) -> Decimal:
    """ln(base) to 60 digits; one base (1 + pref) serves every flow of a waterfall."""
    with localcontext() as ctx:
        ctx.prec = _POWER_PRECISION
        return (Decimal(base.numerator) / Decimal(base.denominator)).ln()


def _catch_up(
    *, ctx: _Context, available: Fraction, profit: Fraction, gp: Fraction
) -> tuple[Fraction, Fraction, list[str]]:
    """(LP, GP) of the catch-up tier: the GP takes ``catch_up`` per unit until it holds carry ×
    profit, solving G + c·x = k·(P + x) for x."""
    share, carry = Fraction(ctx.terms.catch_up), Fraction(ctx.terms.carry)
    if share == 0:
        return _ZERO, _ZERO, ["  Tier 3 catch-up: none (catch_up = 0)."]
    target = carry * profit
    needed = max(_ZERO, (target - gp) / (share - carry))
    size = min(available, needed)
    to_gp = share * size
    money = ctx.money
    return (
        size - to_gp,
        to_gp,
        [
            f"  Tier 3 catch-up at {_percent(ctx.terms.catch_up)} to GP: target = "
            f"{ctx.terms.carry} × profit {money(profit)} = {money(target)}, GP so far "
            f"{money(gp)}; tier = max(0, ({money(target)} − {money(gp)}) / "
            f"({ctx.terms.catch_up} − {ctx.terms.carry})) = {money(needed)}, capped at remaining "
            f"{money(available)} → {money(size)}: GP {money(to_gp)}, LP {money(size - to_gp)}."
        ],
    )


def _carried_interest(
    *, ctx: _Context, available: Fraction
) -> tuple[Fraction, Fraction, list[str]]:
    """(LP, GP) of the final tier: carry to the GP, the rest to the LP."""
    to_gp = Fraction(ctx.terms.carry) * available
    line = (
        f"  Tier 4 carried interest on {ctx.money(available)}: GP {_percent(ctx.terms.carry)} "
        f"= {ctx.money(to_gp)}, LP {ctx.money(available - to_gp)}."
    )
    return available - to_gp, to_gp, [line]


def _round(
    alloc: _Alloc, *, distributed: Fraction, exponent: int
) -> tuple[Tiers, Decimal, Decimal]:
    """Round once, at the end: GP amounts down (cumulatively), the LP takes the remainder."""
    q = Fraction(1, 10**exponent)
    catch_gp = _floor(alloc.catch_up_gp, q)
    gp_total = _floor(alloc.gp, q)
    lp_total = distributed - gp_total
    # Cumulative half-up rounding keeps every LP tier within a unit of its exact value.
    roc = _half_up(alloc.roc, q)
    to_pref = _half_up(alloc.roc + alloc.pref, q)
    to_catch = _half_up(alloc.roc + alloc.pref + alloc.catch_up_lp, q)

    def split(lp: Fraction, gp: Fraction) -> Split:
        return Split(lp=_to_decimal(lp, exponent=exponent), gp=_to_decimal(gp, exponent=exponent))

    tiers = Tiers(
        return_of_capital=split(roc, _ZERO),
        preferred_return=split(to_pref - roc, _ZERO),
        catch_up=split(to_catch - to_pref, catch_gp),
        carried_interest=split(lp_total - to_catch, gp_total - catch_gp),
    )
    return (
        tiers,
        _to_decimal(lp_total, exponent=exponent),
        _to_decimal(gp_total, exponent=exponent),
    )


def _floor(amount: Fraction, quantum: Fraction) -> Fraction:
    return math.floor(amount / quantum) * quantum


def _ceil(amount: Fraction, quantum: Fraction) -> Fraction:
    return math.ceil(amount / quantum) * quantum


def _half_up(amount: Fraction, quantum: Fraction) -> Fraction:
    return math.floor(amount / quantum + Fraction(1, 2)) * quantum


def _to_decimal(amount: Fraction, *, exponent: int) -> Decimal:
    """An amount that is a whole number of minor units, as a Decimal with that exponent."""
    scaled = amount * 10**exponent
    if scaled.denominator != 1:
        raise ValueError(f"{amount} is not a whole number of minor units")
    # Built from its digits, not with scaleb(), which rounds to the context's 28 digits.
    return Decimal(f"{scaled.numerator}E-{exponent}")


def _decimal_text(value: Fraction, *, places: int) -> str:
    """``value`` to at most ``places`` decimals, trailing zeros dropped."""
    with localcontext() as ctx:
        ctx.prec = _POWER_PRECISION
        text = f"{Decimal(value.numerator) / Decimal(value.denominator):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f} %"


def _describe_terms(ctx: _Context) -> str:
    t = ctx.terms
    return (
        f"Terms: {t.style} waterfall; preferred return {_percent(t.pref_rate)} a year, compounded "
        f"annually as (1 + r)^t with t = days / basis ({t.day_count}); catch-up "
        f"{_percent(t.catch_up)} to GP; carried interest {_percent(t.carry)}; amounts in units "
        f"of {Decimal(1).scaleb(-ctx.exponent):f}."
    )


def _describe_rounding(
    ctx: _Context, *, alloc: _Alloc, lp_total: Decimal, gp_total: Decimal
) -> list[str]:
    money = ctx.money
    return [
        f"Totals before rounding: return of capital {money(alloc.roc)}, pref {money(alloc.pref)}, "
        f"catch-up LP {money(alloc.catch_up_lp)} / GP {money(alloc.catch_up_gp)}, carried "
        f"interest LP {money(alloc.carry_lp)} / GP {money(alloc.carry_gp)}.",
        f"Rounding: GP total {money(alloc.gp)} rounded down to {gp_total:f} (rounding never "
        f"favours the GP); the LP gets the rest of the {money(alloc.total)} distributed: "
        f"{lp_total:f}.",
    ]
