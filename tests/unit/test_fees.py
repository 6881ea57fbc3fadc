"""Management fees weighted by days (`finance.fees`): any cut of a period adds up to the whole,
exactly before rounding, under every day count; the lines add up to the rounded total."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prorata.finance import daycount, fees
from prorata.finance import money as finance_money
from prorata.finance.daycount import DAY_COUNTS, DayCount

D = Decimal
ONE_DAY = dt.timedelta(days=1)
EARLY, LATE = uuid.UUID(int=1), uuid.UUID(int=13)

days = st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2024, 12, 31))
month_ends = st.builds(
    lambda year, month: dt.date(year, month, calendar.monthrange(year, month)[1]),
    st.integers(2021, 2024),
    st.integers(1, 12),
)
some_day = st.one_of(days, month_ends)  # month ends are where 30/360 is tricky
rates = st.sampled_from([D("0.02"), D("0.0175"), D("0.015"), D("0.0125"), D("0")])


@st.composite
def funds(draw: st.DrawFn) -> tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]]:
    currency = draw(st.sampled_from(["USD", "JPY", "BHD"]))
    money = st.integers(1, 10**11).map(lambda units: money_of(units, currency))
    terms = fees.Terms(
        rate=draw(rates),
        basis=draw(st.sampled_from(["committed", "invested"])),
        day_count=draw(st.sampled_from(DAY_COUNTS)),
        currency=currency,
        investment_period_end=draw(st.none() | some_day),
        post_investment_period_rate=draw(st.none() | rates),
    )
    # Some investors on their own rate (a side letter; 0 for the GP's commitment).
    commitments = [
        fees.Commitment(
            investor=uuid.UUID(int=n + 1),
            amount=draw(money),
            since=draw(some_day),
            rate=draw(st.none() | rates),
        )
        for n in range(draw(st.integers(0, 6)))
    ]
    investments = [
        fees.Investment(amount=draw(money), on=draw(some_day))
        for _ in range(draw(st.integers(0, 4)))
    ]
    return terms, commitments, investments


def money_of(units: int, currency: str) -> Decimal:
    return finance_money.from_minor_units(units, currency)


def _charge(
    fund: tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]],
    first: dt.date,
    last: dt.date,
) -> fees.Fee:
    terms, commitments, investments = fund
    return fees.charge(
        terms=terms, first=first, last=last, commitments=commitments, investments=investments
    )


@settings(max_examples=300, deadline=None)
@given(fund=funds(), cut=st.lists(some_day, min_size=3, max_size=3, unique=True).map(sorted))
def test_any_cut_of_a_period_adds_up_to_the_whole_exactly(
    fund: tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]], cut: list[dt.date]
) -> None:
    first, split, last = cut  # first < split < last: [first, split] and [split + 1, last]
    whole = _charge(fund, first, last)
    head, tail = _charge(fund, first, split), _charge(fund, split + ONE_DAY, last)
    assert whole.exact == head.exact + tail.exact
    for investor, share in whole.exact_lines.items():
        assert share == head.exact_lines[investor] + tail.exact_lines[investor]
    for fee in (whole, head, tail):
        if fund[1] and fee.amount:  # somebody to charge
            assert sum(fee.lines.values()) == fee.amount
            assert sum(fee.exact_lines.values()) == fee.exact
        assert sum(part.amount for part in fee.parts) == fee.amount
        # Rounded once: within half a minor unit of the exact fee.
        half_unit = Fraction(finance_money.quantum(fund[0].currency)) / 2
        assert abs(Fraction(fee.amount) - fee.exact) <= half_unit


def _day_weight(day: dt.date, convention: DayCount) -> int:
    """How many days ``day`` counts, reasoned day by day (not through the stretches): one on
    actual calendars; on 30/360 the 31st counts none and a month's last day makes its month
    up to 30 (the last of February counts three in a common year, two in a leap year)."""
    if convention != "30/360":
        return 1
    month_days = calendar.monthrange(day.year, day.month)[1]
    if day.day == 31:
        return 0
    if day.day == month_days:
        return 30 - (month_days - 1)
    return 1


@settings(max_examples=150, deadline=None)
@given(fund=funds(), ends=st.lists(some_day, min_size=2, max_size=2).map(sorted))
def test_the_fee_is_the_sum_of_every_days_fee(
    fund: tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]], ends: list[dt.date]
) -> None:
    """An independent, naive calculation: each day's rate × basis × day weight / year basis."""
    terms, commitments, investments = fund
    first, last = ends
    expected = Fraction(0)
    day = first
    while day <= last:
        investing = terms.investment_period_end is None or day <= terms.investment_period_end
        rate = terms.rate
        if not investing and terms.post_investment_period_rate is not None:
            rate = terms.post_investment_period_rate
        weight = Fraction(_day_weight(day, terms.day_count), daycount.year_basis(terms.day_count))
        holding = [c for c in commitments if c.since <= day] or commitments
        held = sum((c.amount for c in holding), D(0))
        invested = sum((i.amount for i in investments if i.on <= day), D(0))
        if not commitments and not (investing and terms.basis == "committed"):
            expected += Fraction(rate) * Fraction(invested) * weight  # nobody to charge
        for c in holding:  # each at its own rate on its own part of the basis
            if investing and terms.basis == "committed":
                basis = Fraction(c.amount) if c.since <= day else Fraction(0)
            else:
                basis = Fraction(invested) * Fraction(c.amount) / Fraction(held)
            own = rate if c.rate is None else c.rate
            expected += Fraction(own) * basis * weight
        day += ONE_DAY
    assert _charge(fund, first, last).exact == expected


def _lp13(day_count: DayCount) -> tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]]:
    """2 % of commitments: 18,000,000.00 from 2021, LP13's 2,000,000.00 from 2022-01-01."""
    terms = fees.Terms(rate=D("0.02"), basis="committed", day_count=day_count, currency="USD")
    commitments = [
        fees.Commitment(investor=EARLY, amount=D("18000000.00"), since=dt.date(2021, 3, 1)),
        fees.Commitment(investor=LATE, amount=D("2000000.00"), since=dt.date(2022, 1, 1)),
    ]
    return terms, commitments, []


@pytest.mark.parametrize(
    ("day_count", "q4", "q1", "late_q1", "half_year"),
    [
        # 30/360: a quarter is a quarter of the year. Q4: 2 % × 18,000,000 / 4 = 90,000.00;
        # Q1: 2 % × 20,000,000 / 4 = 100,000.00, of which LP13 2 % × 2,000,000 / 4 = 10,000.00.
        ("30/360", "90000.00", "100000.00", "10000.00", "190000.00"),
        # act/365: Q4 2021 has 92 days, Q1 2022 90. 360,000 × 92 / 365 = 90,739.726… → 90,739.73;
        # 400,000 × 90 / 365 = 98,630.136… → 98,630.14; LP13 40,000 × 90 / 365 = 9,863.013….
        # The half year, rounded once: (33,120,000 + 36,000,000) / 365 = 189,369.863… → .86,
        # a cent below the rounded quarters' sum.
        ("act/365", "90739.73", "98630.14", "9863.01", "189369.86"),
        # act/360: 360,000 × 92 / 360 = 92,000; 400,000 × 90 / 360 = 100,000; LP13 10,000.
        ("act/360", "92000.00", "100000.00", "10000.00", "192000.00"),
    ],
)
def test_lp13_committing_on_2022_01_01_pays_for_q1_only(
    day_count: DayCount, q4: str, q1: str, late_q1: str, half_year: str
) -> None:
    fund = _lp13(day_count)
    fourth = _charge(fund, dt.date(2021, 10, 1), dt.date(2021, 12, 31))
    first = _charge(fund, dt.date(2022, 1, 1), dt.date(2022, 3, 31))
    half = _charge(fund, dt.date(2021, 10, 1), dt.date(2022, 3, 31))
    assert (fourth.amount, first.amount) == (D(q4), D(q1))
    assert LATE not in fourth.lines
    assert first.lines[LATE] == D(late_q1)
    assert half.exact == fourth.exact + first.exact
    assert half.lines[LATE] == D(late_q1)
    assert half.amount == D(half_year)
    assert [(p.first, p.basis_amount) for p in half.parts] == [
        (dt.date(2021, 10, 1), D("18000000.00")),
        (dt.date(2022, 1, 1), D("20000000.00")),
    ]


def test_the_rate_changes_the_day_after_the_investment_period() -> None:
    """2 % of 10,000,000 committed to 2026-02-14, then 1.5 % of 4,000,000 invested (30/360):
    1 Jan – 14 Feb is 44 days, 15 Feb – 31 Mar 46: 200,000 × 44/360 + 60,000 × 46/360
    = 24,444.444… + 7,666.666… = 32,111.11."""
    terms = fees.Terms(
        rate=D("0.02"),
        basis="committed",
        day_count="30/360",
        currency="USD",
        investment_period_end=dt.date(2026, 2, 14),
        post_investment_period_rate=D("0.015"),
    )
    fee = fees.charge(
        terms=terms,
        first=dt.date(2026, 1, 1),
        last=dt.date(2026, 3, 31),
        commitments=[
            fees.Commitment(investor=EARLY, amount=D("10000000"), since=dt.date(2025, 1, 1))
        ],
        investments=[fees.Investment(amount=D("4000000"), on=dt.date(2025, 6, 1))],
    )
    assert fee.amount == D("32111.11")
    assert [(p.last, p.fraction, p.rate) for p in fee.parts] == [
        (dt.date(2026, 2, 14), Fraction(44, 360), D("0.02")),
        (dt.date(2026, 3, 31), Fraction(46, 360), D("0.015")),
    ]
    # 24,444.44 + 7,666.67 = 32,111.11: the parts are the total split, not rounded apart.
    assert [p.amount for p in fee.parts] == [D("24444.44"), D("7666.67")]


def test_a_side_letter_rate_and_the_gp_commitment() -> None:
    """By hand, 30/360: 2 % fund; A 6,000,000 on the fund's rate: 30,000.00 a quarter; B
    3,000,000 at a 1.5 % side letter: 11,250.00; the GP's 1,000,000 at 0: nothing. 41,250.00,
    and the half year is the two quarters (82,500.00)."""
    a, b, gp = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    start = dt.date(2025, 1, 2)
    fund: tuple[fees.Terms, list[fees.Commitment], list[fees.Investment]] = (
        fees.Terms(rate=D("0.02"), basis="committed", day_count="30/360", currency="USD"),
        [
            fees.Commitment(investor=a, amount=D("6000000.00"), since=start),
            fees.Commitment(investor=b, amount=D("3000000.00"), since=start, rate=D("0.015")),
            fees.Commitment(investor=gp, amount=D("1000000.00"), since=start, rate=D(0)),
        ],
        [],
    )
    quarter = _charge(fund, dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert quarter.amount == D("41250.00")
    assert quarter.lines == {a: D("30000.00"), b: D("11250.00")}
    assert quarter.exact_lines[gp] == 0
    assert _charge(fund, dt.date(2026, 1, 1), dt.date(2026, 6, 30)).amount == D("82500.00")
