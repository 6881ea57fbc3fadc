"""Defaulting investors (issue 18, item 3): a line declared in default after the grace days,
default interest (simple, the fund's day count) paid first, cure, set-off against later
distributions, a shortfall call from the investors not in default.

Every expected figure is computed by hand in the test's docstring or comments: interest is
principal × rate × days / 365 (act/365, the fund's default day count), summed over the stretches
between payments and rounded once to the cent (half to even); splits are the amounts × each
weight / Σ weights, floored to the cent, leftover cents to the largest remainders."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.support import TestDatabase


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _line(call: Any, investor: str) -> Any:
    return next(x for x in call["lines"] if x["investor_id"] == investor)


def _expenses(amount: str) -> list[dict[str, Any]]:
    return [{"purpose": "fund_expenses", "amount": amount}]


async def _pay(
    api: FundApi, fund: str, call: str, investor: str, amount: str, on: str, expect: int = 200
) -> Any:
    body = {"investor_id": investor, "amount": amount, "received_on": on}
    return await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call}/payments",
        json=body,
        money=True,
        expect=expect,
    )


async def _default(
    api: FundApi, fund: str, call: str, investor: str, on: str, expect: int = 200
) -> Any:
    return await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call}/lines/{investor}/default",
        json={"declared_on": on},
        money=True,
        expect=expect,
    )


async def _shortfall(
    api: FundApi, fund: str, call: str, notice: str = "2026-06-01", expect: int = 201
) -> Any:
    return await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call}/shortfall",
        json={"notice_date": notice},
        money=True,
        expect=expect,
    )


async def _view(api: FundApi, fund: str, call: str, as_of: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/capital-calls/{call}?as_of={as_of}")


async def test_default_interest_is_paid_first_and_a_full_payment_cures(
    api: FundApi, database: TestDatabase
) -> None:
    """10 % default interest, act/365, 10 grace days. A and B of 100,000.00; a 20,000.00 call
    noticed Monday 2026-03-02 is due Monday 2026-03-16 (10 business days): 10,000.00 each.
    B pays on the due date; A pays 4,000.00 on 2026-03-26, then nothing.

    Grace: 2026-03-16 + 10 business days = Monday 2026-03-30, so the first day A may be
    declared in default is 2026-03-31 (2026-03-30 is refused, naming it).

    Interest to 2026-05-15: 10,000.00 for 10 days (03-16 → 03-26) and 6,000.00 for 50 days
    (03-26 → 05-15): 0.10 × (100,000 + 300,000) / 365 = 40,000 / 365 = 109.589… = 109.59.
    A pays 1,000.00 on 2026-05-15: 109.59 interest first, 890.41 for the line (paid 4,890.41,
    outstanding 5,109.59). To 2026-06-14 (30 days more on 5,109.59): accrued
    (40,000 + 5,109.59 × 30 × 0.10) / 365 = 55,328.77 / 365 = 151.585… = 151.59, less 109.59
    paid = 42.00 due. A pays 5,151.59 on 2026-06-14: 42.00 interest, 5,109.59 line → cured
    that day; the call is paid. A contributed 10,000.00 (interest is not capital)."""
    fund = await api.fund(default_interest_rate="0.10")
    a, b = await api.investors_with(fund, ["100000.00", "100000.00"])
    call = await api.call_and_issue(fund, _expenses("20000.00"), notice="2026-03-02")
    assert call["due_date"] == "2026-03-16"
    cid = call["id"]
    await _pay(api, fund, cid, b, "10000.00", "2026-03-16")
    await _pay(api, fund, cid, a, "4000.00", "2026-03-26")
    early = await _default(api, fund, cid, a, "2026-03-30", expect=422)
    assert "2026-03-31 or later" in early["detail"]
    assert early["first_allowed"] == "2026-03-31"
    declared = await _default(api, fund, cid, a, "2026-03-31")
    assert _line(declared, a)["defaulted_on"] == "2026-03-31"
    assert _line(declared, b)["defaulted_on"] is None
    assert _line(declared, b)["default_interest"] is None

    seen = _line(await _view(api, fund, cid, "2026-05-15"), a)
    assert (seen["default_interest"], seen["default_interest_paid"]) == ("109.59", "0.00")
    assert (seen["default_interest_due"], seen["outstanding"]) == ("109.59", "6000.00")

    paid = await _pay(api, fund, cid, a, "1000.00", "2026-05-15")
    assert (paid["payment"]["interest"], paid["payment"]["applied"]) == ("109.59", "890.41")
    assert paid["payment"]["credit"] == "0.00"
    line = _line(paid, a)
    assert (line["paid"], line["outstanding"], line["cured_on"]) == ("4890.41", "5109.59", None)
    assert paid["status"] == "partially_paid"

    seen = _line(await _view(api, fund, cid, "2026-06-14"), a)
    assert (seen["default_interest"], seen["default_interest_due"]) == ("151.59", "42.00")

    cured = await _pay(api, fund, cid, a, "5151.59", "2026-06-14")
    assert (cured["payment"]["interest"], cured["payment"]["applied"]) == ("42.00", "5109.59")
    line = _line(cured, a)
    assert (line["paid"], line["outstanding"], line["cured_on"]) == (
        "10000.00",
        "0.00",
        "2026-06-14",
    )
    assert cured["status"] == "paid"
    # Cured: no more interest accrues (principal nil since 2026-06-14).
    later = _line(await _view(api, fund, cid, "2026-12-31"), a)
    assert (later["default_interest"], later["default_interest_due"]) == ("151.59", "0.00")

    rows = await api.commitments(fund)
    assert (rows[a]["contributed"], rows[a]["unfunded"]) == ("10000.00", "90000.00")
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31&investor_id={a}")
    assert metrics["paid_in"] == "10000.00"
    with psycopg.connect(database.owner_url) as conn:
        interest = conn.execute(
            "SELECT amount, effective_on::text FROM capital_ledger "
            "WHERE kind = 'default_interest' AND investor_id = %s ORDER BY id",
            (a,),
        ).fetchall()
        audited = conn.execute(
            "SELECT after->>'declared_on' FROM audit_log WHERE action = 'capital_call.default'"
        ).fetchall()
    assert [(Decimal(x), d) for x, d in interest] == [
        (Decimal("109.59"), "2026-05-15"),
        (Decimal("42.00"), "2026-06-14"),
    ]
    assert audited == [("2026-03-31",)]


async def test_grace_days_count_business_days_on_the_funds_calendar(api: FundApi) -> None:
    """5 grace days; a call due Friday 2026-11-20. Weekdays only: Mon 23, Tue 24, Wed 25,
    Thu 26, Fri 27 → the grace ends 2026-11-27, first day of default Saturday 2026-11-28. On
    the US calendar Thanksgiving (Thursday 2026-11-26) does not count: Mon 23, Tue 24, Wed 25,
    Fri 27, Mon 30 → first day Tuesday 2026-12-01."""
    fund = await api.fund(grace_days=5, default_interest_rate="0.08")
    [a] = await api.investors_with(fund, ["1000.00"])
    body = {"notice_date": "2026-11-02", "due_date": "2026-11-20", "items": _expenses("100.00")}
    draft = await api.request("POST", f"/funds/{fund}/capital-calls", json=body, expect=201)
    call = (await api.issue(fund, draft["id"]))["id"]
    refused = await _default(api, fund, call, a, "2026-11-27", expect=422)
    assert refused["first_allowed"] == "2026-11-28"
    await api.request("PATCH", f"/funds/{fund}", json={"holiday_calendar": "US"})
    refused = await _default(api, fund, call, a, "2026-11-30", expect=422)
    assert refused["first_allowed"] == "2026-12-01"
    assert "2026-12-01 or later" in refused["detail"]
    declared = await _default(api, fund, call, a, "2026-12-01")
    assert _line(declared, a)["defaulted_on"] == "2026-12-01"
    terms = await api.request("GET", f"/funds/{fund}")
    assert (terms["grace_days"], terms["default_interest_rate"]) == (5, "0.08")


async def test_refusals_404_409_422_and_the_idempotency_key(api: FundApi) -> None:
    """A line fully paid owes nothing (422); a second declaration is 409; an investor with no
    line on the call, 404; a draft's line, 409; no Idempotency-Key, 400; no default, no
    shortfall (422)."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    call = (await api.call_and_issue(fund, _expenses("200.00"), notice="2026-03-02"))["id"]
    await _pay(api, fund, call, b, "100.00", "2026-03-16")
    paid_up = await _default(api, fund, call, b, "2026-04-30", expect=422)
    assert "owes nothing" in paid_up["detail"]
    await _shortfall(api, fund, call, expect=422)
    await _default(api, fund, call, a, "2026-04-30")
    again = await _default(api, fund, call, a, "2026-05-01", expect=409)
    assert "declared in default on 2026-04-30 already" in again["detail"]
    stranger = await api.investor("No line")
    await _default(api, fund, call, stranger, "2026-04-30", expect=404)
    await _default(api, fund, call, str(uuid.uuid4()), "2026-04-30", expect=404)
    draft = (await api.draft(fund, _expenses("10.00"), notice="2026-04-06"))["id"]
    await _default(api, fund, draft, a, "2026-06-30", expect=409)
    path = f"/api/v1/funds/{fund}/capital-calls/{call}"
    for url, body in (
        (f"{path}/lines/{a}/default", {"declared_on": "2026-05-01"}),
        (f"{path}/shortfall", {"notice_date": "2026-06-01"}),
    ):
        response = await api.client.post(url, json=body, headers=api.headers)
        assert response.status_code == 400, url


async def test_a_distribution_is_set_off_against_the_default_and_pays_the_line(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg, database: TestDatabase
) -> None:
    """No pref, no carry (every distribution is the LPs'); 10 % default interest. A and B of
    100,000.00. Call 1 (due 2026-03-16): 10,000.00 each, both paid. Call 2 noticed Wednesday
    2026-04-01, due Wednesday 2026-04-15: 10,000.00 each; neither has paid it by 2026-06-14,
    and A is declared in default on 2026-05-01 (B is late, not in default).

    A distribution of 3,000.00 on 2026-06-14 splits 1 : 1 (A and B have contributed alike):
    A 1,500.00, B 1,500.00. A owes 10,000.00 + 10,000.00 × 0.10 × 60 / 365 (04-15 → 06-14:
    15 + 31 + 14 days) = 164.38: all its 1,500.00 is set off: 164.38 interest, 1,335.62 for the
    line (outstanding 8,664.38), paid to A 0.00; B's 1,500.00 is paid in full (not in
    default). The distribution's ledger entries stay 1,500.00 each. Cancelling the
    distribution reverses the set-off: A's line is unpaid again."""
    from prorata.distributions.models import Distribution
    from prorata.documents import distribution_content

    fund = await api.fund(
        default_interest_rate="0.10", preferred_return_rate="0", carry_share="0", catch_up_share="0"
    )
    a, b = await api.investors_with(fund, ["100000.00", "100000.00"])
    first = (await api.call_and_issue(fund, _expenses("20000.00"), notice="2026-03-02"))["id"]
    await _pay(api, fund, first, a, "10000.00", "2026-03-16")
    await _pay(api, fund, first, b, "10000.00", "2026-03-16")
    second = await api.call_and_issue(fund, _expenses("20000.00"), notice="2026-04-01")
    assert second["due_date"] == "2026-04-15"
    await _default(api, fund, second["id"], a, "2026-05-01")

    made = await api.distribute(fund, "3000.00", "2026-06-14", kind="return_of_capital")
    lines = {x["investor_id"]: x for x in made["lines"]}
    assert (lines[a]["amount"], lines[a]["lp_amount"], lines[a]["set_off"]) == (
        "1500.00",
        "1500.00",
        "1500.00",
    )
    assert (lines[b]["lp_amount"], lines[b]["set_off"]) == ("1500.00", "0.00")
    line = _line(await _view(api, fund, second["id"], "2026-06-14"), a)
    assert (line["paid"], line["outstanding"]) == ("1335.62", "8664.38")
    assert (line["default_interest"], line["default_interest_paid"]) == ("164.38", "164.38")
    [payment] = line["payments"]
    assert (payment["amount"], payment["interest"], payment["applied"]) == (
        "1500.00",
        "164.38",
        "1335.62",
    )
    assert (payment["received_on"], payment["distribution_id"]) == ("2026-06-14", made["id"])
    assert line["cured_on"] is None
    # A set-off is undone with its distribution, not reversed on its own.
    await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{second['id']}/payments/{payment['id']}/reverse",
        json={"reversed_on": "2026-06-20", "reason": "no"},
        money=True,
        expect=409,
    )
    async with db.tenant_transaction(sessions, org.org_id) as session:
        distribution = await session.get_one(Distribution, uuid.UUID(made["id"]))
        notices = await distribution_content.distribution_notices(
            session, distribution=distribution
        )
    notice = next(n for n in notices if str(n.investor_id) == a)
    assert (notice.gross, notice.set_off, notice.net) == (
        Decimal("1500.00"),
        Decimal("1500.00"),
        Decimal("0.00"),
    )
    with psycopg.connect(database.owner_url) as conn:
        booked = conn.execute(
            "SELECT kind, amount FROM capital_ledger WHERE investor_id = %s "
            "AND effective_on = '2026-06-14' ORDER BY kind",
            (a,),
        ).fetchall()
    # The distribution as computed, plus the set-off's payment entries (interest first).
    assert sorted((k, Decimal(x)) for k, x in booked) == [
        ("default_interest", Decimal("164.38")),
        ("distribution", Decimal("1500.00")),
        ("payment", Decimal("1335.62")),
    ]

    await api.request("POST", f"/funds/{fund}/distributions/{made['id']}/cancel", money=True)
    line = _line(await _view(api, fund, second["id"], "2026-06-14"), a)
    assert (line["paid"], line["outstanding"], line["default_interest_paid"]) == (
        "0.00",
        "10000.00",
        "0.00",
    )
    assert line["payments"][0]["reversed_on"] == "2026-06-14"


async def test_a_set_off_larger_than_the_debt_cures_and_pays_the_rest(api: FundApi) -> None:
    """One LP of 10,000.00, no pref or carry, 10 % default interest. Call 1 of 1,000.00 paid;
    call 2 of 1,000.00 (due 2026-04-15) unpaid, in default. A distribution of 5,000.00 on
    2026-05-15 (30 days): owed 1,000.00 + 1,000 × 0.10 × 30 / 365 = 8.219… = 8.22 →
    1,008.22 set off (cured 2026-05-15), 5,000.00 − 1,008.22 = 3,991.78 paid to the LP."""
    fund = await api.fund(
        default_interest_rate="0.10", preferred_return_rate="0", carry_share="0", catch_up_share="0"
    )
    [a] = await api.investors_with(fund, ["10000.00"])
    first = (await api.call_and_issue(fund, _expenses("1000.00"), notice="2026-03-02"))["id"]
    await _pay(api, fund, first, a, "1000.00", "2026-03-16")
    second = (await api.call_and_issue(fund, _expenses("1000.00"), notice="2026-04-01"))["id"]
    await _default(api, fund, second, a, "2026-05-01")
    made = await api.distribute(fund, "5000.00", "2026-05-15", kind="gain")
    [line] = made["lines"]
    assert (line["lp_amount"], line["set_off"]) == ("5000.00", "1008.22")
    call = _line(await _view(api, fund, second, "2026-12-31"), a)
    assert (call["paid"], call["outstanding"], call["cured_on"]) == (
        "1000.00",
        "0.00",
        "2026-05-15",
    )
    assert (call["default_interest"], call["default_interest_due"]) == ("8.22", "0.00")


async def test_a_shortfall_call_is_drafted_pro_rata_to_unfunded(api: FundApi) -> None:
    """A 100,000.00, B 60,000.00, C 40,000.00. Call 1: 50,000.00 with C excused → A 31,250.00,
    B 18,750.00 (100 : 60), paid. Call 2: investment 30,000.00 + fees 10,000.00 → A
    15,000.00 + 5,000.00, B 9,000.00 + 3,000.00, C 6,000.00 + 2,000.00; B and C pay, A does
    not and is declared in default. Unfunded: B 60,000 − 18,750 − 12,000 = 29,250.00, C
    40,000 − 8,000 = 32,000.00 (Σ 61,250).

    The shortfall call (A excused) has A's unpaid items: investment 15,000.00 → B 15,000 ×
    29,250 / 61,250 = 7,163.265… (7,163.26, remainder .53), C 7,836.734… (7,836.73, .47): the
    leftover cent to B → 7,163.27 / 7,836.73. Fees 5,000.00 → B 2,387.755… (2,387.75, .51), C
    2,612.244… (2,612.24, .49) → 2,387.76 / 2,612.24. (By commitment it would be 60 : 40.)
    Closing call 2 leaves A's line in default, still due and payable."""
    fund = await api.fund()
    a, b, c = await api.investors_with(fund, ["100000.00", "60000.00", "40000.00"])
    deal = await api.deal(fund)
    first = await api.call_and_issue(
        fund,
        [{"purpose": "fund_expenses", "amount": "50000.00", "excused_investor_ids": [c]}],
        notice="2026-03-02",
    )
    assert (_line(first, a)["total"], _line(first, b)["total"]) == ("31250.00", "18750.00")
    await _pay(api, fund, first["id"], a, "31250.00", "2026-03-16")
    await _pay(api, fund, first["id"], b, "18750.00", "2026-03-16")
    second = await api.call_and_issue(
        fund,
        [
            {"purpose": "investment", "amount": "30000.00", "deal_id": deal},
            {"purpose": "management_fee", "amount": "10000.00"},
        ],
        notice="2026-04-01",
    )
    cid = second["id"]
    await _pay(api, fund, cid, b, "12000.00", "2026-04-15")
    await _pay(api, fund, cid, c, "8000.00", "2026-04-15")
    await _default(api, fund, cid, a, "2026-05-01")

    drafted = await _shortfall(api, fund, cid)
    assert (drafted["status"], drafted["shortfall_of"], drafted["amount"]) == (
        "draft",
        cid,
        "20000.00",
    )
    twice = await _shortfall(api, fund, cid, expect=409)  # it would call 20,000.00 again
    assert drafted["id"] in twice["detail"]
    assert [
        (i["purpose"], i["amount"], i["deal_id"], i["excused_investor_ids"])
        for i in drafted["items"]
    ] == [
        ("investment", "15000.00", deal, [a]),
        ("management_fee", "5000.00", None, [a]),
    ]
    amounts = {x["investor_id"]: x["amounts"] for x in drafted["lines"]}
    assert amounts == {
        b: {"investment": "7163.27", "management_fee": "2387.76"},
        c: {"investment": "7836.73", "management_fee": "2612.24"},
    }
    issued = await api.issue(fund, drafted["id"])
    assert {x["investor_id"]: x["total"] for x in issued["lines"]} == {
        b: "9551.03",
        c: "10448.97",
    }

    closed = await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{cid}/close",
        json={"closed_on": "2026-06-30"},
        money=True,
    )
    line = _line(closed, a)
    assert (line["released"], line["outstanding"], line["defaulted_on"]) == (
        "0.00",
        "20000.00",
        "2026-05-01",
    )
    # Still due on the closed call: a payment is taken (the rate is 0: no interest).
    paid = await _pay(api, fund, cid, a, "20000.00", "2026-07-15")
    assert (paid["status"], _line(paid, a)["cured_on"]) == ("closed", "2026-07-15")
