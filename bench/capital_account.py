"""Benchmark: the capital-account book of a large, long-lived fund, in memory.

Builds the movements of `--investors` investors over `--quarters` quarters (a call with a
management fee every quarter, a distribution every year, a valuation every quarter), then
times allocating every valuation's gains (`Book.allocate_valuations`, what every
capital-account request and statement does after reading the ledger) and one account.
No target: it shows the cost grows with the fund's age linearly, not with its square.

    .venv/bin/python -m bench.capital_account [--investors 10000] [--quarters 20 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import uuid
from decimal import Decimal

from bench.support import Timer
from prorata.capital_accounts.service import Book, Movement
from prorata.funds.models import Fund

CENT = Decimal("0.01")


def _book(investors: int, quarters: int) -> tuple[Book, list[tuple[dt.date, Decimal]]]:
    rng = random.Random(1)
    ids = [uuid.UUID(int=n + 1) for n in range(investors)]
    commitments = {i: Decimal(rng.randint(100, 10_000) * 1000) for i in ids}
    book = Book(Fund(currency="USD"), commitments)
    valuations = []
    for quarter in range(quarters):
        day = dt.date(2016, 1, 1) + dt.timedelta(days=91 * quarter)
        for investor in ids:
            called = (commitments[investor] / 40).quantize(CENT)
            book.movements[investor].append(Movement(day, "contributions", called))
            fee = (called / 50).quantize(CENT)
            book.movements[investor].append(Movement(day, "management_fees", fee))
            if quarter % 4 == 3:
                paid = (called / 3).quantize(CENT)
                later = day + dt.timedelta(days=10)
                book.movements[investor].append(Movement(later, "distributions", paid))
        nav = (sum(commitments.values()) / 40 * (quarter + 1) * Decimal("1.1")).quantize(CENT)
        valuations.append((day + dt.timedelta(days=80), nav))
    return book, valuations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--quarters", type=int, nargs="+", default=[20, 40])
    args = parser.parse_args()
    for quarters in args.quarters:
        book, valuations = _book(args.investors, quarters)
        movements = sum(len(moves) for moves in book.movements.values())
        with Timer() as allocating:
            book.allocate_valuations(valuations)
        with Timer() as one:
            book.account(uuid.UUID(int=1), None, valuations[-1][0])
        print(
            f"{args.investors:,} investors, {quarters} quarters ({movements:,} movements, "
            f"{len(valuations)} valuations): allocate {allocating.seconds:.2f} s, "
            f"one account {one.seconds * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
