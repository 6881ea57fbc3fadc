"""Benchmark: listing allocations of a large fund, page 1 and page 10,000, by keyset cursor.

Loads N allocations (default 10,000,000) across 10 funds (1,000 investors × N/10,000 deals each),
starts `prorata web`, and measures p50/p99 of `GET /api/v1/funds/{id}/allocations` (50 a page)
for page 1 and for page 10,000 (reached by its cursor), beside the raw SQL of the same page
run in the same run. Targets: page 10,000 within 1.2 × page 1; API p99 ≤ 3 × raw SQL p99.
The API is timed with a minimal keep-alive HTTP/1.1 client (`http.client`), so the figures
are the server's, not an HTTP library's.

    .venv/bin/python -m bench.list_allocations [--rows 10000000] [--samples 300]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from bench.support import Timer, bench_database, percentile
from prorata.config import Settings
from prorata.http.pagination import encode_cursor
from prorata.platform import db

FUNDS = 10
INVESTORS = 1000
PAGE = 50
TARGET_PAGE = 10_000


def load_allocations(settings: Settings, rows: int) -> tuple[str, str, uuid.UUID]:
    """Owner-side bulk load; returns (api key, fund id, org id)."""
    from prorata.cli import main as cli_main  # noqa: F401 - ensures the package imports

    deals = max(rows // (FUNDS * INVESTORS), 1)
    owner = db.owner_url(settings)
    with psycopg.connect(owner, autocommit=True) as conn:
        org_id = uuid.uuid4()
        conn.execute("INSERT INTO orgs (id, name) VALUES (%s, 'Bench')", (org_id,))
        conn.execute(
            "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
            "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
            "waterfall_style, day_count, notice_business_days) SELECT gen_random_uuid(), %s, "
            "'Fund ' || n, 'USD', 'investing', 0.02, 'committed', 0.08, 1, 0.2, 'european', "
            "'act/365', 10 FROM generate_series(1, %s) n",
            (org_id, FUNDS),
        )
        conn.execute(
            "INSERT INTO investors (id, org_id, name, kind) SELECT gen_random_uuid(), %s, "
            "'LP ' || n, 'entity' FROM generate_series(1, %s) n",
            (org_id, INVESTORS),
        )
        conn.execute(
            "INSERT INTO deals (id, org_id, fund_id, name, status) SELECT gen_random_uuid(), "
            "f.org_id, f.id, 'Deal ' || n, 'open' FROM funds f, generate_series(1, %s) n",
            (deals,),
        )
        with Timer() as load:
            conn.execute(
                "INSERT INTO allocations (fund_id, investor_id, deal_id, org_id, amount) "
                "SELECT d.fund_id, i.id, d.id, d.org_id, 1000.00 FROM deals d, investors i"
            )
            conn.execute("ANALYZE allocations")
        print(f"loaded {FUNDS * deals * INVESTORS:,} allocations in {load.seconds:.0f} s")
        fund_id = conn.execute("SELECT id FROM funds ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    api_key = _org_key(settings, org_id)
    return api_key, str(fund_id), org_id


def _org_key(settings: Settings, org_id: uuid.UUID) -> str:
    import asyncio

    from prorata.http.tenancy import Role
    from prorata.orgs import service as org_service
    from prorata.orgs.models import Membership, User

    async def make() -> str:
        engine = db.create_engine(db.app_url(settings), pool_size=1)
        try:
            async with db.sessionmaker(engine)() as session, session.begin():
                await db.set_tenant(session, org_id)
                user = User(org_id=org_id, email="bench@bench.example")
                session.add(user)
                await session.flush()
                session.add(Membership(org_id=org_id, user_id=user.id, role=Role.viewer))
                await session.flush()
                _, key = await org_service.issue_api_key(
                    session, org_id=org_id, user_id=user.id, name="bench"
                )
                return key
        finally:
            await engine.dispose()

    return asyncio.run(make())


def cursor_of_page(settings: Settings, fund_id: str, page: int) -> str | None:
    if page == 1:
        return None
    with psycopg.connect(db.owner_url(settings)) as conn:
        row = conn.execute(
            "SELECT fund_id, investor_id, deal_id FROM allocations WHERE fund_id = %s "
            "ORDER BY fund_id, investor_id, deal_id OFFSET %s LIMIT 1",
            (fund_id, (page - 1) * PAGE - 1),
        ).fetchone()
    assert row is not None
    return encode_cursor(list(row))


def _raw_sql(
    settings: Settings,
    org_id: uuid.UUID,
    fund_id: str,
    cursor_row: list[object] | None,
    samples: int,
) -> list[float]:
    where = "fund_id = %s"
    params: list[object] = [fund_id]
    if cursor_row is not None:  # the same keyset condition the API uses
        where += " AND (investor_id, deal_id) > (%s, %s)"
        params += cursor_row[1:]
    query = (
        f"SELECT fund_id, deal_id, investor_id, amount, updated_at FROM allocations WHERE {where} "
        f"ORDER BY investor_id, deal_id LIMIT {PAGE + 1}"
    )
    timings = []
    with psycopg.connect(db.app_url(settings)) as conn:
        conn.execute("SELECT set_config('app.org_id', %s, false)", (str(org_id),))
        for _ in range(samples):
            with Timer() as t:
                conn.execute(query, params).fetchall()  # type: ignore[arg-type]
            timings.append(t.seconds)
    return timings


def _api(port: int, api_key: str, fund_id: str, cursor: str | None, samples: int) -> list[float]:
    """Sequential GETs on one keep-alive connection, timed from sending the request to the last
    byte of the body. The client is `http.client`, the lightest HTTP/1.1 client in the standard
    library: httpx added ~0.5 ms to every sample (its own request/response objects, and more at
    p99), a cost of the client, not of the server being measured. The body is parsed and
    checked after the timer stops."""
    path = f"/api/v1/funds/{fund_id}/allocations?limit={PAGE}" + (
        f"&cursor={cursor}" if cursor else ""
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    timings = []
    connection = http.client.HTTPConnection("127.0.0.1", port)
    try:
        for _ in range(samples):
            with Timer() as t:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            assert response.status == 200, body
            assert len(json.loads(body)["items"]) == PAGE
            timings.append(t.seconds)
    finally:
        connection.close()
    return timings


def _report(label: str, timings: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(timings, 0.5) * 1000, percentile(timings, 0.99) * 1000
    print(f"{label:34s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with bench_database() as settings:
        api_key, fund_id, org_id = load_allocations(settings, args.rows)
        env = {
            **os.environ,
            "PRORATA_APP_DATABASE_URL": db.app_url(settings),
            "PRORATA_PORT": str(args.port),
            "PRORATA_LOG_LEVEL": "WARNING",
            "PRORATA_RATE_LIMIT_API": "1000000/minute",
        }
        env.pop("DATABASE_URL", None)
        with tempfile.TemporaryFile() as log:
            web = subprocess.Popen(
                [sys.executable, "-m", "prorata", "web"],
                env=env,
                stdout=log,
                stderr=log,
                cwd=Path(__file__).parent.parent,
            )
            try:
                base = f"http://127.0.0.1:{args.port}"
                for _ in range(100):
                    try:
                        if httpx.get(f"{base}/api/system/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                results = {}
                deep = min(TARGET_PAGE, args.rows // FUNDS // PAGE)
                for page in (1, deep):
                    cursor = cursor_of_page(settings, fund_id, page)
                    row = None
                    if cursor is not None:
                        row = json.loads(
                            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
                        )
                    results[page] = (
                        _report(
                            f"raw SQL, page {page}",
                            _raw_sql(settings, org_id, fund_id, row, args.samples),
                        ),
                        _report(
                            f"API,     page {page}",
                            _api(args.port, api_key, fund_id, cursor, args.samples),
                        ),
                    )
            finally:
                web.send_signal(signal.SIGTERM)
                web.wait(30)
        (sql1, api1), (sqln, apin) = results[1], results[deep]
        print(f"page {deep} / page 1 (API p99):  {apin[1] / api1[1]:5.2f} x  (target <= 1.2)")
        print(f"API p99 / raw SQL p99, page 1:     {api1[1] / sql1[1]:5.2f} x  (target <= 3)")
        print(f"API p99 / raw SQL p99, page {deep}: {apin[1] / sqln[1]:5.2f} x  (target <= 3)")


if __name__ == "__main__":
    main()
