"""Money: ISO 4217 minor units, exact conversions, and the largest-remainder splitter."""

from __future__ import annotations

import time
import uuid
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prorata.finance import money
from prorata.finance.money import (
    InsufficientCapacity,
    InvalidAmount,
    InvalidCaps,
    InvalidWeights,
    TooManyDecimals,
    UnknownCurrency,
    split,
    split_capped,
)

D = Decimal


def exponent(amount: Decimal) -> int:
    value = amount.as_tuple().exponent
    assert isinstance(value, int)
    return value


def ids(count: int) -> list[uuid.UUID]:
    """`count` distinct ids, sorted ascending."""
    return sorted(uuid.uuid4() for _ in range(count))


# --- ISO 4217 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "decimals"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("CHF", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("XOF", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_minor_unit_follows_iso_4217(currency: str, decimals: int) -> None:
    assert money.minor_unit(currency) == decimals
    assert money.is_currency(currency)


def test_the_table_covers_the_active_codes() -> None:
    table = money.ISO_4217_MINOR_UNITS
    assert len(table) >= 150
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in table)
    assert {code for code, decimals in table.items() if decimals == 0} == {
        *("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"),
        *("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"),
    }
    assert {code for code, decimals in table.items() if decimals == 3} == {
        "BHD",
        "IQD",
        "JOD",
        "KWD",
        "LYD",
        "OMR",
        "TND",
    }
    assert {code for code, decimals in table.items() if decimals == 4} == {"CLF", "UYW"}
    assert set(table.values()) == {0, 2, 3, 4}


@pytest.mark.parametrize(
    "code", ["XXX", "XAU", "XDR", "HRK", "usd", "Usd", "US", "USDX", "", "840"]
)
def test_unknown_currency_is_refused(code: str) -> None:
    assert not money.is_currency(code)
    with pytest.raises(UnknownCurrency, match="unknown currency"):
        money.minor_unit(code)
    with pytest.raises(UnknownCurrency):
        money.to_minor_units(D("1"), code)
    with pytest.raises(UnknownCurrency):
        split(D("1"), {"a": D(1)}, code)


def test_is_currency_is_false_for_non_strings() -> None:
    assert not money.is_currency(840)
    assert not money.is_currency(None)


def test_quantum() -> None:
    assert str(money.quantum("USD")) == "0.01"
    assert str(money.quantum("JPY")) == "1"
    assert str(money.quantum("BHD")) == "0.001"
    assert str(money.quantum("CLF")) == "0.0001"


# --- Amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("10.10", "USD", 1010),
        ("10.1", "USD", 1010),
        ("10.100", "USD", 1010),  # trailing zeros are not extra precision
        ("1E+2", "USD", 10000),
        ("-0.05", "USD", -5),
        ("0", "USD", 0),
        ("100", "JPY", 100),
        ("1.001", "BHD", 1001),
        ("0.0001", "CLF", 1),
    ],
)
def test_to_minor_units(amount: str, currency: str, units: int) -> None:
    assert money.to_minor_units(D(amount), currency) == units


@pytest.mark.parametrize(
    ("amount", "currency", "allowed"),
    [
        ("10.001", "USD", "2 decimal places"),
        ("0.5", "JPY", "0 decimal places"),
        ("1.0001", "BHD", "3 decimal places"),
        ("1E-5", "CLF", "4 decimal places"),
    ],
)
def test_to_minor_units_refuses_too_many_decimals(amount: str, currency: str, allowed: str) -> None:
    with pytest.raises(TooManyDecimals, match=f"{currency} allows at most {allowed}") as caught:
        money.to_minor_units(D(amount), currency)
    assert caught.value.currency == currency
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(amount: str) -> None:
    with pytest.raises(InvalidAmount, match="finite"):
        money.check_amount(D(amount), "USD")


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match=r"decimal\.Decimal"):
        money.to_minor_units(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="int"):
        money.from_minor_units(1.0, "USD")  # type: ignore[arg-type]


def test_absurd_magnitudes_are_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(InvalidAmount, match="out of range"):
        money.to_minor_units(D("1E+999999999"), "USD")
    with pytest.raises(InvalidWeights, match="out of range"):
        split(D("1.00"), {"a": D("1E-999999999")}, "USD")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("units", "currency", "text"),
    [
        (1429, "USD", "14.29"),
        (0, "USD", "0.00"),
        (-5, "USD", "-0.05"),
        (100, "JPY", "100"),
        (1, "BHD", "0.001"),
        (1, "CLF", "0.0001"),
        (10**40 + 1, "USD", "100000000000000000000000000000000000000.01"),
    ],
)
def test_from_minor_units_has_exactly_the_currency_exponent(
    units: int, currency: str, text: str
) -> None:
    amount = money.from_minor_units(units, currency)
    assert str(amount) == text
    assert exponent(amount) == -money.minor_unit(currency)


def test_check_amount_validates_and_quantizes() -> None:
    assert str(money.check_amount(D("10.1"), "USD")) == "10.10"
    assert str(money.check_amount(D("1E+2"), "USD")) == "100.00"
    assert str(money.check_amount(D("-0"), "USD")) == "0.00"
    assert str(money.check_amount(D("7"), "JPY")) == "7"
    with pytest.raises(TooManyDecimals):
        money.check_amount(D("10.001"), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "USD", "0.12"),  # half to even: down to 2
        ("0.135", "USD", "0.14"),  # half to even: up to 4
        ("-0.125", "USD", "-0.12"),
        ("0.1251", "USD", "0.13"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("1.0005", "BHD", "1.000"),
        ("7", "USD", "7.00"),
    ],
)
def test_round_to_currency_is_half_even(amount: str, currency: str, rounded: str) -> None:
    assert str(money.round_to_currency(D(amount), currency)) == rounded


def test_no_decimal_context_is_involved() -> None:
    # 32 significant digits: more than the default 28, far more than this context's 5.
    big = D("123456789012345678901234567890.12")
    with localcontext() as context:
        context.prec = 5
        assert money.check_amount(big, "USD") == big
        assert money.round_to_currency(D("123456789012345678901234567890.125"), "USD") == big
        parts = split(
            big, {"a": D(1), "b": D(1), "c": D("1.000000000000000000000000000001")}, "USD"
        )
    # Summed in minor units: a Decimal sum would round to the default context's 28 digits.
    assert (
        sum(money.to_minor_units(part, "USD") for part in parts.values())
        == 12345678901234567890123456789012
    )
    assert all(exponent(part) == -2 for part in parts.values())


# --- split: public vectors --------------------------------------------------------------------


def test_three_equal_commitments_extra_cent_to_the_smallest_id() -> None:
    small, middle, large = ids(3)
    weights = {large: D("1000000"), small: D("1000000"), middle: D("1000000")}
    parts = split(D("100000.00"), weights, "USD")
    assert parts == {small: D("33333.34"), middle: D("33333.33"), large: D("33333.33")}
    assert sum(parts.values()) == D("100000.00")


def test_seven_equal_commitments_sum_to_the_call_where_naive_rounding_does_not() -> None:
    keys = ids(7)
    parts = split(D("100.00"), dict.fromkeys(reversed(keys), D("250000")), "USD")
    assert [parts[key] for key in keys] == [D("14.29")] * 4 + [D("14.28")] * 3
    assert sum(parts.values()) == D("100.00")

    # Rounding each exact share half-up on its own creates three cents out of nothing.
    naive = [(D("100.00") / 7).quantize(D("0.01"), rounding=ROUND_HALF_UP) for _ in keys]
    assert sum(naive) == D("100.03")


def test_five_million_euro_call_on_unequal_commitments() -> None:
    weights = {"lp-a": D("5000000.00"), "lp-b": D("7500000.00"), "lp-c": D("7500000.00")}
    parts = split(D("5000000"), weights, "EUR")
    assert parts == {"lp-a": D("1250000.00"), "lp-b": D("1875000.00"), "lp-c": D("1875000.00")}
    assert all(exponent(part) == -2 for part in parts.values())


def test_exact_fraction_weights_are_split_without_rounding_them_first() -> None:
    """Computed shares such as fees over 90/365 of a year: 1.00 USD by thirds is 33.33… and
    66.66… cents, the spare cent to the larger remainder; the same as the Decimal weights 1 : 2."""
    thirds = {"a": Fraction(1, 3), "b": Fraction(2, 3)}
    assert split(D("1.00"), thirds, "USD") == {"a": D("0.33"), "b": D("0.67")}
    assert split(D("1.00"), thirds, "USD") == split(D("1.00"), {"a": D(1), "b": D(2)}, "USD")
    with pytest.raises(InvalidWeights):
        split(D("1.00"), {"a": Fraction(0), "b": Fraction(-1, 3)}, "USD")


# --- split: tie-breaks and currencies ---------------------------------------------------------


def test_equal_remainders_go_to_the_larger_weight_before_the_smaller_key() -> None:
    # Exact shares 2.5 and 7.5 cents: equal remainders; "b" has the larger weight.
    assert split(D("0.10"), {"a": D(1), "b": D(3)}, "USD") == {"a": D("0.02"), "b": D("0.08")}


def test_the_larger_remainder_wins_over_the_larger_weight() -> None:
    # Exact shares 0.6 and 2.4 cents: "a" has the larger remainder, "b" the larger weight.
    assert split(D("0.03"), {"a": D(1), "b": D(4)}, "USD") == {"a": D("0.01"), "b": D("0.02")}


def test_equal_weights_go_to_the_smaller_key_whatever_the_order() -> None:
    forward = {"a": D(1), "b": D(1), "c": D(1)}
    backward = {"c": D(1), "b": D(1), "a": D(1)}
    expected = {"a": D("0.01"), "b": D("0.01"), "c": D("0.00")}
    assert split(D("0.02"), forward, "USD") == expected
    assert split(D("0.02"), backward, "USD") == expected


def test_yen_has_no_decimals() -> None:
    parts = split(D("1000"), {"a": D(1), "b": D(1), "c": D(1)}, "JPY")
    assert parts == {"a": D("334"), "b": D("333"), "c": D("333")}
    assert [str(part) for part in parts.values()] == ["334", "333", "333"]
    with pytest.raises(TooManyDecimals):
        split(D("1000.5"), {"a": D(1)}, "JPY")


def test_bahraini_dinar_has_three_decimals() -> None:
    parts = split(D("10"), {"a": D(1), "b": D(1), "c": D(1)}, "BHD")
    assert [str(part) for part in parts.values()] == ["3.334", "3.333", "3.333"]


def test_zero_weights_get_zero_and_a_zero_total_gives_zeros() -> None:
    parts = split(D("100.00"), {"a": D(0), "b": D(1), "c": D(2)}, "USD")
    assert parts == {"a": D("0.00"), "b": D("33.33"), "c": D("66.67")}
    assert [str(part) for part in split(D("0"), {"a": D(1), "b": D(2)}, "USD").values()] == [
        "0.00",
        "0.00",
    ]


def test_negative_totals_split_symmetrically() -> None:
    weights = {key: D(1) for key in "abcdefg"}
    positive = split(D("100.00"), weights, "USD")
    negative = split(D("-100.00"), weights, "USD")
    assert negative == {key: -part for key, part in positive.items()}
    assert sum(negative.values()) == D("-100.00")


def test_parts_come_back_in_the_order_of_the_weights() -> None:
    assert list(split(D("1.00"), {"z": D(1), "a": D(1), "m": D(1)}, "USD")) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "at least one weight"),
        ({"a": D(0), "b": D(0)}, "at least one weight"),
        ({"a": D(1), "b": D(-1)}, "must not be negative"),
        ({"a": D("NaN")}, "finite"),
    ],
)
def test_invalid_weights_are_refused(weights: dict[str, Decimal], message: str) -> None:
    with pytest.raises(InvalidWeights, match=message) as caught:
        split(D("1.00"), weights, "USD")
    assert isinstance(caught.value, ValueError)


def test_weights_with_many_digits_are_exact() -> None:
    third = D("0.3333333333333333333333333333333333333333")  # 40 digits
    parts = split(D("1.00"), {"a": third, "b": third, "c": third}, "USD")
    assert parts == {"a": D("0.34"), "b": D("0.33"), "c": D("0.33")}


# --- split: properties ------------------------------------------------------------------------

currencies = st.sampled_from(["USD", "EUR", "JPY", "BHD", "CLF"])
positive_weights = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=0, max_value=6),
)


@st.composite
def split_cases(draw: st.DrawFn) -> tuple[Decimal, dict[uuid.UUID, Decimal], str]:
    currency = draw(currencies)
    units = draw(st.integers(min_value=-(10**15), max_value=10**15))
    total = Decimal(units).scaleb(-money.minor_unit(currency))
    weights = draw(st.dictionaries(st.uuids(), positive_weights, min_size=1, max_size=50))
    return total, weights, currency


@given(split_cases())
def test_parts_sum_to_the_total_and_stay_within_a_unit_of_the_exact_share(
    case: tuple[Decimal, dict[uuid.UUID, Decimal], str],
) -> None:
    total, weights, currency = case
    parts = split(total, weights, currency)
    decimals = money.minor_unit(currency)

    assert parts.keys() == weights.keys()
    assert sum(parts.values(), D(0)) == total
    whole = sum(Fraction(weight) for weight in weights.values())
    unit = Fraction(1, 10**decimals)
    for key, part in parts.items():
        exact_share = Fraction(total) * Fraction(weights[key]) / whole
        assert abs(Fraction(part) - exact_share) < unit
        assert exponent(part) == -decimals


@given(split_cases(), st.data())
def test_split_is_deterministic_whatever_the_insertion_order(
    case: tuple[Decimal, dict[uuid.UUID, Decimal], str], data: st.DataObject
) -> None:
    total, weights, currency = case
    first = split(total, weights, currency)
    shuffled = dict(data.draw(st.permutations(list(weights.items()))))
    assert split(total, weights, currency) == first
    assert split(total, shuffled, currency) == first


# --- split_capped -----------------------------------------------------------------------------


def test_a_party_capped_low_gets_its_cap_and_the_others_share_the_rest() -> None:
    weights = {"a": D(1), "b": D(1), "c": D(1)}
    caps = {"a": D("10000.00"), "b": D("1000000.00"), "c": D("1000000.00")}
    parts = split_capped(D("100000.00"), weights, caps, "USD")
    assert parts == {"a": D("10000.00"), "b": D("45000.00"), "c": D("45000.00")}


def test_the_rest_is_shared_pro_rata_by_weight() -> None:
    weights = {"a": D(1), "b": D(1), "c": D(2)}
    caps = {"a": D("10.00"), "b": D("1000.00"), "c": D("1000.00")}
    parts = split_capped(D("100.00"), weights, caps, "USD")
    assert parts == {"a": D("10.00"), "b": D("30.00"), "c": D("60.00")}


def test_capping_repeats_until_nobody_is_over() -> None:
    # Round 1: 100 each, "a" is over. Round 2: 125 each for "b" and "c", "b" is over.
    weights = {"a": D(1), "b": D(1), "c": D(1)}
    caps = {"a": D("50.00"), "b": D("120.00"), "c": D("1000.00")}
    parts = split_capped(D("300.00"), weights, caps, "USD")
    assert parts == {"a": D("50.00"), "b": D("120.00"), "c": D("130.00")}


def test_a_total_equal_to_the_capacity_fills_every_cap() -> None:
    weights = {"a": D(1), "b": D(5), "c": D(9)}
    caps = {"a": D("3.33"), "b": D("0.01"), "c": D("7")}
    parts = split_capped(D("10.34"), weights, caps, "USD")
    assert parts == {"a": D("3.33"), "b": D("0.01"), "c": D("7.00")}


def test_insufficient_capacity_says_what_was_requested_and_available() -> None:
    weights = {"a": D(1), "b": D(1), "c": D(1), "zero": D(0)}
    caps = {"a": D("10"), "b": D("20"), "c": D("30"), "zero": D("1000")}
    with pytest.raises(InsufficientCapacity, match=r"60\.01 USD") as caught:
        split_capped(D("60.01"), weights, caps, "USD")
    assert caught.value.requested == D("60.01")
    assert caught.value.available == D("60.00")  # the zero-weight party's cap does not count
    assert isinstance(caught.value, ValueError)


def test_zero_weight_parties_get_zero_whatever_their_cap() -> None:
    weights = {"a": D(0), "b": D(1)}
    caps = {"a": D("1000"), "b": D("1000")}
    assert split_capped(D("5.00"), weights, caps, "USD") == {"a": D("0.00"), "b": D("5.00")}


@pytest.mark.parametrize(
    ("caps", "error", "message"),
    [
        ({"a": D(1)}, InvalidCaps, "no cap for \\['b'\\]"),
        ({"a": D(1), "b": D(1), "x": D(1)}, InvalidCaps, "without a weight for \\['x'\\]"),
        ({"a": D(1), "b": D(-1)}, InvalidCaps, "must not be negative"),
        ({"a": D(1), "b": D("0.001")}, TooManyDecimals, "USD allows at most 2"),
    ],
)
def test_invalid_caps_are_refused(
    caps: dict[str, Decimal], error: type[ValueError], message: str
) -> None:
    with pytest.raises(error, match=message):
        split_capped(D("1.00"), {"a": D(1), "b": D(1)}, caps, "USD")


def test_a_capped_split_refuses_a_negative_total() -> None:
    with pytest.raises(InvalidAmount, match="zero or more"):
        split_capped(D("-1.00"), {"a": D(1)}, {"a": D(5)}, "USD")


weights_or_zero = st.one_of(st.just(D(0)), positive_weights)


@st.composite
def capped_cases(
    draw: st.DrawFn,
) -> tuple[Decimal, dict[uuid.UUID, Decimal], dict[uuid.UUID, Decimal], str]:
    currency = draw(currencies)
    decimals = money.minor_unit(currency)
    weights = draw(
        st.dictionaries(st.uuids(), weights_or_zero, min_size=1, max_size=30).filter(
            lambda found: any(found.values())
        )
    )
    cap_units = {key: draw(st.integers(min_value=0, max_value=10**12)) for key in weights}
    available = sum(units for key, units in cap_units.items() if weights[key] > 0)
    total = Decimal(draw(st.integers(min_value=0, max_value=available))).scaleb(-decimals)
    caps = {key: Decimal(units).scaleb(-decimals) for key, units in cap_units.items()}
    return total, weights, caps, currency


@given(capped_cases())
def test_capped_parts_sum_to_the_total_and_never_exceed_a_cap(
    case: tuple[Decimal, dict[uuid.UUID, Decimal], dict[uuid.UUID, Decimal], str],
) -> None:
    total, weights, caps, currency = case
    parts = split_capped(total, weights, caps, currency)

    assert parts.keys() == weights.keys()
    assert sum(parts.values(), D(0)) == total
    for key, part in parts.items():
        assert D(0) <= part <= caps[key]
        assert exponent(part) == -money.minor_unit(currency)
        if weights[key] == 0:
            assert part == 0
    # Parties below their cap took part in the final round together, so equal weights there
    # differ by at most one minor unit.
    below = [key for key, part in parts.items() if part < caps[key] and weights[key] > 0]
    for key in below:
        for other in below:
            if weights[key] == weights[other]:
                assert abs(parts[key] - parts[other]) <= money.quantum(currency)


@given(capped_cases())
def test_insufficient_capacity_is_reported_exactly(
    case: tuple[Decimal, dict[uuid.UUID, Decimal], dict[uuid.UUID, Decimal], str],
) -> None:
    _, weights, caps, currency = case
    available = sum((caps[key] for key in weights if weights[key] > 0), D(0))
    requested = available + money.quantum(currency)
    with pytest.raises(InsufficientCapacity) as caught:
        split_capped(requested, weights, caps, currency)
    assert caught.value.requested == requested
    assert caught.value.available == available


@given(split_cases())
def test_caps_that_never_bind_change_nothing(
    case: tuple[Decimal, dict[uuid.UUID, Decimal], str],
) -> None:
    total, weights, currency = case
    total = abs(total)
    caps = dict.fromkeys(weights, total)
    assert split_capped(total, weights, caps, currency) == split(total, weights, currency)
