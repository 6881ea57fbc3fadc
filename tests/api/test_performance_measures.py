"""Performance measures (docs/fund-operations.md, "Performance measures"): net figures state
their basis, gross (deal-level) figures beside them, per deal and for the fund, and the XIRR
route's answer with several roots."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _two_deals(api: FundApi) -> dict[str, Any]:
    """One investor (10,000 committed); one call: 1,000 for deal A, 500 for deal B and a 100
    management fee, paid in full on the due date d0; A sold for 1,500 on d0 + 365 days (a
    non-leap year), its proceeds distributed that day (the sale realises A in full: exited);
    B still held."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["10000.00"])
    deal_a = await api.deal(fund, "A")
    deal_b = await api.deal(fund, "B")
    call = await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "1000.00", "deal_id": deal_a},
            {"purpose": "investment", "amount": "500.00", "deal_id": deal_b},
            {"purpose": "management_fee", "amount": "100.00"},
        ],
    )
    d0 = dt.date.fromisoformat(call["due_date"])
    d1 = d0 + dt.timedelta(days=365)
    assert (d1 - d0).days == 365
    assert d1.year == d0.year + 1
    sale = {"date": d1.isoformat(), "proceeds": "1500.00", "cost_realised": "1000.00"}
    realised = await api.request(
        "POST", f"/funds/{fund}/deals/{deal_a}/realisations", json=sale, money=True, expect=201
    )
    await api.distribute(
        fund, "1500.00", d1.isoformat(), deal_id=deal_a, realisation_id=realised["id"]
    )
    return {"fund": fund, "investor": investor, "a": deal_a, "b": deal_b, "d0": d0, "d1": d1}


async def test_a_deals_gross_figures(api: FundApi) -> None:
    """Deal A: −1,000 on d0, +1,500 a year later, exited (no unrealised value):
    TVPI = DPI = 1,500 / 1,000 = 1.5; IRR: 1,000 × (1 + r) = 1,500 → r = 0.5 exactly."""
    world = await _two_deals(api)
    fund, deal_a, d1 = world["fund"], world["a"], world["d1"]
    found = await api.request("GET", f"/funds/{fund}/deals/{deal_a}/metrics?as_of={d1}")
    assert found["status"] == "exited"
    gross = found["gross"]
    assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
        "1000.00",
        "1500.00",
        "0.00",
    )
    assert (gross["dpi"], gross["rvpi"], gross["tvpi"]) == (
        "1.5000000000",
        "0.0000000000",
        "1.5000000000",
    )
    assert gross["irr"] == "0.5000000000"
    assert gross["irr_roots"] == {"multiple_roots": False, "roots": ["0.5000000000"]}
    # The day before the sale: A is held at its cost (it is realised in full on d1 only):
    # invested 1,000, nothing back, unrealised 1,000, TVPI 1.
    before = world["d1"] - dt.timedelta(days=1)
    early = await api.request("GET", f"/funds/{fund}/deals/{deal_a}/metrics?as_of={before}")
    assert (early["gross"]["invested"], early["gross"]["proceeds"]) == ("1000.00", "0.00")
    assert (early["gross"]["unrealised"], early["gross"]["tvpi"]) == ("1000.00", "1.0000000000")


async def test_an_unsold_deal_is_held_at_cost(api: FundApi) -> None:
    """Deal B: −500 on d0, still open: unrealised = cost = 500, TVPI 1, IRR 0 (−500 then +500)
    — written "0.0000000000", never "0E-10"."""
    world = await _two_deals(api)
    found = await api.request(
        "GET", f"/funds/{world['fund']}/deals/{world['b']}/metrics?as_of={world['d1']}"
    )
    gross = found["gross"]
    assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
        "500.00",
        "0.00",
        "500.00",
    )
    assert (gross["dpi"], gross["rvpi"], gross["tvpi"], gross["irr"]) == (
        "0.0000000000",
        "1.0000000000",
        "1.0000000000",
        "0.0000000000",
    )


async def test_fund_metrics_show_gross_beside_net_and_state_their_basis(api: FundApi) -> None:
    """Gross, across the deals on d1: invested 1,500, proceeds 1,500, unrealised 500 (B at
    cost): DPI 1, RVPI 1/3, TVPI 4/3; IRR: −1,500 on d0, +2,000 a year later → r = 1/3.
    Net: paid-in 1,600 (the fee is paid in too), distributions = the LP part of the 1,500, no
    valuation (NAV 0): lower than gross, as fees and carry come off."""
    world = await _two_deals(api)
    fund, d1 = world["fund"], world["d1"]
    found = await api.request("GET", f"/funds/{fund}/metrics?as_of={d1}")
    gross = found["gross"]
    assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
        "1500.00",
        "1500.00",
        "500.00",
    )
    assert (gross["dpi"], gross["rvpi"], gross["tvpi"], gross["irr"]) == (
        "1.0000000000",
        "0.3333333333",
        "1.3333333333",
        "0.3333333333",
    )
    assert gross["irr_roots"]["multiple_roots"] is False
    assert "cost" in gross["basis"]
    assert found["paid_in"] == "1600.00"
    assert Decimal(found["distributions"]) <= Decimal("1500.00")
    assert Decimal(found["tvpi"]) < Decimal(gross["tvpi"])
    assert found["nav_as_of"] is None
    assert set(found["basis"]) == {"paid_in", "distributions", "nav", "irr", "multiples"}
    assert "cash received" in found["basis"]["paid_in"].lower()
    assert "nav_as_of" in found["basis"]["nav"]
    # One investor's view: its own net figures, no fund-level gross.
    mine = await api.request(
        "GET", f"/funds/{fund}/metrics?as_of={d1}&investor_id={world['investor']}"
    )
    assert mine["gross"] is None
    assert mine["paid_in"] == "1600.00"


async def test_deal_metrics_404(api: FundApi) -> None:
    fund = await api.fund()
    deal = await api.deal(fund)
    other = await api.fund()
    await api.request("GET", f"/funds/{fund}/deals/{uuid.uuid4()}/metrics", expect=404)
    await api.request("GET", f"/funds/{other}/deals/{deal}/metrics", expect=404)
    await api.request("GET", f"/funds/{uuid.uuid4()}/deals/{deal}/metrics", expect=404)
    empty = await api.request("GET", f"/funds/{fund}/deals/{deal}/metrics?as_of=2026-01-01")
    assert empty["gross"]["invested"] == "0.00"
    assert (empty["gross"]["tvpi"], empty["gross"]["irr"]) == (None, None)


async def test_the_xirr_route_shows_both_roots(api: FundApi) -> None:
    """−100, +230, −132 a year apart (non-leap years, so ACT/365 is whole years):
    −100 + 230 v − 132 v² = 0 at 1 + r = 1.1 and 1.2 (v = 1 / (1 + r)); returned: the one
    nearest 0.1, i.e. 0.1 itself."""
    body = {
        "cash_flows": [
            {"date": "2021-01-01", "amount": "-100"},
            {"date": "2022-01-01", "amount": "230"},
            {"date": "2023-01-01", "amount": "-132"},
        ]
    }
    found = await api.request("POST", "/calculations/xirr", json=body)
    assert found == {
        "irr": "0.1000000000",
        "multiple_roots": True,
        "roots": ["0.1000000000", "0.2000000000"],
    }


async def test_the_xirr_route_writes_tiny_and_huge_rates_positionally(api: FundApi) -> None:
    """A break-even (IRR 0) and ten times the money in a day (10^365 − 1 a year: 366 digits)
    are both plain decimal strings, as the schema promises."""
    even = {
        "cash_flows": [
            {"date": "2021-01-01", "amount": "-100"},
            {"date": "2022-01-01", "amount": "100"},
        ]
    }
    assert (await api.request("POST", "/calculations/xirr", json=even))["irr"] == "0.0000000000"
    day = {
        "cash_flows": [
            {"date": "2021-01-01", "amount": "-1"},
            {"date": "2021-01-02", "amount": "10"},
        ]
    }
    irr = (await api.request("POST", "/calculations/xirr", json=day))["irr"]
    whole, decimals = irr.split(".")
    assert len(decimals) == 10
    assert whole.isdigit()
    assert len(whole) == 365
    assert whole.startswith("9999999999")  # 10^365 − 1, to the 50 digits computed
