"""Fee offsets and waivers (issue 19, item 4): fee income the GP receives from portfolio
companies reduces the management fee by the fund's `fee_offset_rate`, the excess carried
forward over the following quarters; a waiver reduces its period's fee; the reduction is split
over the investors who pay fees, in proportion to their fees (the GP's commitment pays none).

The fund (as in test_commitment_terms): 2 % fee on commitments, 30/360 — a quarter is a
quarter of the year. LP A 6,000,000 on the fund's terms, LP B 3,000,000 with a 1.5 % side
letter, the GP 1,000,000. A quarter's fee, by hand: A 0.02 × 6,000,000 / 4 = 30,000.00,
B 0.015 × 3,000,000 / 4 = 11,250.00, the GP nothing: 41,250.00."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi

Q1, Q2, Q3, Q4 = (
    ("2026-01-01", "2026-03-31"),
    ("2026-04-01", "2026-06-30"),
    ("2026-07-01", "2026-09-30"),
    ("2026-10-01", "2026-12-31"),
)


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _commit(api: FundApi, fund: str, amount: str, **terms: Any) -> str:
    investor = await api.investor()
    body = {"investor_id": investor, "amount": amount, "committed_on": "2025-01-02", **terms}
    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=201)
    return investor


async def _fund(api: FundApi, offset_rate: str = "0.8") -> tuple[str, str, str, str]:
    fund = await api.fund(management_fee_rate="0.02", fee_offset_rate=offset_rate)
    a = await _commit(api, fund, "6000000.00")
    b = await _commit(api, fund, "3000000.00", management_fee_rate="0.015")
    gp = await _commit(api, fund, "1000000.00", general_partner=True)
    return fund, a, b, gp


async def _income(api: FundApi, fund: str, date: str, kind: str, amount: str, **more: Any) -> Any:
    body = {"date": date, "kind": kind, "amount": amount, **more}
    return await api.request("POST", f"/funds/{fund}/fee-income", json=body, expect=201, money=True)


async def _waiver(api: FundApi, fund: str, period: tuple[str, str], amount: str) -> Any:
    body = {"period_start": period[0], "period_end": period[1], "amount": amount}
    return await api.request(
        "POST", f"/funds/{fund}/fee-waivers", json=body, expect=201, money=True
    )


async def _fee(api: FundApi, fund: str, period: tuple[str, str]) -> Any:
    start, end = period
    return await api.request("GET", f"/funds/{fund}/management-fees?from={start}&to={end}")


def _lines(fee: Any) -> dict[str, tuple[str, str, str, str]]:
    return {
        line["investor_id"]: (line["amount"], line["offset"], line["waived"], line["net"])
        for line in fee["lines"]
    }


def _reduction(fee: Any) -> tuple[str, str, str, str, str]:
    r = fee["reduction"]
    return r["carried_in"], r["credit"], r["waived"], r["offset"], r["carried_forward"]


async def test_offsets_at_80_percent_carried_forward_across_two_quarters(api: FundApi) -> None:
    """By hand. Fee income 120,000.00 (a transaction fee, 2026-02-10) → credit 0.8 × 120,000
    = 96,000.00; 2,500.00 of monitoring fees on 2026-05-20 → credit 2,000.00.

    Q1: fee 41,250.00, offset min(41,250, 0 + 96,000) = 41,250.00, net 0,
        carried 96,000 − 41,250 = 54,750.00.
    Q2: available 54,750 + 2,000 = 56,750.00; offset 41,250.00, net 0, carried 15,500.00.
    Q3: available 15,500.00 < 41,250: offset 15,500.00, net 25,750.00, carried 0.
        Split by fee 30,000 : 11,250: A 15,500 × 30,000 / 41,250 = 11,272.7272… → 11,272.73,
        B 15,500 × 11,250 / 41,250 = 4,227.2727… → 4,227.27 (Σ 15,500.00);
        nets A 30,000 − 11,272.73 = 18,727.27, B 11,250 − 4,227.27 = 7,022.73.
    Q4: nothing left: the whole 41,250.00.
    The GP's commitment pays no fee and gets no part of the offset."""
    fund, a, b, gp = await _fund(api)
    deal = await api.deal(fund)
    await _income(api, fund, "2026-02-10", "transaction", "120000.00", deal_id=deal)
    await _income(api, fund, "2026-05-20", "monitoring", "2500.00")

    q1 = await _fee(api, fund, Q1)
    assert (q1["amount"], q1["net_amount"]) == ("41250.00", "0.00")
    assert q1["reduction"]["fee_offset_rate"] == "0.8"
    assert q1["reduction"]["fee_income"] == "120000.00"
    assert _reduction(q1) == ("0.00", "96000.00", "0.00", "41250.00", "54750.00")
    assert _lines(q1) == {
        a: ("30000.00", "30000.00", "0.00", "0.00"),
        b: ("11250.00", "11250.00", "0.00", "0.00"),
    }
    assert gp not in _lines(q1)

    q2 = await _fee(api, fund, Q2)
    assert q2["reduction"]["fee_income"] == "2500.00"
    assert _reduction(q2) == ("54750.00", "2000.00", "0.00", "41250.00", "15500.00")
    assert q2["net_amount"] == "0.00"

    q3 = await _fee(api, fund, Q3)
    assert _reduction(q3) == ("15500.00", "0.00", "0.00", "15500.00", "0.00")
    assert q3["net_amount"] == "25750.00"
    assert _lines(q3) == {
        a: ("30000.00", "11272.73", "0.00", "18727.27"),
        b: ("11250.00", "4227.27", "0.00", "7022.73"),
    }

    q4 = await _fee(api, fund, Q4)
    assert _reduction(q4) == ("0.00", "0.00", "0.00", "0.00", "0.00")
    assert q4["net_amount"] == "41250.00"

    # Q2 and Q3 asked as one period: carried in 54,750 from Q1, credit 2,000, fee 82,500.00;
    # offset 56,750.00 and net 25,750.00 — the two quarters' nets added up.
    half = await _fee(api, fund, (Q2[0], Q3[1]))
    assert _reduction(half) == ("54750.00", "2000.00", "0.00", "56750.00", "0.00")
    assert (half["amount"], half["net_amount"]) == ("82500.00", "25750.00")


async def test_a_waiver_reduces_its_period_before_the_offset(api: FundApi) -> None:
    """By hand, Q3: the GP waives 4,125.00; director fees of 10,000.00 (2026-08-01) → credit
    8,000.00. Fee 41,250 − waived 4,125 = 37,125.00 left, offset min(37,125, 8,000) =
    8,000.00, net 29,125.00, nothing carried.
    Reduction 12,125.00 split by fee 30,000 : 11,250: A 12,125 × 30,000 / 41,250 =
    8,818.1818… → 8,818.18, B 3,306.8181… → 3,306.82; the offset 8,000 split by those:
    A 8,000 × 8,818.18 / 12,125 = 5,818.18…, B 2,181.81… → 2,181.82 (Σ 8,000.00); the waiver
    is the rest: A 3,000.00, B 1,125.00 (= 4,125 × 30,000 / 41,250 and × 11,250 / 41,250).
    Nets A 30,000 − 8,818.18 = 21,181.82, B 11,250 − 3,306.82 = 7,943.18 (Σ 29,125.00).

    Q4: a waiver of 50,000.00 forgoes the whole fee (41,250.00, no more: a waiver is not
    carried); the credit of 0.8 × 1,000.00 of other fees (2026-11-02) = 800.00 is carried to
    Q1 2027, where it is applied."""
    fund, a, b, gp = await _fund(api)
    await _waiver(api, fund, Q3, "4125.00")
    await _income(api, fund, "2026-08-01", "director", "10000.00")
    q3 = await _fee(api, fund, Q3)
    assert _reduction(q3) == ("0.00", "8000.00", "4125.00", "8000.00", "0.00")
    assert q3["net_amount"] == "29125.00"
    assert _lines(q3) == {
        a: ("30000.00", "5818.18", "3000.00", "21181.82"),
        b: ("11250.00", "2181.82", "1125.00", "7943.18"),
    }

    await _waiver(api, fund, Q4, "50000.00")
    await _income(api, fund, "2026-11-02", "other", "1000.00")
    q4 = await _fee(api, fund, Q4)
    assert _reduction(q4) == ("0.00", "800.00", "41250.00", "0.00", "800.00")
    assert q4["net_amount"] == "0.00"
    next_year = await _fee(api, fund, ("2027-01-01", "2027-03-31"))
    # Q3 carried nothing; Q4 carried 800.00 (the Q4 waiver does not reach Q1 2027).
    assert _reduction(next_year) == ("800.00", "0.00", "0.00", "800.00", "0.00")
    assert next_year["net_amount"] == "40450.00"
    assert gp not in _lines(next_year)

    waivers = await api.request("GET", f"/funds/{fund}/fee-waivers")
    assert sorted(w["amount"] for w in waivers["items"]) == ["4125.00", "50000.00"]


async def test_the_gp_commitment_and_no_offset_rate(api: FundApi) -> None:
    """With fee_offset_rate 0 (the default) fee income is recorded and listed but reduces
    nothing; the GP's commitment is never charged, with or without offsets."""
    fund, a, b, gp = await _fund(api, offset_rate="0")
    await _income(api, fund, "2026-02-10", "transaction", "120000.00")
    q1 = await _fee(api, fund, Q1)
    assert gp not in _lines(q1)
    assert _reduction(q1) == ("0.00", "0.00", "0.00", "0.00", "0.00")
    assert q1["net_amount"] == "41250.00"
    assert set(_lines(q1)) == {a, b}
    listed = await api.request("GET", f"/funds/{fund}/fee-income")
    [item] = listed["items"]
    assert (item["date"], item["kind"], item["amount"], item["deal_id"]) == (
        "2026-02-10",
        "transaction",
        "120000.00",
        None,
    )
    shown = await api.request("GET", f"/funds/{fund}")
    assert shown["fee_offset_rate"] == "0"


async def test_refusals(api: FundApi) -> None:
    """A waiver across two quarters, an amount below a cent, a deal of another fund: 422; a
    POST without an Idempotency-Key is refused."""
    fund, *_ = await _fund(api)
    other = await api.fund()
    deal = await api.deal(other)
    cases = [
        ("fee-waivers", {"period_start": "2026-03-01", "period_end": "2026-04-30", "amount": "1"}),
        ("fee-income", {"date": "2026-02-10", "kind": "other", "amount": "1.001"}),
        ("fee-income", {"date": "2026-02-10", "kind": "other", "amount": "1", "deal_id": deal}),
        ("fee-waivers", {"period_start": "2026-03-02", "period_end": "2026-03-01", "amount": "1"}),
    ]
    for path, body in cases:
        refused = await api.request(
            "POST", f"/funds/{fund}/{path}", json=body, expect=422, money=True
        )
        assert refused["type"].endswith("rule-violation"), refused
    response = await api.client.post(
        f"/api/v1/funds/{fund}/fee-income",
        json={"date": "2026-02-10", "kind": "other", "amount": "1.00"},
        headers=api.headers,
    )
    assert response.status_code == 400, response.text
