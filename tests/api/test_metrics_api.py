"""Valuations and fund metrics from the ledger: vector 8 and a call-then-value flow."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def test_concurrent_valuations_of_one_date_are_409_not_500(
    api: FundApi, client: AsyncClient
) -> None:
    fund = await api.fund()
    body = {"as_of": "2026-06-30", "nav": "100.00"}
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/funds/{fund}/valuations", json=body, headers=api.headers)
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    listed = await api.request("GET", f"/funds/{fund}/valuations")
    assert len(listed["items"]) == 1


async def test_vector_8_multiples(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    call = await api.issue(
        fund, (await api.draft(fund, [{"purpose": "management_fee", "amount": "100.00"}]))["id"]
    )
    await api.pay(fund, call["id"], investor, "100.00")  # received 2026-03-20
    await api.distribute(fund, "50.00", "2026-06-30")  # below capital: all to the LP
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-12-31", "nav": "150.00"},
        expect=201,
    )
    result = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31")
    assert (result["paid_in"], result["distributions"], result["nav"]) == (
        "100.00",
        "50.00",
        "150.00",
    )
    assert (Decimal(result["dpi"]), Decimal(result["rvpi"]), Decimal(result["tvpi"])) == (
        Decimal("0.5"),
        Decimal("1.5"),
        Decimal("2"),
    )
    assert Decimal(result["irr"]) > 1  # 100 out in March, 200 back by December
    one = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31&investor_id={investor}")
    assert (one["paid_in"], one["nav"], one["tvpi"]) == ("100.00", "150.00", result["tvpi"])


async def test_metrics_follow_as_of_and_split_nav_by_paid_in(api: FundApi) -> None:
    fund = await api.fund()
    a, b, c = await api.investors_with(fund, ["100.00", "200.00", "300.00"])
    call = await api.issue(
        fund, (await api.draft(fund, [{"purpose": "management_fee", "amount": "60.00"}]))["id"]
    )
    for line in call["lines"]:
        await api.pay(fund, call["id"], line["investor_id"], line["total"])
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-06-30", "nav": "100.00"},
        expect=201,
    )
    await api.request(
        "POST", f"/funds/{fund}/valuations", json={"as_of": "2026-06-30", "nav": "1.00"}, expect=409
    )
    early = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-03-01")
    assert (early["paid_in"], early["nav"], early["dpi"], early["irr"]) == (
        "0.00",
        "0.00",
        None,
        None,
    )
    # Committed is known at once; called counts from the call's notice date (when it booked).
    assert (early["committed"], early["called"]) == ("600.00", "0.00")
    later = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-07-01")
    assert (later["committed"], later["called"], later["paid_in"]) == ("600.00", "60.00", "60.00")
    mine = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-07-01&investor_id={c}")
    assert (mine["committed"], mine["called"]) == ("300.00", "30.00")
    navs = [
        Decimal(
            (await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-07-01&investor_id={i}"))[
                "nav"
            ]
        )
        for i in (a, b, c)
    ]
    assert sum(navs) == Decimal("100.00")
    assert navs == [Decimal("16.67"), Decimal("33.33"), Decimal("50.00")]
    await api.request("GET", f"/funds/{fund}/metrics?investor_id={uuid.uuid4()}", expect=404)


async def test_a_fast_gain_has_a_large_irr_not_an_error(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    call = await api.issue(
        fund, (await api.draft(fund, [{"purpose": "management_fee", "amount": "100.00"}]))["id"]
    )
    await api.pay(fund, call["id"], investor, "100.00")  # received 2026-03-20
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-03-21", "nav": "150.00"},
        expect=201,
    )
    # 100 became 150 in one day: 1.5^365 − 1 a year, a rate with 65 digits before the point.
    result = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-03-21")
    irr = Decimal(result["irr"])
    assert irr.as_tuple().exponent == -10
    assert abs(irr / (Decimal("1.5") ** 365 - 1) - 1) < Decimal("1E-40")
    assert result["tvpi"] == "1.5000000000"
