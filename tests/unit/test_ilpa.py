"""ILPA columns on the book itself (no database): whatever the history, in any currency, each
of QTD, YTD and ITD (and a period asked for) rolls forward exactly, its breakdowns add up to
the book's lines, and the ITD ending is the account's closing balance."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from prorata.capital_accounts import ilpa
from prorata.capital_accounts import service as account_service
from prorata.capital_accounts.service import Movement
from prorata.finance import money
from prorata.funds.models import Fund

INVESTORS = [uuid.UUID(int=n + 1) for n in range(3)]
DAY = st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31))
UNITS = st.integers(1, 10_000_000)
EVENT = st.tuples(
    st.sampled_from(["call", "distribute", "carry", "value"]),
    st.sampled_from(INVESTORS),
    DAY,
    UNITS,
    st.sampled_from(ilpa.PURPOSES),
    st.sampled_from(ilpa.KINDS),
)


def _history(
    currency: str, events: list[tuple[str, uuid.UUID, dt.date, int, str, str]]
) -> tuple[account_service.Book, dict[uuid.UUID, list[ilpa.Detail]]]:
    """A book as `_read_movements` fills it, with the details `ilpa.details` reads beside."""
    q = money.quantum(currency)
    book = account_service.Book(
        Fund(id=uuid.UUID(int=0), currency=currency), dict.fromkeys(INVESTORS, Decimal(10**9))
    )
    details: dict[uuid.UUID, list[ilpa.Detail]] = {i: [] for i in INVESTORS}
    valuations = []
    for event, investor, day, units, purpose, kind in events:
        amount = Decimal(units) * q
        if event == "call":
            book.movements[investor].append(Movement(day, "contributions", amount))
            charged = {"management_fee": "management_fees", "fund_expenses": "expenses"}
            if purpose in charged:
                book.movements[investor].append(Movement(day, charged[purpose], amount))
            details[investor].append(ilpa.Detail(day, "contributions", purpose, amount))
        elif event == "distribute":
            book.movements[investor].append(Movement(day, "distributions", amount))
            details[investor].append(ilpa.Detail(day, "distributions", kind, amount))
        elif event == "carry":
            book.movements[investor].append(Movement(day, "carried_interest", amount))
        else:
            valuations.append((day, amount))
    book.allocate_valuations(valuations)
    return book, details


@given(
    currency=st.sampled_from(["USD", "JPY", "BHD"]),
    events=st.lists(EVENT, max_size=25),
    end=DAY,
    since=st.one_of(st.none(), DAY),
)
def test_every_column_rolls_forward_and_the_itd_ending_is_the_closing_balance(
    currency: str,
    events: list[tuple[str, uuid.UUID, dt.date, int, str, str]],
    end: dt.date,
    since: dt.date | None,
) -> None:
    book, details = _history(currency, events)
    since = since if since is None or since <= end else end
    for investor in INVESTORS:
        columns = ilpa.columns(book, investor, end, details[investor], since=since)
        periods = {c.period: c for c in columns}
        assert list(periods) == ([] if since is None else ["period"]) + ["qtd", "ytd", "itd"]
        assert periods["qtd"].start == dt.date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
        assert periods["ytd"].start == dt.date(end.year, 1, 1)
        assert periods["itd"].start is None
        for column in columns:
            roll = book.account(investor, column.start, end).statement
            assert column.total_contributions == roll.contributions
            assert column.total_distributions == roll.distributions
            moved = (
                column.total_contributions
                - column.total_distributions
                - column.management_fees
                - column.expenses
                - column.carried_interest
                + column.allocated_gains_losses
            )
            assert column.beginning_balance + moved == column.ending_balance
            q = money.quantum(currency)
            assert column.ending_balance == book.balance(investor, end).quantize(q)
        assert periods["itd"].ending_balance == book.account(investor, None, end).statement.end
        assert periods["itd"].beginning_balance == 0


def test_quarters_start_on_their_first_day() -> None:
    assert [ilpa.quarter_start(dt.date(2026, m, 15)).month for m in range(1, 13)] == [
        1, 1, 1, 4, 4, 4, 7, 7, 7, 10, 10, 10
    ]  # fmt: skip
    assert ilpa.year_start(dt.date(2026, 12, 31)) == dt.date(2026, 1, 1)
