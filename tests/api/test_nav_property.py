"""Property (issue 19 item 2): after any history of calls, payments, realisations (exits,
write-downs), valuations and distributions, on any date the investors' capital-account
balances add up to the NAV the fund's metrics report for that date — between valuations too
— and one investor's metrics NAV is its balance on that date."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Any

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import served

CENT = Decimal("0.01")
START = dt.date(2026, 1, 5)
GAP = 30  # days between steps

STEP = st.one_of(
    st.tuples(
        st.just("call"),
        st.sampled_from(["investment 0", "investment 1", "management_fee", "fund_expenses"]),
        st.decimals("1000.00", "60000.00", places=2),
    ),
    st.tuples(st.just("pay"), st.sampled_from(["0.5", "1"]), st.booleans()),
    st.tuples(
        st.just("realise"),
        st.integers(0, 1),
        st.decimals("0.00", "90000.00", places=2),
        st.sampled_from(["0", "0.3", "1"]),
    ),
    st.tuples(st.just("value"), st.decimals("0.00", "200000.00", places=2)),
    st.tuples(st.just("distribute"), st.decimals("100.00", "40000.00", places=2)),
)


async def _walk(
    settings: Settings, org: NewOrg, steps: list[tuple[Any, ...]], offsets: list[int]
) -> None:
    from prorata.app import create_app

    async with served(create_app(settings)) as client:
        api = FundApi(client, org.api_key)
        fund = await api.fund(management_fee_rate="0")  # carry 20 %: LP and GP parts
        investors = await api.investors_with(fund, ["500000.00", "250000.37", "100000.00"])
        deals = [await api.deal(fund, "D0"), await api.deal(fund, "D1")]
        calls: list[str] = []
        for n, step in enumerate(steps):
            day = START + dt.timedelta(days=GAP * n)
            await _step(api, fund, deals, calls, day, step)
        for offset in offsets:
            await _check(api, fund, investors, START + dt.timedelta(days=offset))


async def _step(
    api: FundApi, fund: str, deals: list[str], calls: list[str], day: dt.date, step: Any
) -> None:
    kind = step[0]
    if kind == "call":
        purpose, _, which = step[1].partition(" ")
        item: dict[str, Any] = {"purpose": purpose, "amount": str(step[2])}
        if which:
            item["deal_id"] = deals[int(which)]
        call = await api.call_and_issue(fund, [item], notice=day.isoformat())
        calls.append(str(call["id"]))
    elif kind == "pay" and calls:
        call = await api.request("GET", f"/funds/{fund}/capital-calls/{calls[-1]}")
        due = dt.date.fromisoformat(call["due_date"])
        for line in call["lines"]:
            owed = Decimal(line["outstanding"])
            amount = (owed * Decimal(step[1])).quantize(CENT, ROUND_DOWN)
            if amount > 0:
                received = due + dt.timedelta(days=20) if step[2] else due
                await api.pay(
                    fund, calls[-1], line["investor_id"], str(amount), received_on=str(received)
                )
    elif kind == "realise":
        deal = deals[step[1]]
        listed = await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations")
        cost = (Decimal(listed["remaining_cost"]) * Decimal(step[3])).quantize(CENT, ROUND_DOWN)
        body = {"date": day.isoformat(), "proceeds": str(step[2]), "cost_realised": str(cost)}
        await api.request(
            "POST", f"/funds/{fund}/deals/{deal}/realisations", json=body, money=True, expect=201
        )
    elif kind == "value":
        await api.request(
            "POST",
            f"/funds/{fund}/valuations",
            json={"as_of": day.isoformat(), "nav": str(step[1])},
            expect=201,
        )
    elif kind == "distribute":
        response = await api.client.post(
            f"/api/v1/funds/{fund}/distributions",
            json={"date": day.isoformat(), "amount": str(step[1]), "kind": "gain"},
            headers={**api.headers, "Idempotency-Key": f"distribution-{fund}-{day}"},
        )
        if response.status_code == 422:  # nothing contributed yet to split by
            assert "contributed" in response.json()["detail"]
        else:
            assert response.status_code == 201, response.text


async def _check(api: FundApi, fund: str, investors: list[str], day: dt.date) -> None:
    balances = [
        Decimal(
            (
                await api.request(
                    "GET", f"/funds/{fund}/investors/{i}/capital-account?to={day.isoformat()}"
                )
            )["ending_balance"]
        )
        for i in investors
    ]
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of={day.isoformat()}")
    assert sum(balances) == Decimal(metrics["nav"]), (day, balances, metrics)
    one = await api.request(
        "GET", f"/funds/{fund}/metrics?as_of={day.isoformat()}&investor_id={investors[0]}"
    )
    assert Decimal(one["nav"]) == balances[0], (day, one)


def test_the_accounts_add_up_to_the_nav_on_every_date(settings: Settings, org: NewOrg) -> None:
    @given(
        steps=st.lists(STEP, min_size=3, max_size=8),
        offsets=st.lists(st.integers(0, GAP * 8 + 60), min_size=2, max_size=4),
    )
    @example(
        steps=[
            ("call", "investment 0", Decimal("40000.00")),
            ("pay", "1", False),
            ("value", Decimal("50000.00")),
            ("realise", 0, Decimal("30000.00"), "0.3"),
            ("distribute", Decimal("20000.00")),
            ("call", "management_fee", Decimal("3000.00")),
            ("pay", "0.5", True),
            ("realise", 0, Decimal("0.00"), "1"),
        ],
        offsets=[75, 100, 125, 200, 260],
    )
    @hypothesis_settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(steps: list[tuple[Any, ...]], offsets: list[int]) -> None:
        asyncio.run(_walk(settings, org, steps, offsets))

    walk()
