"""The pure rules of fee offsets (`finance.fees.reduce`, `quarters`, `split_reduction`)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from prorata.finance import fees

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
