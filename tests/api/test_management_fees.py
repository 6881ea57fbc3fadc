"""Management fees: vector 4 (2 % of commitments in the investment period, 1.5 % of invested
cost after, quarterly), a period straddling the end of the investment period, the split."""

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


async def _fund(api: FundApi) -> tuple[str, list[str]]:
    """100,000,000 committed; investment period to 2027-12-31; 60,000,000 invested in two deals
    (and a third, written off, that no longer counts)."""
    fund = await api.fund(
        management_fee_rate="0.02",
        post_investment_period_fee_rate="0.015",
        investment_period_end="2027-12-31",
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
    fund = await api.fund(management_fee_rate="0.02")
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
    api: FundApi, first: str, split: str, last: str
) -> None:
    fund = await api.fund(management_fee_rate="0.02")
    await api.investors_with(fund, ["36000000.00"])  # 1,000.00 a day on 30/360
    after = (dt.date.fromisoformat(split) + dt.timedelta(days=1)).isoformat()
    whole = await _fee(api, fund, first, last)
    parts = [await _fee(api, fund, first, split), await _fee(api, fund, after, last)]
    assert sum(Decimal(p["amount"]) for p in parts) == Decimal(whole["amount"])


async def test_a_period_to_the_last_representable_day_is_not_an_error(api: FundApi) -> None:
    fund = await api.fund(management_fee_rate="0.02")
    await api.investors_with(fund, ["360.00"])
    fee = await _fee(api, fund, "9999-12-01", "9999-12-31")
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
    """The basis counts commitments made by the period's first day, so the split does too: the
    second-close investor was charged 40 % of a fee computed without its commitment."""
    fund = await api.fund(management_fee_rate="0.02")
    [early] = await api.investors_with(fund, ["60000000.00"])
    late = await api.investor("Second close LP")
    await api.request(
        "POST",
        f"/funds/{fund}/commitments",
        json={"investor_id": late, "amount": "40000000.00", "committed_on": "2026-06-01"},
        expect=201,
    )
    before = await _fee(api, fund, "2026-01-01", "2026-03-31")
    assert before["amount"] == "300000.00"
    assert {line["investor_id"]: line["amount"] for line in before["lines"]} == {early: "300000.00"}
    after = await _fee(api, fund, "2026-07-01", "2026-09-30")
    assert {line["investor_id"]: line["amount"] for line in after["lines"]} == {
        early: "300000.00",
        late: "200000.00",
    }
