"""Benchmark: the console's main pages on a 10,000-investor fund, each beside the API calls
that fetch the same data, in the same run.

Server side only: requests go through the ASGI app in process (no network, no browser). Each
page is fetched with a signed-in session cookie, each API call with a key. Targets: every page
at p99 ≤ 1.5 × its API calls, and no page above 300 ms at p99.

    .venv/bin/python -m bench.console [--investors 10000] [--samples 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import psycopg

from bench.fund_data import load_fund
from bench.support import Timer, bench_database, percentile
from prorata import wiring
from prorata.accounts import service as account_service
from prorata.app import create_app
from prorata.capital_calls import service as call_service
from prorata.capital_calls.schemas import CallCreate, ItemIn
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.orgs import service as org_service
from prorata.orgs.models import User
from prorata.platform import db

PASSWORD = "violet harbour engine 47"
OWNER = "owner@bench.example"


async def _prepare(settings: Settings, investors: int) -> dict[str, str]:
    """An org with a 10,000-investor fund (commitments), an issued call and a draft."""
    engine = db.create_engine(db.app_url(settings), pool_size=2)
    sessions = db.sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            org = await org_service.create_org(session, name="Bench", owner_email=OWNER)
            user = await session.get(User, org.user_id)
            assert user is not None
            await account_service.set_password(session, user, PASSWORD)
        owner_url = db.owner_url(settings)
        fund_id = load_fund(owner_url, org_id=org.org_id, investors=investors, deals=2)
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
                "SELECT gen_random_uuid(), org_id, %s, id, 100000 + (random() * 900000)::int, "
                "'2025-01-02' FROM investors WHERE org_id = %s",
                (fund_id, org.org_id),
            )
            conn.execute("ANALYZE commitments")
        actor = Principal(
            org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
        )
        calls = []
        for notice in (dt.date(2026, 3, 2), dt.date(2026, 6, 1)):
            async with db.tenant_transaction(sessions, org.org_id) as session:
                draft = await call_service.create_draft(
                    session,
                    actor=actor,
                    fund_id=fund_id,
                    data=CallCreate(
                        notice_date=notice,
                        items=[ItemIn(purpose="management_fee", amount=Decimal("2500000.00"))],
                    ),
                )
                calls.append(draft.id)
        async with db.tenant_transaction(sessions, org.org_id) as session:
            await call_service.issue(session, actor=actor, fund_id=fund_id, call_id=calls[0])
        return {
            "org": str(org.org_id),
            "api_key": org.api_key,
            "fund": str(fund_id),
            "issued": str(calls[0]),
            "draft": str(calls[1]),
        }
    finally:
        await engine.dispose()


async def _sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    done = await client.post(
        "/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, done.text


async def _deep_cursor(client: httpx.AsyncClient, api: dict[str, str], path: str) -> str:
    """The cursor of the last page of the commitments (500 a page): the API's and the
    console's tables page by the same keyset."""
    cursor = ""
    while True:
        page = await client.get(f"{path}?limit=500{cursor and f'&cursor={cursor}'}", headers=api)
        following = page.json()["next_cursor"]
        if following is None:
            return cursor
        cursor = following


async def _time(samples: int, request: Callable[[], Awaitable[httpx.Response]]) -> list[float]:
    timings = []
    await request()  # warm
    for _ in range(samples):
        with Timer() as timer:
            response = await request()
        assert response.status_code == 200, response.text[:300]
        timings.append(timer.seconds * 1000)
    return timings


async def run(settings: Settings, investors: int, samples: int) -> None:
    wiring.connect()
    ids = await _prepare(settings, investors)
    app = create_app(settings)
    api = {"Authorization": f"Bearer {ids['api_key']}"}
    fund, v1 = ids["fund"], "/api/v1"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://bench") as browser,
            httpx.AsyncClient(transport=transport, base_url="http://bench") as program,
        ):
            await _sign_in(browser)
            deep = await _deep_cursor(program, api, f"{v1}/funds/{fund}/commitments")
            today = dt.date.today().isoformat()

            async def apis(*paths: str) -> httpx.Response:
                for path in paths:
                    response = await program.get(path, headers=api)
                return response

            # What the fund page shows beside its investors: each table's API list.
            fund_tables = (
                f"{v1}/funds/{fund}/metrics?as_of={today}",
                f"{v1}/funds/{fund}/capital-calls",
                f"{v1}/funds/{fund}/deals",
                f"{v1}/funds/{fund}/allocations/totals",
                f"{v1}/funds/{fund}/distributions",
                f"{v1}/funds/{fund}/valuations",
            )
            cases: list[tuple[str, str, tuple[str, ...]]] = [
                (
                    "home",
                    "/",
                    (
                        f"{v1}/funds",
                        f"{v1}/funds/{fund}/metrics?as_of={today}",
                        f"{v1}/funds/{fund}/capital-calls",  # the attention list's calls
                    ),
                ),
                (
                    "fund overview (investors page 1)",
                    f"/funds/{fund}",
                    (*fund_tables, f"{v1}/funds/{fund}/commitments?limit=50"),
                ),
                (
                    "investors, last page",
                    f"/funds/{fund}" + (f"?cursor={deep}" if deep else ""),
                    (
                        *fund_tables,
                        f"{v1}/funds/{fund}/commitments?limit=50"
                        + (f"&cursor={deep}" if deep else ""),
                    ),
                ),
                (
                    "call preview (draft)",
                    f"/funds/{fund}/calls/{ids['draft']}",
                    (f"{v1}/funds/{fund}/capital-calls/{ids['draft']}",),
                ),
                (
                    "payments board",
                    f"/funds/{fund}/calls/{ids['issued']}",
                    (f"{v1}/funds/{fund}/capital-calls/{ids['issued']}",),
                ),
            ]
            print(f"investors: {investors}   samples per figure: {samples}")
            heads = ("page p50", "page p99", "API p50", "API p99")
            print(f"{'page':34} " + " ".join(f"{h:>9}" for h in heads) + f" {'ratio':>6}")
            for name, page, calls in cases:
                pages = await _time(samples, lambda page=page: browser.get(page))  # type: ignore[misc]
                api_times = await _time(samples, lambda calls=calls: apis(*calls))  # type: ignore[misc]
                p99, a99 = percentile(pages, 0.99), percentile(api_times, 0.99)
                print(
                    f"{name:34} {percentile(pages, 0.5):8.1f}ms {p99:8.1f}ms "
                    f"{percentile(api_times, 0.5):8.1f}ms {a99:8.1f}ms {p99 / a99:5.2f}x"
                )
    print("targets: page p99 <= 1.5 x its API calls' p99, and <= 300 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with bench_database() as settings:
        # Thousands of requests a minute from one key: the limit is not what is measured.
        unlimited = settings.model_copy(update={"rate_limit_api": "1000000/minute"})
        asyncio.run(run(unlimited, args.investors, args.samples))


if __name__ == "__main__":
    main()
