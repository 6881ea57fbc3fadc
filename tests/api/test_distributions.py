"""Distributions through the API: pro-rata by contributed capital, each investor's share through
the fund's waterfall with its ledger history, LP and GP parts in the ledger (vectors 5–7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi

# A call noticed on 2026-03-02 is due ten business days later: the contributions' date.
NOTICE, DUE, ONE_YEAR_LATER = "2026-03-02", "2026-03-16", "2027-03-16"


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _invested_fund(
    api: FundApi, commitments: list[str], called: str, **terms: Any
) -> tuple[str, list[str], str]:
    """A fund whose investors contributed `called` to one deal, due on DUE."""
    fund = await api.fund(**terms)
    investors = await api.investors_with(fund, commitments)
    deal = await api.deal(fund)
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": called, "deal_id": deal}], notice=NOTICE
    )
    return fund, investors, deal


def _tiers(distribution: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {name: (t["lp"], t["gp"]) for name, t in distribution["tiers"].items()}


@pytest.mark.parametrize(
    ("called", "proceeds", "catch_up", "lp", "gp"),
    [
        ("50.00", "100.00", "1", "90.00", "10.00"),  # vector 5
        ("100.00", "200.00", "0", "181.60", "18.40"),  # vector 6
        ("100.00", "200.00", "1", "180.00", "20.00"),  # vector 7
    ],
)
async def test_vectors_5_to_7_through_the_fund(
    api: FundApi, called: str, proceeds: str, catch_up: str, lp: str, gp: str
) -> None:
    fund, [investor], _ = await _invested_fund(api, ["1000.00"], called, catch_up_share=catch_up)
    made = await api.distribute(fund, proceeds, ONE_YEAR_LATER)
    assert (made["amount"], made["lp_amount"], made["gp_amount"]) == (proceeds, lp, gp)
    [line] = made["lines"]
    assert (line["investor_id"], line["amount"], line["lp_amount"], line["gp_amount"]) == (
        investor,
        proceeds,
        lp,
        gp,
    )
    assert made == await api.request("GET", f"/funds/{fund}/distributions/{made['id']}")
    row = (await api.commitments(fund))[investor]
    assert row["distributed"] == lp  # the LP's cash; the carry is the GP's


async def test_vector_5_tiers_are_explained(api: FundApi) -> None:
    fund, _, _ = await _invested_fund(api, ["1000.00"], "50.00")
    made = await api.distribute(fund, "100.00", ONE_YEAR_LATER)
    assert _tiers(made) == {
        "return_of_capital": ("50.00", "0.00"),
        "preferred_return": ("4.00", "0.00"),
        "catch_up": ("0.00", "1.00"),
        "carried_interest": ("36.00", "9.00"),
    }


async def test_the_split_follows_contributed_capital(api: FundApi) -> None:
    fund, investors, _ = await _invested_fund(api, ["100.00", "200.00", "400.00"], "70.00")
    # Contributed 10 / 20 / 40; 7.00 back (below capital: all return of capital).
    made = await api.distribute(fund, "7.00", "2026-06-30", kind="return_of_capital")
    shares = {line["investor_id"]: line["amount"] for line in made["lines"]}
    assert shares == dict(zip(investors, ["1.00", "2.00", "4.00"], strict=True))
    assert made["gp_amount"] == "0.00"


async def test_every_cent_is_accounted_for_with_odd_amounts(api: FundApi) -> None:
    fund, _, _ = await _invested_fund(api, ["1.00"] * 7, "7.00")
    made = await api.distribute(fund, "100.00", ONE_YEAR_LATER)
    lines = made["lines"]
    assert sorted(line["amount"] for line in lines) == ["14.28"] * 3 + ["14.29"] * 4
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal("100.00")
    for line in lines:
        assert Decimal(line["lp_amount"]) + Decimal(line["gp_amount"]) == Decimal(line["amount"])
    assert Decimal(made["lp_amount"]) + Decimal(made["gp_amount"]) == Decimal("100.00")


async def test_history_counts_two_distributions_equal_one_of_their_sum(api: FundApi) -> None:
    """Pref, catch-up and carry already paid carry over: the waterfall runs on the ledger's
    history, so splitting one distribution in two changes no total."""
    at_once, _, _ = await _invested_fund(api, ["600.00", "400.00"], "100.00")
    in_two, _, _ = await _invested_fund(api, ["600.00", "400.00"], "100.00")
    whole = await api.distribute(at_once, "200.00", ONE_YEAR_LATER)
    first = await api.distribute(in_two, "103.33", ONE_YEAR_LATER)  # capital, some pref
    second = await api.distribute(in_two, "96.67", ONE_YEAR_LATER)  # pref, catch-up, carry
    assert Decimal(first["gp_amount"]) == 0
    assert Decimal(first["gp_amount"]) + Decimal(second["gp_amount"]) == Decimal(whole["gp_amount"])
    for name in ("return_of_capital", "preferred_return", "catch_up", "carried_interest"):
        for party in ("lp", "gp"):
            parts = Decimal(first["tiers"][name][party]) + Decimal(second["tiers"][name][party])
            assert parts == Decimal(whole["tiers"][name][party]), (name, party)


async def test_carry_and_distributions_reach_the_ledger(api: FundApi) -> None:
    fund, [investor], _ = await _invested_fund(api, ["1000.00"], "100.00")
    await api.distribute(fund, "200.00", ONE_YEAR_LATER)
    account = await api.request(
        "GET", f"/funds/{fund}/investors/{investor}/capital-account?to={ONE_YEAR_LATER}"
    )
    assert (account["distributions"], account["carried_interest"]) == ("180.00", "20.00")
    assert account["ending_balance"] == "-100.00"  # 100 in, 200 out, no valuation yet


async def test_a_recallable_distribution_returns_to_the_unfunded_commitment(
    api: FundApi,
) -> None:
    fund, [investor], _ = await _invested_fund(api, ["1000.00"], "300.00")
    assert (await api.commitments(fund))[investor]["unfunded"] == "700.00"
    await api.distribute(fund, "50.00", "2026-04-30", kind="recallable")
    row = (await api.commitments(fund))[investor]
    assert (row["distributed"], row["recallable"], row["unfunded"]) == ("50.00", "50.00", "750.00")


async def test_american_funds_distribute_deal_by_deal(api: FundApi) -> None:
    fund = await api.fund(waterfall_style="american")
    [a, b] = await api.investors_with(fund, ["500.00", "500.00"])
    winner, loser = await api.deal(fund, "Winner"), await api.deal(fund, "Loser")
    await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "100.00", "deal_id": winner},
            {"purpose": "investment", "amount": "100.00", "deal_id": loser},
        ],
        notice=NOTICE,
    )
    refused = await api.distribute(fund, "10.00", ONE_YEAR_LATER, expect=422)
    assert "deal_id" in refused["detail"]
    made = await api.distribute(fund, "200.00", ONE_YEAR_LATER, deal_id=winner)
    # Deal by deal: the winner's 100 of capital and 8 of pref, then catch-up and carry, even
    # though the loser's capital is still out — and that is the clawback exposure.
    assert (made["lp_amount"], made["gp_amount"]) == ("180.00", "20.00")
    assert made["clawback"] == "20.00"
    assert {line["investor_id"] for line in made["lines"]} == {a, b}


async def test_refusals_say_why(api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00"])
    nothing = await api.distribute(fund, "10.00", "2026-06-30", expect=422)
    assert "contributed" in nothing["detail"]
    fund, _, _ = await _invested_fund(api, ["100.00"], "50.00")
    await api.distribute(fund, "1.00", "2026-06-30")
    earlier = await api.distribute(fund, "1.00", "2026-06-29", expect=422)
    assert "date order" in earlier["detail"]
    cents = await api.distribute(fund, "1.001", "2026-07-01", expect=422)
    assert cents["status"] == 422
    zero = await api.distribute(fund, "0.00", "2026-07-01", expect=422)
    assert zero["status"] == 422


async def test_distributions_need_an_idempotency_key(api: FundApi, client: AsyncClient) -> None:
    fund, _, _ = await _invested_fund(api, ["100.00"], "50.00")
    response = await client.post(
        f"/api/v1/funds/{fund}/distributions",
        json={"date": "2026-06-30", "amount": "1.00", "kind": "gain"},
        headers=api.headers,
    )
    assert response.status_code == 400
    listed = await api.request("GET", f"/funds/{fund}/distributions")
    assert listed["items"] == []


async def test_the_latest_distribution_is_cancelled_as_if_it_never_was(
    api: FundApi, client: AsyncClient
) -> None:
    """A date typed years ahead: cancelled, its ledger entries reversed on their own dates, it
    no longer bars earlier dates, and the next distribution splits as if it had never been."""
    fund, investors, _ = await _invested_fund(api, ["600.00", "400.00"], "100.00")
    before = await api.commitments(fund)
    first = await api.distribute(fund, "30.00", "2026-06-30")
    typo = await api.distribute(fund, "150.00", "2062-06-30", kind="recallable")
    cancel = f"/funds/{fund}/distributions/{{}}/cancel"

    refused = await api.request("POST", cancel.format(first["id"]), money=True, expect=409)
    assert "latest" in refused["detail"]
    assert "2062-06-30" in refused["detail"]
    no_key = await client.post(f"/api/v1{cancel.format(typo['id'])}", headers=api.headers)
    assert no_key.status_code == 400  # money-moving: an Idempotency-Key is required

    cancelled = await api.request("POST", cancel.format(typo["id"]), money=True)
    assert cancelled["cancelled_at"] is not None
    assert cancelled["lines"] == typo["lines"]  # what it was stays readable
    again = await api.request("POST", cancel.format(typo["id"]), money=True, expect=409)
    assert "already cancelled" in again["detail"]
    listed = (await api.request("GET", f"/funds/{fund}/distributions"))["items"]
    assert [d["cancelled_at"] is None for d in listed] == [True, False]

    # The books are as they were after the first distribution, at every date.
    after = await api.commitments(fund)
    for investor in investors:
        assert after[investor]["unfunded"] == before[investor]["unfunded"]
        assert Decimal(after[investor]["distributed"]) == sum(
            Decimal(line["amount"]) for line in first["lines"] if line["investor_id"] == investor
        )
        for to in ("2062-06-30", "2070-01-01"):
            account = await api.request(
                "GET", f"/funds/{fund}/investors/{investor}/capital-account?to={to}"
            )
            assert Decimal(account["distributions"]) + Decimal(account["carried_interest"]) == sum(
                Decimal(line["amount"])
                for line in first["lines"]
                if line["investor_id"] == investor
            )

    # An earlier date is allowed again, and splits exactly as the cancelled one did.
    redo = await api.distribute(fund, "150.00", "2026-12-31", kind="recallable")
    twin_fund, _, _ = await _invested_fund(api, ["600.00", "400.00"], "100.00")
    await api.distribute(twin_fund, "30.00", "2026-06-30")
    twin = await api.distribute(twin_fund, "150.00", "2026-12-31", kind="recallable")
    assert (redo["lp_amount"], redo["gp_amount"]) == (twin["lp_amount"], twin["gp_amount"])
    assert _tiers(redo) == _tiers(twin)
