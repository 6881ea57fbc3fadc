"""Capital accounts' valuation rule, on the book itself (no database)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from prorata.capital_accounts import service as account_service
from prorata.capital_accounts.service import Movement
from prorata.finance import money
from prorata.funds.models import Fund


def _reference_gains(
    book: account_service.Book, valuations: list[tuple[dt.date, Decimal]]
) -> dict[uuid.UUID, list[Movement]]:
    """The rule as the module states it, valuation by valuation: every account summed again
    on each valuation date (quadratic, but plainly right)."""
    gains: dict[uuid.UUID, list[Movement]] = {}
    moves = {i: list(ms) for i, ms in book.movements.items()}
    investors = sorted(set(book.commitments) | set(moves))
    for day, nav in sorted(valuations):
        total = sum((m.effect for ms in moves.values() for m in ms if m.day <= day), Decimal(0))
        weights = (
            {
                i: w
                for i in investors
                if (
                    w := sum(
                        (
                            m.amount
                            for m in moves.get(i, [])
                            if m.line == "contributions" and m.day <= day
                        ),
                        Decimal(0),
                    )
                )
                > 0
            }
            or {
                i: a
                for i, a in book.commitments.items()
                if a > 0 and book.committed_on.get(i, day) <= day
            }
            or {i: a for i, a in book.commitments.items() if a > 0}
        )
        if nav == total or not weights:
            continue
        for investor, part in money.split(nav - total, weights, "USD").items():
            if part:
                gain = Movement(day, "gains_losses", part)
                moves.setdefault(investor, []).append(gain)
                gains.setdefault(investor, []).append(gain)
    return gains


_cents = st.integers(min_value=0, max_value=10**7).map(lambda c: Decimal(c).scaleb(-2))
# A commitment is positive (the database's check): with every commitment zero and nothing
# contributed, a valuation's gain would have no one to go to.
_commitment = st.integers(min_value=1, max_value=10**7).map(lambda c: Decimal(c).scaleb(-2))


_days = st.integers(min_value=0, max_value=60).map(lambda d: dt.date(2026, 1, 1) + dt.timedelta(d))


@given(
    commitments=st.lists(_commitment, min_size=1, max_size=5),
    flows=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            _days,
            st.sampled_from(list(account_service.SIGNS)),
            _cents,
        ),
        max_size=25,
    ),
    valuations=st.dictionaries(_days, _cents, max_size=6),
    committed_on=st.lists(_days, min_size=5, max_size=5),
)
def test_valuations_allocated_in_one_pass_equal_the_rule_applied_one_by_one(
    commitments: list[Decimal],
    flows: list[tuple[int, dt.date, str, Decimal]],
    valuations: dict[dt.date, Decimal],
    committed_on: list[dt.date],
) -> None:
    investors = [uuid.UUID(int=n + 1) for n in range(len(commitments))]
    fund = Fund(currency="USD")
    book = account_service.Book(
        fund,
        dict(zip(investors, commitments, strict=True)),
        dict(zip(investors, committed_on, strict=False)),
    )
    for who, day, line, amount in sorted(flows, key=lambda flow: flow[1]):
        book.movements[investors[who % len(investors)]].append(Movement(day, line, amount))
    expected = _reference_gains(book, list(valuations.items()))
    recorded = {i: len(ms) for i, ms in book.movements.items()}
    book.allocate_valuations(valuations.items())
    found = {
        i: ms[recorded.get(i, 0) :]
        for i, ms in book.movements.items()
        if len(ms) > recorded.get(i, 0)
    }
    assert found == expected
    for day, nav in valuations.items():  # on a valuation date the accounts add up to the NAV
        if expected:
            assert sum((book.balance(i, day) for i in investors), Decimal(0)) == nav


def test_a_gain_before_any_call_goes_to_those_committed_by_then() -> None:
    """No capital called yet: a valuation's gain goes by commitment, but only to investors
    committed on its date — a second close does not share what came before it."""
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    book = account_service.Book(
        Fund(currency="USD"),
        {first: Decimal("1000.00"), second: Decimal("3000.00")},
        {first: dt.date(2026, 1, 5), second: dt.date(2026, 6, 1)},
    )
    book.allocate_valuations([(dt.date(2026, 3, 31), Decimal("40.00"))])
    book.allocate_valuations([(dt.date(2026, 9, 30), Decimal("80.00"))])
    assert book.balance(first, dt.date(2026, 3, 31)) == Decimal("40.00")
    assert book.balance(second, dt.date(2026, 3, 31)) == 0
    assert book.balance(first, dt.date(2026, 9, 30)) == Decimal("50.00")  # 40 + 1/4 of 40
    assert book.balance(second, dt.date(2026, 9, 30)) == Decimal("30.00")
