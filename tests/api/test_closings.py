"""Subsequent closes with equalization (issue 18, item 2).

Every expected figure is computed by hand in the test's docstring or comments: the source is
the amounts the test itself puts in, split by commitment, the interest on the days between the
dates (act/365) and the fee on 30/360 — each written out to the cent."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi

D = Decimal


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _commit(api: FundApi, fund: str, amount: str, on: str, **terms: Any) -> str:
    investor = await api.investor(f"LP {amount} {on}")
    body = {"investor_id": investor, "amount": amount, "committed_on": on, **terms}
    await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=201)
    return investor


async def _draft(api: FundApi, fund: str, expect: int = 201, **body: str) -> Any:
    return await api.request("POST", f"/funds/{fund}/closings", json=body, expect=expect)


async def _issue(api: FundApi, fund: str, closing: str, expect: int = 200) -> Any:
    return await api.request(
        "POST", f"/funds/{fund}/closings/{closing}/issue", money=True, expect=expect
    )


def _line(closing: Any, investor: str) -> Any:
    return next(x for x in closing["lines"] if x["investor_id"] == investor)


async def _ledger(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, fund: str
) -> list[LedgerEntry]:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        rows = await session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.fund_id == uuid.UUID(fund))
        )
        return list(rows.all())


async def _earlier_calls(api: FundApi, fund: str, deal: str, fee: str) -> tuple[Any, Any]:
    """Call 1: a management fee `fee` and 12,000.00 of fund expenses, notice 2025-02-03, due
    10 business days later: 2025-02-17. Call 2: 1,000,000.00 invested in `deal`, notice
    2025-04-01, due 2025-04-15."""
    first = await api.call_and_issue(
        fund,
        [
            {"purpose": "management_fee", "amount": fee},
            {"purpose": "fund_expenses", "amount": "12000.00"},
        ],
        notice="2025-02-03",
    )
    second = await api.call_and_issue(
        fund,
        [{"purpose": "investment", "amount": "1000000.00", "deal_id": deal}],
        notice="2025-04-01",
    )
    assert (first["due_date"], second["due_date"]) == ("2025-02-17", "2025-04-15")
    return first, second


async def _fund_with_a_second_close(
    api: FundApi, interest_to: str = "investors"
) -> tuple[str, str, dict[str, str]]:
    """First close 2025-01-01: A 6,000,000 and B 2,000,000 (8,000,000). Later: C 3,000,000 on
    2025-05-20 with a 1.5 % side-letter fee rate, and the GP's 1,000,000 on 2025-06-20
    (12,000,000 in all: A 1/2, B 1/6, C 1/4, GP 1/12). 2 % fee on 30/360, 8 % equalization
    interest on act/365."""
    fund = await api.fund(
        first_closing_date="2025-01-01",
        equalization_rate="0.08",
        equalization_interest_to=interest_to,
    )
    ids = {
        "A": await _commit(api, fund, "6000000.00", "2025-01-01"),
        "B": await _commit(api, fund, "2000000.00", "2025-01-01"),
    }
    deal = await api.deal(fund, "Acme")
    # The fee of Q1 2025 on 8,000,000: 8,000,000 × 2 % × ¼ = 40,000.00 (A 30,000, B 10,000).
    await _earlier_calls(api, fund, deal, fee="40000.00")
    ids["C"] = await _commit(api, fund, "3000000.00", "2025-05-20", management_fee_rate="0.015")
    ids["GP"] = await _commit(api, fund, "1000000.00", "2025-06-20", general_partner=True)
    return fund, deal, ids


async def test_an_equalization_with_two_earlier_calls_and_a_fee_catch_up(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """By hand, for the closing of 2025-06-30, due 2025-07-15:

    Fund expenses 12,000.00 (A 9,000, B 3,000) split over 12,000,000: A 6,000.00, B 2,000.00,
    C 3,000.00, GP 1,000.00. C and the GP pay 4,000.00; A's excess 3,000.00 and B's 1,000.00
    come back (3:1 of 4,000.00).
    Investment 1,000,000.00 (A 750,000, B 250,000): A 500,000.00, B 166,666.67 (the left-over
    cent: remainder .67 > .33), C 250,000.00, GP 83,333.33. C and the GP pay 333,333.33; the
    excesses 250,000 and 83,333.33… are 3:1, so 33,333,333 cents → A 24,999,999.75 → 250,000.00
    (the left-over cent, remainder .75), B 83,333.33.
    The management fee of call 1 is not rebalanced; C's fee catch-up 2025-01-01..2025-06-30 at
    its 1.5 %: 3,000,000 × 1.5 % × 180/360 = 22,500.00; the GP none.
    Interest, 8 % act/365: 2025-02-17 → 2025-07-15 is 148 days, 2025-04-15 → 2025-07-15 91.
    C: 3,000 × 8 % × 148/365 = 97.3150… + 250,000 × 8 % × 91/365 = 4,986.3013… = 5,083.6164…
    → 5,083.62. GP: 1,000 × 8 % × 148/365 = 32.4383… + 83,333.33 × 8 % × 91/365 =
    1,662.1003… = 1,694.5387… → 1,694.54. Total 6,778.16, to A and B by their returns
    253,000.00 : 84,333.33: A 677,816 × 253,000/337,333.33 = 508,362.005 cents, B
    169,453.995: the left-over cent to B (.995) → A 5,083.62, B 1,694.54."""
    fund, deal, ids = await _fund_with_a_second_close(api)
    a, b, c, gp = ids["A"], ids["B"], ids["C"], ids["GP"]
    draft = await _draft(api, fund, closing_date="2025-06-30", due_date="2025-07-15")
    assert draft["status"] == "draft"
    assert (draft["previous_closing_date"], draft["due_date"]) == ("2025-01-01", "2025-07-15")
    assert draft["equalization"] == "337333.33"  # 4,000.00 + 333,333.33
    assert draft["rebalancing_return"] == "337333.33"
    assert (draft["fee_catch_up"], draft["interest"], draft["interest_to_fund"]) == (
        "22500.00",
        "6778.16",
        "0.00",
    )
    line = _line(draft, c)
    assert line["role"] == "new"
    assert line["equalization"] == {"fund_expenses": "3000.00", "investment": "250000.00"}
    assert (line["fee_catch_up"], line["interest_paid"]) == ("22500.00", "5083.62")
    assert line["total_due"] == "280583.62"  # 253,000.00 + 22,500.00 + 5,083.62
    assert {(i["purpose"], i["deal_id"], i["amount"]) for i in line["items"]} == {
        ("fund_expenses", None, "3000.00"),
        ("investment", deal, "250000.00"),
    }
    line = _line(draft, gp)
    assert line["equalization"] == {"fund_expenses": "1000.00", "investment": "83333.33"}
    assert (line["fee_catch_up"], line["interest_paid"], line["total_due"]) == (
        "0.00",
        "1694.54",
        "86027.87",  # 84,333.33 + 1,694.54
    )
    line = _line(draft, a)
    assert line["role"] == "earlier"
    assert line["rebalancing_return"] == {"fund_expenses": "3000.00", "investment": "250000.00"}
    assert (line["interest_received"], line["total_returned"]) == ("5083.62", "258083.62")
    line = _line(draft, b)
    assert line["rebalancing_return"] == {"fund_expenses": "1000.00", "investment": "83333.33"}
    assert (line["interest_received"], line["total_returned"]) == ("1694.54", "86027.87")
    assert draft == await api.request("GET", f"/funds/{fund}/closings/{draft['id']}")
    listed = await api.request("GET", f"/funds/{fund}/closings")
    assert [(x["id"], x["status"]) for x in listed["items"]] == [(draft["id"], "draft")]

    issued = await _issue(api, fund, draft["id"])
    assert (issued["status"], issued["number"]) == ("issued", 1)
    # Recomputed at issue: nothing changed since the draft, so the same lines.
    assert issued["lines"] == draft["lines"]
    # The new investors' call: their equalization by purpose and deal, and C's fee catch-up;
    # 253,000.00 + 22,500.00 + 84,333.33 = 359,833.33, A and B excused.
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{issued['call_id']}")
    assert (call["status"], call["amount"], call["due_date"]) == (
        "issued",
        "359833.33",
        "2025-07-15",
    )
    assert sorted((i["purpose"], i["deal_id"], i["amount"]) for i in call["items"]) == [
        ("fund_expenses", None, "4000.00"),
        ("investment", deal, "333333.33"),
        ("management_fee", None, "22500.00"),
    ]
    assert all(set(i["excused_investor_ids"]) == {a, b} for i in call["items"])
    assert {x["investor_id"]: x["total"] for x in call["lines"]} == {
        c: "275500.00",
        gp: "84333.33",
    }
    # The register: called capital (net) and unfunded. A: 9,000 + 750,000 + 30,000 (its fee)
    # − 253,000 = 536,000.00; B: 3,000 + 250,000 + 10,000 − 84,333.33 = 178,666.67.
    rows = await api.commitments(fund)
    assert {i: (rows[i]["called"], rows[i]["unfunded"]) for i in (a, b, c, gp)} == {
        a: ("536000.00", "5464000.00"),
        b: ("178666.67", "1821333.33"),
        c: ("275500.00", "2724500.00"),
        gp: ("84333.33", "915666.67"),
    }
    # Capital called for investments and expenses / commitment: 0.08433… for everyone, to a
    # cent (506,000.00; 168,666.67; 253,000.00; 84,333.33).
    entries = await _ledger(sessions, org, fund)
    called: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    interest: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for e in entries:
        if e.kind is EntryKind.contribution and e.purpose != "management_fee":
            called[e.investor_id] += e.amount
        if e.kind is EntryKind.equalization_interest:
            assert (e.source_type, str(e.effective_on)) == ("closing", "2025-07-15")
            interest[e.investor_id] += e.amount
    commitment = {a: D(6_000_000), b: D(2_000_000), c: D(3_000_000), gp: D(1_000_000)}
    ratio = D(1_012_000) / D(12_000_000)  # Σ called for them / Σ commitments
    for investor in (a, b, c, gp):
        assert abs(called[uuid.UUID(investor)] - ratio * commitment[investor]) <= D("0.01")
    # Interest paid = received: −5,083.62 − 1,694.54 + 5,083.62 + 1,694.54 = 0.
    assert {str(i): v for i, v in interest.items()} == {
        c: D("-5083.62"),
        gp: D("-1694.54"),
        a: D("5083.62"),
        b: D("1694.54"),
    }
    # Issuing twice: 409.
    await _issue(api, fund, draft["id"], expect=409)


async def test_interest_to_the_fund_is_kept_by_the_fund(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """The same fund with `equalization_interest_to = fund`: C and the GP pay the same
    5,083.62 and 1,694.54; A and B receive none; the closing shows 6,778.16 to the fund."""
    fund, _, ids = await _fund_with_a_second_close(api, interest_to="fund")
    draft = await _draft(api, fund, closing_date="2025-06-30", due_date="2025-07-15")
    assert (draft["interest"], draft["interest_to_fund"]) == ("6778.16", "6778.16")
    assert _line(draft, ids["A"])["interest_received"] == "0.00"
    assert _line(draft, ids["A"])["total_returned"] == "253000.00"
    issued = await _issue(api, fund, draft["id"])
    assert issued["interest_to"] == "fund"
    interest = {
        str(e.investor_id): e.amount
        for e in await _ledger(sessions, org, fund)
        if e.kind is EntryKind.equalization_interest
    }
    assert interest == {ids["C"]: D("-5083.62"), ids["GP"]: D("-1694.54")}


async def _account(api: FundApi, fund: str, investor: str, end: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/capital-account?to={end}")


async def test_after_issue_and_payment_every_investor_holds_the_same_ratio(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """Fees charged by the rules (A 6,000,000 and B 2,000,000 from 2025-01-01, a call of the
    first half's fee, 8,000,000 × 2 % × ½ = 80,000.00) and C's 3,000,000 closing on
    2025-06-30 at the fund's rate: its catch-up 3,000,000 × 2 % × ½ = 30,000.00 is 1 % of its
    commitment, as A's 60,000 and B's 20,000 are of theirs. Once every line is paid, every
    investor's contributed capital / commitment is the same to a cent: Σ paid = 80,000 +
    12,000 + 1,000,000 + 30,000 = 1,122,000.00 over 11,000,000 = 0.102; A 612,000.00,
    B 204,000.00, C 306,000.00. Interest paid = received, and Σ capital accounts = fund
    equity = 1,000,000.00 invested (fees and expenses are spent)."""
    fund = await api.fund(first_closing_date="2025-01-01", equalization_rate="0.05")
    a = await _commit(api, fund, "6000000.00", "2025-01-01")
    b = await _commit(api, fund, "2000000.00", "2025-01-01")
    deal = await api.deal(fund)
    first, second = await _earlier_calls(api, fund, deal, fee="80000.00")
    c = await _commit(api, fund, "3000000.00", "2025-05-10")
    for call in (first, second):
        for line in call["lines"]:
            await api.pay(
                fund, call["id"], line["investor_id"], line["total"], received_on=call["due_date"]
            )
    closing = await _issue(api, fund, (await _draft(api, fund, closing_date="2025-06-30"))["id"])
    assert closing["due_date"] == "2025-07-14"  # 10 business days after 2025-06-30
    assert _line(closing, c)["fee_catch_up"] == "30000.00"
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{closing['call_id']}")
    [line] = call["lines"]
    # 12,000 × 3/11 = 3,272.727… → 3,272.73; 1,000,000 × 3/11 = 272,727.2727… → 272,727.27;
    # + 30,000.00 = 306,000.00.
    assert line["total"] == "306000.00"
    await api.pay(fund, call["id"], c, line["total"], received_on=call["due_date"])
    paid: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    interest = Decimal(0)
    for e in await _ledger(sessions, org, fund):
        if e.kind is EntryKind.payment:
            paid[e.investor_id] += e.amount
        if e.kind is EntryKind.equalization_interest:
            interest += e.amount
    assert {str(i): v for i, v in paid.items()} == {
        a: D("612000.00"),
        b: D("204000.00"),
        c: D("306000.00"),
    }
    assert interest == 0
    assert closing["interest"] != "0.00"
    balances = [
        D((await _account(api, fund, i, "2025-12-31"))["ending_balance"]) for i in (a, b, c)
    ]
    assert sum(balances) == D("1000000.00")


async def test_a_second_close_equalizes_against_the_first(api: FundApi) -> None:
    """No fee, so no catch-up. A 1,000,000 at the first close, 100,000.00 of expenses called
    (A all). First subsequent close: B 1,000,000 → B pays 50,000.00, A gets 50,000.00 back.
    Second: C 2,000,000 → everyone's part of 100,000.00 by 1:1:2: A 25,000.00, B 25,000.00,
    C 50,000.00; A and B each give back 25,000.00."""
    fund = await api.fund(first_closing_date="2025-01-01", management_fee_rate="0")
    a = await _commit(api, fund, "1000000.00", "2025-01-01")
    expenses = await api.call_and_issue(
        fund, [{"purpose": "fund_expenses", "amount": "100000.00"}], notice="2025-02-03"
    )
    b = await _commit(api, fund, "1000000.00", "2025-03-01")
    one = await _issue(api, fund, (await _draft(api, fund, closing_date="2025-03-31"))["id"])
    assert (_line(one, b)["total_due"], _line(one, a)["total_returned"]) == (
        "50000.00",
        "50000.00",
    )
    # Nothing new since 2025-03-31: 422, saying why.
    refused = await _draft(api, fund, expect=422, closing_date="2025-04-30")
    assert "no commitment was made after 2025-03-31" in refused["detail"]
    c = await _commit(api, fund, "2000000.00", "2025-05-15")
    two = await _draft(api, fund, closing_date="2025-05-31")
    assert two["previous_closing_date"] == "2025-03-31"
    assert _line(two, c)["equalization"] == {"fund_expenses": "50000.00"}
    assert _line(two, a)["rebalancing_return"] == {"fund_expenses": "25000.00"}
    assert _line(two, b)["rebalancing_return"] == {"fund_expenses": "25000.00"}
    assert _line(two, b)["role"] == "earlier"
    issued = await _issue(api, fund, two["id"])
    assert issued["number"] == 2
    rows = await api.commitments(fund)
    assert [rows[i]["called"] for i in (a, b, c)] == ["25000.00", "25000.00", "50000.00"]
    assert [rows[i]["contributed"] for i in (a, b, c)] == ["0.00"] * 3  # nobody has paid
    # A never paid its 100,000.00: what comes back to it is released from its line, not paid
    # out (50,000.00 + 25,000.00): it owes 25,000.00, and no paid-in capital went negative.
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{expenses['id']}")
    [line] = call["lines"]
    assert (line["paid"], line["released"], line["outstanding"]) == (
        "0.00",
        "75000.00",
        "25000.00",
    )
    # B's holding came through the first closing's call, unpaid too: 25,000.00 released there.
    call = await api.request("GET", f"/funds/{fund}/capital-calls/{one['call_id']}")
    [line] = call["lines"]
    assert (line["total"], line["released"], line["outstanding"]) == (
        "50000.00",
        "25000.00",
        "25000.00",
    )
    metrics = await api.request("GET", f"/funds/{fund}/metrics?as_of=2025-12-31")
    assert (metrics["called"], metrics["paid_in"]) == ("100000.00", "0.00")


async def test_closings_that_cannot_be(api: FundApi) -> None:
    """422 with the reason: no new commitment; a closing date before the previous closing; a
    due date inside the notice period. 404 for another fund's closing."""
    fund = await api.fund()
    await _commit(api, fund, "1000.00", "2025-01-01")
    # First closing date = the earliest commitment (2025-01-01): nothing came after it.
    refused = await _draft(api, fund, expect=422, closing_date="2025-06-30")
    assert "no commitment was made after 2025-01-01" in refused["detail"]
    refused = await _draft(api, fund, expect=422, closing_date="2024-12-31")
    assert "before the previous closing (2025-01-01)" in refused["detail"]
    await _commit(api, fund, "1000.00", "2025-02-01")
    refused = await _draft(api, fund, expect=422, closing_date="2025-06-30", due_date="2025-07-01")
    assert "due_date must be at least 10 business days" in refused["detail"]
    empty = await api.fund()
    refused = await _draft(api, empty, expect=422, closing_date="2025-06-30")
    assert "no commitments" in refused["detail"]
    await api.request("GET", f"/funds/{empty}/closings/{uuid.uuid4()}", expect=404)
    # A draft with nothing called yet: no equalization, only the fee catch-up of the new one
    # (1,000 × 2 % × 150/360 = 8.333… → 8.33 from 2025-01-01 to 2025-05-30 on 30/360).
    draft = await _draft(api, fund, closing_date="2025-05-30")
    assert (draft["equalization"], draft["fee_catch_up"]) == ("0.00", "8.33")


async def test_issuing_renders_a_letter_to_every_investor(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """The closing of the first test: its letters job and the new investors' call notices
    are queued at issue; C's letter lists its line (253,000.00 of equalization, 22,500.00 fee
    catch-up, 5,083.62 interest: 280,583.62 due) and A's its return (258,083.62 paid back)."""
    from prorata.closings.models import Closing
    from prorata.documents import closing_content, render
    from prorata.tenant_jobs.models import TenantJob
    from tests import pdf_reader

    fund, _, ids = await _fund_with_a_second_close(api)
    draft = await _draft(api, fund, closing_date="2025-06-30", due_date="2025-07-15")
    await _issue(api, fund, draft["id"])
    async with db.tenant_transaction(sessions, org.org_id) as session:
        kinds = (
            await session.scalars(
                sa.select(TenantJob.kind).where(TenantJob.fund_id == uuid.UUID(fund))
            )
        ).all()
        closing = await session.get_one(Closing, uuid.UUID(draft["id"]))
        notices = {
            str(n.investor_id): n
            for n in await closing_content.closing_notices(session, closing=closing)
        }
    assert kinds.count("closing.notices") == 1
    assert kinds.count("call.notices") == 3  # the two earlier calls, and the closing's
    assert len(notices) == 4
    text = pdf_reader.text(render.closing_notice_pdf(notices[ids["C"]]).data)
    assert "Subsequent Close No. 1" in text
    assert "Equalization: Investments\n250,000.00" in text
    assert "Management fee catch-up since the first closing\n22,500.00" in text
    assert "Equalization interest\n5,083.62" in text
    assert "Total due from you\n280,583.62" in text
    text = pdf_reader.text(render.closing_notice_pdf(notices[ids["A"]]).data)
    assert "Return of excess contribution: Investments\n250,000.00" in text
    assert "Total paid to you\n258,083.62" in text
