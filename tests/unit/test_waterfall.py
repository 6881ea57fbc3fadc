"""The distribution waterfall and the day counts it accrues with."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prorata.finance.daycount import (
    DAY_COUNTS,
    DayCount,
    days_between,
    period_days,
    year_basis,
)
from prorata.finance.performance import CashFlow, xirr
from prorata.finance.waterfall import Flow, Split, Terms, WaterfallResult, run_waterfall

D = Decimal
JAN_2025 = dt.date(2025, 1, 1)
JAN_2026 = dt.date(2026, 1, 1)  # exactly 365 days after JAN_2025
JAN_2027 = dt.date(2027, 1, 1)


def run(
    contributions: list[Flow],
    proceeds: list[Flow],
    terms: Terms | None = None,
    exponent: int = 2,
) -> WaterfallResult:
    return run_waterfall(
        terms=terms or Terms(),
        contributions=contributions,
        proceeds=proceeds,
        exponent=exponent,
    )


def one_year(contributed: str, proceeds: str, terms: Terms | None = None) -> WaterfallResult:
    return run([Flow(JAN_2025, D(contributed))], [Flow(JAN_2026, D(proceeds))], terms)


def gp_parts(result: WaterfallResult) -> list[Decimal]:
    t = result.tiers
    return [t.return_of_capital.gp, t.preferred_return.gp, t.catch_up.gp, t.carried_interest.gp]


def lp_parts(result: WaterfallResult) -> list[Decimal]:
    t = result.tiers
    return [t.return_of_capital.lp, t.preferred_return.lp, t.catch_up.lp, t.carried_interest.lp]


# --- day counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "convention", "days", "basis"),
    [
        (JAN_2025, JAN_2026, "act/365", 365, 365),
        (dt.date(2024, 1, 1), JAN_2025, "act/365", 366, 365),
        (JAN_2025, JAN_2026, "act/360", 365, 360),
        (dt.date(2025, 1, 31), dt.date(2026, 1, 31), "30/360", 360, 360),
        # D1 = 31 → 30, so D2 = 31 → 30 as well.
        (dt.date(2025, 1, 31), dt.date(2025, 3, 31), "30/360", 60, 360),
        # D1 = 15 stays, so D2 = 31 is not adjusted.
        (dt.date(2025, 1, 15), dt.date(2025, 3, 31), "30/360", 76, 360),
        # No February rule on the bond basis: Jan 30 → Feb 28 is 28 days.
        (dt.date(2025, 1, 30), dt.date(2025, 2, 28), "30/360", 28, 360),
        (JAN_2026, JAN_2025, "act/365", -365, 365),
    ],
)
def test_day_counts(
    start: dt.date, end: dt.date, convention: DayCount, days: int, basis: int
) -> None:
    assert days_between(start=start, end=end, convention=convention) == days
    assert year_basis(convention) == basis


@pytest.mark.parametrize(
    ("first", "last", "days"),
    [
        # Calendar days, both ends included: Q1 2026 is 31 + 28 + 31.
        (dt.date(2026, 1, 1), dt.date(2026, 3, 31), 90),
        (dt.date(2028, 1, 1), dt.date(2028, 12, 31), 366),
        (dt.date(2026, 1, 31), dt.date(2026, 1, 31), 1),
        (dt.date.min, dt.date.max, dt.date.max.toordinal()),
    ],
)
@pytest.mark.parametrize("convention", ["act/365", "act/360"])
def test_actual_fee_period_days(
    first: dt.date, last: dt.date, days: int, convention: DayCount
) -> None:
    assert period_days(first=first, last=last, convention=convention) == days


@pytest.mark.parametrize(
    ("first", "last", "days"),
    [
        (dt.date(2026, 1, 1), dt.date(2026, 3, 31), 90),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28), 30),
        (dt.date(2028, 2, 1), dt.date(2028, 2, 29), 30),
        (dt.date(2026, 2, 28), dt.date(2026, 2, 28), 3),
        (dt.date(2028, 2, 29), dt.date(2028, 2, 29), 2),
        (dt.date(2026, 1, 30), dt.date(2026, 1, 30), 1),
        (dt.date(2026, 1, 31), dt.date(2026, 1, 31), 0),
        (dt.date(2026, 1, 31), dt.date(2026, 2, 1), 1),
        (dt.date.min, dt.date.max, 9999 * 360),
    ],
)
def test_30_360_fee_period_days(first: dt.date, last: dt.date, days: int) -> None:
    assert period_days(first=first, last=last, convention="30/360") == days


def test_unknown_day_count_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown day count"):
        days_between(start=JAN_2025, end=JAN_2026, convention="act/act")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown day count"):
        Terms(day_count="act/act")  # type: ignore[arg-type]


# --- the vectors ----------------------------------------------------------------------------------


def test_vector_5_full_catch_up_on_a_small_fund() -> None:
    result = one_year("50", "100")
    assert result.tiers.return_of_capital == Split(lp=D("50.00"), gp=D("0.00"))
    assert result.tiers.preferred_return == Split(lp=D("4.00"), gp=D("0.00"))
    assert result.tiers.catch_up == Split(lp=D("0.00"), gp=D("1.00"))
    assert result.tiers.carried_interest == Split(lp=D("36.00"), gp=D("9.00"))
    assert (result.lp_total, result.gp_total, result.clawback) == (D("90"), D("10"), D("0"))


def test_vector_6_no_catch_up() -> None:
    result = one_year("100", "200", Terms(catch_up=D(0)))
    assert result.tiers.preferred_return.lp == D("8.00")
    assert result.tiers.catch_up == Split(lp=D("0.00"), gp=D("0.00"))
    assert result.tiers.carried_interest == Split(lp=D("73.60"), gp=D("18.40"))
    assert (result.lp_total, result.gp_total) == (D("181.60"), D("18.40"))


def test_vector_7_full_catch_up() -> None:
    result = one_year("100", "200")
    assert result.tiers.preferred_return.lp == D("8.00")
    assert result.tiers.catch_up == Split(lp=D("0.00"), gp=D("2.00"))
    assert result.tiers.carried_interest == Split(lp=D("72.00"), gp=D("18.00"))
    assert (result.lp_total, result.gp_total) == (D("180.00"), D("20.00"))


def test_results_carry_the_currency_exponent() -> None:
    yen = run([Flow(JAN_2025, D(1000))], [Flow(JAN_2026, D(2000))], exponent=0)
    assert str(yen.lp_total) == "1800"
    assert str(yen.gp_total) == "200"
    dinar = run([Flow(JAN_2025, D(100))], [Flow(JAN_2026, D(200))], exponent=3)
    assert str(dinar.lp_total) == "180.000"
    assert str(dinar.tiers.preferred_return.lp) == "8.000"


def test_amounts_beyond_28_digits_come_out_exact() -> None:
    # 10^30 USD is 10^32 cents: more digits than the default decimal context keeps.
    result = one_year("1" + "0" * 30, "2" + "0" * 30)
    assert str(result.lp_total) == "18" + "0" * 29 + ".00"
    assert str(result.gp_total) == "2" + "0" * 29 + ".00"
    assert result.lp_total + result.gp_total == D("2" + "0" * 30)


# --- preferred return accrual -------------------------------------------------------------------


def expected_pref(capital: str, days: int, basis: int) -> Decimal:
    """capital × ((1.08)^(days/basis) − 1), rounded half-up to cents, computed independently."""
    with localcontext() as ctx:
        ctx.prec = 50
        exact = D(capital) * (D("1.08") ** (D(days) / D(basis)) - 1)
    return exact.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def test_a_leap_year_accrues_366_365ths_of_a_year() -> None:
    result = run(
        [Flow(dt.date(2024, 1, 1), D(100))], [Flow(JAN_2025, D(200))], Terms(catch_up=D(0))
    )
    assert result.tiers.preferred_return.lp == expected_pref("100", 366, 365) == D("8.02")


def test_act_360_accrues_more_than_act_365() -> None:
    result = one_year("100", "200", Terms(day_count="act/360", catch_up=D(0)))
    assert result.tiers.preferred_return.lp == expected_pref("100", 365, 360) == D("8.12")


def test_30_360_counts_a_month_end_year_as_exactly_one_year() -> None:
    result = run(
        [Flow(dt.date(2025, 1, 31), D(100))],
        [Flow(dt.date(2026, 1, 31), D(200))],
        Terms(day_count="30/360"),
    )
    assert result.tiers.preferred_return.lp == D("8.00")
    assert (result.lp_total, result.gp_total) == (D("180.00"), D("20.00"))


def test_half_a_year_compounds_as_a_fractional_power() -> None:
    result = run([Flow(JAN_2025, D(1000))], [Flow(dt.date(2025, 7, 2), D(2000))])
    # 182 days: 1000 × (1.08^(182/365) − 1) = 39.12, not the simple-interest 39.89.
    assert result.tiers.preferred_return.lp == expected_pref("1000", 182, 365) == D("39.12")


def test_returned_capital_stops_accruing_and_unpaid_pref_compounds() -> None:
    # Year 1: 8 accrues on 100 and 50 of capital comes back. Year 2: 8 % of (50 + unpaid 8) =
    # 4.64, so 12.64 is owed; the GP then catches up to 20 % of the 50 of profit.
    result = run(
        [Flow(JAN_2025, D(100))],
        [Flow(JAN_2026, D(50)), Flow(JAN_2027, D(100))],
    )
    assert result.tiers.return_of_capital.lp == D("100.00")
    assert result.tiers.preferred_return.lp == D("12.64")
    assert result.tiers.catch_up == Split(lp=D("0.00"), gp=D("3.16"))
    assert result.tiers.carried_interest == Split(lp=D("27.36"), gp=D("6.84"))
    assert (result.lp_total, result.gp_total) == (D("140.00"), D("10.00"))


def test_pref_left_unpaid_compounds_into_the_next_distribution() -> None:
    # 104 pays capital and 4 of the 8 pref; the other 4 grows to 4.32 over the next year.
    result = run(
        [Flow(JAN_2025, D(100))],
        [Flow(JAN_2027, D(100)), Flow(JAN_2026, D(104))],  # out of order on purpose
    )
    assert result.tiers.preferred_return.lp == D("8.32")
    assert result.tiers.catch_up.gp == D("2.08")
    assert result.tiers.carried_interest == Split(lp=D("74.88"), gp=D("18.72"))
    assert (result.lp_total, result.gp_total) == (D("183.20"), D("20.80"))


def test_contributions_after_a_distribution_do_not_count_for_it() -> None:
    result = run(
        [Flow(JAN_2025, D(100)), Flow(dt.date(2026, 6, 1), D(1000))],
        [Flow(JAN_2026, D(200))],
    )
    assert (result.lp_total, result.gp_total) == (D("180.00"), D("20.00"))


def test_the_hurdle_is_an_irr_of_the_pref_rate() -> None:
    """Whatever the LP receives as capital + pref is exactly an 8 % XIRR on its contributions."""
    # Millions, so that rounding the pref to cents moves the rate by well under 1e-8.
    contributions = [Flow(JAN_2025, D(1_000_000)), Flow(dt.date(2025, 7, 1), D(500_000))]
    first, second = dt.date(2025, 9, 1), dt.date(2027, 3, 15)
    result = run(contributions, [Flow(first, D(700_000)), Flow(second, D(3_000_000))])
    assert result.gp_total > 0  # the hurdle was cleared in full
    hurdle_paid = result.tiers.return_of_capital.lp + result.tiers.preferred_return.lp
    flows = [
        CashFlow(JAN_2025, D(-1_000_000)),
        CashFlow(dt.date(2025, 7, 1), D(-500_000)),
        CashFlow(first, D(700_000)),  # all return of capital: the pref was not yet paid
        CashFlow(second, hurdle_paid - D(700_000)),
    ]
    rate = xirr(flows=flows)
    assert rate is not None
    assert abs(rate - D("0.08")) < D("1e-8")


# --- catch-up and rounding ----------------------------------------------------------------------


def test_partial_catch_up_solves_the_tier_exactly_and_rounds_against_the_gp() -> None:
    # 80 % catch-up: x = 0.2 × 8 / (0.8 − 0.2) = 2.666…, GP 2.133…, LP 0.533…; the split of
    # the remaining 89.333… brings the GP to exactly 20 % of the 100 of profit.
    result = one_year("100", "200", Terms(catch_up=D("0.8")))
    assert result.tiers.catch_up == Split(lp=D("0.53"), gp=D("2.13"))
    assert result.tiers.carried_interest == Split(lp=D("71.47"), gp=D("17.87"))
    assert (result.lp_total, result.gp_total) == (D("180.00"), D("20.00"))


def test_partial_catch_up_cut_short_by_the_distribution() -> None:
    result = one_year("100", "110", Terms(catch_up=D("0.8")))
    assert result.tiers.catch_up == Split(lp=D("0.40"), gp=D("1.60"))
    assert result.tiers.carried_interest == Split(lp=D("0.00"), gp=D("0.00"))


def test_a_gp_fraction_of_a_cent_goes_to_the_lp() -> None:
    result = one_year("100", "108.03", Terms(catch_up=D(0)))  # GP exactly 20 % × 0.03 = 0.006
    assert result.gp_total == D("0.00")
    assert result.lp_total == D("108.03")


def test_no_carry_until_capital_and_pref_are_back() -> None:
    result = one_year("100", "107.99")
    assert result.gp_total == D("0.00")
    assert result.tiers.preferred_return.lp == D("7.99")


# --- American (deal by deal) and clawback -------------------------------------------------------


def test_american_carry_on_a_winner_is_clawed_back_against_a_loser() -> None:
    result = run(
        [Flow(JAN_2025, D(100), "A"), Flow(JAN_2025, D(100), "B")],
        [Flow(JAN_2026, D(200), "A"), Flow(JAN_2026, D(0), "B")],
        Terms(style="american"),
    )
    assert (result.lp_total, result.gp_total) == (D("180.00"), D("20.00"))
    # As one fund, 200 in and 200 out is no profit, so no carry: all 20 is clawed back.
    assert result.clawback == D("20.00")
    assert any(line.startswith("Clawback") and "20.00" in line for line in result.explanation)


def test_american_can_pay_less_than_european_so_clawback_is_never_negative() -> None:
    # Deal A misses its pref (5 of 8), so it pays no carry deal by deal, while the fund as a
    # whole clears the pref and the full catch-up gives the GP 20 % of all 205 of profit.
    flows = {
        "contributions": [Flow(JAN_2025, D(100), "A"), Flow(JAN_2025, D(100), "B")],
        "proceeds": [Flow(JAN_2026, D(105), "A"), Flow(JAN_2026, D(300), "B")],
    }
    american = run(flows["contributions"], flows["proceeds"], Terms(style="american"))
    european = run(flows["contributions"], flows["proceeds"], Terms(style="european"))
    assert american.gp_total == D("40.00")
    assert european.gp_total == D("41.00")
    assert american.clawback == D("0.00")


def test_american_needs_deal_ids() -> None:
    with pytest.raises(ValueError, match="deal_id"):
        run([Flow(JAN_2025, D(100))], [Flow(JAN_2026, D(200))], Terms(style="american"))


# --- the explanation ----------------------------------------------------------------------------


def test_explanation_shows_the_accrual_and_every_tier() -> None:
    text = "\n".join(one_year("100", "200").explanation)
    for fragment in [
        "Distribution on 2026-01-01: 200.00",
        "contribution 2025-01-01: 100.00 × (1 + 0.08)^(365 days / 365, act/365) [= 1.08] = 108.00",
        "Pref owed = hurdle balance 108.00 − unreturned capital 100.00 = 8.00",
        "Tier 1 return of capital: LP 100.00",
        "Tier 2 preferred return: LP 8.00",
        "(1.60 − 0.00) / (1 − 0.20)) = 2.00",
        "Tier 4 carried interest on 90.00: GP 20 % = 18.00, LP 72.00",
        "rounded down to 20.00",
    ]:
        assert fragment in text


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "terms",
    [
        {"style": "british"},
        {"pref_rate": D("-0.01")},
        {"carry": D(1)},
        {"carry": D("-0.1")},
        {"catch_up": D("0.2")},  # at the carry share the GP could never catch up
        {"catch_up": D("1.5")},
    ],
)
def test_bad_terms_are_refused(terms: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|unknown"):
        Terms(**terms)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("contribution", "proceed", "exponent"),
    [("100.001", "200", 2), ("100", "200.5", 0), ("-1", "200", 2), ("100", "-1", 2)],
)
def test_bad_flows_are_refused(contribution: str, proceed: str, exponent: int) -> None:
    with pytest.raises(ValueError, match="amount"):
        run([Flow(JAN_2025, D(contribution))], [Flow(JAN_2026, D(proceed))], exponent=exponent)


# --- properties ---------------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10_000_000).map(lambda n: D(n).scaleb(-2))
deal_ids = st.sampled_from(["A", "B", "C"])


def flows(*, first_day: int, last_day: int, size: int = 4) -> st.SearchStrategy[list[Flow]]:
    one = st.builds(
        Flow,
        date=st.integers(first_day, last_day).map(lambda n: JAN_2025 + dt.timedelta(days=n)),
        amount=cents,
        deal_id=deal_ids,
    )
    return st.lists(one, min_size=1, max_size=size)


@st.composite
def any_terms(draw: st.DrawFn) -> Terms:
    carry = draw(st.sampled_from([D(0), D("0.1"), D("0.2"), D("0.3")]))
    catch_up = draw(st.sampled_from([D(0), D("0.5"), D("0.8"), D(1)]).filter(lambda c: c > carry))
    return Terms(
        style=draw(st.sampled_from(["european", "american"])),
        pref_rate=draw(st.sampled_from([D(0), D("0.06"), D("0.08"), D("0.1")])),
        catch_up=catch_up if draw(st.booleans()) else D(0),
        carry=carry,
        day_count=draw(st.sampled_from(DAY_COUNTS)),
    )


PROPERTY = settings(max_examples=60, deadline=None)


@PROPERTY
@given(
    terms=any_terms(),
    contributions=flows(first_day=0, last_day=2000),
    proceeds=flows(first_day=0, last_day=2000),
)
def test_lp_and_gp_add_up_exactly_to_the_proceeds(
    terms: Terms, contributions: list[Flow], proceeds: list[Flow]
) -> None:
    result = run_waterfall(terms=terms, contributions=contributions, proceeds=proceeds, exponent=2)
    assert result.lp_total + result.gp_total == sum(p.amount for p in proceeds)
    assert sum(lp_parts(result)) == result.lp_total
    assert sum(gp_parts(result)) == result.gp_total
    assert result.tiers.return_of_capital.gp == result.tiers.preferred_return.gp == 0
    amounts = [*lp_parts(result), *gp_parts(result), result.clawback]
    assert all(a >= 0 and a.as_tuple().exponent == -2 for a in amounts)
    assert result.tiers.return_of_capital.lp <= sum(c.amount for c in contributions)
    if terms.style == "european":
        assert result.clawback == 0


@PROPERTY
@given(
    contributions=flows(first_day=0, last_day=1000), proceeds=flows(first_day=1000, last_day=3000)
)
def test_gp_never_gets_more_than_its_carry_of_the_profit(
    contributions: list[Flow], proceeds: list[Flow]
) -> None:
    result = run(contributions, proceeds)  # European, full catch-up
    profit = max(D(0), sum(p.amount for p in proceeds) - sum(c.amount for c in contributions))
    assert 0 <= result.gp_total <= D("0.20") * profit


@PROPERTY
@given(
    terms=any_terms(),
    contributions=flows(first_day=0, last_day=2000),
    proceeds=flows(first_day=0, last_day=3000),
    more=cents,
)
def test_more_proceeds_never_give_the_lp_less(
    terms: Terms, contributions: list[Flow], proceeds: list[Flow], more: Decimal
) -> None:
    # Raise the distribution that runs last, so earlier distributions are unchanged.
    last = max(range(len(proceeds)), key=lambda i: (proceeds[i].date, i))
    bigger = list(proceeds)
    bigger[last] = Flow(proceeds[last].date, proceeds[last].amount + more, proceeds[last].deal_id)
    before = run_waterfall(terms=terms, contributions=contributions, proceeds=proceeds, exponent=2)
    after = run_waterfall(terms=terms, contributions=contributions, proceeds=bigger, exponent=2)
    assert after.lp_total >= before.lp_total


@PROPERTY
@given(
    contributions=flows(first_day=0, last_day=1000),
    amounts=st.lists(st.tuples(deal_ids, cents), min_size=1, max_size=4),
    pref_rate=st.sampled_from([D(0), D("0.08"), D("0.12")]),
)
def test_american_carry_is_at_least_european_on_one_exit_date(
    contributions: list[Flow], amounts: list[tuple[str, Decimal]], pref_rate: Decimal
) -> None:
    # Deal by deal the GP keeps carry on winners without netting losers. This only holds without
    # a catch-up and with all exits on one date: see the test above for a catch-up counterexample;
    # with different exit dates a late deal's own hurdle can compound above the fund's.
    proceeds = [Flow(dt.date(2029, 1, 1), amount, deal) for deal, amount in amounts]
    american = run(
        contributions, proceeds, Terms(style="american", pref_rate=pref_rate, catch_up=D(0))
    )
    european = run(
        contributions, proceeds, Terms(style="european", pref_rate=pref_rate, catch_up=D(0))
    )
    assert american.gp_total >= european.gp_total
    assert american.clawback == american.gp_total - european.gp_total


@PROPERTY
@given(
    contributed=cents.filter(lambda a: a > 0),
    proceeds=cents,
    days=st.integers(1, 3000),
    share=st.integers(21, 99).map(lambda n: D(n) / 100),
)
def test_partial_catch_up_lies_between_none_and_full(
    contributed: Decimal, proceeds: Decimal, days: int, share: Decimal
) -> None:
    def gp(catch_up: Decimal) -> Decimal:
        exit_on = JAN_2025 + dt.timedelta(days=days)
        result = run(
            [Flow(JAN_2025, contributed)], [Flow(exit_on, proceeds)], Terms(catch_up=catch_up)
        )
        return result.gp_total

    assert gp(D(0)) <= gp(share) <= gp(D(1))
