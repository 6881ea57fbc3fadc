"""Fee offsets applied to the fee calls (issue 19, item 4): a period's fee is called net of its
offset and waivers, the unused offset carried to the next quarter; fee income and waivers
recorded by mistake are cancelled (append-only), refused while a fee call relies on them; each
fee income keeps the offset rate of the day it was recorded; dates are bounded.

The fund: 2 % fee on commitments, 30/360 (a quarter is a quarter of the year); LP A
3,000,000 and LP B 2,000,000, both on 2025-01-02. A quarter's fee, by hand: 0.02 × 5,000,000
/ 4 = 25,000.00, split 60/40: A 15,000.00, B 10,000.00."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import TestDatabase

Q1 = ("2026-01-01", "2026-03-31")
Q2 = ("2026-04-01", "2026-06-30")


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _fund(api: FundApi, **terms: Any) -> tuple[str, str, str]:
    fund = await api.fund(management_fee_rate="0.02", fee_offset_rate="0.8", **terms)
    a, b = await api.investors_with(fund, ["3000000.00", "2000000.00"])
    return fund, a, b


async def _income(api: FundApi, fund: str, date: str, amount: str, expect: int = 201) -> Any:
    body = {"date": date, "kind": "transaction", "amount": amount}
    return await api.request(
        "POST", f"/funds/{fund}/fee-income", json=body, expect=expect, money=True
    )


async def _waiver(api: FundApi, fund: str, period: tuple[str, str], amount: str) -> Any:
    body = {"period_start": period[0], "period_end": period[1], "amount": amount}
    return await api.request(
        "POST", f"/funds/{fund}/fee-waivers", json=body, expect=201, money=True
    )


async def _call(api: FundApi, fund: str, period: tuple[str, str], expect: int = 201) -> Any:
    body = {"period_start": period[0], "period_end": period[1], "notice_date": period[1]}
    return await api.request(
        "POST", f"/funds/{fund}/management-fees/calls", json=body, expect=expect, money=True
    )


async def _cancel(api: FundApi, path: str, expect: int = 201) -> Any:
    return await api.request(
        "POST", f"{path}/cancel", json={"reason": "recorded by mistake"}, expect=expect, money=True
    )


async def _fee(api: FundApi, fund: str, period: tuple[str, str]) -> Any:
    return await api.request(
        "GET", f"/funds/{fund}/management-fees?from={period[0]}&to={period[1]}"
    )


def _figures(fee_call: Any) -> tuple[str, str, str, str]:
    return fee_call["amount"], fee_call["waived"], fee_call["offset"], fee_call["carried_forward"]


async def _fee_lines(api: FundApi, fund: str, call_id: str) -> tuple[Any, dict[str, str]]:
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{call_id}")
    return call, {line["investor_id"]: line["amounts"]["management_fee"] for line in call["lines"]}


async def test_the_fee_calls_are_net_of_the_offset_carried_across_two_quarters(
    api: FundApi,
) -> None:
    """By hand. A transaction fee of 50,000.00 on 2026-02-10 → credit 0.8 × 50,000 =
    40,000.00.
    Q1: fee 25,000.00, offset min(25,000, 40,000) = 25,000.00, net 0 — nothing to call;
        carried 40,000 − 25,000 = 15,000.00.
    Q2: fee 25,000.00, offset 15,000.00, net 10,000.00, carried 0. The offset split by fee
        15,000 : 10,000: A 9,000.00, B 6,000.00; nets A 15,000 − 9,000 = 6,000.00,
        B 10,000 − 6,000 = 4,000.00 (Σ 10,000.00): the call's management_fee lines."""
    fund, a, b = await _fund(api)
    await _income(api, fund, "2026-02-10", "50000.00")

    q1 = await _call(api, fund, Q1)
    assert _figures(q1) == ("25000.00", "0.00", "25000.00", "15000.00")
    assert q1["call_id"] is None

    q2 = await _call(api, fund, Q2)
    assert _figures(q2) == ("25000.00", "0.00", "15000.00", "0.00")
    call, lines = await _fee_lines(api, fund, q2["call_id"])
    assert (call["status"], call["amount"], call["notice_date"]) == ("issued", "10000.00", Q2[1])
    [item] = call["items"]
    assert (item["purpose"], item["amount"]) == ("management_fee", "10000.00")
    assert lines == {a: "6000.00", b: "4000.00"}
    # The fee calculation shows the same per investor: fee, offset applied, net.
    shown = {
        line["investor_id"]: (line["amount"], line["offset"], line["net"])
        for line in (await _fee(api, fund, Q2))["lines"]
    }
    assert shown == {a: ("15000.00", "9000.00", "6000.00"), b: ("10000.00", "6000.00", "4000.00")}

    # A period is called once; a period across two quarters is refused.
    again = await _call(api, fund, ("2026-05-01", "2026-05-31"), expect=409)
    assert again["fee_call_id"] == q2["id"]
    await _call(api, fund, ("2026-06-01", "2026-07-31"), expect=422)


async def test_a_fee_call_with_a_waiver_and_excused_investors(api: FundApi) -> None:
    """By hand, Q1: the GP waives 5,000.00 and no fee income: 25,000 − 5,000 = 20,000.00
    called. The waiver split by fee 60/40: A 3,000.00, B 2,000.00; nets A 12,000.00,
    B 8,000.00. The GP's own commitment (no fee) is excused from the call."""
    fund, a, b = await _fund(api)
    gp = await api.investor("GP")
    body = {"investor_id": gp, "amount": "100000.00", "committed_on": "2025-01-02"}
    await api.request(
        "POST", f"/funds/{fund}/commitments", json={**body, "general_partner": True}, expect=201
    )
    await _waiver(api, fund, Q1, "5000.00")
    q1 = await _call(api, fund, Q1)
    assert _figures(q1) == ("25000.00", "5000.00", "0.00", "0.00")
    call, lines = await _fee_lines(api, fund, q1["call_id"])
    assert lines == {a: "12000.00", b: "8000.00"}
    assert call["items"][0]["excused_investor_ids"] == [gp]


async def test_fee_income_and_waivers_recorded_by_mistake_are_cancelled(
    api: FundApi, org: NewOrg, database: TestDatabase
) -> None:
    """Cancelled, they no longer count: Q1 back to its whole 25,000.00. They stay listed; a
    second cancellation is 409; each cancellation is audited."""
    fund, *_ = await _fund(api)
    income = await _income(api, fund, "2026-02-10", "50000.00")
    assert income["cancelled"] is False
    waiver = await _waiver(api, fund, Q1, "1000.00")
    before = await _fee(api, fund, Q1)
    assert before["net_amount"] == "0.00"

    cancelled = await _cancel(api, f"/funds/{fund}/fee-income/{income['id']}")
    assert (cancelled["fee_income_id"], cancelled["fee_waiver_id"]) == (income["id"], None)
    await _cancel(api, f"/funds/{fund}/fee-waivers/{waiver['id']}")
    after = await _fee(api, fund, Q1)
    assert (after["net_amount"], after["reduction"]["credit"], after["reduction"]["waived"]) == (
        "25000.00",
        "0.00",
        "0.00",
    )
    twice = await _cancel(api, f"/funds/{fund}/fee-income/{income['id']}", expect=409)
    assert twice["type"].endswith("conflict")
    # A waiver's id is not a fee income's: 404.
    await _cancel(api, f"/funds/{fund}/fee-income/{waiver['id']}", expect=404)
    listed = await api.request("GET", f"/funds/{fund}/fee-income")
    assert [(i["id"], i["cancelled"]) for i in listed["items"]] == [(income["id"], True)]
    waivers = await api.request("GET", f"/funds/{fund}/fee-waivers")
    assert [(w["id"], w["cancelled"]) for w in waivers["items"]] == [(waiver["id"], True)]

    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT action, entity_id::text, actor_user_id FROM audit_log "
            "WHERE action LIKE 'fee_%.cancel' ORDER BY action"
        ).fetchall()
    assert rows == [
        ("fee_income.cancel", income["id"], org.user_id),
        ("fee_waiver.cancel", waiver["id"], org.user_id),
    ]


async def test_a_cancellation_is_refused_while_a_fee_call_relies_on_it(api: FundApi) -> None:
    """Q1 was called with the income's offset (net 0, 15,000.00 carried): cancelling the
    income would change a fee already called — 409, naming the fee call. Cancelling the fee
    call first frees it; Q1 called again is the whole 25,000.00 (A 15,000.00, B 10,000.00).
    A waiver of a called quarter (Q2) is refused the same way."""
    fund, a, b = await _fund(api)
    income = await _income(api, fund, "2026-02-10", "50000.00")
    q1 = await _call(api, fund, Q1)

    refused = await _cancel(api, f"/funds/{fund}/fee-income/{income['id']}", expect=409)
    assert refused["fee_call_id"] == q1["id"]
    assert "2026-01-01 .. 2026-03-31" in refused["detail"]

    await _cancel(api, f"/funds/{fund}/management-fees/calls/{q1['id']}")
    await _cancel(api, f"/funds/{fund}/management-fees/calls/{q1['id']}", expect=409)
    await _cancel(api, f"/funds/{fund}/fee-income/{income['id']}")
    again = await _call(api, fund, Q1)
    assert _figures(again) == ("25000.00", "0.00", "0.00", "0.00")
    _, lines = await _fee_lines(api, fund, again["call_id"])
    assert lines == {a: "15000.00", b: "10000.00"}

    waiver = await _waiver(api, fund, Q2, "1000.00")
    q2 = await _call(api, fund, Q2)
    assert q2["waived"] == "1000.00"
    await _cancel(api, f"/funds/{fund}/fee-waivers/{waiver['id']}", expect=409)
    # Cancelling the fee call cancels its capital call (unpaid) with it.
    await _cancel(api, f"/funds/{fund}/management-fees/calls/{q2['id']}")
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{q2['call_id']}")
    assert call["status"] == "cancelled"
    await _cancel(api, f"/funds/{fund}/fee-waivers/{waiver['id']}")


async def test_the_offset_rate_is_the_one_of_the_day_the_income_was_recorded(
    api: FundApi,
) -> None:
    """50,000.00 recorded at 0.8 (credit 40,000.00); Q1 called (offset 25,000.00, 15,000.00
    carried); the term then becomes 1.0 and 10,000.00 more arrive in Q2 (credit 10,000.00).
    Q2: 15,000 + 10,000 = 25,000.00 available, offset 25,000.00, net 0, nothing carried.
    (Recomputed at 1.0 the first income would have carried 25,000.00 and Q2 10,000.00.)"""
    fund, *_ = await _fund(api)
    first = await _income(api, fund, "2026-02-10", "50000.00")
    assert first["offset_rate"] == "0.8"
    await _call(api, fund, Q1)
    await api.request("PATCH", f"/funds/{fund}", json={"fee_offset_rate": "1"})
    second = await _income(api, fund, "2026-05-05", "10000.00")
    assert second["offset_rate"] == "1"
    q2 = await _fee(api, fund, Q2)
    r = q2["reduction"]
    assert (r["carried_in"], r["credit"], r["offset"], r["carried_forward"]) == (
        "15000.00",
        "10000.00",
        "25000.00",
        "0.00",
    )
    assert q2["net_amount"] == "0.00"


async def test_dates_are_bounded(api: FundApi) -> None:
    """Fee income dated after today, or before the fund's vintage year; a waiver ending more
    than a year from today: 422 with the bounds."""
    fund, *_ = await _fund(api, vintage_year=2024)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for date in (tomorrow, "2023-12-31", "9999-12-31"):
        refused = await _income(api, fund, date, "1.00", expect=422)
        assert refused["type"].endswith("rule-violation")
        assert "date: must lie between 2024-01-01 and" in refused["detail"]
    far = dt.date.today() + dt.timedelta(days=800)  # its quarter starts > a year from today
    start = far.replace(month=3 * ((far.month - 1) // 3) + 1, day=1)
    body = {"period_start": str(start), "period_end": str(start), "amount": "1.00"}
    await api.request("POST", f"/funds/{fund}/fee-waivers", json=body, expect=422, money=True)


async def test_old_income_is_carried_to_the_first_quarter_with_a_fee(api: FundApi) -> None:
    """100.00 of fee income on 2000-01-15 (credit 80.00), nothing committed before
    2025-01-02: no fee until then, so the credit is carried unchanged to Q1 2025 and applied
    there; a fee period centuries later carries nothing (and is answered at once: the walk
    jumps over the quarters that cannot change what is carried)."""
    fund, *_ = await _fund(api)
    await _income(api, fund, "2000-01-15", "100.00")
    q1_2025 = await _fee(api, fund, ("2025-01-01", "2025-03-31"))
    assert (q1_2025["reduction"]["carried_in"], q1_2025["reduction"]["offset"]) == (
        "80.00",
        "80.00",
    )
    late = await _fee(api, fund, ("9999-10-01", "9999-12-31"))
    assert late["reduction"]["carried_in"] == "0.00"


async def test_income_recorded_after_its_quarter_was_called_is_carried_forward(
    api: FundApi,
) -> None:
    """Q1 called in full (25,000.00: no fee income yet). A transaction fee of 50,000.00
    received 2026-02-10 is recorded only afterwards: credit 40,000.00. Q1 stays as called
    (offset 0), so the whole 40,000.00 is carried into Q2: offset 25,000.00, net 0, carried
    15,000.00 (recomputing Q1 would have used 25,000.00 of it there, a fee nobody was
    reduced by, and carried only 15,000.00 into Q2)."""
    fund, *_ = await _fund(api)
    q1 = await _call(api, fund, Q1)
    assert _figures(q1) == ("25000.00", "0.00", "0.00", "0.00")
    await _income(api, fund, "2026-02-10", "50000.00")
    q2 = await _fee(api, fund, Q2)
    r = q2["reduction"]
    assert (r["carried_in"], r["credit"], r["offset"], r["carried_forward"]) == (
        "40000.00",
        "0.00",
        "25000.00",
        "15000.00",
    )
    assert q2["net_amount"] == "0.00"


async def test_a_fee_call_needs_a_key_and_a_replay_calls_once(api: FundApi) -> None:
    """Calling a fee moves money: no Idempotency-Key is 400; the same key twice answers the
    first fee call again and issues one capital call."""
    fund, *_ = await _fund(api)
    path = f"/api/v1/funds/{fund}/management-fees/calls"
    body = {"period_start": Q1[0], "period_end": Q1[1], "notice_date": Q1[1]}
    refused = await api.client.post(path, json=body, headers=api.headers)
    assert refused.status_code == 400, refused.text
    keyed = {**api.headers, "Idempotency-Key": "fee-call-q1"}
    first = await api.client.post(path, json=body, headers=keyed)
    again = await api.client.post(path, json=body, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    calls = await api.request("GET", f"/funds/{fund}/capital-calls")
    assert [c["amount"] for c in calls["items"]] == ["25000.00"]
