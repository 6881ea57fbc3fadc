"""Capital calls end to end over the API: exact splits, caps, lifecycle, ledger, concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import TestDatabase


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _totals(call: Any) -> dict[str, str]:
    return {line["investor_id"]: line["total"] for line in call["lines"]}


async def test_acceptance_seven_equal_commitments(api: FundApi) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["1000000.00"] * 7)
    draft = await api.draft(fund, [{"purpose": "management_fee", "amount": "100.00"}])
    assert draft["status"] == "draft"
    assert draft["due_date"] == "2026-03-16"  # 10 business days after Monday 2026-03-02
    assert Counter(_totals(draft).values()) == {"14.29": 4, "14.28": 3}
    # The extra cents go to the smallest investor ids (equal weights).
    ordered = sorted(investors)
    assert [_totals(draft)[i] for i in ordered] == ["14.29"] * 4 + ["14.28"] * 3

    issued = await api.issue(fund, draft["id"])
    assert issued["status"] == "issued"
    payer = ordered[0]
    partly = await api.pay(fund, draft["id"], payer, "10.00")
    assert partly["status"] == "partially_paid"
    line = next(x for x in partly["lines"] if x["investor_id"] == payer)
    assert (line["paid"], line["outstanding"]) == ("10.00", "4.29")
    after = await api.pay(fund, draft["id"], payer, "4.29")
    assert after["status"] == "partially_paid"
    fetched = await api.request("GET", f"/funds/{fund}/capital-calls/{draft['id']}")
    assert fetched == {**after, "payment": None}  # `payment`: the one just recorded
    commitments = await api.commitments(fund)
    for investor in investors:
        called = Decimal(_totals(draft)[investor])
        assert commitments[investor]["called"] == str(called)
        # Contributed capital is the cash received: the payer's 10.00 + 4.29, nobody else's.
        assert commitments[investor]["contributed"] == ("14.29" if investor == payer else "0.00")
        assert commitments[investor]["unfunded"] == str(Decimal("1000000.00") - called)


async def test_every_page_of_commitments_carries_its_investors_balances(api: FundApi) -> None:
    """Each page reads the ledger of its own investors only; page by page, the figures are
    those of the whole list."""
    fund = await api.fund()
    investors = await api.investors_with(fund, ["100.00", "200.00", "300.00", "400.00", "500.00"])
    call = await api.call_and_issue(fund, [{"purpose": "management_fee", "amount": "150.00"}])
    await api.pay(fund, call["id"], investors[3], "20.00")
    whole = await api.commitments(fund)
    paged: dict[str, object] = {}
    cursor = None
    while True:
        page = await api.request(
            "GET", f"/funds/{fund}/commitments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        paged |= {row["investor_id"]: row for row in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == whole
    assert {row["called"] for row in whole.values()} == {
        "10.00",
        "20.00",
        "30.00",
        "40.00",
        "50.00",
    }
    # Contributed: the 20.00 received from the fourth investor, nothing from the others.
    assert [whole[i]["contributed"] for i in investors] == ["0.00"] * 3 + ["20.00", "0.00"]


async def test_three_equal_commitments_vector(api: FundApi) -> None:
    fund = await api.fund()
    investors = sorted(await api.investors_with(fund, ["500000.00"] * 3))
    deal = await api.deal(fund)
    draft = await api.draft(
        fund, [{"purpose": "investment", "amount": "100000.00", "deal_id": deal}]
    )
    assert [_totals(draft)[i] for i in investors] == ["33333.34", "33333.33", "33333.33"]


async def test_unequal_commitments_vector_eur(api: FundApi) -> None:
    fund = await api.fund("EUR")
    investors = await api.investors_with(fund, ["5000000", "7500000", "7500000"])
    draft = await api.draft(fund, [{"purpose": "fund_expenses", "amount": "5000000"}])
    assert [_totals(draft)[i] for i in investors] == ["1250000.00", "1875000.00", "1875000.00"]


async def test_lines_add_up_per_purpose_and_overall(api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["333.33", "777.77", "123.45", "1000.01"])
    deal = await api.deal(fund)
    draft = await api.draft(
        fund,
        [
            {"purpose": "investment", "amount": "1000.01", "deal_id": deal},
            {"purpose": "management_fee", "amount": "20.03"},
            {"purpose": "fund_expenses", "amount": "7.77"},
        ],
    )
    assert (
        sum(Decimal(x["total"]) for x in draft["lines"])
        == Decimal(draft["amount"])
        == Decimal("1027.81")
    )
    for purpose, total in (
        ("investment", "1000.01"),
        ("management_fee", "20.03"),
        ("fund_expenses", "7.77"),
    ):
        assert sum(Decimal(x["amounts"].get(purpose, "0")) for x in draft["lines"]) == Decimal(
            total
        )


async def test_jpy_has_no_decimals(api: FundApi) -> None:
    fund = await api.fund("JPY")
    await api.investors_with(fund, ["1000000", "1000000", "1000000"])
    draft = await api.draft(fund, [{"purpose": "management_fee", "amount": "100"}])
    assert sorted(_totals(draft).values()) == ["33", "33", "34"]
    refused = await api.draft(fund, [{"purpose": "management_fee", "amount": "100.5"}], expect=422)
    assert "decimal" in refused["detail"]


async def test_an_excused_investor_pays_nothing_for_that_item(api: FundApi) -> None:
    fund = await api.fund()
    a, b, c = await api.investors_with(fund, ["100.00", "100.00", "100.00"])
    deal = await api.deal(fund)
    draft = await api.draft(
        fund,
        [
            {
                "purpose": "investment",
                "amount": "90.00",
                "deal_id": deal,
                "excused_investor_ids": [a],
            },
            {"purpose": "management_fee", "amount": "3.00"},
        ],
    )
    lines = {x["investor_id"]: x["amounts"] for x in draft["lines"]}
    assert "investment" not in lines[a]
    assert lines[b]["investment"] == lines[c]["investment"] == "45.00"
    assert lines[a]["management_fee"] == "1.00"


async def test_a_call_is_capped_by_unfunded_commitment_and_the_excess_resplit(api: FundApi) -> None:
    fund = await api.fund()
    a, b, c = await api.investors_with(fund, ["100.00", "100.00", "100.00"])
    # A first call that excuses B and C draws 80 of A's 100.
    first = await api.draft(
        fund, [{"purpose": "fund_expenses", "amount": "80.00", "excused_investor_ids": [b, c]}]
    )
    await api.issue(fund, first["id"])
    # 90 split by commitment would ask A for 30: it has 20 left, the other 10 go to B and C.
    draft = await api.draft(fund, [{"purpose": "fund_expenses", "amount": "90.00"}])
    assert _totals(draft) == {a: "20.00", b: "35.00", c: "35.00"}


async def test_a_call_larger_than_the_unfunded_total_is_refused_with_the_numbers(
    api: FundApi,
) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00", "50.00"])
    refused = await api.draft(fund, [{"purpose": "management_fee", "amount": "150.01"}], expect=422)
    assert refused["requested"] == "150.01"
    assert refused["available"] == "150.00"


async def test_issued_calls_draw_down_unfunded_and_cancel_restores_it(
    api: FundApi, database: TestDatabase
) -> None:
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["100.00", "300.00"])
    first = await api.draft(fund, [{"purpose": "management_fee", "amount": "200.00"}])
    await api.issue(fund, first["id"])
    unfunded = {k: v["unfunded"] for k, v in (await api.commitments(fund)).items()}
    assert unfunded == {a: "50.00", b: "150.00"}
    # A second call sees only what is left.
    refused = await api.draft(fund, [{"purpose": "management_fee", "amount": "200.01"}], expect=422)
    assert refused["available"] == "200.00"
    cancelled = await api.request("POST", f"/funds/{fund}/capital-calls/{first['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    restored = {k: v["unfunded"] for k, v in (await api.commitments(fund)).items()}
    assert restored == {a: "100.00", b: "300.00"}
    with psycopg.connect(database.owner_url) as conn:  # reversed by new entries, none deleted
        rows = conn.execute(
            "SELECT amount, reverses_id IS NOT NULL FROM capital_ledger ORDER BY id"
        ).fetchall()
    assert sorted((Decimal(r[0]), r[1]) for r in rows) == sorted(
        [
            (Decimal("50"), False),
            (Decimal("150"), False),
            (Decimal("-50"), True),
            (Decimal("-150"), True),
        ]
    )


async def test_lifecycle_rules(api: FundApi) -> None:
    fund = await api.fund()
    a, _ = await api.investors_with(fund, ["100.00", "100.00"])
    draft = await api.draft(fund, [{"purpose": "management_fee", "amount": "20.00"}])
    await api.pay(fund, draft["id"], a, "1.00", expect=409)  # not issued yet
    await api.issue(fund, draft["id"])
    await api.issue(fund, draft["id"], expect=409)  # only drafts issue
    # An overpayment is accepted: the 0.01 beyond the 10.00 due is kept as A's credit.
    over = await api.pay(fund, draft["id"], a, "10.01")
    assert (over["payment"]["applied"], over["payment"]["credit"]) == ("10.00", "0.01")
    await api.request("POST", f"/funds/{fund}/capital-calls/{draft['id']}/cancel", expect=409)
    early = await api.draft(fund, [{"purpose": "management_fee", "amount": "1.00"}], expect=201)
    assert early["due_date"] > early["notice_date"]
    body = {
        "notice_date": "2026-03-02",
        "due_date": "2026-03-05",
        "items": [{"purpose": "management_fee", "amount": "1.00"}],
    }
    await api.request("POST", f"/funds/{fund}/capital-calls", json=body, expect=422)


async def test_paying_every_line_marks_the_call_paid(api: FundApi) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["100.00", "200.00"])
    draft = await api.issue(
        fund, (await api.draft(fund, [{"purpose": "management_fee", "amount": "3.00"}]))["id"]
    )
    for line in draft["lines"]:
        paid = await api.pay(fund, draft["id"], line["investor_id"], line["total"])
    assert paid["status"] == "paid"
    assert {x["investor_id"] for x in paid["lines"]} == set(investors)
    assert all(x["outstanding"] == "0.00" for x in paid["lines"])


async def test_issuing_requires_an_idempotency_key(api: FundApi, client: AsyncClient) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00"])
    draft = await api.draft(fund, [{"purpose": "management_fee", "amount": "1.00"}])
    response = await client.post(
        f"/api/v1/funds/{fund}/capital-calls/{draft['id']}/issue", headers=api.headers
    )
    assert response.status_code == 400


async def test_two_calls_issued_at_once_cannot_draw_the_same_commitment(api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00", "100.00"])
    first = await api.draft(fund, [{"purpose": "management_fee", "amount": "150.00"}])
    second = await api.draft(fund, [{"purpose": "management_fee", "amount": "150.00"}])
    results = await asyncio.gather(
        api.client.post(
            f"/api/v1/funds/{fund}/capital-calls/{first['id']}/issue",
            headers={**api.headers, "Idempotency-Key": "one"},
        ),
        api.client.post(
            f"/api/v1/funds/{fund}/capital-calls/{second['id']}/issue",
            headers={**api.headers, "Idempotency-Key": "two"},
        ),
    )
    assert sorted(r.status_code for r in results) == [200, 422]
    commitments = await api.commitments(fund)
    assert all(Decimal(c["unfunded"]) >= 0 for c in commitments.values())
    assert sum(Decimal(c["called"]) for c in commitments.values()) == Decimal("150.00")


async def test_a_draft_follows_what_changed_before_it_is_issued(api: FundApi) -> None:
    """Drafts reserve nothing: a commitment added or a call issued after the draft is in the
    lines when the draft is issued (the fund's capital version tells a stale draft)."""
    fund = await api.fund()
    [a, b] = await api.investors_with(fund, ["100.00", "100.00"])
    stale = await api.draft(fund, [{"purpose": "management_fee", "amount": "60.00"}])
    assert {line["investor_id"]: line["total"] for line in stale["lines"]} == {
        a: "30.00",
        b: "30.00",
    }
    await api.call_and_issue(fund, [{"purpose": "fund_expenses", "amount": "160.00"}])  # 80 each
    c = await api.investor("Late")
    await api.commit(fund, c, "200.00")
    issued = await api.issue(fund, stale["id"])
    # Split again by commitment, now 100 : 100 : 200 (a and b each have 20.00 unfunded left).
    assert {line["investor_id"]: line["total"] for line in issued["lines"]} == {
        a: "15.00",
        b: "15.00",
        c: "30.00",
    }
    fresh = await api.draft(fund, [{"purpose": "management_fee", "amount": "8.00"}])
    same = await api.issue(fund, fresh["id"])
    assert same["lines"] == fresh["lines"]


async def test_the_ledger_refuses_updates_and_deletes(database: TestDatabase, api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00"])
    await api.issue(
        fund, (await api.draft(fund, [{"purpose": "management_fee", "amount": "1.00"}]))["id"]
    )
    for statement in ("UPDATE capital_ledger SET amount = 0", "DELETE FROM capital_ledger"):
        with psycopg.connect(database.app_url) as conn:
            conn.execute(
                "SELECT set_config('app.org_id', (SELECT org_id::text FROM funds LIMIT 1), false)"
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


async def test_every_mutation_is_audited(api: FundApi, database: TestDatabase) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["100.00"])
    deal = await api.deal(fund)
    await api.request("PATCH", f"/funds/{fund}", json={"name": "Renamed I"})
    await api.request(
        "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investor}", json={"amount": "1.00"}
    )
    call = await api.draft(fund, [{"purpose": "management_fee", "amount": "10.00"}])
    await api.issue(fund, call["id"])
    await api.pay(fund, call["id"], investor, "10.00")
    with psycopg.connect(database.owner_url) as conn:
        rows = conn.execute("SELECT action, actor_user_id IS NOT NULL FROM audit_log").fetchall()
    actions = {action for action, has_actor in rows if has_actor}
    assert {
        "fund.create",
        "fund.update",
        "investor.create",
        "commitment.create",
        "deal.create",
        "allocation.upsert",
        "capital_call.create",
        "capital_call.issue",
        "capital_call.payment",
    } <= actions
    with psycopg.connect(database.owner_url) as conn:
        before, after = conn.execute(
            "SELECT before, after FROM audit_log WHERE action = 'fund.update'"
        ).fetchone()  # type: ignore[misc]
    assert (before["name"], after["name"]) != (after["name"], after["name"])
    assert after["name"] == "Renamed I"


async def test_a_cancelled_call_counts_at_no_date(api: FundApi) -> None:
    """Its reversal carries the contribution's own date: a capital account or a distribution
    dated after the call was due, but recorded after the cancel, does not count it."""
    fund = await api.fund()
    a, b = await api.investors_with(fund, ["100.00", "100.00"])
    cancelled = await api.call_and_issue(
        fund, [{"purpose": "fund_expenses", "amount": "50.00"}], notice="2026-01-05"
    )
    await api.request("POST", f"/funds/{fund}/capital-calls/{cancelled['id']}/cancel")
    account = await api.request(
        "GET", f"/funds/{fund}/investors/{a}/capital-account?from=2026-01-01&to=2026-06-30"
    )
    assert (account["contributions"], account["expenses"], account["unfunded"]) == (
        "0.00",
        "0.00",
        "100.00",
    )
    # B alone contributed (A is excused): a distribution after both due dates is all B's.
    await api.call_and_pay(
        fund,
        [{"purpose": "fund_expenses", "amount": "40.00", "excused_investor_ids": [a]}],
        notice="2026-02-02",
    )
    made = await api.distribute(fund, "10.00", "2026-04-01")
    assert {line["investor_id"]: line["amount"] for line in made["lines"]} == {b: "10.00"}


async def test_a_notice_date_with_no_due_date_after_it_is_refused(api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00"])
    items = [{"purpose": "management_fee", "amount": "1.00"}]
    for notice in ("9999-12-28", "9999-12-31"):
        refused = await api.draft(fund, items, notice=notice, expect=422)
        assert "business days" in refused["detail"]


async def test_due_dates_skip_the_funds_holiday_calendar(api: FundApi) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["1000000.00"])
    # Weekdays only: 10 business days after Friday 2026-11-20 is Friday 2026-12-04.
    weekdays = await api.draft(
        fund, [{"purpose": "fund_expenses", "amount": "10.00"}], "2026-11-20"
    )
    assert weekdays["due_date"] == "2026-12-04"
    changed = await api.request("PATCH", f"/funds/{fund}", json={"holiday_calendar": "US"})
    assert changed["holiday_calendar"] == "US"
    # US: Thanksgiving (Thursday 2026-11-26) is not a business day: a day later.
    us = await api.draft(fund, [{"purpose": "fund_expenses", "amount": "10.00"}], "2026-11-20")
    assert us["due_date"] == "2026-12-07"
    refused = await api.request(
        "PATCH", f"/funds/{fund}", json={"holiday_calendar": "Atlantis"}, expect=422
    )
    assert "holiday_calendar" in str(refused)
    cleared = await api.request("PATCH", f"/funds/{fund}", json={"holiday_calendar": None})
    assert cleared["holiday_calendar"] is None
