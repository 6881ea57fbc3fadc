"""Carry that is settled (issue 19 item 3): escrow held from each distribution's carry, the
interim clawback measure, and the clawback booked once at wind-down (docs/fund-operations.md,
"Carry escrow and the clawback")."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, sign_in

# A call noticed on 2026-03-02 is due ten business days later: the contributions' date.
NOTICE, DUE, ONE_YEAR_LATER, WIND_DOWN = "2026-03-02", "2026-03-16", "2027-03-16", "2027-12-31"
# No pref and no catch-up, so every figure is 20 % of a profit (hand-computed below).
SIMPLE = {"preferred_return_rate": "0", "catch_up_share": "0", "carry_share": "0.20"}


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _american_fund_with_a_loss_deal(api: FundApi) -> tuple[str, str, str, str, str]:
    """X (6,000) and Y (4,000) commit; one call invests 1,000 in deal A and 1,000 in deal B,
    split 60/40 by commitment: X 600 + 600, Y 400 + 400, paid on DUE. Deal B is never sold."""
    fund = await api.fund(
        waterfall_style="american", carry_holdback="0.25", clawback_tax_rate="0.30", **SIMPLE
    )
    [x, y] = await api.investors_with(fund, ["6000.00", "4000.00"])
    a, b = await api.deal(fund, "A"), await api.deal(fund, "B (lost)")
    await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "1000.00", "deal_id": a},
            {"purpose": "investment", "amount": "1000.00", "deal_id": b},
        ],
        notice=NOTICE,
    )
    return fund, x, y, a, b


async def _account(api: FundApi, fund: str, investor: str, to: str) -> Any:
    return await api.request("GET", f"/funds/{fund}/investors/{investor}/capital-account?to={to}")


async def test_an_american_fund_with_a_loss_deal_escrows_carry_and_books_the_clawback(
    api: FundApi, client: AsyncClient
) -> None:
    fund, x, y, a, _ = await _american_fund_with_a_loss_deal(api)
    nothing = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=422
    )
    assert "no distribution" in nothing["detail"]
    made = await api.distribute(fund, "3000.00", ONE_YEAR_LATER, deal_id=a)
    # Split by capital contributed to deal A: X 1,800, Y 1,200. Deal A alone (American):
    # X gets its 600 back, the 1,200 profit is 20 % carry: GP 240, LP 960 + 600 = 1,560;
    # Y: 400 back, 800 profit: GP 160, LP 1,040. Escrow 25 % of the carry: X 60, Y 40.
    lines = {line["investor_id"]: line for line in made["lines"]}
    assert (lines[x]["lp_amount"], lines[x]["gp_amount"]) == ("1560.00", "240.00")
    assert (lines[x]["carry_paid"], lines[x]["carry_escrowed"]) == ("180.00", "60.00")
    assert (lines[y]["carry_paid"], lines[y]["carry_escrowed"]) == ("120.00", "40.00")
    assert (made["gp_amount"], made["carry_paid"], made["carry_escrowed"]) == (
        "400.00",
        "300.00",
        "100.00",
    )
    # The whole fund on the same flows: X contributed 1,200 (deal B's 600 never comes back),
    # received 1,800: profit 600, carry 120, so 240 − 120 = 120 too much; Y 160 − 80 = 80.
    assert made["clawback"] == "200.00"
    assert made["interim_clawback"] == "200.00"  # the fund's measure right after it (below)

    interim = await api.request("GET", f"/funds/{fund}/clawback?as_of={ONE_YEAR_LATER}")
    assert (
        interim["carry_earned"],
        interim["carry_paid"],
        interim["carry_escrowed"],
        interim["given_back"],
        interim["clawback"],
    ) == ("400.00", "300.00", "100.00", "0.00", "200.00")
    by_investor = {line["investor_id"]: line for line in interim["lines"]}
    assert by_investor[x] == {
        "investor_id": x,
        "carry_earned": "240.00",
        "carry_paid": "180.00",
        "escrow_held": "60.00",
        "entitled": "120.00",
        "clawback": "120.00",
        "releasable": "0.00",  # 60 held, 120 may be owed: none may go to the GP yet
        "receivable": "0.00",
    }
    assert interim["booked"] is None
    # Escrow comes out of the capital account like carry: 180 paid + 60 held.
    account = await _account(api, fund, x, ONE_YEAR_LATER)
    assert (account["distributions"], account["carried_interest"]) == ("1560.00", "240.00")
    assert account["ending_balance"] == "-600.00"  # 1,200 in, 1,800 out, no valuation

    # Wind-down is on or after the last distribution.
    early = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": DUE}, money=True, expect=422
    )
    assert ONE_YEAR_LATER in early["detail"]
    no_key = await client.post(
        f"/api/v1/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, headers=api.headers
    )
    assert no_key.status_code == 400

    booked = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=201
    )
    # X owes 120: 60 from its escrow (released to X), 60 owed by the GP, net of the 30 % tax
    # assumed paid on it: 60 × 0.70 = 42 receivable. Y owes 80: 40 from escrow, 40 × 0.70 = 28.
    record = booked["booked"]
    assert (
        record["owed"],
        record["from_escrow"],
        record["escrow_to_gp"],
        record["gp_owes"],
        record["receivable"],
        record["tax_rate"],
    ) == ("200.00", "100.00", "0.00", "100.00", "70.00", "0.30")
    assert {line["investor_id"]: line["receivable"] for line in record["lines"]} == {
        x: "42.00",
        y: "28.00",
    }
    assert (booked["carry_escrowed"], booked["given_back"], booked["clawback"]) == (
        "0.00",
        "200.00",
        "0.00",
    )
    assert booked["carry_paid"] == "200.00"  # 400 earned − 200 given back: 20 % of 1,000
    # X's account: the 60 of escrow is paid to it (a distribution), its carry is 240 − 60
    # released − 42 owed back by the GP = 138; 1,200 − 1,620 − 138 = −558.
    account = await _account(api, fund, x, WIND_DOWN)
    assert (account["distributions"], account["carried_interest"]) == ("1620.00", "138.00")
    assert account["ending_balance"] == "-558.00"

    # The statement shows the escrow released as a line of its own.
    statement = await api.request(
        "GET", f"/funds/{fund}/investors/{x}/capital-account/statement?as_of={WIND_DOWN}"
    )
    itd = statement["columns"]["itd"]
    assert (itd["distributions"]["escrow_released"], itd["distributions"]["total"]) == (
        "60.00",
        "1620.00",
    )
    assert itd["carried_interest"] == "138.00"

    again = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=409
    )
    assert "already booked" in again["detail"]
    after = await api.distribute(fund, "10.00", "2028-01-31", deal_id=a, expect=409)
    assert "clawback" in after["detail"]
    cancel = f"/funds/{fund}/distributions/{made['id']}/cancel"
    await api.request("POST", cancel, money=True, expect=409)


async def test_escrow_left_over_at_wind_down_is_paid_to_the_gp(api: FundApi) -> None:
    """A European fund owes no clawback on its own flows: the escrow goes to the GP."""
    fund = await api.fund(carry_holdback="0.5", **SIMPLE)
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100.00", "deal_id": deal}], notice=NOTICE
    )
    # 200 distributed: 100 back, 100 profit, carry 20, half of it (10) in escrow.
    made = await api.distribute(fund, "200.00", ONE_YEAR_LATER)
    assert (made["gp_amount"], made["carry_paid"], made["carry_escrowed"]) == (
        "20.00",
        "10.00",
        "10.00",
    )
    booked = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=201
    )
    assert (booked["booked"]["owed"], booked["booked"]["escrow_to_gp"]) == ("0.00", "10.00")
    assert (booked["carry_paid"], booked["carry_escrowed"]) == ("20.00", "0.00")
    account = await _account(api, fund, investor, WIND_DOWN)
    assert (account["distributions"], account["carried_interest"]) == ("180.00", "20.00")


async def test_the_clawback_measure_counts_capital_called_after_the_last_distribution(
    api: FundApi,
) -> None:
    """If the fund ended today, capital not returned is lost: carry ≤ 20 % of net profit."""
    fund = await api.fund(**SIMPLE)
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    item = [{"purpose": "investment", "amount": "100.00", "deal_id": deal}]
    await api.call_and_pay(fund, item, notice=NOTICE)
    made = await api.distribute(fund, "200.00", ONE_YEAR_LATER)  # carry 20 on 100 of profit
    assert made["interim_clawback"] == "0.00"  # 100 in, 200 out: carry 20 is all earned
    await api.call_and_pay(fund, item, notice="2027-06-01")
    # Now 200 contributed and 200 received: no profit, so all 20 of carry is owed back.
    measure = await api.request("GET", f"/funds/{fund}/clawback?as_of={WIND_DOWN}")
    assert (measure["carry_earned"], measure["clawback"]) == ("20.00", "20.00")
    [line] = measure["lines"]
    assert (line["investor_id"], line["entitled"]) == (investor, "0.00")


async def test_an_unknown_fund_is_404(api: FundApi) -> None:
    await api.request("GET", f"/funds/{uuid.uuid4()}/clawback", expect=404)


async def test_the_fund_page_shows_carry_escrow_and_the_clawback(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fund = await api.fund(carry_holdback="0.5", **SIMPLE)
    await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100.00", "deal_id": deal}], notice=NOTICE
    )
    # Dated before today: 100 back, 100 profit, carry 20, half of it (10) in escrow.
    await api.distribute(fund, "200.00", "2026-06-30")
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, "owner@a.example")
    page = await client.get(f"/funds/{fund}")
    assert page.status_code == 200
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "Carry earned 20.00" in text
    assert "Carry paid 10.00" in text
    assert "In escrow 10.00" in text
    assert "Clawback if the fund ended today 0.00 0.00 at the latest distribution" in text
    [made] = (await api.request("GET", f"/funds/{fund}/distributions"))["items"]
    page = await client.get(f"/funds/{fund}/distributions/{made['id']}")
    text = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "To the GP 20.00 10.00 paid, 10.00 in escrow" in text
    terms = await client.get(f"/funds/{fund}/terms")
    assert 'name="carry_holdback"' in terms.text
    assert 'value="0.5"' in terms.text
    # 4 of the 10 in escrow released to the GP early (the measure is 0), then wind-down.
    released = {"date": "2026-07-01", "amount": "4.00"}
    await api.request(
        "POST", f"/funds/{fund}/escrow/releases", json=released, money=True, expect=201
    )
    await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": "2026-07-31"}, money=True, expect=201
    )
    text = " ".join(re.sub(r"<[^>]+>", " ", (await client.get(f"/funds/{fund}")).text).split())
    assert "Escrow released to the GP before wind-down 4.00" in text
    assert "Clawback receivable from the GP 0.00 0.00 repaid" in text


async def test_the_fund_page_shows_the_clawback_receivable_and_its_repayments(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Dated before today (the page shows today's carry): the loss-deal fund above."""
    fund, _, _, a, _ = await _american_fund_with_a_loss_deal(api)
    await api.distribute(fund, "3000.00", "2026-06-30", deal_id=a)
    # The measure is 200 (120 + 80, above); 100 from escrow, 100 × 0.70 = 70 receivable.
    await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": "2026-07-31"}, money=True, expect=201
    )
    repaid = {"date": "2026-08-31", "amount": "30.00"}
    await api.request(
        "POST", f"/funds/{fund}/clawback/repayments", json=repaid, money=True, expect=201
    )
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, "owner@a.example")
    text = " ".join(re.sub(r"<[^>]+>", " ", (await client.get(f"/funds/{fund}")).text).split())
    assert "Clawback receivable from the GP 40.00 30.00 repaid" in text


# An 8 % pref and no catch-up: the carry is 20 % of what is left after capital and pref, so the
# deal-by-deal measure differs from the whole fund's (the fund's pref runs on deal B's capital).
PREF_NO_CATCH_UP = {"preferred_return_rate": "0.08", "catch_up_share": "0", "carry_share": "0.20"}
WRITE_OFF = "2027-06-30"


async def test_the_american_measure_nets_a_write_off_before_carry_deal_by_deal(
    api: FundApi,
) -> None:
    """docs/fund-operations.md, "The American clawback measure": deal A sold at a gain (carry
    paid, 25 % held in escrow), deal B written off; the measure nets B's loss against A's
    proceeds before carry; the clawback at wind-down takes the escrow first, the rest is owed
    by the GP net of 30 % tax; the GP repays it in two parts, cash on to the investors."""
    fund = await api.fund(
        waterfall_style="american",
        carry_holdback="0.25",
        clawback_tax_rate="0.30",
        **PREF_NO_CATCH_UP,
    )
    [x, y] = await api.investors_with(fund, ["6000.00", "4000.00"])
    a, b = await api.deal(fund, "A"), await api.deal(fund, "B (written off)")
    await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "1000.00", "deal_id": a},
            {"purpose": "investment", "amount": "1000.00", "deal_id": b},
        ],
        notice=NOTICE,
    )  # X 600 + 600, Y 400 + 400, contributed on DUE (2026-03-16)
    sold = {"date": ONE_YEAR_LATER, "proceeds": "3000.00", "cost_realised": "1000.00"}
    await api.request(
        "POST", f"/funds/{fund}/deals/{a}/realisations", json=sold, money=True, expect=201
    )
    made = await api.distribute(fund, "3000.00", ONE_YEAR_LATER, deal_id=a)
    # X's 1,800 of deal A, one year (365 days, act/365) after its 600 went in: 600 back,
    # pref 8 % × 600 = 48, then 20 % of 1,800 − 648 = 1,152: GP 230.40, escrow 25 % = 57.60.
    # Y's 1,200: 400 back, pref 32, 20 % of 768 = 153.60, escrow 38.40.
    lines = {line["investor_id"]: line for line in made["lines"]}
    assert (lines[x]["gp_amount"], lines[x]["carry_escrowed"]) == ("230.40", "57.60")
    assert (lines[y]["gp_amount"], lines[y]["carry_escrowed"]) == ("153.60", "38.40")
    # Deal B not written off yet: deal A alone entitles 230.40, but never more than 20 % of
    # X's net profit (1,800 − 1,200 = 600): 120, so 110.40 back; Y: 153.60 − 80 = 73.60.
    assert made["interim_clawback"] == "184.00"

    written_off = {"date": WRITE_OFF, "proceeds": "0.00", "cost_realised": "1000.00"}
    await api.request(
        "POST", f"/funds/{fund}/deals/{b}/realisations", json=written_off, money=True, expect=201
    )
    # X's 600 loss on B is netted from deal A's 1,800 before carry: 1,200 = 600 back, 48 pref,
    # 20 % of 552 = 110.40 entitled (under the 120 cap): 230.40 − 110.40 = 120.00 to give
    # back. Y: 1,200 − 400 = 800: 400 back, 32 pref, 20 % of 368 = 73.60; 153.60 − 73.60 =
    # 80.00. (The whole fund would entitle X 20 % of 1,800 − 1,200 − 96 = 100.80.)
    interim = await api.request("GET", f"/funds/{fund}/clawback?as_of={WRITE_OFF}")
    by_investor = {line["investor_id"]: line for line in interim["lines"]}
    assert (by_investor[x]["entitled"], by_investor[x]["clawback"]) == ("110.40", "120.00")
    assert (by_investor[y]["entitled"], by_investor[y]["clawback"]) == ("73.60", "80.00")
    assert (interim["carry_earned"], interim["carry_escrowed"], interim["clawback"]) == (
        "384.00",
        "96.00",
        "200.00",
    )
    # The escrow held (96) is below what may be owed: none of it may go to the GP.
    assert interim["escrow_releasable"] == "0.00"
    refused = await api.request(
        "POST",
        f"/funds/{fund}/escrow/releases",
        json={"date": WRITE_OFF},
        money=True,
        expect=409,
    )
    assert "releasable on 2027-06-30 is 0.00" in refused["detail"]
    early = await api.request(
        "POST",
        f"/funds/{fund}/clawback/repayments",
        json={"date": WIND_DOWN, "amount": "1.00"},
        money=True,
        expect=409,
    )
    assert "not booked" in early["detail"]

    booked = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=201
    )
    # X: 120 owed, 57.60 from its escrow, 62.40 owed by the GP × 0.70 = 43.68 receivable;
    # Y: 80 owed, 38.40 from escrow, 41.60 × 0.70 = 29.12.
    record = booked["booked"]
    assert (
        record["owed"],
        record["from_escrow"],
        record["gp_owes"],
        record["receivable"],
    ) == ("200.00", "96.00", "104.00", "72.80")
    assert {line["investor_id"]: line["receivable"] for line in record["lines"]} == {
        x: "43.68",
        y: "29.12",
    }
    assert (booked["carry_escrowed"], booked["carry_paid"], booked["clawback"]) == (
        "0.00",
        "184.00",  # 384 earned − 200 given back
        "0.00",
    )
    assert (booked["clawback_receivable"], booked["clawback_repaid"]) == ("72.80", "0.00")
    # X's account: 1,200 in, realised gains 1,200 on A − 600 on B; out: 1,569.60 LP part +
    # 57.60 escrow released = 1,627.20, carry 172.80 + 57.60 − 57.60 − 43.68 = 129.12;
    # 1,200 + 600 − 1,627.20 − 129.12 = 43.68: the GP's receivable.
    account = await _account(api, fund, x, WIND_DOWN)
    assert (account["distributions"], account["carried_interest"]) == ("1627.20", "129.12")
    assert account["ending_balance"] == "43.68"

    # The GP repays 50 on 2028-01-31: pro rata to 43.68 : 29.12 (60 : 40), X 30, Y 20.
    repay = f"/funds/{fund}/clawback/repayments"
    before = await api.request(
        "POST", repay, json={"date": DUE, "amount": "1.00"}, money=True, expect=422
    )
    assert WIND_DOWN in before["detail"]
    paid = await api.request(
        "POST", repay, json={"date": "2028-01-31", "amount": "50.00"}, money=True, expect=201
    )
    assert (paid["clawback_receivable"], paid["clawback_repaid"]) == ("22.80", "50.00")
    assert {line["investor_id"]: line["receivable"] for line in paid["lines"]} == {
        x: "13.68",
        y: "9.12",
    }
    too_much = await api.request(
        "POST", repay, json={"date": "2028-02-29", "amount": "22.81"}, money=True, expect=409
    )
    assert "owes 22.80" in too_much["detail"]
    await api.request(
        "POST", repay, json={"date": "2028-02-29", "amount": "22.80"}, money=True, expect=201
    )
    # X got 30 + 13.68 = 43.68 in cash: its account is square, its carry stays 129.12.
    account = await _account(api, fund, x, "2028-02-29")
    assert (account["distributions"], account["carried_interest"]) == ("1670.88", "129.12")
    assert account["ending_balance"] == "0.00"
    # The statement's line of carry given back in cash: 57.60 of escrow + 43.68 repaid.
    statement = await api.request(
        "GET", f"/funds/{fund}/investors/{x}/capital-account/statement?as_of=2028-02-29"
    )
    assert statement["columns"]["itd"]["distributions"]["escrow_released"] == "101.28"
    done = await api.request("GET", f"/funds/{fund}/clawback?as_of=2028-02-29")
    assert (done["clawback_receivable"], done["clawback_repaid"]) == ("0.00", "72.80")
    nothing = await api.request(
        "POST", repay, json={"date": "2028-03-31", "amount": "0.01"}, money=True, expect=409
    )
    assert "owes 0.00" in nothing["detail"]


async def test_escrow_is_released_to_the_gp_up_to_what_the_measure_allows(
    api: FundApi, client: AsyncClient
) -> None:
    """A European fund in profit: its escrow held − the measure (0) may go to the GP early."""
    fund = await api.fund(carry_holdback="0.5", **SIMPLE)
    [one, two] = await api.investors_with(fund, ["3000.00", "1000.00"])
    deal = await api.deal(fund)
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100.00", "deal_id": deal}], notice=NOTICE
    )  # 75 and 25
    # 200 distributed: 150 / 50; each gets its capital back, 20 % of the profit is carry:
    # 15 and 5, half of it in escrow: 7.50 and 2.50; nothing to give back.
    await api.distribute(fund, "200.00", ONE_YEAR_LATER)
    releases = f"/funds/{fund}/escrow/releases"
    no_key = await client.post(
        f"/api/v1{releases}", json={"date": ONE_YEAR_LATER}, headers=api.headers
    )
    assert no_key.status_code == 400
    early = await api.request("POST", releases, json={"date": DUE}, money=True, expect=422)
    assert ONE_YEAR_LATER in early["detail"]
    over = await api.request(
        "POST", releases, json={"date": ONE_YEAR_LATER, "amount": "10.01"}, money=True, expect=409
    )
    assert "releasable on 2027-03-16 is 10.00" in over["detail"]
    # 6 of the 10: pro rata to 7.50 : 2.50, 4.50 and 1.50.
    released = await api.request(
        "POST", releases, json={"date": ONE_YEAR_LATER, "amount": "6.00"}, money=True, expect=201
    )
    assert (released["carry_escrowed"], released["escrow_released"]) == ("4.00", "6.00")
    assert (released["carry_paid"], released["escrow_releasable"]) == ("16.00", "4.00")
    by_investor = {line["investor_id"]: line for line in released["lines"]}
    assert (by_investor[one]["escrow_held"], by_investor[one]["carry_paid"]) == ("3.00", "12.00")
    assert (by_investor[two]["escrow_held"], by_investor[two]["carry_paid"]) == ("1.00", "4.00")
    # The rest, by default; carry stays 15 in the account (paid now, not held).
    rest = await api.request("POST", releases, json={"date": "2027-04-01"}, money=True, expect=201)
    assert (rest["carry_escrowed"], rest["escrow_released"], rest["carry_paid"]) == (
        "0.00",
        "10.00",
        "20.00",
    )
    account = await _account(api, fund, one, "2027-04-01")
    assert (account["distributions"], account["carried_interest"]) == ("135.00", "15.00")
    # The distribution was measured into those releases: it can no longer be cancelled.
    [made] = (await api.request("GET", f"/funds/{fund}/distributions"))["items"]
    cancel = await api.request(
        "POST", f"/funds/{fund}/distributions/{made['id']}/cancel", money=True, expect=409
    )
    assert "released" in cancel["detail"]
    # Nothing left in escrow at wind-down: the clawback books nothing from it.
    booked = await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": WIND_DOWN}, money=True, expect=201
    )
    assert (booked["booked"]["owed"], booked["booked"]["escrow_to_gp"]) == ("0.00", "0.00")
    after = await api.request("POST", releases, json={"date": "2028-01-31"}, money=True, expect=409)
    assert "booked" in after["detail"]
