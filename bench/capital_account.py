"""Benchmark: the capital-account book of a large, long-lived fund, in memory.

Builds the movements of `--investors` investors over `--quarters` quarters (a call with a
management fee every quarter, a distribution every year, a valuation every quarter), then
times allocating every valuation's gains (`Book.allocate_valuations`, what every
capital-account request and statement does after reading the ledger), one account, every
investor's account (a statement run: one book for all), and rendering statement PDFs (a
sample, per statement). No target: it shows the cost grows with the fund's age linearly, not
with its square, and what a run for every investor costs beside a book per statement.

    .venv/bin/python -m bench.capital_account [--investors 10000] [--quarters 20 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import uuid
from decimal import Decimal

from bench.support import Timer
from prorata.capital_accounts.service import Account, Book, Movement
from prorata.documents import render
from prorata.documents.content import Statement
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
        end = valuations[-1][0]
        with Timer() as one:
            book.account(uuid.UUID(int=1), None, end)
        with Timer() as every:
            accounts = [
                book.account(investor, end.replace(month=1, day=1), end)
                for investor in book.commitments
            ]
        print(
            f"{args.investors:,} investors, {quarters} quarters ({movements:,} movements, "
            f"{len(valuations)} valuations): allocate {allocating.seconds:.2f} s, "
            f"one account {one.seconds * 1000:.1f} ms, every account {every.seconds:.2f} s "
            f"(a book per statement instead: ~{allocating.seconds * args.investors / 3600:.1f} h)"
        )
    print(f"render a statement: {_render_seconds(accounts[0]) * 1000:.1f} ms each")


def _render_seconds(account: Account, samples: int = 200) -> float:
    statement = Statement(
        fund_name="Benchmark Fund",
        currency="USD",
        investor_name="LP",
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 12, 31),
        commitment=account.commitment,
        opening=account.statement.begin,
        movements=[("Contributions", account.statement.contributions)],
        closing=account.statement.end,
        contributed_to_date=account.contributed,
        paid_in_to_date=account.contributed,
        distributed_to_date=account.statement.distributions,
        unfunded=account.unfunded,
    )
    with Timer() as rendering:
        for _ in range(samples):
            render.statement_pdf(statement)
    return rendering.seconds / samples


if __name__ == "__main__":
    main()
