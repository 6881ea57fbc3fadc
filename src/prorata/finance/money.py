"""Money: ISO 4217 minor units, exact conversions, and the one pro-rata splitter.

Every amount is a `decimal.Decimal` in a named currency, exact to that currency's minor unit.
Amounts a person entered are *checked* (too many decimals is refused, never rounded away);
amounts the system computed are *rounded* half-to-even.

Capital calls, distributions, the CSV import and the public calculation endpoint all divide
money with `split` / `split_capped`, so the same inputs give the same cents everywhere.

Nothing here reads or depends on the caller's decimal context: arithmetic is done on integers
of minor units and `fractions.Fraction`, so a 40-digit total or a weight with many decimals is
handled exactly whatever precision the context has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Context, Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, Protocol, TypeVar


class UnknownCurrency(ValueError):
    """Not an active ISO 4217 currency code with a minor unit."""

    def __init__(self, currency: object) -> None:
        super().__init__(
            f"unknown currency {currency!r}: expected an active ISO 4217 code such as 'USD'"
        )
        self.currency = currency


class InvalidAmount(ValueError):
    """Not a usable quantity of money: NaN, infinite, or absurdly large or precise."""


class TooManyDecimals(InvalidAmount):
    """An amount finer than the currency's minor unit, e.g. 10.001 USD."""

    def __init__(self, amount: Decimal, currency: str, decimals: int) -> None:
        super().__init__(
            f"{amount} {currency} has too many decimals: "
            f"{currency} allows at most {decimals} decimal place{'' if decimals == 1 else 's'}"
        )
        self.amount = amount
        self.currency = currency
        self.decimals = decimals


class InvalidWeights(ValueError):
    """Weights that cannot divide anything: negative, or none of them positive."""


class InvalidCaps(ValueError):
    """Caps that do not match the weighted parties, or are negative."""


class InsufficientCapacity(ValueError):
    """The capped parties together cannot take the whole total."""

    def __init__(self, *, requested: Decimal, available: Decimal, currency: str) -> None:
        super().__init__(
            f"cannot split {requested} {currency}: "
            f"the parties' caps allow at most {available} {currency}"
        )
        self.requested = requested
        self.available = available
        self.currency = currency


# --- ISO 4217 -------------------------------------------------------------------------------


# Active ISO 4217 codes (list one, currencies and funds) by number of decimals of the minor
# unit. Codes whose minor unit is "N.A." (XAU, XAG, XPD, XPT, XDR, XSU, XUA, XBA-XBD, XTS, XXX)
# are absent on purpose: they are not amounts a fund can hold to the cent.
# ANG (replaced by XCG in 2025) and BGN (replaced by EUR in 2026) are being withdrawn; they are
# kept so records already in them still validate. Long-withdrawn codes (HRK, SLL, ZWL, CUC, VEF,
# MRO, STD, ...) are not accepted.
_MINOR_UNITS_BY_DECIMALS: Final[Mapping[int, str]] = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
        BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
        FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
        KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
        NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
        SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED
        VES WST XCD XCG YER ZAR ZMW ZWG
    """,
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}

ISO_4217_MINOR_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    dict(
        sorted(
            (code, decimals)
            for decimals, codes in _MINOR_UNITS_BY_DECIMALS.items()
            for code in codes.split()
        )
    )
)
"""Active ISO 4217 code -> number of decimals of its minor unit (read-only)."""


def is_currency(code: object) -> bool:
    """True for an active ISO 4217 code (three uppercase letters) that has a minor unit."""
    return isinstance(code, str) and code in ISO_4217_MINOR_UNITS


def minor_unit(currency: str) -> int:
    """The ISO 4217 exponent of `currency`: 2 for USD, 0 for JPY, 3 for BHD, 4 for CLF.

    Codes are matched exactly (``"usd"`` is refused): a currency is data, not prose.
    """
    if not is_currency(currency):
        raise UnknownCurrency(currency)
    return ISO_4217_MINOR_UNITS[currency]


def quantum(currency: str) -> Decimal:
    """The currency's minor unit as an amount: Decimal("0.01") for USD, Decimal("1") for JPY."""
    return Decimal((0, (1,), -minor_unit(currency)))


# --- Amounts --------------------------------------------------------------------------------

# Exact arithmetic costs grow with the size of the numbers: a public endpoint handed
# "1E+999999999" must refuse it, not build a billion-digit integer. A hundred significant
# digits and a magnitude within 10^±100 is far beyond any real amount or ownership weight.
_MAX_DIGITS: Final = 100


def _exact(value: Decimal, *, what: str, error: type[ValueError] = InvalidAmount) -> Fraction:
    """`value` as an exact fraction, refusing floats, NaN, infinities and absurd sizes."""
    return Fraction(*_ratio(value, what=what, error=error))


# Wide enough that no bounded amount is ever rounded when it is rescaled.
_WIDE: Final = Context(prec=10 * _MAX_DIGITS)
# 10^100 needs 333 bits: a numerator or denominator beyond this has more than 100 digits.
_MAX_BITS: Final = 333


def _ratio(
    value: Decimal, *, what: str, error: type[ValueError] = InvalidAmount
) -> tuple[int, int]:
    """`value` as (numerator, denominator) in lowest terms (the denominator divides a power of
    ten), refusing floats, NaN, infinities and absurd sizes. C-fast: no digit tuples."""
    if not isinstance(value, Decimal):
        # A float has already lost the cents; an int would hide a missing conversion.
        raise TypeError(f"{what} must be a decimal.Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise error(f"{what} must be a finite number, not {value}")
    # `adjusted` bounds the magnitude before any big integer is built.
    if abs(value.adjusted()) > _MAX_DIGITS:
        raise error(f"{what} {value} is out of range")
    numerator, denominator = value.as_integer_ratio()
    if max(abs(numerator).bit_length(), denominator.bit_length()) > _MAX_BITS:
        raise error(f"{what} {value} is out of range")
    return numerator, denominator


def _units_per_major(decimals: int) -> int:
    # Annotated, because typeshed types int ** int as Any (a negative power is a float).
    per_major: int = 10**decimals
    return per_major


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` as an integer count of minor units: 14.29 USD -> 1429, 100 JPY -> 100.

    An amount finer than the minor unit (10.001 USD) is refused with `TooManyDecimals`, never
    rounded: a person typed it, and silently dropping a tenth of a cent is a reconciliation
    break. Trailing zeros do not count (10.10 and 10.100 USD are both 1010 cents), and
    exponent forms are fine (1E+2 USD is 10000 cents).
    """
    decimals = minor_unit(currency)
    # Integer arithmetic on the exact ratio: exact, and cheap enough for a 10,000-investor
    # call (no Fraction per amount).
    numerator, denominator = _ratio(amount, what="amount")
    units, rest = divmod(numerator * _units_per_major(decimals), denominator)
    if rest:
        raise TooManyDecimals(amount, currency, decimals)
    return units


def from_minor_units(units: int, currency: str) -> Decimal:
    """The amount of `units` minor units, with exactly the currency's exponent.

    1429 USD cents -> Decimal("14.29"); 100 JPY -> Decimal("100"); 0 USD -> Decimal("0.00").
    """
    if not isinstance(units, int) or isinstance(units, bool):
        raise TypeError(f"units must be an int, not {type(units).__name__}")
    # scaleb in a context wide enough never to round (units are bounded by _MAX_DIGITS).
    return Decimal(units).scaleb(-minor_unit(currency), _WIDE)


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """A user-entered amount, validated and given exactly the currency's exponent.

    Refuses non-Decimals, NaN and infinities (`InvalidAmount`) and amounts finer than the
    minor unit (`TooManyDecimals`): Decimal("10.1") USD -> Decimal("10.10"). A negative zero
    comes back as plain zero.
    """
    return from_minor_units(to_minor_units(amount, currency), currency)


def round_to_currency(amount: Decimal | Fraction, currency: str) -> Decimal:
    """A computed amount rounded to the currency's minor unit, half to even (banker's rounding).

    For amounts the system derived (interest, fees, FX); never for amounts a person entered,
    which `check_amount` refuses rather than rounds. 0.125 USD -> 0.12, 0.135 USD -> 0.14.
    A `Fraction` is taken as is: a calculation with thirds or twelfths stays exact until here.
    """
    decimals = minor_unit(currency)
    exact = amount if isinstance(amount, Fraction) else _exact(amount, what="amount")
    # Fraction.__round__ rounds exact ties to the even integer, with no context involved.
    units = round(exact * _units_per_major(decimals))
    return from_minor_units(units, currency)


# --- Pro-rata splitting ---------------------------------------------------------------------


class _PartyKey(Protocol):
    """A party's key: hashable, and ordered so that a final tie goes to the smaller key."""

    def __lt__(self, other: Any, /) -> bool: ...

    def __hash__(self) -> int: ...


K = TypeVar("K", bound=_PartyKey)


def _integer_weights(keys: Sequence[K], weights: Iterable[Decimal | Fraction]) -> list[int]:
    """Weights as integers on one common scale (each ≥ 0, at least one > 0), in key order.

    A Decimal weight is an exact ratio whose denominator divides a power of ten, so scaling
    all of them by the lcm of their denominators keeps every ratio exact, with plain integers
    (no Fraction per party). A Fraction weight (a computed share such as a fee accrued over
    90/365 of a year) is taken as is: still exact, on a larger common scale.
    """
    ratios: list[tuple[int, int]] = []
    for key, weight in zip(keys, weights, strict=True):
        try:
            if isinstance(weight, Fraction):
                ratios.append((weight.numerator, weight.denominator))
                continue
            ratios.append(_ratio(weight, what="weight", error=InvalidWeights))
        except (InvalidWeights, TypeError) as exc:  # name the party only when it failed
            raise type(exc)(f"{exc} (party {key!r})") from None
    negative = [key for key, (numerator, _) in zip(keys, ratios, strict=True) if numerator < 0]
    if negative:
        raise InvalidWeights(f"weights must not be negative: {negative!r}")
    if not any(numerator for numerator, _ in ratios):
        raise InvalidWeights("at least one weight must be greater than zero")
    # Denominators divide powers of ten, so their lcm is small: the common scale.
    common = math.lcm(*{denominator for _, denominator in ratios})
    return [numerator * (common // denominator) for numerator, denominator in ratios]


def _largest_remainder(total: int, weights: Sequence[int], keys: Sequence[K]) -> list[int]:
    """Split `total` ≥ 0 minor units by the largest remainder method (Hamilton's method).

    Each exact share total·w/Σw is floored; the units left over go one each to the largest
    fractional remainders, ties to the larger weight, then the smaller key. Zero weights get
    zero: the leftover is less than the number of non-zero remainders.

    All in integers, on lists by position: a share is one `divmod`, remainders compare as
    integers, and keys are only compared on a tie (hashing 10,000 UUID keys at every step cost
    more than the arithmetic).
    """
    whole = sum(weights)
    shares = [divmod(total * weight, whole) for weight in weights]
    parts = [part for part, _ in shares]
    leftover = total - sum(parts)
    if leftover:
        # A total order on the parties, so the result never depends on the mapping's order.
        ranking = sorted(range(len(parts)), key=lambda i: (-shares[i][1], -weights[i], keys[i]))
        for i in ranking[:leftover]:
            parts[i] += 1
    return parts


def _amounts(units: Iterable[int], currency: str) -> list[Decimal]:
    """`from_minor_units` for many parts (the exponent looked up once)."""
    exponent = -minor_unit(currency)
    return [Decimal(part).scaleb(exponent, _WIDE) for part in units]


def split(
    total: Decimal, weights: Mapping[K, Decimal] | Mapping[K, Fraction], currency: str
) -> dict[K, Decimal]:
    """Divide `total` among parties in proportion to their weights, exactly to the minor unit.

    The rule (largest remainder method, in integer minor units of `currency`):

    - each party's exact share is ``total_units * w / Σw``; each part is that share floored;
    - the units left over are handed out one each, to the largest fractional remainders first;
      equal remainders go to the larger weight first, then to the smaller key.

    So Σ parts == total exactly, every part is within one minor unit of its exact share, and
    the result depends only on the inputs, never on the mapping's order. 100.00 USD over seven
    equal weights is four x 14.29 and three x 14.28, the extra cents to the smallest keys.

    Weights are Decimals (or exact Fractions, for computed shares) ≥ 0 with at least one > 0
    (else `InvalidWeights`); zero weights get zero. The total must fit the currency
    (`TooManyDecimals` otherwise) and may be zero (all parts zero). A negative total is split
    symmetrically: its absolute value is split and each part negated, so split(-x) == -split(x)
    part by part.

    Returns a part for every key of `weights`, in the order of `weights`, each with exactly the
    currency's exponent.
    """
    units = to_minor_units(total, currency)
    keys = list(weights)
    parts = _largest_remainder(abs(units), _integer_weights(keys, weights.values()), keys)
    sign = -1 if units < 0 else 1
    return dict(zip(keys, _amounts((sign * part for part in parts), currency), strict=True))


def _cap_units(keys: Sequence[K], caps: Mapping[K, Decimal], currency: str) -> list[int]:
    """Caps in minor units, one per party in key order, each ≥ 0."""
    found = [caps.get(key) for key in keys]
    if len(caps) != len(keys) or None in found:
        missing = [key for key, cap in zip(keys, found, strict=True) if cap is None]
        parties = set(keys)
        extra = [key for key in caps if key not in parties]
        raise InvalidCaps(
            f"caps and weights must name the same parties: no cap for {missing!r}, "
            f"caps without a weight for {extra!r}"
        )
    units = [to_minor_units(cap, currency) for cap in found if cap is not None]
    negative = [key for key, cap in zip(keys, units, strict=True) if cap < 0]
    if negative:
        raise InvalidCaps(f"caps must not be negative: {negative!r}")
    return units


def _capped_largest_remainder(
    total: int, weights: Sequence[int], caps: Sequence[int], keys: Sequence[K]
) -> list[int]:
    """Split, pin everyone over their cap to the cap, re-split the rest; until nobody is over.

    Only parties with a positive weight take part; the others get zero. Terminates: each
    round pins at least one party. Never runs out of parties: the caller ensures Σ caps ≥ total
    (over the positive weights), which pinning preserves, and the remainder stays positive
    while anyone is over (their caps are below the parts they were given).
    """
    parts = [0] * len(weights)
    open_parties = [i for i, weight in enumerate(weights) if weight > 0]
    remaining = total
    while True:
        shares = _largest_remainder(
            remaining, [weights[i] for i in open_parties], [keys[i] for i in open_parties]
        )
        over = {i for i, share in zip(open_parties, shares, strict=True) if share > caps[i]}
        if not over:
            for i, share in zip(open_parties, shares, strict=True):
                parts[i] = share
            return parts
        for i in over:
            parts[i] = caps[i]
            remaining -= caps[i]
        open_parties = [i for i in open_parties if i not in over]


def split_capped(
    total: Decimal,
    weights: Mapping[K, Decimal],
    caps: Mapping[K, Decimal],
    currency: str,
) -> dict[K, Decimal]:
    """Divide `total` by weights, never giving a party more than its cap (the capital-call rule).

    `total` is split by `split`'s rule. Every party whose part exceeds its cap (typically its
    remaining unfunded commitment) gets exactly its cap and drops out; what they could not take
    is re-split among the others by the same rule, with the same tie-breaks, and so on until
    nobody exceeds their cap. Σ parts == total exactly, and no part exceeds its cap.

    `caps` must name exactly the parties of `weights`; caps are amounts in `currency` (within
    its minor unit) and ≥ 0 (else `InvalidCaps`). The total must be ≥ 0: a call is not a
    refund. If the caps of the parties with a positive weight add up to less than the total,
    `InsufficientCapacity` says how much was requested and how much was available.
    Zero-weight parties get zero whatever their cap.
    """
    units = to_minor_units(total, currency)
    if units < 0:
        raise InvalidAmount(f"a capped split needs a total of zero or more, not {total}")
    keys = list(weights)
    exact = _integer_weights(keys, weights.values())
    limits = _cap_units(keys, caps, currency)
    available = sum(limit for weight, limit in zip(exact, limits, strict=True) if weight > 0)
    if units > available:
        raise InsufficientCapacity(
            requested=from_minor_units(units, currency),
            available=from_minor_units(available, currency),
            currency=currency,
        )
    parts = _capped_largest_remainder(units, exact, limits, keys)
    return dict(zip(keys, _amounts(parts, currency), strict=True))
