"""Property (issue 18): after any sequence of calls, payments (on time, late, partial),
defaults, subsequent closes and distributions, the investors' capital accounts add up to the
fund's equity as read straight from the ledger, and every total reconciles: paid-in, called,
each call's lines, each distribution's lines, equalization interest paid and received, and —
with a valuation on the last day — the accounts add up to the NAV to the cent."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import TestDatabase, served

CENT = Decimal("0.01")
START = dt.date(2026, 1, 5)
FAR = "2040-12-31"

STEP = st.one_of(
    st.tuples(st.just("call"), st.integers(0, 2), st.decimals("1000.00", "60000.00", places=2)),
    st.tuples(st.just("pay"), st.integers(0, 2), st.sampled_from(["0.4", "1"]), st.booleans()),
    st.tuples(st.just("default"), st.integers(0, 2)),
    st.tuples(st.just("distribute"), st.decimals("100.00", "40000.00", places=2)),
    st.tuples(st.just("close"), st.decimals("50000.00", "300000.00", places=2)),
)

# Fund equity from the ledger, read with SQL (not through the application): cash contributed,
# less what was spent on fees and expenses, less what went out to the LPs and as carry.
_EQUITY = """
SELECT coalesce(sum(amount) FILTER (WHERE kind = 'payment'), 0)
     - coalesce(sum(amount) FILTER (WHERE kind = 'payment'
                                   AND purpose IN ('management_fee', 'fund_expenses')), 0)
     - coalesce(sum(amount) FILTER (WHERE kind IN ('distribution', 'recallable_distribution',
                                                    'carried_interest')), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'payment'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'contribution'), 0),
       coalesce(sum(amount) FILTER (WHERE kind = 'equalization_interest'), 0)
FROM capital_ledger WHERE fund_id = %s
"""


async def _walk(
    settings: Settings, org: NewOrg, database: TestDatabase, steps: list[tuple[Any, ...]]
) -> None:
    from prorata.app import create_app

    async with served(create_app(settings)) as client:
        api = FundApi(client, org.api_key)
        fund = await api.fund(
            first_closing_date="2025-06-30",
            equalization_rate="0.06",
            default_interest_rate="0.1",
            management_fee_rate="0",
        )
        investors = await api.investors_with(fund, ["500000.00", "250000.37", "100000.00"])
        deal = await api.deal(fund)
        calls: list[dict[str, Any]] = []
        distributions: list[str] = []
        for n, step in enumerate(steps):
            day = START + dt.timedelta(days=30 * n)
            await _step(api, fund, deal, investors, calls, distributions, day, step)
        await _check(api, fund, investors, calls, distributions, database)


async def _step(
    api: FundApi,
    fund: str,
    deal: str,
    investors: list[str],
    calls: list[dict[str, Any]],
    distributions: list[str],
    day: dt.date,
    step: tuple[Any, ...],
) -> None:
    kind = step[0]
    if kind == "call":
        item = {"purpose": "investment", "amount": str(step[2]), "deal_id": deal}
        if step[1] == 2:
            item = {"purpose": "fund_expenses", "amount": str((step[2] / 10).quantize(CENT))}
        draft = await api.draft(fund, [item], notice=day.isoformat(), expect=201)
        issued = await api.request(
            "POST",
            f"/funds/{fund}/capital-calls/{draft['id']}/issue",
            money=True,
            expect=200,
        )
        calls.append(issued)
    elif kind == "pay" and calls:
        call = await api.request("GET", f"/funds/{fund}/capital-calls/{calls[-1]['id']}")
        line = next((x for x in call["lines"] if x["investor_id"] == investors[step[1]]), None)
        if line is None or call["status"] == "closed" or Decimal(line["outstanding"]) <= 0:
            return
        amount = (Decimal(line["outstanding"]) * Decimal(step[2])).quantize(CENT, ROUND_DOWN)
        due = dt.date.fromisoformat(call["due_date"])
        received = due + dt.timedelta(days=20) if step[3] else due
        if amount > 0:
            await api.pay(
                fund, call["id"], line["investor_id"], str(amount), received_on=str(received)
            )
    elif kind == "default" and calls:
        call = calls[-1]
        declared = dt.date.fromisoformat(call["due_date"]) + dt.timedelta(days=30)
        response = await api.client.post(
            f"/api/v1/funds/{fund}/capital-calls/{call['id']}/lines/{investors[step[1]]}/default",
            json={"declared_on": declared.isoformat()},
            headers={**api.headers, "Idempotency-Key": f"default-{call['id']}-{step[1]}"},
        )
        # 404: no line for it; 409: declared already; 422: nothing owed.
        assert response.status_code in (200, 201, 404, 409, 422), response.text
    elif kind == "distribute":
        response = await api.client.post(
            f"/api/v1/funds/{fund}/distributions",
            json={"date": day.isoformat(), "amount": str(step[1]), "kind": "gain"},
            headers={**api.headers, "Idempotency-Key": f"distribution-{fund}-{day}"},
        )
        if response.status_code == 422:
            assert "contributed" in response.json()["detail"]
        else:
            assert response.status_code == 201, response.text
            distributions.append(response.json()["id"])
    elif kind == "close":
        investor = await api.investor(f"Late {day}")
        await api.request(
            "POST",
            f"/funds/{fund}/commitments",
            json={"investor_id": investor, "amount": str(step[1]), "committed_on": str(day)},
            expect=201,
        )
        investors.append(investor)
        draft = await api.request(
            "POST", f"/funds/{fund}/closings", json={"closing_date": str(day)}, expect=201
        )
        issued = await api.client.post(
            f"/api/v1/funds/{fund}/closings/{draft['id']}/issue",
            headers={**api.headers, "Idempotency-Key": f"closing-{draft['id']}"},
        )
        assert issued.status_code in (200, 422), issued.text
        if issued.status_code == 200 and issued.json()["call_id"]:
            call_id = issued.json()["call_id"]
            calls.append(await api.request("GET", f"/funds/{fund}/capital-calls/{call_id}"))


async def _check(
    api: FundApi,
    fund: str,
    investors: list[str],
    calls: list[dict[str, Any]],
    distributions: list[str],
    database: TestDatabase,
) -> None:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(_EQUITY, (fund,)).fetchone()
    assert row is not None
    equity, paid_in, called, interest = (Decimal(x) for x in row)
    assert interest == 0  # equalization interest paid = received
    accounts = [
        await api.request("GET", f"/funds/{fund}/investors/{i}/capital-account?to={FAR}")
        for i in investors
    ]
    assert sum(Decimal(a["ending_balance"]) for a in accounts) == equity
    assert sum(Decimal(a["contributed"]) for a in accounts) == paid_in
    rows = await api.commitments(fund)
    assert sum(Decimal(r["contributed"]) for r in rows.values()) == paid_in
    assert sum(Decimal(r["called"]) for r in rows.values()) == called
    for r in rows.values():
        unfunded = Decimal(r["amount"]) - Decimal(r["called"]) + Decimal(r["recallable"])
        assert Decimal(r["unfunded"]) == unfunded
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of={FAR}")
    assert (Decimal(metrics["paid_in"]), Decimal(metrics["called"])) == (paid_in, called)
    for issued in calls:
        call = await api.request("GET", f"/funds/{fund}/capital-calls/{issued['id']}")
        for line in call["lines"]:
            parts = ("credit_applied", "paid", "released", "outstanding")
            assert sum(Decimal(line[k]) for k in parts) == Decimal(line["total"])
    for distribution_id in distributions:
        made = await api.request("GET", f"/funds/{fund}/distributions/{distribution_id}")
        assert sum(Decimal(x["amount"]) for x in made["lines"]) == Decimal(made["amount"])
        for line in made["lines"]:
            assert Decimal(line["lp_amount"]) + Decimal(line["gp_amount"]) == Decimal(
                line["amount"]
            )
            assert Decimal(0) <= Decimal(line["set_off"]) <= Decimal(line["lp_amount"])
    # A valuation on the last day: the accounts add up to its NAV to the cent.
    nav = Decimal("123456.78")
    await api.request(
        "POST", f"/funds/{fund}/valuations", json={"as_of": FAR, "nav": str(nav)}, expect=201
    )
    valued = [
        await api.request("GET", f"/funds/{fund}/investors/{i}/capital-account?to={FAR}")
        for i in investors
    ]
    assert sum(Decimal(a["ending_balance"]) for a in valued) == nav


def test_the_books_reconcile_whatever_happened(
    settings: Settings, org: NewOrg, database: TestDatabase
) -> None:
    @given(steps=st.lists(STEP, min_size=3, max_size=9))
    @example(
        steps=[
            ("call", 0, Decimal("30000.00")),
            ("pay", 0, "1", False),
            ("pay", 1, "0.4", True),
            ("default", 2),
            ("distribute", Decimal("9000.00")),
            ("close", Decimal("200000.00")),
            ("pay", 3, "1", False),
            ("call", 2, Decimal("20000.00")),
            ("distribute", Decimal("5000.00")),
        ]
    )
    @hypothesis_settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(steps: list[tuple[Any, ...]]) -> None:
        asyncio.run(_walk(settings, org, database, steps))

    walk()
