"""Management fees: vector 4 (2 % of commitments in the investment period, 1.5 % of invested
cost after, quarterly), a period straddling the end of the investment period, the split, and
the basis weighted by days (a commitment or an investment inside a period counts from its day)
under the fund's fee day count. The vector's "a quarter is a quarter of the annual fee" is
30/360, the fee's default day count; other funds count actual days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _fund(api: FundApi, day_count: str = "30/360") -> tuple[str, list[str]]:
    """100,000,000 committed; investment period to 2027-12-31; 60,000,000 invested in two deals
    (and a third, written off, that no longer counts)."""
    fund = await api.fund(
        management_fee_rate="0.02",
        post_investment_period_fee_rate="0.015",
        investment_period_end="2027-12-31",
        fee_day_count=day_count,
    )
    investors = await api.investors_with(fund, ["50000000.00", "30000000.00", "20000000.00"])
    for amount, status in (
        ("35000000.00", "open"),
        ("25000000.00", "closed"),
        ("9.00", "written_off"),
    ):
        deal = await api.deal(fund)
        await api.request(
            "PATCH",
            f"/funds/{fund}/deals/{deal}",
            json={"invested_amount": amount, "invested_on": "2026-06-01", "status": status},
        )
    return fund, investors


async def _fee(api: FundApi, fund: str, start: str, end: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/management-fees?from={start}&to={end}")


async def test_vector_4_in_the_investment_period(api: FundApi) -> None:
    fund, investors = await _fund(api)
    fee = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert fee["amount"] == "500000.00"
    [part] = fee["parts"]
    assert (part["basis"], part["basis_amount"], part["rate"], part["fraction"]) == (
        "committed",
        "100000000.00",
        "0.02",
        "0.25",
    )
    assert {line["investor_id"]: line["amount"] for line in fee["lines"]} == dict(
        zip(investors, ["250000.00", "150000.00", "100000.00"], strict=True)
    )


async def test_vector_4_after_the_investment_period(api: FundApi) -> None:
    fund, _ = await _fund(api)
    fee = await _fee(api, fund, "2028-01-01", "2028-03-31")
    assert fee["amount"] == "225000.00"
    [part] = fee["parts"]
    assert (part["basis"], part["basis_amount"], part["rate"]) == (
        "invested",
        "60000000.00",
        "0.015",
    )


async def test_vector_4_on_actual_days(api: FundApi) -> None:
    """The same fund on act/365: Q1 2026 has 31 + 28 + 31 = 90 days, so 2 % of 100,000,000
    is 2,000,000 × 90 / 365 = 493,150.684… → 493,150.68, split 5:3:2 by the largest remainder
    (cents 24,657,534.0 / 14,794,520.4 / 9,863,013.6 → the one cent left to the .6)."""
    fund, investors = await _fund(api, "act/365")
    fee = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert (fee["amount"], fee["day_count"], fee["parts"][0]["fraction"]) == (
        "493150.68",
        "act/365",
        "18/73",  # 90/365
    )
    assert {line["investor_id"]: line["amount"] for line in fee["lines"]} == dict(
        zip(investors, ["246575.34", "147945.20", "98630.14"], strict=True)
    )


async def test_a_period_across_the_end_of_the_investment_period_is_charged_in_two_parts(
    api: FundApi,
) -> None:
    fund, _ = await _fund(api)
    fee = await _fee(api, fund, "2027-10-01", "2028-03-31")
    assert [p["amount"] for p in fee["parts"]] == ["500000.00", "225000.00"]
    assert fee["amount"] == "725000.00"
    month = await _fee(api, fund, "2026-02-01", "2026-02-28")
    assert month["amount"] == str((Decimal("500000.00") / 3).quantize(Decimal("0.01")))
    lines = month["lines"]
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal(month["amount"])


async def test_an_empty_period_is_refused(api: FundApi) -> None:
    fund, _ = await _fund(api)
    refused = await api.request(
        "GET", f"/funds/{fund}/management-fees?from=2026-04-01&to=2026-03-31", expect=422
    )
    assert "empty" in refused["detail"]


async def test_a_fee_on_an_exact_half_cent_rounds_half_to_even(api: FundApi) -> None:
    """2 % of 21.00 for one month is exactly 0.035: the fraction 1/12 must stay exact (a
    truncated 0.0833… would give 0.0349… and round down), and the tie goes to the even cent."""
    fund = await api.fund(management_fee_rate="0.02", fee_day_count="30/360")
    await api.investors_with(fund, ["21.00"])
    fee = await _fee(api, fund, "2026-02-01", "2026-02-28")
    assert fee["amount"] == "0.04"
    assert fee["parts"][0]["fraction"] == "1/12"


async def test_an_investment_period_ending_on_the_30th_charges_one_quarter_for_the_quarter(
    api: FundApi,
) -> None:
    """30/360 gives every month 30 days, so a quarter's parts add up to a quarter wherever the
    investment period ends in it: the 31st of a month counts no day of its own."""
    fund = await api.fund(
        management_fee_rate="0.02",
        post_investment_period_fee_rate="0.02",
        investment_period_end="2026-03-30",
        fee_day_count="30/360",
    )
    await api.investors_with(fund, ["100000000.00"])
    deal = await api.deal(fund)
    await api.request(
        "PATCH",
        f"/funds/{fund}/deals/{deal}",
        json={"invested_amount": "100000000.00", "invested_on": "2026-01-02", "status": "open"},
    )
    fee = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert [p["fraction"] for p in fee["parts"]] == ["0.25", "0"]
    assert fee["amount"] == "500000.00"


@pytest.mark.parametrize(
    ("day_count", "committed"),
    # 2,000.00 a day, and 1,000.00 a day from the late commitment: whole cents, so the rounded
    # fees add up too (the exact ones always do: tests/unit/test_fees.py).
    [("30/360", "36000000.00"), ("act/360", "36000000.00"), ("act/365", "36500000.00")],
)
@pytest.mark.parametrize(
    ("first", "split", "last"),
    [
        ("2026-01-01", "2026-01-30", "2026-03-31"),
        ("2026-01-01", "2026-01-31", "2026-03-31"),
        ("2026-01-01", "2026-02-14", "2026-03-31"),
        ("2026-01-01", "2026-02-27", "2026-03-31"),
        ("2028-02-01", "2028-02-28", "2028-03-31"),  # a leap February
        ("2026-10-31", "2026-12-30", "2027-01-30"),
    ],
)
async def test_consecutive_periods_add_up_to_their_union(
    api: FundApi, day_count: str, committed: str, first: str, split: str, last: str
) -> None:
    fund = await api.fund(management_fee_rate="0.02", fee_day_count=day_count)
    [early] = await api.investors_with(fund, [committed])
    late = await api.investor("Second close LP")
    joined = (dt.date.fromisoformat(first) + dt.timedelta(days=20)).isoformat()
    half = str(Decimal(committed) / 2)
    await _commit(api, fund, late, half, joined)  # inside the first part or the second
    after = (dt.date.fromisoformat(split) + dt.timedelta(days=1)).isoformat()
    whole = await _fee(api, fund, first, last)
    parts = [await _fee(api, fund, first, split), await _fee(api, fund, after, last)]
    assert sum(Decimal(p["amount"]) for p in parts) == Decimal(whole["amount"])
    for investor in (early, late):
        assert sum(_line(p, investor) for p in parts) == _line(whole, investor)


def _line(fee: Any, investor: str) -> Decimal:
    return sum(
        (Decimal(line["amount"]) for line in fee["lines"] if line["investor_id"] == investor),
        Decimal(0),
    )


async def _commit(api: FundApi, fund: str, investor: str, amount: str, day: str) -> None:
    await api.request(
        "POST",
        f"/funds/{fund}/commitments",
        json={"investor_id": investor, "amount": amount, "committed_on": day},
        expect=201,
    )


async def test_a_period_to_the_last_representable_day_is_refused_not_an_error(
    api: FundApi,
) -> None:
    """Fee periods end at most on 31 December ten years from now: 9999-12-31 is a rule
    violation naming the bounds, not a server error; the last month accepted is charged
    (360.00 × 2 % / 12 = 0.60 on 30/360)."""
    fund = await api.fund(management_fee_rate="0.02", fee_day_count="30/360")
    await api.investors_with(fund, ["360.00"])
    refused = await api.request(
        "GET", f"/funds/{fund}/management-fees?from=9999-12-01&to=9999-12-31", expect=422
    )
    year = dt.date.today().year + 10
    last = f"{year}-12-31"
    assert (refused["type"].split(":")[-1], refused["latest"]) == ("rule-violation", last)
    fee = await _fee(api, fund, f"{year}-12-01", last)
    assert fee["amount"] == "0.60"


@pytest.mark.parametrize(("currency", "zero"), [("USD", "0.00"), ("JPY", "0"), ("BHD", "0.000")])
async def test_a_fund_with_nothing_committed_shows_a_zero_basis_in_its_currency(
    api: FundApi, currency: str, zero: str
) -> None:
    fund = await api.fund(currency=currency, management_fee_rate="0.02")
    fee = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert (fee["amount"], fee["parts"][0]["basis_amount"], fee["lines"]) == (zero, zero, [])


async def test_an_investor_who_commits_later_pays_no_fee_for_the_time_before(
    api: FundApi,
) -> None:
    """A commitment counts from its day, in the basis and in the split: the second-close
    investor (2026-06-01) pays nothing for Q1 and, in Q2, for June only."""
    fund = await api.fund(management_fee_rate="0.02", fee_day_count="30/360")
    [early] = await api.investors_with(fund, ["60000000.00"])
    late = await api.investor("Second close LP")
    await _commit(api, fund, late, "40000000.00", "2026-06-01")
    before = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert before["amount"] == "300000.00"
    assert {line["investor_id"]: line["amount"] for line in before["lines"]} == {early: "300000.00"}
    # Q2: 2 % × 60,000,000 / 4 = 300,000.00 for the early investor; the late one's June is
    # 2 % × 40,000,000 × 30/360 = 66,666.666…; the total 366,666.666… → 366,666.67, its
    # extra cent to the larger remainder (the late investor's .73 of a cent against .27).
    during = await _fee(api, fund, "2026-04-01", "2026-06-30")
    assert during["amount"] == "366666.67"
    assert {line["investor_id"]: line["amount"] for line in during["lines"]} == {
        early: "300000.00",
        late: "66666.67",
    }
    # Shown as the stretches where the basis holds: April–May on 60,000,000 (2 % × 60/360 =
    # 200,000.00) and June on 100,000,000 (2 % × 30/360 = 166,666.666… → .67).
    assert [(p["from"], p["basis_amount"], p["amount"]) for p in during["parts"]] == [
        ("2026-04-01", "60000000.00", "200000.00"),
        ("2026-06-01", "100000000.00", "166666.67"),
    ]
    after = await _fee(api, fund, "2026-07-01", "2026-09-30")
    assert {line["investor_id"]: line["amount"] for line in after["lines"]} == {
        early: "300000.00",
        late: "200000.00",
    }


async def test_invested_cost_counts_from_the_day_it_is_invested(api: FundApi) -> None:
    """2 % of invested cost, 30/360: 10,000,000 invested before the quarter, 6,000,000 more on
    16 February (an exited and a written-off deal count for nothing). 1 Jan – 15 Feb is 30 + 15
    = 45 days on 10,000,000: 200,000 × 45/360 = 25,000.00; 16 Feb – 31 Mar is 15 (the 16th to
    the 28th make February up to 30) + 30 = 45 days on 16,000,000: 320,000 × 45/360 =
    40,000.00. Total 65,000.00, split 3:1 by commitment."""
    fund = await api.fund(
        management_fee_rate="0.02", management_fee_basis="invested", fee_day_count="30/360"
    )
    investors = await api.investors_with(fund, ["15000000.00", "5000000.00"])
    for amount, on, status in (
        ("10000000.00", "2025-12-01", "open"),
        ("6000000.00", "2026-02-16", "open"),
        ("7000000.00", "2026-01-10", "exited"),
        ("1000000.00", "2026-03-01", "written_off"),
    ):
        deal = await api.deal(fund)
        await api.request(
            "PATCH",
            f"/funds/{fund}/deals/{deal}",
            json={"invested_amount": amount, "invested_on": on, "status": status},
        )
    fee = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert fee["amount"] == "65000.00"
    assert [
        (p["from"], p["to"], p["basis"], p["basis_amount"], p["fraction"], p["amount"])
        for p in fee["parts"]
    ] == [
        ("2026-01-01", "2026-02-15", "invested", "10000000.00", "0.125", "25000.00"),
        ("2026-02-16", "2026-03-31", "invested", "16000000.00", "0.125", "40000.00"),
    ]
    assert {line["investor_id"]: line["amount"] for line in fee["lines"]} == dict(
        zip(investors, ["48750.00", "16250.00"], strict=True)
    )
