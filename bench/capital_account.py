"""Benchmark: the capital-account book of a large, long-lived fund, in memory.

Builds the movements of `--investors` investors over `--quarters` quarters (a call with a
management fee every quarter, a distribution every year, a valuation every quarter), then
times allocating every valuation's gains (`Book.allocate_valuations`, what every
capital-account request and statement does after reading the ledger), one account, every
investor's account (a statement run: one book for all), and rendering statement PDFs (a
sample, per statement). No target: it shows the cost grows with the fund's age linearly, not
with its square, and what a run for every investor costs beside a book per statement.

    .venv/bin/python -m bench.capital_account [--investors 10000] [--quarters 20 40]

With `--http`, the same fund is loaded into a database instead (investors, commitments, a call
every quarter, a distribution every year, a valuation every quarter: rows, as the API writes
them) and `prorata web` serves one investor's capital account end to end over HTTP: kept gains
(target p99 ≤ 50 ms) beside a request that must allocate the fund's whole book (what every
request did before the gains were kept), in the same run.

    .venv/bin/python -m bench.capital_account --http [--investors 10000] [--quarters 40]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from bench.fund_data import load_fund
from bench.support import Timer, bench_database, percentile
from prorata import wiring
from prorata.capital_accounts.service import Book, Movement
from prorata.config import Settings
from prorata.documents import render
from prorata.documents.content import Statement
from prorata.fund_metrics import statement as statement_service
from prorata.funds.models import Fund
from prorata.orgs import service as org_service
from prorata.platform import db

CENT = Decimal("0.01")


def _book(investors: int, quarters: int) -> tuple[Book, list[tuple[dt.date, Decimal]]]:
    rng = random.Random(1)
    ids = [uuid.UUID(int=n + 1) for n in range(investors)]
    commitments = {i: Decimal(rng.randint(100, 10_000) * 1000) for i in ids}
    book = Book(Fund(id=uuid.UUID(int=0), name="Benchmark Fund", currency="USD"), commitments)
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
    parser.add_argument("--http", action="store_true", help="one account over HTTP, kept gains")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    if args.http:
        http_bench(args.investors, args.quarters[-1], args.samples, args.port)
        return
    for quarters in args.quarters:
        book, valuations = _book(args.investors, quarters)
        movements = sum(len(moves) for moves in book.movements.values())
        with Timer() as allocating:
            book.allocate_valuations(valuations)
        end = valuations[-1][0]
        with Timer() as one:
            book.account(uuid.UUID(int=1), None, end)
        with Timer() as every:
            # What a statement run does for each investor: its QTD, YTD and ITD columns.
            total = sum(book.commitments.values(), Decimal(0))
            for investor in book.commitments:
                statement_service.build(
                    book,
                    investor,
                    end,
                    detail=[],
                    read=[],
                    valuation=None,
                    fund_commitment=total,
                )
        print(
            f"{args.investors:,} investors, {quarters} quarters ({movements:,} movements, "
            f"{len(valuations)} valuations): allocate {allocating.seconds:.2f} s, "
            f"one account {one.seconds * 1000:.1f} ms, every ILPA statement {every.seconds:.2f} s "
            f"(a book per statement instead: ~{allocating.seconds * args.investors / 3600:.1f} h)"
        )
    print(f"render a statement: {_render_seconds(book, end) * 1000:.1f} ms each")


def _render_seconds(book: Book, end: dt.date, samples: int = 200) -> float:
    """An ILPA statement (QTD, YTD, ITD) of the book's first investor, rendered `samples` times."""
    investor = next(iter(book.commitments))
    ilpa = statement_service.build(
        book,
        investor,
        end,
        detail=[],
        read=[],
        valuation=None,
        fund_commitment=sum(book.commitments.values(), Decimal(0)),
    )
    statement = Statement(
        fund_name="Benchmark Fund",
        investor_name="LP",
        recipients=(),
        period_end=end,
        ilpa=ilpa,
    )
    with Timer() as rendering:
        for _ in range(samples):
            render.statement_pdf(statement)
    return rendering.seconds / samples


def _load(settings: Settings, investors: int, quarters: int) -> tuple[str, uuid.UUID]:
    """The fund as rows (bulk, as the owner): returns (an owner's API key, the fund id)."""

    async def new_org() -> org_service.NewOrg:
        engine = db.create_engine(db.app_url(settings), pool_size=1)
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                return await org_service.create_org(
                    session, name="Bench", owner_email="owner@bench.example"
                )
        finally:
            await engine.dispose()

    org = asyncio.run(new_org())
    owner = db.owner_url(settings)
    fund_id = load_fund(owner, org_id=org.org_id, investors=investors, deals=1)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
            "SELECT gen_random_uuid(), org_id, %s, id, (100 + (random() * 9900)::int) * 1000, "
            "'2016-01-01' FROM investors WHERE org_id = %s",
            (fund_id, org.org_id),
        )
        # Each quarter: a call of 1/40 of every commitment (2 % of it a fee), due that day; each
        # fourth quarter, a distribution of a third of it ten days later.
        conn.execute(
            "INSERT INTO capital_ledger (fund_id, org_id, investor_id, kind, purpose, amount, "
            "effective_on, source_type, source_id) "
            "SELECT c.fund_id, c.org_id, c.investor_id, 'contribution', p.purpose, "
            "round(c.amount / 40 * p.share, 2), DATE '2016-01-01' + q * 91, 'capital_call', "
            "gen_random_uuid() FROM commitments c CROSS JOIN generate_series(0, %s - 1) q "
            "CROSS JOIN (VALUES ('investment', 0.98), ('management_fee', 0.02)) p(purpose, share) "
            "WHERE c.fund_id = %s",
            (quarters, fund_id),
        )
        conn.execute(
            "INSERT INTO capital_ledger (fund_id, org_id, investor_id, kind, amount, "
            "effective_on, source_type, source_id) "
            "SELECT c.fund_id, c.org_id, c.investor_id, 'distribution', round(c.amount / 120, 2), "
            "DATE '2016-01-01' + q * 91 + 10, 'distribution', gen_random_uuid() "
            "FROM commitments c CROSS JOIN generate_series(3, %s - 1, 4) q WHERE c.fund_id = %s",
            (quarters, fund_id),
        )
        conn.execute(
            "INSERT INTO valuations (id, org_id, fund_id, as_of, nav) "
            "SELECT gen_random_uuid(), %s, %s, DATE '2016-01-01' + q * 91 + 80, "
            "round((SELECT sum(amount) FROM commitments WHERE fund_id = %s) "
            "/ 40 * (q + 1) * 1.1, 2) "
            "FROM generate_series(0, %s - 1) q",
            (org.org_id, fund_id, fund_id, quarters),
        )
        conn.execute("ANALYZE")
    return org.api_key, fund_id


def _serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PRORATA_APP_DATABASE_URL": db.app_url(settings),
        "PRORATA_PORT": str(port),
        "PRORATA_LOG_LEVEL": "WARNING",
        "PRORATA_RATE_LIMIT_API": "1000000/minute",
    }
    env.pop("DATABASE_URL", None)
    web = subprocess.Popen(
        [sys.executable, "-m", "prorata", "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parent.parent,
    )
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/system/health").status_code == 200:
                return web
        except httpx.HTTPError:
            time.sleep(0.1)
    web.kill()
    raise RuntimeError("prorata web did not start")


def http_bench(investors: int, quarters: int, samples: int, port: int) -> None:
    wiring.connect()  # every model, so the ORM resolves every foreign key
    with bench_database() as settings:
        with Timer() as loading:
            api_key, fund_id = _load(settings, investors, quarters)
        with psycopg.connect(db.owner_url(settings), autocommit=True) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT investor_id FROM commitments WHERE fund_id = %s", (fund_id,)
                )
            ]
            rows = conn.execute(
                "SELECT count(*) FROM capital_ledger WHERE fund_id = %s", (fund_id,)
            ).fetchone()
        print(
            f"{investors:,} investors, {quarters} quarters: {rows[0] if rows else 0:,} ledger "
            f"rows, {quarters} valuations (loaded in {loading.seconds:.0f} s)"
        )
        rng = random.Random(3)
        web = _serve(settings, port)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=120,
            ) as client:

                def one() -> float:
                    investor = rng.choice(ids)
                    path = f"/api/v1/funds/{fund_id}/investors/{investor}/capital-account"
                    with Timer() as request:
                        response = client.get(path)
                    assert response.status_code == 200, response.text[:300]
                    return request.seconds * 1000

                # The book allocated anew: the fund changed (its capital version bumped) before
                # each of these requests, as every request used to allocate it.
                whole = []
                for _ in range(5):
                    with psycopg.connect(db.owner_url(settings), autocommit=True) as conn:
                        conn.execute(
                            "UPDATE funds SET capital_version = capital_version + 1 WHERE id = %s",
                            (fund_id,),
                        )
                    whole.append(one())
                for _ in range(20):
                    one()  # warm
                kept = [one() for _ in range(samples)]
        finally:
            web.send_signal(signal.SIGTERM)
            web.wait(30)
    print(
        f"whole book allocated (n=5):  p50 {percentile(whole, 0.5):8.1f} ms  "
        f"max {max(whole):8.1f} ms"
    )
    p99 = percentile(kept, 0.99)
    print(
        f"kept gains (n={samples}):      p50 {percentile(kept, 0.5):8.1f} ms  "
        f"p99 {p99:8.1f} ms   target p99 <= 50 ms: {'met' if p99 <= 50 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
