"""Property (issue 19 item 3): after any history of calls, payments, realisations (gains,
partial exits, write-downs), valuations, distributions and escrow released early, on a fund
holding back carry in escrow (European or American, random terms): every distribution's LP +
GP parts are its amount; on every date Σ over investors of escrow held + carry paid = the carry
earned read straight from the ledger (SQL, not the application); and once the clawback is
booked, it gives back exactly the interim measure of that day and no escrow is left."""

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
GAP = 30  # days between steps

STEP = st.one_of(
    st.tuples(st.just("call"), st.integers(0, 1), st.decimals("1000.00", "60000.00", places=2)),
    st.tuples(st.just("pay"), st.sampled_from(["0.5", "1"])),
    st.tuples(
        st.just("realise"),
        st.integers(0, 1),
        st.decimals("0.00", "90000.00", places=2),  # 0: a write-down
        st.sampled_from(["0.3", "1"]),  # a partial or a full exit
    ),
    st.tuples(st.just("value"), st.decimals("0.00", "200000.00", places=2)),
    st.tuples(
        st.just("distribute"), st.integers(0, 1), st.decimals("100.00", "90000.00", places=2)
    ),
    st.tuples(st.just("release")),
)
TERMS = st.fixed_dictionaries(
    {
        "waterfall_style": st.sampled_from(["european", "american"]),
        "carry_holdback": st.sampled_from(["0.1", "0.333", "0.5", "1"]),
        "clawback_tax_rate": st.sampled_from(["0", "0.3"]),
        "preferred_return_rate": st.sampled_from(["0", "0.08"]),
        "catch_up_share": st.sampled_from(["0", "1"]),
    }
)

# Carry earned, from the ledger: the GP parts of the distributions (paid and escrowed).
_EARNED = """
SELECT coalesce(sum(amount), 0) FROM capital_ledger
WHERE fund_id = %s AND source_type = 'distribution'
  AND kind IN ('carried_interest', 'carry_escrow') AND effective_on <= %s
"""


async def _walk(
    settings: Settings,
    org: NewOrg,
    database: TestDatabase,
    terms: dict[str, str],
    steps: list[tuple[Any, ...]],
) -> None:
    from prorata.app import create_app

    async with served(create_app(settings)) as client:
        api = FundApi(client, org.api_key)
        fund = await api.fund(management_fee_rate="0", **terms)
        await api.investors_with(fund, ["500000.00", "250000.37", "100000.00"])
        deals = [await api.deal(fund, "D0"), await api.deal(fund, "D1")]
        calls: list[str] = []
        days = [START + dt.timedelta(days=GAP * n) for n in range(len(steps))]
        for day, step in zip(days, steps, strict=True):
            await _step(api, fund, deals, calls, day, step)
        for day in days:
            await _check(api, fund, database, day)
        await _wind_down(api, fund, database, days[-1] + dt.timedelta(days=1))


async def _step(
    api: FundApi, fund: str, deals: list[str], calls: list[str], day: dt.date, step: Any
) -> None:
    kind = step[0]
    if kind == "call":
        item = {"purpose": "investment", "amount": str(step[2]), "deal_id": deals[step[1]]}
        call = await api.call_and_issue(fund, [item], notice=day.isoformat())
        calls.append(str(call["id"]))
    elif kind == "pay" and calls:
        call = await api.request("GET", f"/funds/{fund}/capital-calls/{calls[-1]}")
        for line in call["lines"]:
            amount = (Decimal(line["outstanding"]) * Decimal(step[1])).quantize(CENT, ROUND_DOWN)
            if amount > 0:
                await api.pay(
                    fund, calls[-1], line["investor_id"], str(amount), received_on=call["due_date"]
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
        body = {"as_of": day.isoformat(), "nav": str(step[1])}
        await api.request("POST", f"/funds/{fund}/valuations", json=body, expect=201)
    elif kind == "distribute":
        body = {"date": day.isoformat(), "amount": str(step[2]), "kind": "gain"}
        body["deal_id"] = deals[step[1]]
        response = await api.client.post(
            f"/api/v1/funds/{fund}/distributions",
            json=body,
            headers={**api.headers, "Idempotency-Key": f"distribution-{fund}-{day}"},
        )
        if response.status_code == 422:  # nothing contributed yet (to the deal) to split by
            assert "contributed" in response.json()["detail"]
        else:
            assert response.status_code == 201, response.text
    elif kind == "release":
        await _release(api, fund, day)


async def _release(api: FundApi, fund: str, day: dt.date) -> None:
    """All the escrow the measure allows, if any: more is refused (409)."""
    position = await api.request("GET", f"/funds/{fund}/clawback?as_of={day.isoformat()}")
    releasable = Decimal(position["escrow_releasable"])
    url = f"/funds/{fund}/escrow/releases"
    over = {"date": day.isoformat(), "amount": str(releasable + CENT)}
    await api.request("POST", url, json=over, money=True, expect=409)
    if releasable > 0:
        after = await api.request(
            "POST", url, json={"date": day.isoformat()}, money=True, expect=201
        )
        assert Decimal(after["escrow_releasable"]) == 0
        assert Decimal(after["carry_escrowed"]) == Decimal(position["carry_escrowed"]) - releasable


def _ledger_earned(database: TestDatabase, fund: str, day: dt.date) -> Decimal:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(_EARNED, (fund, day)).fetchone()
    assert row is not None
    return Decimal(row[0])


async def _check(api: FundApi, fund: str, database: TestDatabase, day: dt.date) -> None:
    page = await api.request("GET", f"/funds/{fund}/distributions?limit=500")
    made = [d for d in page["items"] if d["date"] <= day.isoformat()]
    for distribution in made:
        assert Decimal(distribution["lp_amount"]) + Decimal(distribution["gp_amount"]) == Decimal(
            distribution["amount"]
        ), distribution
    earned = _ledger_earned(database, fund, day)
    assert earned == sum((Decimal(d["gp_amount"]) for d in made), Decimal(0))
    position = await api.request("GET", f"/funds/{fund}/clawback?as_of={day.isoformat()}")
    held = sum((Decimal(line["escrow_held"]) for line in position["lines"]), Decimal(0))
    paid = sum((Decimal(line["carry_paid"]) for line in position["lines"]), Decimal(0))
    assert held + paid == earned, (day, position)
    assert Decimal(position["carry_earned"]) == earned


async def _wind_down(api: FundApi, fund: str, database: TestDatabase, day: dt.date) -> None:
    position = await api.request("GET", f"/funds/{fund}/clawback?as_of={day.isoformat()}")
    body = {"as_of": day.isoformat()}
    page = await api.request("GET", f"/funds/{fund}/distributions?limit=500")
    if not page["items"]:  # nothing distributed: nothing to settle
        refused = await api.request(
            "POST", f"/funds/{fund}/clawback", json=body, money=True, expect=422
        )
        assert "no distribution" in refused["detail"]
        return
    booked = await api.request("POST", f"/funds/{fund}/clawback", json=body, money=True, expect=201)
    record = booked["booked"]
    assert record["owed"] == position["clawback"], (position, record)
    assert Decimal(record["from_escrow"]) + Decimal(record["escrow_to_gp"]) == Decimal(
        position["carry_escrowed"]
    )
    assert booked["carry_escrowed"] == "0.00"
    assert booked["clawback"] == "0.00"
    earned = _ledger_earned(database, fund, day)
    held = sum((Decimal(line["escrow_held"]) for line in booked["lines"]), Decimal(0))
    paid = sum((Decimal(line["carry_paid"]) for line in booked["lines"]), Decimal(0))
    # Escrow held (none) + carry paid + given back = carry earned.
    assert held + paid + Decimal(booked["given_back"]) == earned


def test_escrow_and_carry_paid_add_up_to_carry_earned_and_the_clawback_to_the_measure(
    settings: Settings, org: NewOrg, database: TestDatabase
) -> None:
    @given(terms=TERMS, steps=st.lists(STEP, min_size=3, max_size=8))
    @example(  # docs/fund-operations.md: a gain on D0, D1 written off, then the clawback
        terms={
            "waterfall_style": "american",
            "carry_holdback": "0.25",
            "clawback_tax_rate": "0.3",
            "preferred_return_rate": "0.08",
            "catch_up_share": "0",
        },
        steps=[
            ("call", 0, Decimal("10000.00")),
            ("pay", "1"),
            ("call", 1, Decimal("10000.00")),
            ("pay", "1"),
            ("realise", 0, Decimal("30000.00"), "1"),
            ("distribute", 0, Decimal("30000.00")),
            ("release",),
            ("realise", 1, Decimal("0.00"), "1"),
        ],
    )
    @hypothesis_settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(terms: dict[str, str], steps: list[tuple[Any, ...]]) -> None:
        asyncio.run(_walk(settings, org, database, terms, steps))

    walk()
