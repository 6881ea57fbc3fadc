"""The pure rules of fee offsets (`finance.fees.reduce`, `quarters`, `split_reduction`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

from prorata.finance import fees
from prorata.management_fees import offsets

D = Decimal


def test_a_waiver_first_then_the_offset_never_below_zero() -> None:
    """Fee 100; waiver 30 → 70 left; offset available 50 + 40 = 90 → 70 applied, 20 carried."""
    r = fees.reduce(fee=D("100.00"), waivers=D("30.00"), carried_in=D("50.00"), credit=D("40.00"))
    assert (r.waived, r.offset, r.carried_out, r.net) == (D("30"), D("70"), D("20"), D("0"))
    # A waiver above the fee forgoes the fee and no more; the credit is all carried.
    r = fees.reduce(fee=D("100.00"), waivers=D("150.00"), carried_in=D(0), credit=D("8.00"))
    assert (r.waived, r.offset, r.carried_out, r.net) == (D("100"), D("0"), D("8"), D("0"))


def test_calendar_quarters_cut_at_the_last_day_up_to_the_end_of_time() -> None:
    day = dt.date
    assert fees.quarters(day(2026, 2, 10), day(2026, 5, 3)) == [
        (day(2026, 1, 1), day(2026, 3, 31)),
        (day(2026, 4, 1), day(2026, 5, 3)),
    ]
    assert fees.quarters(day(2026, 5, 1), day(2026, 3, 31)) == []
    assert fees.quarters(day(9999, 12, 1), dt.date.max) == [(day(9999, 10, 1), dt.date.max)]


def test_the_reduction_splits_by_fee_and_never_exceeds_a_line() -> None:
    """Fee 41,250.00 = 30,000 + 11,250; waiver 4,125 and offset 8,000 (by hand in
    tests/api/test_fee_offsets.py): A 5,818.18 + 3,000.00, B 2,181.82 + 1,125.00."""
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    r = fees.reduce(fee=D("41250.00"), waivers=D("4125.00"), carried_in=D(0), credit=D("8000.00"))
    parts = fees.split_reduction({a: D("30000.00"), b: D("11250.00")}, r, "USD")
    assert parts == {a: (D("5818.18"), D("3000.00")), b: (D("2181.82"), D("1125.00"))}
    whole = fees.reduce(fee=D("0.03"), waivers=D(0), carried_in=D("5"), credit=D(0))
    assert fees.split_reduction({a: D("0.01"), b: D("0.02")}, whole, "USD") == {
        a: (D("0.01"), D("0.00")),
        b: (D("0.02"), D("0.00")),
    }


def _walk(
    credits: list[tuple[dt.date, str]], fee: Callable[[dt.date], str], changes: list[dt.date]
) -> tuple[Callable[[dt.date], Decimal], list[dt.date]]:
    """The carry-forward of `credits` with a quarter's fee `fee(first day)`, and the quarters
    it computed."""
    computed: list[dt.date] = []

    def charged(first: dt.date, last: dt.date) -> Decimal:
        computed.append(first)
        return Decimal(fee(first))

    history = offsets._History(
        credits=[offsets._Dated(d, d, Decimal(a)) for d, a in credits],
        waivers=[],
        zero=Decimal("0.00"),
    )
    return lambda start: history.carried_into(start, charged, changes), computed


def test_the_carry_forward_is_carried_and_used_quarter_by_quarter() -> None:
    """A credit of 2,500.00 on 2026-02-10, 1,000.00 of fee a quarter: carried 1,500.00 out
    of Q1, 500.00 out of Q2, nothing out of Q3; later nothing is computed."""
    carried, computed = _walk([(dt.date(2026, 2, 10), "2500.00")], lambda _: "1000.00", [])
    assert carried(dt.date(2026, 4, 1)) == Decimal("1500.00")
    assert carried(dt.date(2026, 7, 1)) == Decimal("500.00")
    computed.clear()
    assert carried(dt.date(9999, 10, 1)) == Decimal("0.00")
    assert computed == [dt.date(2026, 1, 1), dt.date(2026, 4, 1), dt.date(2026, 7, 1)]


def test_the_carry_forward_skips_the_quarters_that_cannot_change_it() -> None:
    """A credit of 80.00 in 1970 with no fee before 2025-01-02 (the first commitment): the
    1970 quarter, then straight to Q1 2025, which uses it up; nothing after — 2 quarters
    computed, not 32,000. Two credits 20 years apart, each used in its quarter: 2 quarters."""

    def no_fee_before_2025(first: dt.date) -> str:
        return "25000.00" if first >= dt.date(2025, 1, 1) else "0.00"

    carried, computed = _walk(
        [(dt.date(1970, 1, 15), "80.00")], no_fee_before_2025, [dt.date(2025, 1, 2)]
    )
    assert carried(dt.date(9999, 10, 1)) == Decimal("0.00")
    assert computed == [dt.date(1970, 1, 1), dt.date(2025, 1, 1)]
    assert carried(dt.date(2025, 1, 1)) == Decimal("80.00")  # carried unchanged up to then

    credits = [(dt.date(2000, 2, 1), "100.00"), (dt.date(2020, 2, 1), "50.00")]
    carried, computed = _walk(credits, lambda _: "1000.00", [dt.date(1990, 1, 1)])
    assert carried(dt.date(2030, 1, 1)) == Decimal("0.00")
    assert computed == [dt.date(2000, 1, 1), dt.date(2020, 1, 1)]


def test_the_walk_is_bounded_by_the_dates_accepted() -> None:
    """The worst accepted input: a credit on the earliest day fee income may be dated (today
    2026-12-06, no vintage year: 60 years back, 1966-12-01) so large that a quarter's fee of
    0.01 never uses it up, and a period starting on the last day a fee period may end
    (31 December ten years ahead, 2036-12-31). The walk computes every quarter from Q4 1966
    to Q4 2036 (cut at 2036-12-30), one each: 70 × 4 + 1 = 281 quarters, within
    4 × (60 + 10 + 1) = 284; 1,000,000,000.00 − 281 × 0.01 = 999,999,997.19 carried."""
    today = dt.date(2026, 12, 6)
    first, last = offsets.earliest(None, today), offsets.latest_period_end(today)
    assert (first, last) == (dt.date(1966, 12, 1), dt.date(2036, 12, 31))
    carried, computed = _walk([(first, "1000000000.00")], lambda _: "0.01", [])
    assert carried(last) == Decimal("999999997.19")
    expected = [dt.date(year, month, 1) for year in range(1967, 2037) for month in (1, 4, 7, 10)]
    assert computed == [dt.date(1966, 10, 1), *expected]
    assert len(computed) == 281 <= 4 * (60 + offsets.YEARS_AHEAD + 1)
    # A vintage year bounds it further: from 1 January 2020, Q1 2020 .. Q4 2036 = 17 × 4.
    assert offsets.earliest(2020, today) == dt.date(2020, 1, 1)
    carried, computed = _walk([(dt.date(2020, 1, 1), "1000000000.00")], lambda _: "0.01", [])
    assert carried(last) == Decimal("999999999.32")  # 1,000,000,000.00 − 68 × 0.01
    assert len(computed) == 68
