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


async def _fee(api: FundApi, fund: str, period: tuple[str, str], expect: int = 200) -> Any:
    return await api.request(
        "GET", f"/funds/{fund}/management-fees?from={period[0]}&to={period[1]}", expect=expect
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


async def test_fee_periods_are_bounded(api: FundApi) -> None:
    """A fee calculation's period and a fee call's lie between 1 January of the vintage year
    (2024) and 31 December ten years from now: 422 naming the bounds, both ends checked."""
    fund, *_ = await _fund(api, vintage_year=2024)
    last = f"{dt.date.today().year + 10}-12-31"
    bounds = f"must lie between 2024-01-01 and {last}"
    for period in (("2023-10-01", "2023-12-31"), ("9999-10-01", "9999-12-31")):
        refused = await _fee(api, fund, period, expect=422)
        assert refused["type"].endswith("rule-violation")
        assert refused["detail"].startswith(f"from .. to: {bounds}")
        assert (refused["earliest"], refused["latest"]) == ("2024-01-01", last)
        called = await _call(api, fund, period, expect=422)
        assert called["detail"].startswith(f"period: {bounds}")
    # Across the lower bound: refused too; the bounds themselves are accepted.
    await _fee(api, fund, ("2023-12-31", "2024-03-31"), expect=422)
    first = await _fee(api, fund, ("2024-01-01", "2024-03-31"))
    assert first["amount"] == "0.00"  # nothing committed before 2025-01-02
    latest = await _fee(api, fund, (f"{dt.date.today().year + 10}-10-01", last))
    assert latest["amount"] == "25000.00"


async def test_old_income_is_carried_to_the_first_quarter_with_a_fee(api: FundApi) -> None:
    """100.00 of fee income on 2000-01-15 (credit 80.00), nothing committed before
    2025-01-02: no fee until then, so the credit is carried unchanged to Q1 2025 and applied
    there; the latest fee period accepted (Q4 ten years from now) carries nothing."""
    fund, *_ = await _fund(api)
    await _income(api, fund, "2000-01-15", "100.00")
    q1_2025 = await _fee(api, fund, ("2025-01-01", "2025-03-31"))
    assert (q1_2025["reduction"]["carried_in"], q1_2025["reduction"]["offset"]) == (
        "80.00",
        "80.00",
    )
    year = dt.date.today().year + 10
    late = await _fee(api, fund, (f"{year}-10-01", f"{year}-12-31"))
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


async def test_fee_calls_are_listed_newest_first_and_read_back_as_called(api: FundApi) -> None:
    """The first example again: Q1 called at offset 25,000.00, net 0, no capital call; Q2 at
    offset 15,000.00, net 25,000 − 15,000 = 10,000.00 (A 6,000.00, B 4,000.00). Listed
    newest period first, a page at a time; each read back with its investors' lines."""
    fund, a, b = await _fund(api)
    await _income(api, fund, "2026-02-10", "50000.00")
    q1 = await _call(api, fund, Q1)
    q2 = await _call(api, fund, Q2)
    assert (q2["net_amount"], q2["cancelled"]) == ("10000.00", False)

    path = f"/funds/{fund}/management-fees/calls"
    first = await api.request("GET", f"{path}?limit=1")
    assert [c["id"] for c in first["items"]] == [q2["id"]]
    second = await api.request("GET", f"{path}?limit=1&cursor={first['next_cursor']}")
    assert ([c["id"] for c in second["items"]], second["next_cursor"]) == ([q1["id"]], None)
    [listed_q2] = first["items"]
    assert listed_q2 == q2  # the figures it was called at, as the POST answered them

    detail = await api.request("GET", f"{path}/{q2['id']}")
    assert (detail["call_id"], detail["period_start"], detail["period_end"]) == (
        q2["call_id"],
        *Q2,
    )
    assert (detail["amount"], detail["waived"], detail["offset"], detail["net_amount"]) == (
        "25000.00",
        "0.00",
        "15000.00",
        "10000.00",
    )
    assert {line["investor_id"]: line["net"] for line in detail["lines"]} == {
        a: "6000.00",
        b: "4000.00",
    }
    nothing = await api.request("GET", f"{path}/{q1['id']}")
    assert (nothing["call_id"], nothing["net_amount"], nothing["lines"]) == (None, "0.00", [])

    # Cancelled, it stays listed (cancelled: true); cancelling its capital call does the same.
    await _cancel(api, f"{path}/{q1['id']}")
    other, *_ = await _fund(api)
    q3 = await _call(api, other, ("2026-07-01", "2026-09-30"))
    await api.request(
        "POST", f"/funds/{other}/capital-calls/{q3['call_id']}/cancel", expect=200, money=True
    )
    assert [c["cancelled"] for c in (await api.request("GET", path))["items"]] == [False, True]
    assert (await api.request("GET", f"/funds/{other}/management-fees/calls/{q3['id']}"))[
        "cancelled"
    ] is True
    # Another fund's fee call is not this fund's.
    await api.request("GET", f"{path}/{q3['id']}", expect=404)


async def test_the_calculation_of_a_called_period_shows_what_was_called(api: FundApi) -> None:
    """Q2 called at offset 15,000.00, net 10,000.00 (above). Then 10,000.00 of monitoring
    fees dated 2026-05-05 are recorded (credit 0.8 × 10,000 = 8,000.00): Q2 recomputed has
    15,000 + 8,000 = 23,000.00 of offset, net 25,000 − 23,000 = 2,000.00 — the calculation
    says so beside the fee call's own figures (offset 15,000.00, net 10,000.00), which stay;
    `differs` tells them apart. A period across both quarters shows both fee calls, not
    compared (another period)."""
    fund, a, b = await _fund(api)
    await _income(api, fund, "2026-02-10", "50000.00")
    q1 = await _call(api, fund, Q1)
    q2 = await _call(api, fund, Q2)

    same = await _fee(api, fund, Q2)
    [called] = same["called"]
    assert (called["id"], called["call_id"], called["differs"]) == (q2["id"], q2["call_id"], False)
    assert {line["investor_id"]: line["net"] for line in called["lines"]} == {
        a: "6000.00",
        b: "4000.00",
    }

    await _income(api, fund, "2026-05-05", "10000.00")
    changed = await _fee(api, fund, Q2)
    assert (changed["reduction"]["offset"], changed["net_amount"]) == ("23000.00", "2000.00")
    [called] = changed["called"]
    assert (called["offset"], called["net_amount"], called["differs"]) == (
        "15000.00",
        "10000.00",
        True,
    )
    both = await _fee(api, fund, ("2026-01-01", "2026-06-30"))
    assert [(c["id"], c["differs"]) for c in both["called"]] == [
        (q1["id"], None),
        (q2["id"], None),
    ]
    # Cancelled, a fee call no longer stands: nothing shown as called.
    await _cancel(api, f"/funds/{fund}/management-fees/calls/{q2['id']}")
    assert (await _fee(api, fund, Q2))["called"] == []


async def test_a_fee_call_is_audited_and_announced_as_a_capital_call_is(
    api: FundApi, org: NewOrg, database: TestDatabase
) -> None:
    """A webhook subscribed to call.issued hears of the fee call's capital call (Q1: 25,000.00,
    no fee income); the fee call is audited as fee_call.create with its figures. A fee call
    with nothing to call (Q2 waived in full) issues no capital call and announces nothing."""
    hook = await api.request(
        "POST",
        "/webhooks",
        json={"url": "https://hooks.example.com/prorata", "events": ["call.issued"]},
        expect=201,
    )
    fund, *_ = await _fund(api)
    q1 = await _call(api, fund, Q1)
    await _waiver(api, fund, Q2, "25000.00")
    q2 = await _call(api, fund, Q2)
    assert q2["call_id"] is None

    deliveries = await api.request("GET", f"/webhooks/{hook['id']}/deliveries")
    assert [d["event"] for d in deliveries["items"]] == ["call.issued"]
    with psycopg.connect(database.owner_url) as conn:
        events = conn.execute(
            "SELECT kind, data->>'call_id', data->>'amount' FROM fund_events "
            "WHERE fund_id = %s ORDER BY id",
            (fund,),
        ).fetchall()
        audited = conn.execute(
            "SELECT entity_id::text, actor_user_id, after->>'call_id', after->>'net' "
            "FROM audit_log WHERE action = 'fee_call.create' AND after->>'fund_id' = %s "
            "ORDER BY after->>'period_start'",
            (fund,),
        ).fetchall()
    assert [e for e in events if e[0] == "call.issued"] == [
        ("call.issued", q1["call_id"], "25000.00")
    ]
    assert audited == [
        (q1["id"], org.user_id, q1["call_id"], "25000.00"),
        (q2["id"], org.user_id, None, "0.00"),
    ]
