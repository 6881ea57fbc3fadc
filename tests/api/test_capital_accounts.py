"""Capital accounts: vector 11, roll-forwards that close, accounts that add up to fund equity,
metrics consistent with them, and an `investor` member who sees only its own."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import add_member
from tests.fund_support import FundApi

LINES = ("contributions", "distributions", "carried_interest", "management_fees", "expenses")


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _account(api: FundApi, fund: str, investor: str, start: str | None, end: str) -> Any:
    period = f"to={end}" + (f"&from={start}" if start else "")
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/capital-account?{period}")


def _closes(account: dict[str, Any]) -> bool:
    """beginning + movements == ending, to the cent."""
    d = {line: Decimal(account[line]) for line in (*LINES, "allocated_gains_losses")}
    moved = (
        d["contributions"]
        - d["distributions"]
        - d["carried_interest"]
        - d["management_fees"]
        - d["expenses"]
        + d["allocated_gains_losses"]
    )
    return Decimal(account["beginning_balance"]) + moved == Decimal(account["ending_balance"])


async def test_vector_11_roll_forward(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000000.00"])
    deal = await api.deal(fund)

    def invest(amount: str) -> list[dict[str, Any]]:
        return [{"purpose": "investment", "amount": amount, "deal_id": deal}]

    await api.call_and_pay(fund, invest("500000.00"), notice="2026-01-05")  # due 01-19
    await api.call_and_pay(fund, invest("75000.00"), notice="2026-04-06")  # due 04-20
    await api.distribute(fund, "8000.00", "2026-05-15", kind="return_of_capital")
    # NAV 587,000 on 2026-06-30 = 500,000 + 75,000 − 8,000 + a gain of 20,000.
    await api.request(
        "POST",
        f"/funds/{fund}/valuations",
        json={"as_of": "2026-06-30", "nav": "587000.00"},
        expect=201,
    )
    account = await _account(api, fund, investor, "2026-04-01", "2026-06-30")
    assert {k: account[k] for k in ("beginning_balance", "contributions", "distributions")} == {
        "beginning_balance": "500000.00",
        "contributions": "75000.00",
        "distributions": "8000.00",
    }
    assert (account["allocated_gains_losses"], account["ending_balance"]) == (
        "20000.00",
        "587000.00",
    )
    assert (account["commitment"], account["contributed"], account["unfunded"]) == (
        "1000000.00",
        "575000.00",
        "425000.00",
    )
    assert (account["from"], account["to"]) == ("2026-04-01", "2026-06-30")
    assert _closes(account)


async def test_fees_and_expenses_are_charged_to_the_account(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    await api.call_and_pay(
        fund,
        [
            {"purpose": "management_fee", "amount": "20.00"},
            {"purpose": "fund_expenses", "amount": "5.00"},
        ],
    )
    account = await _account(api, fund, investor, None, "2026-12-31")
    assert (account["contributions"], account["management_fees"], account["expenses"]) == (
        "25.00",
        "20.00",
        "5.00",
    )
    assert account["ending_balance"] == "0.00"
    assert _closes(account)


def _day(text: str, days: int) -> str:
    return (dt.date.fromisoformat(text) + dt.timedelta(days=days)).isoformat()


async def test_accounts_add_up_to_fund_equity_for_any_period(api: FundApi) -> None:
    """Two deals, calls (with fees), distributions through the waterfall and valuations, on
    awkward amounts: for every period, Σ ending balances == fund equity to the cent (the last
    NAV rolled forward by the capital moved since), every roll-forward closes, consecutive
    periods chain, and the investors' metrics NAVs add up to the fund's."""
    rng = random.Random(7)
    fund = await api.fund(catch_up_share="0.8")
    commitments = [f"{rng.randint(1_000, 90_000)}.{rng.randint(0, 99):02d}" for _ in range(6)]
    investors = await api.investors_with(fund, commitments)
    deals = [await api.deal(fund, "Alpha"), await api.deal(fund, "Beta")]
    flows: list[tuple[str, Decimal]] = []  # (date, change in fund equity)
    navs: dict[str, Decimal] = {}
    for quarter, notice in enumerate(["2026-01-05", "2026-04-06", "2026-07-06", "2026-10-05"]):
        amount = Decimal(rng.randint(1_000_00, 9_000_00)) / 100
        call = await api.call_and_pay(
            fund,
            [
                {"purpose": "investment", "amount": str(amount), "deal_id": deals[quarter % 2]},
                {"purpose": "management_fee", "amount": "333.33"},
            ],
            notice=notice,
        )
        flows.append((call["due_date"], amount))  # the fee is called and spent: net zero
        paid_out = Decimal(rng.randint(100_00, 12_000_00)) / 100
        day = _day(call["due_date"], 40)
        await api.distribute(fund, str(paid_out), day)
        flows.append((day, -paid_out))
        value_day = _day(call["due_date"], 60)
        nav = Decimal(rng.randint(1_000_00, 40_000_00)) / 100
        await api.request(
            "POST",
            f"/funds/{fund}/valuations",
            json={"as_of": value_day, "nav": str(nav)},
            expect=201,
        )
        navs[value_day] = nav

    def equity(end: str) -> Decimal:
        valued = [day for day in navs if day <= end]
        since = max(valued) if valued else ""
        base = navs[since] if valued else Decimal(0)
        return base + sum((a for day, a in flows if since < day <= end), Decimal(0))

    bounds = ["2026-01-01", "2026-02-10", "2026-03-31", "2026-06-30", "2026-08-17", "2026-12-31"]
    for start, end in itertools.pairwise(bounds):
        accounts = [await _account(api, fund, i, start, end) for i in investors]
        assert sum(Decimal(a["ending_balance"]) for a in accounts) == equity(end), (start, end)
        assert all(_closes(a) for a in accounts)
        following = [await _account(api, fund, i, _day(end, 1), "2027-01-31") for i in investors]
        assert [a["ending_balance"] for a in accounts] == [
            f["beginning_balance"] for f in following
        ]
    last = max(navs)
    fund_metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of={last}")
    mine = [
        await api.request("GET", f"/funds/{fund}/metrics?as_of={last}&investor_id={i}")
        for i in investors
    ]
    assert sum(Decimal(m["nav"]) for m in mine) == Decimal(fund_metrics["nav"]) == navs[last]
    for metric, investor in zip(mine, investors, strict=True):
        account = await _account(api, fund, investor, None, last)
        assert metric["nav"] == account["ending_balance"]


async def test_an_empty_period_is_refused(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["10.00"])
    refused = await api.request(
        "GET",
        f"/funds/{fund}/investors/{investor}/capital-account?from=2026-02-01&to=2026-01-31",
        expect=422,
    )
    assert "empty" in refused["detail"]
    stranger = await api.investor("Not in this fund")
    await api.request("GET", f"/funds/{fund}/investors/{stranger}/capital-account", expect=404)


async def test_an_account_before_the_investor_committed_has_no_commitment(api: FundApi) -> None:
    fund = await api.fund()
    late = await api.investor("Second close LP")
    body = {"investor_id": late, "amount": "5000.00", "committed_on": "2026-07-01"}
    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=201)
    path = f"/funds/{fund}/investors/{late}/capital-account"
    before = await api.request("GET", f"{path}?from=2026-01-01&to=2026-06-30")
    assert (before["commitment"], before["unfunded"]) == ("0.00", "0.00")
    after = await api.request("GET", f"{path}?from=2026-01-01&to=2026-07-01")
    assert (after["commitment"], after["unfunded"]) == ("5000.00", "5000.00")


async def test_an_investor_member_sees_its_own_account_and_metrics_only(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fund = await api.fund()
    mine, theirs = await api.investors_with(fund, ["100.00", "300.00"])
    await api.call_and_pay(fund, [{"purpose": "fund_expenses", "amount": "40.00"}])
    key = await add_member(sessions, org, Role.investor, investor_id=uuid.UUID(mine))
    lp = FundApi(client, key)
    own = await lp.request("GET", f"/funds/{fund}/investors/{mine}/capital-account")
    assert own["contributions"] == "10.00"
    await lp.request("GET", f"/funds/{fund}/investors/{theirs}/capital-account", expect=404)
    metrics = await lp.request("GET", f"/funds/{fund}/metrics")
    assert metrics["investor_id"] == mine
    await lp.request("GET", f"/funds/{fund}/metrics?investor_id={theirs}", expect=404)
    await lp.request("GET", f"/funds/{fund}/commitments", expect=403)
    unlinked = FundApi(client, await add_member(sessions, org, Role.investor))
    await unlinked.request("GET", f"/funds/{fund}/metrics", expect=403)
    await unlinked.request("GET", f"/funds/{fund}/investors/{mine}/capital-account", expect=404)


async def test_investor_links_are_for_investor_members(api: FundApi) -> None:
    investor = await api.investor()
    refused = await api.request(
        "POST",
        "/users",
        json={"email": "v@x.example", "role": "viewer", "investor_id": investor},
        expect=422,
    )
    assert "investor role" in refused["detail"]
    user = await api.request(
        "POST",
        "/users",
        json={"email": "l@x.example", "role": "investor", "investor_id": investor},
        expect=201,
    )
    moved = await api.request("PATCH", f"/users/{user['id']}", json={"role": "viewer"})
    assert (moved["role"], moved["investor_id"]) == ("viewer", None)
    unknown = await api.request(
        "PATCH",
        f"/users/{user['id']}",
        json={"role": "investor", "investor_id": "01a21fb0-12bb-7279-925e-02ab0d3dc449"},
        expect=422,
    )
    assert "no investor" in unknown["detail"]
