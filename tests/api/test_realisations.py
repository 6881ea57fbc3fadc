"""Issue 19 items 1 and 2: a deal's realised gain or loss at exit (or write-down) is booked to
the capital accounts on its date, and the fund's NAV on every date is the latest valuation
rolled forward, so Σ capital accounts == the metrics' NAV and a distribution counts once.

Every expected figure is computed by hand in the comments next to it."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests.api.test_console_funds import cells
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, sign_in

NO_FEES_NO_CARRY = {"management_fee_rate": "0", "carry_share": "0"}


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _realise(
    api: FundApi, fund: str, deal: str, date: str, proceeds: str, cost: str, expect: int = 201
) -> Any:
    body = {"date": date, "proceeds": proceeds, "cost_realised": cost}
    return await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/realisations", json=body, money=True, expect=expect
    )


async def _balance(api: FundApi, fund: str, investor: str, day: str) -> Decimal:
    account = await api.request(
        "GET", f"/funds/{fund}/investors/{investor}/capital-account?to={day}"
    )
    return Decimal(account["ending_balance"])


async def _account(api: FundApi, fund: str, investor: str, day: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/capital-account?to={day}")


async def _metrics(api: FundApi, fund: str, day: str, investor: str | None = None) -> Any:
    query = f"?as_of={day}" + (f"&investor_id={investor}" if investor else "")
    return await api.request("GET", f"/funds/{fund}/metrics{query}")


async def test_a_partial_and_a_full_exit_flow_to_the_capital_accounts(api: FundApi) -> None:
    fund = await api.fund(**NO_FEES_NO_CARRY)
    a, b = await api.investors_with(fund, ["600000.00", "400000.00"])
    deal = await api.deal(fund)
    # One investment call of 100,000 for the deal, split by commitment 60:40 and paid on its
    # due date: A contributed 60,000, B 40,000 to the deal; its cost is 100,000.
    call = await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100000.00", "deal_id": deal}]
    )
    assert {line["investor_id"]: line["total"] for line in call["lines"]} == {
        a: "60000.00",
        b: "40000.00",
    }
    # Partial exit on 2026-06-30: proceeds 90,000 for 40,000 of cost → gain 50,000,
    # A 60 % = 30,000, B 40 % = 20,000.
    partial = await _realise(api, fund, deal, "2026-06-30", "90000.00", "40000.00")
    assert (partial["gain"], partial["date"]) == ("50000.00", "2026-06-30")
    listed = await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations")
    assert (listed["cost"], listed["realised_cost"], listed["remaining_cost"]) == (
        "100000.00",
        "40000.00",
        "60000.00",
    )
    # The day before, nothing realised: A 60,000; on the day: 60,000 + 30,000 = 90,000.
    assert await _balance(api, fund, a, "2026-06-29") == Decimal("60000.00")
    account_a = await _account(api, fund, a, "2026-06-30")
    assert (account_a["allocated_gains_losses"], account_a["ending_balance"]) == (
        "30000.00",
        "90000.00",
    )
    assert await _balance(api, fund, b, "2026-06-30") == Decimal("60000.00")  # 40,000 + 20,000
    # No valuation ever: the NAV is 0 rolled forward: 100,000 contributed + 50,000 realised.
    mid = await _metrics(api, fund, "2026-07-15")
    assert (mid["nav"], mid["nav_as_of"]) == ("150000.00", None)
    assert "realised gains 50000.00" in mid["nav_basis"]
    # More than the cost not yet realised (60,000) is refused, naming the figures.
    refused = await _realise(api, fund, deal, "2026-09-30", "1.00", "60000.01", expect=422)
    assert "60000.00" in refused["detail"]
    assert "100000.00" in refused["detail"]
    # Full exit on 2026-09-30: proceeds 30,000 for the remaining 60,000 → loss −30,000,
    # A −18,000, B −12,000. A: 60,000 + 30,000 − 18,000 = 72,000; B: 40,000 + 20,000 − 12,000.
    full = await _realise(api, fund, deal, "2026-09-30", "30000.00", "60000.00")
    assert full["gain"] == "-30000.00"
    assert await _balance(api, fund, a, "2026-09-30") == Decimal("72000.00")
    assert await _balance(api, fund, b, "2026-09-30") == Decimal("48000.00")
    listed = await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations")
    assert (listed["remaining_cost"], listed["proceeds"], listed["realised_gain"]) == (
        "0.00",
        "120000.00",
        "20000.00",
    )
    assert [r["gain"] for r in listed["items"]] == ["50000.00", "-30000.00"]
    # Metrics: NAV 100,000 + 50,000 − 30,000 = 120,000 = 72,000 + 48,000.
    end = await _metrics(api, fund, "2026-10-31")
    assert end["nav"] == "120000.00"
    assert (await _metrics(api, fund, "2026-10-31", a))["nav"] == "72000.00"
    # A valuation on 2026-12-31 of 130,000: the unrealised allocation is 130,000 − 120,000 =
    # 10,000 (the realised gains are in the accounts already), 6,000 to A: 78,000.
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-12-31", "nav": "130000.00"},
        expect=201,
    )
    assert await _balance(api, fund, a, "2026-12-31") == Decimal("78000.00")
    assert await _balance(api, fund, b, "2026-12-31") == Decimal("52000.00")
    assert (await _metrics(api, fund, "2026-12-31"))["nav"] == "130000.00"


async def test_a_write_off_is_a_realisation_with_no_proceeds(api: FundApi) -> None:
    fund = await api.fund(**NO_FEES_NO_CARRY)
    [a] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    # Nothing booked for the deal: its cost is its set invested_amount, 250.00.
    await api.request("PATCH", f"/funds/{fund}/deals/{deal}", json={"invested_amount": "250.00"})
    await api.call_and_pay(fund, [{"purpose": "fund_expenses", "amount": "400.00"}])
    written = await _realise(api, fund, deal, "2026-08-31", "0.00", "250.00")
    assert written["gain"] == "-250.00"
    # A's account: 400 contributed − 400 expenses − 250 loss = −250.
    account = await _account(api, fund, a, "2026-08-31")
    assert (account["allocated_gains_losses"], account["ending_balance"]) == (
        "-250.00",
        "-250.00",
    )
    assert (await _metrics(api, fund, "2026-08-31"))["nav"] == "-250.00"


async def test_a_distribution_after_a_valuation_counts_once(api: FundApi) -> None:
    """The issue's case, with figures of our own: 20,000,000 paid in for two deals (X at
    12,000,000, Y at 8,000,000); NAV 24,000,000 on 2026-12-31 (Y marked up by 4,000,000); X
    sold for 30,000,000 on 2027-03-31 and all of it distributed that day. On 2027-04-30:
    NAV = 24,000,000 + realised (30,000,000 − 12,000,000 = 18,000,000) − 30,000,000 =
    12,000,000 (Y's value), TVPI = (30,000,000 + 12,000,000) / 20,000,000 = 2.1 (the old
    answer took 24,000,000 unchanged: (30 + 24) / 20 = 2.7), DPI 1.5, RVPI 0.6."""
    fund = await api.fund(**NO_FEES_NO_CARRY)
    a, b = await api.investors_with(fund, ["30000000.00", "20000000.00"])
    x = await api.deal(fund, "X")
    y = await api.deal(fund, "Y")
    await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "12000000.00", "deal_id": x},
            {"purpose": "investment", "amount": "8000000.00", "deal_id": y},
        ],
    )
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-12-31", "nav": "24000000.00"},
        expect=201,
    )
    await _realise(api, fund, x, "2027-03-31", "30000000.00", "12000000.00")
    await api.distribute(fund, "30000000.00", "2027-03-31")
    metrics = await _metrics(api, fund, "2027-04-30")
    assert (metrics["nav"], metrics["nav_as_of"]) == ("12000000.00", "2026-12-31")
    assert (metrics["paid_in"], metrics["distributions"]) == ("20000000.00", "30000000.00")
    assert (Decimal(metrics["tvpi"]), Decimal(metrics["dpi"]), Decimal(metrics["rvpi"])) == (
        Decimal("2.1"),
        Decimal("1.5"),
        Decimal("0.6"),
    )
    assert "24000000.00" in metrics["nav_basis"]
    assert "30000000.00" in metrics["nav_basis"]
    # On the valuation date itself, before the exit: the valuation, unchanged.
    assert (await _metrics(api, fund, "2027-03-30"))["nav"] == "24000000.00"
    # Capital accounts on 2027-04-30, 60:40 throughout (commitments, contributions to X and
    # to the fund): A = 12,000,000 + 2,400,000 unrealised + 10,800,000 realised − 18,000,000
    # distributed = 7,200,000; B = 8,000,000 + 1,600,000 + 7,200,000 − 12,000,000 = 4,800,000.
    assert await _balance(api, fund, a, "2027-04-30") == Decimal("7200000.00")
    assert await _balance(api, fund, b, "2027-04-30") == Decimal("4800000.00")
    one = await _metrics(api, fund, "2027-04-30", a)
    assert one["nav"] == "7200000.00"
    # A: paid in 12,000,000, received 18,000,000, NAV 7,200,000: TVPI 25.2 / 12 = 2.1.
    assert Decimal(one["tvpi"]) == Decimal("2.1")
    statement = await api.request(
        "GET", f"/funds/{fund}/investors/{a}/capital-account/statement?as_of=2027-04-30"
    )
    assert statement["nav"] == "7200000.00"


async def test_realisations_need_an_idempotency_key_and_a_deal_of_the_fund(
    api: FundApi, client: AsyncClient
) -> None:
    fund = await api.fund()
    deal = await api.deal(fund)
    body = {"date": "2026-06-30", "proceeds": "0.00", "cost_realised": "0.00"}
    no_key = await client.post(
        f"/api/v1/funds/{fund}/deals/{deal}/realisations", json=body, headers=api.headers
    )
    assert no_key.status_code == 400, no_key.text
    other = await api.fund()
    await api.request(
        "POST", f"/funds/{other}/deals/{deal}/realisations", json=body, money=True, expect=404
    )


async def test_the_fund_page_shows_each_deal_realised_and_the_nav_rolled_forward(
    api: FundApi, client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The deal row: cost 100,000, 40,000 of it realised for a gain of 50,000; the chart's
    month-end NAV (months with a flow or a valuation): 2026-03 (call due 2026-03-16) 100,000
    (no valuation: from zero), 2026-07 the valuation of 2026-07-31, 140,000, and 2026-08
    140,000 − 20,000 distributed (no carry) = 120,000 (the old chart kept 140,000)."""
    fund = await api.fund(**NO_FEES_NO_CARRY)
    await api.investors_with(fund, ["600000.00", "400000.00"])
    deal = await api.deal(fund, "Acme exit")
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100000.00", "deal_id": deal}]
    )
    await _realise(api, fund, deal, "2026-06-30", "90000.00", "40000.00")
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-07-31", "nav": "140000.00"},
        expect=201,
    )
    await api.distribute(fund, "20000.00", "2026-08-14")
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, "owner@a.example")
    page = await client.get(f"/funds/{fund}")
    assert page.status_code == 200
    table = cells(page.text)
    row = table.index("Acme exit")
    # Deal, status, allocated, cost, cost realised, realised gain.
    assert table[row + 3 : row + 6] == ["100,000.00", "40,000.00", "50,000.00"]
    data = re.search(r'id="capital-data">(.*?)</script>', page.text, re.S)
    assert data is not None
    navs = {p["month"]: p["nav"] for p in json.loads(data.group(1))["points"]}
    assert navs == {
        "2026-03": "100000.00",
        "2026-07": "140000.00",
        "2026-08": "120000.00",
    }


async def test_a_realisation_realises_only_cost_contributed_by_its_date(api: FundApi) -> None:
    """Capital called later was not invested yet: a realisation on a date realises at most the
    cost contributed by then (less what was realised by then), and an earlier realisation must
    leave every later one's cost covered on its own date."""
    fund = await api.fund(**NO_FEES_NO_CARRY)
    await api.investors_with(fund, ["600000.00", "400000.00"])
    deal = await api.deal(fund)
    investment = [{"purpose": "investment", "amount": "100000.00", "deal_id": deal}]
    first = await api.call_and_pay(fund, investment, notice="2026-03-02")
    second = await api.call_and_pay(fund, investment, notice="2026-09-01")
    before = (dt.date.fromisoformat(first["due_date"]) - dt.timedelta(days=1)).isoformat()
    refused = await _realise(api, fund, deal, before, "10.00", "1.00", expect=422)
    assert refused["detail"] == (
        f"cost_realised 1.00 is more than the deal's cost not yet realised on {before}: 0.00 "
        "(cost 0.00 contributed by then, already realised 0.00)"
    )
    # Between the two calls' due dates the cost is 100,000: 100,000.01 is refused.
    between = "2026-06-30"
    assert first["due_date"] < between < second["due_date"]
    await _realise(api, fund, deal, between, "1.00", "100000.01", expect=422)
    # After both, 200,000: 150,000 of it realised at year end …
    await _realise(api, fund, deal, "2026-12-31", "180000.00", "150000.00")
    # … so an exit in June of 60,000 (within June's 100,000) would leave 200,000 − 210,000
    # on 2026-12-31: refused, naming that date; 50,000 fits.
    late = await _realise(api, fund, deal, between, "70000.00", "60000.00", expect=422)
    assert "not yet realised on 2026-12-31: 50000.00" in late["detail"]
    await _realise(api, fund, deal, between, "60000.00", "50000.00")
