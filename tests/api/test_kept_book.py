"""The allocated gains kept per investor (capital_accounts.investor_book) against the book
recomputed from the ledger: whatever happens to a fund, in any order — commitments, calls,
distributions, valuations — and whichever accounts were asked for before, one investor's account
through the API equals the whole book's, for any period."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.capital_accounts import service as account_service
from prorata.capital_accounts.models import KeptBook
from prorata.config import Settings
from prorata.finance import money
from prorata.funds import service as fund_service
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.support import TestDatabase

START = dt.date(2026, 1, 5)
AMOUNT = st.integers(10_000, 5_000_000).map(lambda cents: Decimal(cents) / 100)
STEP = st.one_of(
    st.tuples(st.just("commit"), AMOUNT),
    st.tuples(st.just("call"), AMOUNT),
    st.tuples(st.just("distribute"), AMOUNT),
    st.tuples(st.just("value"), AMOUNT),
)
FIELDS = {
    "beginning_balance": "begin",
    "contributions": "contributions",
    "distributions": "distributions",
    "carried_interest": "carried_interest",
    "management_fees": "fees",
    "expenses": "expenses",
    "allocated_gains_losses": "allocated_gains",
    "ending_balance": "end",
}


async def _recomputed(
    app: Any, org: NewOrg, fund_id: str, investor: str, start: dt.date | None, end: dt.date
) -> dict[str, str]:
    """The account from the fund's whole book, recomputed from the ledger now."""
    from prorata.platform import db

    async with db.tenant_transaction(app.state.sessions, org.org_id) as session:
        fund = await fund_service.get(session, fund_id=uuid.UUID(fund_id))
        full = await account_service.book(session, fund=fund, end=end)
        account = full.account(uuid.UUID(investor), start, end)
        q = money.quantum(fund.currency)
        found = {field: str(getattr(account.statement, name)) for field, name in FIELDS.items()}
        return found | {
            "commitment": str(account.commitment),
            "contributed": str(account.contributed),
            "unfunded": str(account.unfunded.quantize(q)),
        }


async def _kept_state(app: Any, org: NewOrg, fund_id: str) -> str | None:
    async with db.tenant_transaction(app.state.sessions, org.org_id) as session:
        kept = await session.get(KeptBook, uuid.UUID(fund_id))
        return kept.state if kept else None


async def _walk(settings: Settings, org: NewOrg, steps: list[tuple[str, Decimal]]) -> None:
    from prorata.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            api = FundApi(client, org.api_key)
            fund = await api.fund()
            investors = await api.investors_with(fund, ["250000.00", "125000.37"])
            called = False
            for n, (step, amount) in enumerate(steps):
                day = START + dt.timedelta(days=17 * (n + 1))
                # A distribution before any capital is called is refused: call instead.
                kind = "call" if step == "distribute" and not called else step
                called = called or kind == "call"
                if kind == "commit":
                    investors.append(await api.investor(f"Late {n}"))
                    body = {
                        "investor_id": investors[-1],
                        "amount": str(amount),
                        "committed_on": day.isoformat(),
                    }
                    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=201)
                elif kind == "call":
                    items = [{"purpose": "management_fee", "amount": str(amount)}]
                    await api.call_and_pay(fund, items, notice=day.isoformat())
                elif kind == "distribute":
                    await api.distribute(fund, str(amount), day.isoformat())
                else:
                    body = {"as_of": day.isoformat(), "nav": str(amount)}
                    await api.request("POST", f"/funds/{fund}/valuations", json=body, expect=201)
                end = day + dt.timedelta(days=30)
                for investor in investors[:: 1 + n % 2]:  # not every account every time
                    for start in (None, day - dt.timedelta(days=20)):
                        period = f"to={end}" + (f"&from={start}" if start else "")
                        got = await api.request(
                            "GET", f"/funds/{fund}/investors/{investor}/capital-account?{period}"
                        )
                        expected = await _recomputed(app, org, fund, investor, start, end)
                        assert {k: got[k] for k in expected} == expected, (steps[: n + 1], investor)
            state = await _kept_state(app, org, fund)
            assert state is not None  # the last answers came from the kept gains
            await api.request(
                "POST",
                f"/funds/{fund}/valuations",
                json={"as_of": "2030-01-01", "nav": "1.00"},
                expect=201,
            )
            await api.request("GET", f"/funds/{fund}/investors/{investors[0]}/capital-account")
            assert await _kept_state(app, org, fund) != state  # a change re-allocates


def test_one_investors_account_equals_the_whole_books_whatever_happened_before(
    settings: Settings, org: NewOrg
) -> None:
    @given(steps=st.lists(STEP, min_size=1, max_size=5))
    @hypothesis_settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(steps: list[tuple[str, Decimal]]) -> None:
        asyncio.run(_walk(settings, org, steps))

    walk()


def _keep_book_jobs(owner_url: str, fund_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT status::text, args->>'org_id' FROM procrastinate_jobs "
            "WHERE task_name = 'capital_accounts.keep_book' AND args->>'fund_id' = %s",
            (fund_id,),
        ).fetchall()
    return [(status, org_id) for status, org_id in rows]


async def test_the_worker_keeps_a_read_book_current_after_each_change(
    app: FastAPI,
    client: httpx.AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    first, second = await api.investors_with(fund, ["600000.00", "400000.00"])
    await api.call_and_pay(fund, [{"purpose": "management_fee", "amount": "1000.00"}])
    # Nobody has read an account yet: nothing to keep, no job.
    assert _keep_book_jobs(database.owner_url, fund) == []
    account = f"/funds/{fund}/investors/{first}/capital-account"
    await api.request("GET", account)
    kept = await _kept_state(app, org, fund)
    assert kept is not None

    # Two changes in a row: one job waits for both.
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-06-30", "nav": "1500.00"},
        expect=201,
    )
    await api.call_and_pay(fund, [{"purpose": "fund_expenses", "amount": "500.00"}])
    assert _keep_book_jobs(database.owner_url, fund) == [("todo", str(org.org_id))]

    # The job's body (what the worker runs) allocates and keeps the book: the next reader
    # finds it current and allocates nothing itself.
    async with db.tenant_transaction(sessions, org.org_id) as session:
        found = await fund_service.get(session, fund_id=uuid.UUID(fund))
        assert await account_service.keep_current(session, fund=found) is not None
    async with db.tenant_transaction(sessions, org.org_id) as session:
        found = await fund_service.get(session, fund_id=uuid.UUID(fund))
        assert await account_service.keep_current(session, fund=found) is None
    answer = await api.request("GET", f"/funds/{fund}/investors/{second}/capital-account")
    assert answer["ending_balance"] == "600.00"  # 40 % of the 1,500 NAV
