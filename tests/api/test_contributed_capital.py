"""One meaning of contributed capital (issue 18, item 1): the cash received for a call line,
dated on the call's due date when paid by it, on the received date when late. Called but
unpaid capital is a receivable: no share of distributions, no preferred return, no capital.

Every expected figure is computed by hand in the test (the source: the amounts the test puts
in; the preferred return over exactly one year of 365 days at 8 %, act/365: 200.00 × 0.08)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _a_year_after(day: str) -> str:
    date = dt.date.fromisoformat(day)
    return date.replace(year=date.year + 1).isoformat()


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


async def _account(api: FundApi, fund: str, investor: str, to: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/capital-account?to={to}")


async def _one_investor_called(api: FundApi) -> tuple[str, str, Any]:
    """One investor of 1,000.00 (8 % pref, full catch-up, 20 % carry: the fund's defaults);
    a call of 200.00 for a deal, issued and not paid."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    call = await api.call_and_issue(
        fund, [{"purpose": "investment", "amount": "200.00", "deal_id": deal}]
    )
    return fund, investor, call


@pytest.mark.parametrize("early", [True, False])
async def test_the_preferred_return_runs_from_when_the_capital_counts(
    api: FundApi, early: bool
) -> None:
    """Paid 6 days before the due date, the capital counts from the due date; paid a month
    late, from the day received. A distribution of 220.00 exactly one year after that day:
    return of capital 200.00, pref 200.00 × 0.08 = 16.00, then the catch-up to 20 % of the
    profit: GP x = 0.2 × (16.00 + x) → x = 4.00. LP 216.00, GP 4.00. (Had the pref run from
    the other date, it would not be 16.00.)"""
    fund, investor, call = await _one_investor_called(api)
    due = dt.date.fromisoformat(call["due_date"])
    received = due - dt.timedelta(days=6) if early else due + dt.timedelta(days=30)
    await api.pay(fund, call["id"], investor, "200.00", received_on=received.isoformat())
    counts_from = call["due_date"] if early else received.isoformat()

    before = await _account(api, fund, investor, _day_before(counts_from))
    assert (before["called"], before["contributed"], before["contributions"]) == (
        "200.00" if not early else "0.00",
        "0.00",
        "0.00",
    )
    from_then = await _account(api, fund, investor, counts_from)
    assert (from_then["contributed"], from_then["contributions"]) == ("200.00", "200.00")

    made = await api.distribute(fund, "220.00", _a_year_after(counts_from))
    assert (made["lp_amount"], made["gp_amount"]) == ("216.00", "4.00")
    assert made["tiers"]["preferred_return"] == {"lp": "16.00", "gp": "0.00"}
    assert made["tiers"]["catch_up"] == {"lp": "0.00", "gp": "4.00"}


async def test_unpaid_capital_takes_no_share_until_it_is_paid(api: FundApi) -> None:
    """The docs' example: two investors of 1,000.00, a call of 400.00 (200.00 each). A pays on
    time, B a month after the due date. 100.00 distributed between the two dates goes all to A
    (B had contributed nothing); 100.00 after B paid is split 200 : 200 = 50.00 / 50.00. Both
    are below A's capital: all return of capital, no carry."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    call = await api.call_and_issue(fund, [{"purpose": "fund_expenses", "amount": "400.00"}])
    due = dt.date.fromisoformat(call["due_date"])
    await api.pay(fund, call["id"], a, "200.00", received_on=call["due_date"])
    late = (due + dt.timedelta(days=30)).isoformat()

    rows = await api.commitments(fund)
    assert [(rows[i]["called"], rows[i]["contributed"], rows[i]["unfunded"]) for i in (a, b)] == [
        ("200.00", "200.00", "800.00"),
        ("200.00", "0.00", "800.00"),  # owed: not available to call again, not capital either
    ]
    between = await api.distribute(
        fund, "100.00", (due + dt.timedelta(days=10)).isoformat(), kind="return_of_capital"
    )
    assert {line["investor_id"]: line["amount"] for line in between["lines"]} == {a: "100.00"}

    await api.pay(fund, call["id"], b, "200.00", received_on=late)
    after = await api.distribute(
        fund, "100.00", (due + dt.timedelta(days=40)).isoformat(), kind="return_of_capital"
    )
    assert {line["investor_id"]: line["amount"] for line in after["lines"]} == {
        a: "50.00",
        b: "50.00",
    }
    assert after["gp_amount"] == "0.00"
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of={late}")
    assert (metrics["called"], metrics["paid_in"]) == ("400.00", "400.00")


async def test_a_partial_payment_is_booked_over_the_lines_purposes(api: FundApi) -> None:
    """A line of 100.00 for a deal and 20.00 of management fee; 60.00 received is booked in
    proportion to what remains of each, 100 : 20 → 50.00 and 10.00: the account shows 60.00
    contributed and 10.00 of fee charged (balance 50.00). The remaining 60.00 → 50.00 and
    10.00 again: 120.00, 20.00, balance 100.00."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    call = await api.call_and_issue(
        fund,
        [
            {"purpose": "investment", "amount": "100.00", "deal_id": deal},
            {"purpose": "management_fee", "amount": "20.00"},
        ],
    )
    paid_on = call["due_date"]
    await api.pay(fund, call["id"], investor, "60.00", received_on=paid_on)
    half = await _account(api, fund, investor, paid_on)
    assert (half["contributions"], half["management_fees"], half["ending_balance"]) == (
        "60.00",
        "10.00",
        "50.00",
    )
    assert (half["called"], half["unfunded"]) == ("120.00", "880.00")
    await api.pay(fund, call["id"], investor, "60.00", received_on=paid_on)
    full = await _account(api, fund, investor, paid_on)
    assert (full["contributions"], full["management_fees"], full["ending_balance"]) == (
        "120.00",
        "20.00",
        "100.00",
    )


async def test_a_bounced_payment_stops_counting_on_the_day_it_bounced(api: FundApi) -> None:
    """A pays 300.00 on the due date, the wire bounces 20 days later. Up to the day before,
    A had contributed 300.00; from that day, nothing — so a distribution after it goes all to B
    (who paid its 300.00)."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    call = await api.call_and_issue(fund, [{"purpose": "fund_expenses", "amount": "600.00"}])
    due = dt.date.fromisoformat(call["due_date"])
    paid = await api.pay(fund, call["id"], a, "300.00", received_on=call["due_date"])
    await api.pay(fund, call["id"], b, "300.00", received_on=call["due_date"])
    bounced = (due + dt.timedelta(days=20)).isoformat()
    await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call['id']}/payments/{paid['payment']['id']}/reverse",
        json={"reversed_on": bounced, "reason": "returned unpaid (R01)"},
        money=True,
    )
    assert (await _account(api, fund, a, _day_before(bounced)))["contributed"] == "300.00"
    assert (await _account(api, fund, a, bounced))["contributed"] == "0.00"
    made = await api.distribute(
        fund, "90.00", (due + dt.timedelta(days=30)).isoformat(), kind="return_of_capital"
    )
    assert {line["investor_id"]: line["amount"] for line in made["lines"]} == {b: "90.00"}


async def test_a_distribution_after_a_default_follows_the_cash_received(api: FundApi) -> None:
    """The review's LP07, on the one basis: no pref or carry, 10 % default interest. A and B
    of 100,000.00; call 1 of 20,000.00 (10,000.00 each, due 2026-03-16) paid by both; call 2 of
    20,000.00 (due 2026-04-15) paid by B on time, never by A, declared in default on
    2026-05-01. 3,000.00 distributed on 2026-06-14 is split by cash received, 10,000 : 20,000
    → A 1,000.00, B 2,000.00 (on called capital it would have been 1,500.00 each). A's
    1,000.00 is set off against what it owes: first the interest, 10,000.00 × 0.10 × 60 / 365
    (04-15 → 06-14) = 164.38, then 835.62 of its line — which from that day is contributed
    capital: 10,000.00 + 835.62 = 10,835.62."""
    fund = await api.fund(
        default_interest_rate="0.10", preferred_return_rate="0", carry_share="0", catch_up_share="0"
    )
    a, b = await api.investors_with(fund, ["100000.00", "100000.00"])
    expenses = [{"purpose": "fund_expenses", "amount": "20000.00"}]
    await api.call_and_pay(fund, expenses, notice="2026-03-02")
    second = await api.call_and_issue(fund, expenses, notice="2026-04-01")
    assert second["due_date"] == "2026-04-15"
    await api.pay(fund, second["id"], b, "10000.00", received_on="2026-04-15")
    await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{second['id']}/lines/{a}/default",
        json={"declared_on": "2026-05-01"},
        money=True,
    )
    made = await api.distribute(fund, "3000.00", "2026-06-14", kind="return_of_capital")
    lines = {x["investor_id"]: x for x in made["lines"]}
    assert (lines[a]["amount"], lines[a]["set_off"]) == ("1000.00", "1000.00")
    assert (lines[b]["amount"], lines[b]["set_off"]) == ("2000.00", "0.00")
    view = await api.request("GET", f"/funds/{fund}/capital-calls/{second['id']}?as_of=2026-06-14")
    line = next(x for x in view["lines"] if x["investor_id"] == a)
    assert (line["default_interest_paid"], line["paid"]) == ("164.38", "835.62")
    account = await _account(api, fund, a, "2026-06-14")
    assert (account["called"], account["contributed"]) == ("20000.00", "10835.62")
    assert account["distributions"] == "1000.00"
