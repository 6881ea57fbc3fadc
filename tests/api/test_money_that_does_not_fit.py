"""Money that does not fit a call line (issue 18, item 7): overpayments kept as credit and
applied or refunded, bounced payments reversed, a partly paid call closed out.

Every expected figure is computed by hand in the test's docstring or comments (the source: the
amounts the test itself puts in, added and subtracted to the cent)."""

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
from tests import pdf_reader
from tests.fund_support import FundApi
from tests.support import TestDatabase


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _line(call: Any, investor: str) -> Any:
    return next(x for x in call["lines"] if x["investor_id"] == investor)


def _expenses(amount: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"purpose": "fund_expenses", "amount": amount, **extra}]


async def _credit(api: FundApi, fund: str, investor: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/credit")


async def _reverse(
    api: FundApi, fund: str, call: str, payment: str, expect: int = 200, on: str = "2026-03-25"
) -> Any:
    return await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call}/payments/{payment}/reverse",
        json={"reversed_on": on, "reason": "wire returned by the bank (R01)"},
        money=True,
        expect=expect,
    )


async def _close(api: FundApi, fund: str, call: str, on: str, expect: int = 200) -> Any:
    return await api.request(
        "POST",
        f"/funds/{fund}/capital-calls/{call}/close",
        json={"closed_on": on},
        money=True,
        expect=expect,
    )


async def test_an_overpayment_is_kept_as_credit_and_pays_the_next_call(api: FundApi) -> None:
    """The brief's example: 1,000.00 received on a 750.00 line → 750.00 paid, 250.00 credit;
    the next call of 600.00 → 250.00 credit applied, 600.00 − 250.00 = 350.00 due."""
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["10000.00"])
    first = await api.call_and_issue(fund, _expenses("750.00"), notice="2026-03-02")
    paid = await api.pay(fund, first["id"], lp, "1000.00")
    assert paid["status"] == "paid"
    assert paid["payment"]["amount"] == "1000.00"
    assert (paid["payment"]["applied"], paid["payment"]["credit"]) == ("750.00", "250.00")
    line = _line(paid, lp)
    assert (line["paid"], line["outstanding"], line["credit_kept"]) == ("750.00", "0.00", "250.00")
    credit = await _credit(api, fund, lp)
    assert credit["balance"] == "250.00"
    assert [m["source_type"] for m in credit["movements"]] == ["payment"]

    second = await api.call_and_issue(fund, _expenses("600.00"), notice="2026-04-06")
    line = _line(second, lp)
    assert (line["total"], line["credit_applied"], line["paid"], line["outstanding"]) == (
        "600.00",
        "250.00",
        "0.00",
        "350.00",
    )
    assert second["status"] == "partially_paid"
    credit = await _credit(api, fund, lp)
    assert credit["balance"] == "0.00"
    assert [m["amount"] for m in credit["movements"]] == ["250.00", "-250.00"]
    # Exactly what is due now: 350.00, nothing left over.
    settled = await api.pay(fund, second["id"], lp, "350.00")
    assert settled["status"] == "paid"
    assert settled["payment"]["credit"] == "0.00"
    # Contributed = 750.00 + 600.00 = 1,350.00 = cash received for lines (credit held is not
    # capital): paid-in 1,350.00, unfunded 10,000.00 − 1,350.00 = 8,650.00.
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31")
    assert (metrics["called"], metrics["paid_in"]) == ("1350.00", "1350.00")
    row = (await api.commitments(fund))[lp]
    assert (row["contributed"], row["unfunded"]) == ("1350.00", "8650.00")


async def test_the_next_calls_notice_states_the_credit_applied_and_what_is_due(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """The brief's example again: the 600.00 call's notice says 600.00 called, −250.00 credit
    applied, 350.00 due (and its e-mail asks 350.00)."""
    from prorata.capital_calls.models import CapitalCall
    from prorata.documents import content, mailing, render

    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["10000.00"])
    first = await api.call_and_issue(fund, _expenses("750.00"))
    await api.pay(fund, first["id"], lp, "1000.00")
    second = await api.call_and_issue(fund, _expenses("600.00"), notice="2026-04-06")
    async with db.tenant_transaction(sessions, org.org_id) as session:
        call = await session.get_one(CapitalCall, uuid.UUID(second["id"]))
        [notice] = await content.call_notices(session, call=call)
    assert (notice.total, notice.credit_applied, notice.amount_due) == (
        Decimal("600.00"),
        Decimal("250.00"),
        Decimal("350.00"),
    )
    text = pdf_reader.text(render.notice_pdf(notice).data)
    assert "Total called\n600.00" in text
    assert "Your credit applied (an earlier overpayment)\n-250.00" in text
    assert "Total amount due\n350.00" in text
    assert "350.00 USD is due on" in mailing._body(notice)


async def test_credit_larger_than_the_next_line_covers_it_and_the_rest_stays(
    api: FundApi,
) -> None:
    """100.00 on a 40.00 line → 60.00 credit; a 25.00 call is paid by credit at issue (paid),
    60.00 − 25.00 = 35.00 stays; cancelling that call gives the 25.00 back (60.00)."""
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["1000.00"])
    first = await api.call_and_issue(fund, _expenses("40.00"))
    await api.pay(fund, first["id"], lp, "100.00")
    second = await api.call_and_issue(fund, _expenses("25.00"), notice="2026-04-06")
    assert second["status"] == "paid"
    assert (_line(second, lp)["credit_applied"], _line(second, lp)["outstanding"]) == (
        "25.00",
        "0.00",
    )
    assert (await _credit(api, fund, lp))["balance"] == "35.00"
    third = await api.call_and_issue(fund, _expenses("10.00"), notice="2026-05-04")
    await api.request("POST", f"/funds/{fund}/capital-calls/{third['id']}/cancel")
    assert (await _credit(api, fund, lp))["balance"] == "35.00"  # 35.00 − 10.00 + 10.00


async def test_credit_is_refunded_and_recorded(api: FundApi, database: TestDatabase) -> None:
    """250.00 credit; refund 100.00 → 150.00; refunding 150.01 is refused (422), 150.00 → 0."""
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["10000.00"])
    call = await api.call_and_issue(fund, _expenses("750.00"))
    await api.pay(fund, call["id"], lp, "1000.00")
    path = f"/funds/{fund}/investors/{lp}/credit/refund"
    body = {"amount": "100.00", "refunded_on": "2026-04-01"}
    missing_key = await api.client.post(f"/api/v1{path}", json=body, headers=api.headers)
    assert missing_key.status_code == 400
    after = await api.request("POST", path, json=body, money=True)
    assert after["balance"] == "150.00"
    assert after["movements"][-1]["amount"] == "-100.00"
    assert after["movements"][-1]["source_type"] == "credit_refund"
    too_much = {"amount": "150.01", "refunded_on": "2026-04-02"}
    refused = await api.request("POST", path, json=too_much, money=True, expect=422)
    assert refused["credit"] == "150.00"
    await api.request("POST", path, json={"amount": "0.001", "refunded_on": "2026-04-02"},
                      money=True, expect=422)  # fmt: skip
    final = await api.request(
        "POST", path, json={"amount": "150.00", "refunded_on": "2026-04-02"}, money=True
    )
    assert final["balance"] == "0.00"
    nobody = "00000000-0000-4000-8000-000000000000"
    await api.request("GET", f"/funds/{fund}/investors/{nobody}/credit", expect=404)
    with psycopg.connect(database.owner_url) as conn:
        refunds = conn.execute(
            "SELECT amount FROM capital_ledger WHERE kind = 'credit' "
            "AND source_type = 'credit_refund' ORDER BY id"
        ).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'credit.refund'"
        ).fetchone()
    assert [Decimal(r[0]) for r in refunds] == [Decimal("-100.00"), Decimal("-150.00")]
    assert audited == (2,)


async def test_a_bounced_payment_is_reversed_then_paid_again(
    api: FundApi, database: TestDatabase
) -> None:
    """A 100.00 line paid 100.00 → reversed (paid 0.00, outstanding 100.00, the call back to
    issued) → paid again 100.00 (paid). The ledger keeps all three: +100, −100, +100."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    call = await api.call_and_issue(fund, _expenses("200.00"))
    paid = await api.pay(fund, call["id"], a, "100.00")
    assert paid["status"] == "partially_paid"
    payment = paid["payment"]["id"]
    reversed_ = await _reverse(api, fund, call["id"], payment)
    assert reversed_["status"] == "issued"
    line = _line(reversed_, a)
    assert (line["paid"], line["outstanding"]) == ("0.00", "100.00")
    assert line["payments"][0]["reversed_on"] == "2026-03-25"
    assert line["payments"][0]["reversal_reason"] == "wire returned by the bank (R01)"
    again = await _reverse(api, fund, call["id"], payment, expect=409)
    assert "reversed on 2026-03-25 already" in again["detail"]
    # Before the payment was received: refused.
    other = (await api.pay(fund, call["id"], b, "1.00"))["payment"]["id"]
    await _reverse(api, fund, call["id"], other, on="2026-03-19", expect=422)
    unknown = "00000000-0000-4000-8000-000000000000"
    await _reverse(api, fund, call["id"], unknown, expect=404)
    repaid = await api.pay(fund, call["id"], a, "100.00")
    assert (_line(repaid, a)["paid"], _line(repaid, a)["outstanding"]) == ("100.00", "0.00")
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31&investor_id={a}")
    assert metrics["paid_in"] == "100.00"  # 100 − 100 + 100
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute(
            "SELECT amount, effective_on::text, reverses_id IS NOT NULL FROM capital_ledger "
            "WHERE kind = 'payment' AND investor_id = %s ORDER BY id",
            (a,),
        ).fetchall()
        audited = conn.execute(
            "SELECT after->>'reason' FROM audit_log WHERE action = 'capital_call.payment_reverse'"
        ).fetchall()
        # A payments board open elsewhere reloads (live only).
        live = conn.execute(
            "SELECT data->>'payment_id' FROM fund_events WHERE kind = 'payment.reversed'"
        ).fetchall()
    assert [(Decimal(x), d, r) for x, d, r in rows] == [
        (Decimal("100.00"), "2026-03-20", False),
        (Decimal("-100.00"), "2026-03-25", True),
        (Decimal("100.00"), "2026-03-20", False),
    ]
    assert audited == [("wire returned by the bank (R01)",)]
    assert live == [(payment,)]


async def test_reversing_an_overpayment_takes_its_credit_back_unless_it_was_used(
    api: FundApi,
) -> None:
    """1,000.00 on 750.00 → 250.00 credit. Reversing it: paid 0.00, credit 0.00. A second
    overpayment whose credit was applied to another call cannot be reversed (409)."""
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["10000.00"])
    call = await api.call_and_issue(fund, _expenses("750.00"))
    first = (await api.pay(fund, call["id"], lp, "1000.00"))["payment"]["id"]
    undone = await _reverse(api, fund, call["id"], first)
    assert (_line(undone, lp)["paid"], _line(undone, lp)["credit_kept"]) == ("0.00", "0.00")
    assert (await _credit(api, fund, lp))["balance"] == "0.00"
    second = (await api.pay(fund, call["id"], lp, "1000.00"))["payment"]["id"]
    await api.call_and_issue(fund, _expenses("600.00"), notice="2026-04-06")  # takes the 250
    used = await _reverse(api, fund, call["id"], second, expect=409)
    assert used["credit"] == "0.00"
    assert "applied or refunded" in used["detail"]


async def test_closing_a_partly_paid_call_releases_the_unpaid_rest(
    api: FundApi, database: TestDatabase
) -> None:
    """Two LPs of 1,000.00; a 400.00 call → 200.00 each. A pays 200.00, B 100.00 (half).
    Closing on 2026-04-30 releases B's unpaid 100.00: B contributed 200.00 − 100.00 = 100.00,
    unfunded 1,000.00 − 100.00 = 900.00; A unchanged (200.00 contributed, 800.00 unfunded).
    Fund: called 300.00 = paid-in 300.00 = Σ investors' contributions."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    call = await api.call_and_issue(fund, _expenses("400.00"))
    await api.pay(fund, call["id"], a, "200.00")
    await api.pay(fund, call["id"], b, "100.00")
    await _close(api, fund, call["id"], "2026-03-01", expect=422)  # before the notice date
    closed = await _close(api, fund, call["id"], "2026-04-30")
    assert (closed["status"], closed["closed_on"]) == ("closed", "2026-04-30")
    line_a, line_b = _line(closed, a), _line(closed, b)
    assert (line_a["paid"], line_a["released"], line_a["outstanding"]) == (
        "200.00",
        "0.00",
        "0.00",
    )
    assert (line_b["paid"], line_b["released"], line_b["outstanding"]) == (
        "100.00",
        "100.00",
        "0.00",
    )
    rows = await api.commitments(fund)
    assert (rows[a]["contributed"], rows[a]["unfunded"]) == ("200.00", "800.00")
    assert (rows[b]["contributed"], rows[b]["unfunded"]) == ("100.00", "900.00")
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of=2026-12-31")
    assert (metrics["called"], metrics["paid_in"]) == ("300.00", "300.00")
    accounts = [
        await api.request(
            "GET", f"/funds/{fund}/investors/{i}/capital-account?from=2026-01-01&to=2026-12-31"
        )
        for i in (a, b)
    ]
    assert [x["contributions"] for x in accounts] == ["200.00", "100.00"]
    assert sum(Decimal(x["contributions"]) for x in accounts) == Decimal(metrics["called"])
    # Before the close date B still owed and had been called 200.00 (the release is dated).
    before = await api.request(
        "GET", f"/funds/{fund}/investors/{b}/capital-account?from=2026-01-01&to=2026-04-29"
    )
    # … but contributed only the 100.00 it paid (capital is the cash received).
    assert (before["called"], before["contributed"], before["unfunded"]) == (
        "200.00",
        "100.00",
        "800.00",
    )
    refused = await api.pay(fund, call["id"], b, "100.00", expect=409)
    assert "closed on 2026-04-30" in refused["detail"]
    assert "no more payments" in refused["detail"]
    await _close(api, fund, call["id"], "2026-05-01", expect=409)
    with psycopg.connect(database.owner_url) as conn:
        releases = conn.execute(
            "SELECT investor_id::text, amount, effective_on::text, reverses_id IS NOT NULL "
            "FROM capital_ledger WHERE source_type = 'call_close'"
        ).fetchall()
        audited = conn.execute(
            "SELECT after->>'released' FROM audit_log WHERE action = 'capital_call.close'"
        ).fetchall()
        live = conn.execute(
            "SELECT data->>'call_id' FROM fund_events WHERE kind = 'call.closed'"
        ).fetchall()
    assert [(i, Decimal(x), d, r) for i, x, d, r in releases] == [
        (b, Decimal("-100.00"), "2026-04-30", True)
    ]
    assert audited == [("100.00",)]
    assert live == [(call["id"],)]


async def test_close_splits_the_release_over_purposes_and_refuses_paid_calls(
    api: FundApi,
) -> None:
    """One LP; a call of 30.00 expenses + 10.00 fees, 10.00 paid: 30.00 unpaid released pro
    rata, 30 × 30/40 = 22.50 expenses and 30 × 10/40 = 7.50 fees. A fully paid call: 409."""
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["1000.00"])
    call = await api.call_and_issue(
        fund,
        [
            {"purpose": "fund_expenses", "amount": "30.00"},
            {"purpose": "management_fee", "amount": "10.00"},
        ],
    )
    await api.pay(fund, call["id"], lp, "10.00")
    closed = await _close(api, fund, call["id"], "2026-04-30")
    assert _line(closed, lp)["released"] == "30.00"
    account = await api.request(
        "GET", f"/funds/{fund}/investors/{lp}/capital-account?from=2026-01-01&to=2026-12-31"
    )
    # Contributions 40.00 − 30.00 = 10.00: 7.50 expenses and 2.50 fees remain charged.
    assert (account["contributions"], account["expenses"], account["management_fees"]) == (
        "10.00",
        "7.50",
        "2.50",
    )
    paid = await api.call_and_issue(fund, _expenses("5.00"), notice="2026-05-04")
    await api.pay(fund, paid["id"], lp, "5.00")
    await _close(api, fund, paid["id"], "2026-06-30", expect=409)
    draft = await api.draft(fund, _expenses("1.00"))
    await _close(api, fund, draft["id"], "2026-06-30", expect=409)


async def test_the_new_routes_require_an_idempotency_key(api: FundApi) -> None:
    fund = await api.fund()
    [lp] = await api.investors_with(fund, ["1000.00"])
    call = await api.call_and_issue(fund, _expenses("10.00"))
    payment = (await api.pay(fund, call["id"], lp, "5.00"))["payment"]["id"]
    base = f"/api/v1/funds/{fund}/capital-calls/{call['id']}"
    for path, body in (
        (f"{base}/payments/{payment}/reverse", {"reversed_on": "2026-03-25", "reason": "R01"}),
        (f"{base}/close", {"closed_on": "2026-04-30"}),
    ):
        response = await api.client.post(path, json=body, headers=api.headers)
        assert response.status_code == 400, path


async def test_distributions_after_a_close_follow_what_was_finally_called(api: FundApi) -> None:
    """A 400.00 investment call on one deal, 200.00 each; A pays 200.00, B 100.00; closed. A
    later distribution of 30.00 — of the deal's proceeds, or of the fund's — splits 200 : 100:
    A 20.00, B 10.00 (not 15.00 each, as the 200 : 200 called before the close would)."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["1000.00", "1000.00"])
    deal = await api.deal(fund)
    call = await api.call_and_issue(
        fund, [{"purpose": "investment", "amount": "400.00", "deal_id": deal}]
    )
    await api.pay(fund, call["id"], a, "200.00")
    await api.pay(fund, call["id"], b, "100.00")
    await _close(api, fund, call["id"], "2026-04-30")
    for deal_id in (deal, None):
        made = await api.distribute(fund, "30.00", "2026-06-30", deal_id=deal_id)
        assert {x["investor_id"]: x["amount"] for x in made["lines"]} == {a: "20.00", b: "10.00"}
