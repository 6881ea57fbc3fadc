"""Issue 19, the gaps of items 1 and 5: a realisation feeds the distribution of its proceeds,
can be cancelled, dates the deal's full realisation; gross figures read the realisations
(docs/fund-operations.md, "Realisations" and "Performance measures").

Every expected figure is computed by hand in the comments next to it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests.api.test_console_funds import cells
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, sign_in
from tests.support import TestDatabase

NO_FEES_NO_CARRY = {"management_fee_rate": "0", "carry_share": "0"}


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _realise(
    api: FundApi, fund: str, deal: str, date: str, proceeds: str, cost: str, expect: int = 201
) -> Any:
    body = {"date": date, "proceeds": proceeds, "cost_realised": cost}
    return await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/realisations", json=body, money=True, expect=expect
    )


async def _cancel(api: FundApi, fund: str, deal: str, realisation: str, expect: int = 200) -> Any:
    path = f"/funds/{fund}/deals/{deal}/realisations/{realisation}/cancel"
    return await api.request("POST", path, money=True, expect=expect)


async def _listed(api: FundApi, fund: str, deal: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations")


async def _balance(api: FundApi, fund: str, investor: str, day: str) -> Decimal:
    account = await api.request(
        "GET", f"/funds/{fund}/investors/{investor}/capital-account?to={day}"
    )
    return Decimal(account["ending_balance"])


async def _invested(api: FundApi, amounts: list[str], cost: str, **terms: str) -> Any:
    """A fund with investors committing `amounts`, one deal and one investment call of `cost`
    for it, paid in full on its due date (2026-03-16)."""
    fund = await api.fund(**terms)
    investors = await api.investors_with(fund, amounts)
    deal = await api.deal(fund, "Sold deal")
    call = await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": cost, "deal_id": deal}]
    )
    return fund, investors, deal, dt.date.fromisoformat(call["due_date"])


async def test_a_distribution_takes_from_a_realisations_proceeds(api: FundApi) -> None:
    fund, _, deal, _ = await _invested(
        api, ["600000.00", "400000.00"], "100000.00", **NO_FEES_NO_CARRY
    )
    # Partial exit: 90,000 of proceeds for 40,000 of cost.
    sale = await _realise(api, fund, deal, "2026-06-30", "90000.00", "40000.00")
    assert (sale["distributed"], sale["undistributed"]) == ("0.00", "90000.00")
    first = await api.distribute(fund, "50000.00", "2026-07-15", realisation_id=sale["id"])
    assert first["realisation_id"] == sale["id"]
    # 90,000 − 50,000 = 40,000 left to distribute.
    listed = await _listed(api, fund, deal)
    assert (listed["proceeds"], listed["distributed"], listed["undistributed"]) == (
        "90000.00",
        "50000.00",
        "40000.00",
    )
    assert (listed["items"][0]["distributed"], listed["items"][0]["undistributed"]) == (
        "50000.00",
        "40000.00",
    )
    # One cent more than the 40,000 left: a conflict, naming the figures.
    refused = await api.distribute(
        fund, "40000.01", "2026-07-31", realisation_id=sale["id"], expect=409
    )
    assert "40000.00" in refused["detail"]
    assert "90000.00" in refused["detail"]
    # Before the realisation's date: refused (the proceeds did not exist yet).
    other = await api.deal(fund, "Other")
    await api.call_and_pay(fund, [{"purpose": "investment", "amount": "1000.00", "deal_id": other}])
    later_sale = await _realise(api, fund, other, "2026-12-31", "1500.00", "1000.00")
    await api.distribute(fund, "10.00", "2026-08-01", realisation_id=later_sale["id"], expect=422)
    # Naming a deal other than the realisation's: refused.
    await api.distribute(
        fund, "10.00", "2026-08-01", deal_id=other, realisation_id=sale["id"], expect=422
    )
    # The rest, exactly: nothing left; cancelling that distribution gives its 40,000 back.
    rest = await api.distribute(fund, "40000.00", "2026-07-31", realisation_id=sale["id"])
    assert (await _listed(api, fund, deal))["undistributed"] == "0.00"
    await api.request(
        "POST", f"/funds/{fund}/distributions/{rest['id']}/cancel", money=True, expect=200
    )
    assert (await _listed(api, fund, deal))["undistributed"] == "40000.00"


async def test_an_american_fund_distributes_a_realisation_for_its_deal(api: FundApi) -> None:
    fund, _, deal, _ = await _invested(
        api, ["1000000.00"], "100000.00", waterfall_style="american", **NO_FEES_NO_CARRY
    )
    sale = await _realise(api, fund, deal, "2026-06-30", "120000.00", "100000.00")
    # American: the deal must be named (as ever), and be the realisation's.
    await api.distribute(fund, "120000.00", "2026-06-30", realisation_id=sale["id"], expect=422)
    made = await api.distribute(
        fund, "120000.00", "2026-06-30", deal_id=deal, realisation_id=sale["id"]
    )
    assert (made["deal_id"], made["realisation_id"]) == (deal, sale["id"])
    assert (await _listed(api, fund, deal))["undistributed"] == "0.00"


async def test_cancelling_a_realisation_reverses_its_gain(
    api: FundApi, client: AsyncClient, database: TestDatabase
) -> None:
    fund, [a, b], deal, _ = await _invested(
        api, ["600000.00", "400000.00"], "100000.00", **NO_FEES_NO_CARRY
    )
    # Full exit: 130,000 for the whole 100,000 of cost → gain 30,000: A 18,000, B 12,000.
    sale = await _realise(api, fund, deal, "2026-06-30", "130000.00", "100000.00")
    assert await _balance(api, fund, a, "2026-06-30") == Decimal("78000.00")  # 60,000 + 18,000
    # Realised in full: the deal is exited, dated.
    found = await api.request("GET", f"/funds/{fund}/deals/{deal}")
    assert (found["status"], found["realised_on"]) == ("exited", "2026-06-30")
    made = await api.distribute(fund, "10000.00", "2026-07-15", realisation_id=sale["id"])
    # A standing distribution uses its proceeds: refused until that is cancelled.
    refused = await _cancel(api, fund, deal, sale["id"], expect=409)
    assert "10000.00" in refused["detail"]
    # Money moves: an Idempotency-Key is required.
    path = f"/api/v1/funds/{fund}/deals/{deal}/realisations/{sale['id']}/cancel"
    assert (await client.post(path, headers=api.headers)).status_code == 400
    await api.request(
        "POST", f"/funds/{fund}/distributions/{made['id']}/cancel", money=True, expect=200
    )
    cancelled = await _cancel(api, fund, deal, sale["id"])
    assert cancelled["cancelled_at"] is not None
    # Reversed on its own date: A is back to its 60,000 contributed on every date, B to 40,000.
    assert await _balance(api, fund, a, "2026-06-30") == Decimal("60000.00")
    assert await _balance(api, fund, b, "2026-12-31") == Decimal("40000.00")
    # The deal is held again; the cancelled realisation is listed but counts for nothing.
    found = await api.request("GET", f"/funds/{fund}/deals/{deal}")
    assert (found["status"], found["realised_on"]) == ("closed", None)
    listed = await _listed(api, fund, deal)
    assert (listed["realised_cost"], listed["remaining_cost"], listed["realised_gain"]) == (
        "0.00",
        "100000.00",
        "0.00",
    )
    assert [item["cancelled_at"] is not None for item in listed["items"]] == [True]
    # Twice: a conflict. Its proceeds can no longer be distributed.
    await _cancel(api, fund, deal, sale["id"], expect=409)
    await api.distribute(fund, "1.00", "2026-07-31", realisation_id=sale["id"], expect=409)
    # Its cost can be realised again (the cancelled one no longer counts).
    await _realise(api, fund, deal, "2026-09-30", "100000.00", "100000.00")
    with psycopg.connect(database.owner_url) as conn:
        audited = conn.execute(
            "SELECT before ->> 'gain', after ->> 'deal_status' FROM audit_log "
            "WHERE action = 'deal.realisation_cancel' AND entity_id = %s",
            (deal,),
        ).fetchall()
    assert audited == [("30000.00", "closed")]


async def test_a_realisation_of_another_deal_or_fund_is_not_found(api: FundApi) -> None:
    fund, _, deal, _ = await _invested(api, ["1000.00"], "100.00", **NO_FEES_NO_CARRY)
    sale = await _realise(api, fund, deal, "2026-06-30", "100.00", "50.00")
    other_deal = await api.deal(fund, "Other")
    await _cancel(api, fund, other_deal, sale["id"], expect=404)
    other_fund = await api.fund()
    await api.distribute(other_fund, "1.00", "2026-07-01", realisation_id=sale["id"], expect=404)


async def test_gross_reads_the_deals_flows_and_is_above_net_after_fees_and_carry(
    api: FundApi,
) -> None:
    """One investor (10,000 committed; the fund's default terms: 8 % pref, full catch-up, 20 %
    carry). One call: 1,000 for the deal + a 100 management fee, paid on d0; the deal sold in
    full for 2,000 on d1 = d0 + 365 days and all of it distributed that day.

    Gross (the deal's flows): −1,000 on d0, +2,000 on d1: MOIC = TVPI = 2,000 / 1,000 = 2;
    IRR: 1,000 × (1 + r) = 2,000 → r = 1 (one year, ACT/365). Nothing held: unrealised 0.

    Net (the investor's): paid in 1,100 on d0. The waterfall of 2,000: return of capital 1,100;
    pref 8 % × 1,100 × 365/365 = 88; catch-up to 20 % of 88 + GP: GP = 88 / 0.8 × 0.2 = 22;
    the remaining 2,000 − 1,100 − 88 − 22 = 790 split 80/20: LP 632, GP 158. LP = 1,100 + 88
    + 632 = 1,820 (GP 180 = 20 % of the 900 profit). NAV after: 1,100 − 100 fee + 1,000 gain
    − 2,000 = 0. Net TVPI = 1,820 / 1,100 = 1.6545454545…; net IRR = 1,820 / 1,100 − 1 =
    0.6545454545…: below gross, as fees and carry came off."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["10000.00"])
    deal = await api.deal(fund)
    call = await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "1000.00", "deal_id": deal},
            {"purpose": "management_fee", "amount": "100.00"},
        ],
    )
    d0 = dt.date.fromisoformat(call["due_date"])
    d1 = d0 + dt.timedelta(days=365)
    sale = await _realise(api, fund, deal, d1.isoformat(), "2000.00", "1000.00")
    made = await api.distribute(fund, "2000.00", d1.isoformat(), realisation_id=sale["id"])
    assert (made["lp_amount"], made["gp_amount"]) == ("1820.00", "180.00")
    found = await api.request("GET", f"/funds/{fund}/metrics?as_of={d1}")
    gross = found["gross"]
    assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
        "1000.00",
        "2000.00",
        "0.00",
    )
    assert (gross["tvpi"], gross["irr"]) == ("2.0000000000", "1.0000000000")
    assert (found["paid_in"], found["distributions"], found["nav"]) == (
        "1100.00",
        "1820.00",
        "0.00",
    )
    assert (found["tvpi"], found["irr"]) == ("1.6545454545", "0.6545454545")
    assert Decimal(gross["irr"]) > Decimal(found["irr"])
    assert Decimal(gross["tvpi"]) > Decimal(found["tvpi"])
    assert investor  # the one investor whose figures these are


async def test_a_partial_exit_counts_from_its_date(api: FundApi) -> None:
    """The deal: −1,000 on d0; on d0 + 365 days 600 of proceeds for 187.50 of cost (a partial
    exit: the deal stays held, 812.50 of cost remaining).

    The day before the exit: invested 1,000, proceeds 0, unrealised 1,000 (at cost): TVPI 1.
    On d0 + 730 days: proceeds 600, unrealised 812.50: TVPI = 1,412.50 / 1,000 = 1.4125; IRR:
    −1,000 + 600 v + 812.50 v² = 0 with v = 1 / (1 + r): at v = 0.8, 480 + 520 = 1,000, so
    r = 0.25 exactly."""
    fund, _, deal, d0 = await _invested(api, ["10000.00"], "1000.00", **NO_FEES_NO_CARRY)
    exit_day = d0 + dt.timedelta(days=365)
    await _realise(api, fund, deal, exit_day.isoformat(), "600.00", "187.50")
    found = await api.request("GET", f"/funds/{fund}/deals/{deal}")
    assert (found["status"], found["realised_on"]) == ("open", None)  # partial: still held
    before = exit_day - dt.timedelta(days=1)
    early = await api.request("GET", f"/funds/{fund}/deals/{deal}/metrics?as_of={before}")
    assert (early["gross"]["proceeds"], early["gross"]["unrealised"]) == ("0.00", "1000.00")
    assert early["gross"]["tvpi"] == "1.0000000000"
    late = d0 + dt.timedelta(days=730)
    for path in (f"/funds/{fund}/deals/{deal}/metrics", f"/funds/{fund}/metrics"):
        gross = (await api.request("GET", f"{path}?as_of={late}"))["gross"]
        assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
            "1000.00",
            "600.00",
            "812.50",
        )
        assert (gross["tvpi"], gross["irr"]) == ("1.4125000000", "0.2500000000")


async def test_a_full_exit_is_seen_from_its_date_only(api: FundApi) -> None:
    """Invested 1,000 on d0; realised in full for 1,000 on d0 + 100 days in two parts (400 of
    cost for 400 on d0 + 50, 600 for 600 on d0 + 100): the deal is realised on d0 + 100 (the
    latest part). On d0 + 99 it is held: unrealised = 1,000 − 400 = 600; on d0 + 100: 0."""
    fund, _, deal, d0 = await _invested(api, ["10000.00"], "1000.00", **NO_FEES_NO_CARRY)
    first, last = d0 + dt.timedelta(days=50), d0 + dt.timedelta(days=100)
    await _realise(api, fund, deal, last.isoformat(), "600.00", "600.00")
    await _realise(api, fund, deal, first.isoformat(), "400.00", "400.00")  # entered later
    found = await api.request("GET", f"/funds/{fund}/deals/{deal}")
    assert (found["status"], found["realised_on"]) == ("exited", last.isoformat())
    metrics = f"/funds/{fund}/deals/{deal}/metrics"
    held = await api.request("GET", f"{metrics}?as_of={last - dt.timedelta(days=1)}")
    assert (held["gross"]["proceeds"], held["gross"]["unrealised"]) == ("400.00", "600.00")
    done = await api.request("GET", f"{metrics}?as_of={last}")
    assert (done["gross"]["proceeds"], done["gross"]["unrealised"]) == ("1000.00", "0.00")


async def test_the_fund_page_shows_the_realised_date_and_the_proceeds_distributed(
    api: FundApi, client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The deal, 100,000 invested, sold in full for 130,000 on 2026-06-30; 10,000 of that
    distributed: 130,000 − 10,000 = 120,000 still to distribute."""
    fund, _, deal, _ = await _invested(
        api, ["600000.00", "400000.00"], "100000.00", **NO_FEES_NO_CARRY
    )
    sale = await _realise(api, fund, deal, "2026-06-30", "130000.00", "100000.00")
    await api.distribute(fund, "10000.00", "2026-07-15", realisation_id=sale["id"])
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, "owner@a.example")
    page = await client.get(f"/funds/{fund}")
    assert page.status_code == 200
    table = cells(page.text)
    row = table.index("Sold deal")
    # Deal, status, allocated, cost, cost realised, realised gain, distributed, to distribute.
    assert table[row + 1] == "exited on 2026-06-30"
    assert table[row + 3 : row + 8] == [
        "100,000.00",
        "100,000.00",
        "30,000.00",
        "10,000.00",
        "120,000.00",
    ]
