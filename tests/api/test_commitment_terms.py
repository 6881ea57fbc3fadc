"""The GP's own commitment and side-letter terms (issue 18, item 4): shown on the commitment,
changed by PATCH (manager+, audited), and used by the management fee (each investor at its own
rate, the GP's at none) and by the waterfall (each investor's own carry, the GP's none)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, hidden_token, sign_in
from tests.support import TestDatabase

D = Decimal
CENT = D("0.01")
# A call noticed on 2026-03-02 is due ten business days later (the contributions' date); one
# year after, the preferred return is exactly the rate (as vector 5 in test_distributions).
NOTICE, DUE, ONE_YEAR_LATER = "2026-03-02", "2026-03-16", "2027-03-16"


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def _commit(api: FundApi, fund: str, amount: str, **terms: Any) -> dict[str, Any]:
    investor = await api.investor()
    body = {"investor_id": investor, "amount": amount, "committed_on": "2025-01-02", **terms}
    created: dict[str, Any] = await api.request(
        "POST", f"/funds/{fund}/commitments", json=body, expect=201
    )
    return created


async def _side_letter_fund(api: FundApi) -> tuple[str, str, str, str]:
    """Fund terms 2 % fee, 8 % pref, full catch-up, 20 % carry. LP A 6,000,000 on the fund's
    terms; LP B 3,000,000 with a side letter (1.5 % fee, 10 % carry); the GP 1,000,000."""
    fund = await api.fund(
        management_fee_rate="0.02",
        preferred_return_rate="0.08",
        catch_up_share="1",
        carry_share="0.20",
    )
    a = await _commit(api, fund, "6000000.00")
    b = await _commit(api, fund, "3000000.00", management_fee_rate="0.015", carry_share="0.10")
    gp = await _commit(api, fund, "1000000.00", general_partner=True)
    return fund, a["investor_id"], b["investor_id"], gp["investor_id"]


async def test_the_terms_are_shown_on_the_commitment(api: FundApi) -> None:
    fund, a, b, gp = await _side_letter_fund(api)
    rows = await api.commitments(fund)
    shown = {
        investor: (row["general_partner"], row["management_fee_rate"], row["carry_share"])
        for investor, row in rows.items()
    }
    assert shown == {
        a: (False, None, None),
        b: (False, "0.015", "0.10"),
        gp: (True, None, None),
    }


async def test_a_quarters_fee_at_each_investors_own_rate(api: FundApi) -> None:
    """By hand, 30/360 (a quarter is a quarter of the year): A 2 % × 6,000,000 / 4 = 30,000.00;
    B 1.5 % × 3,000,000 / 4 = 11,250.00; the GP nothing: 41,250.00 (the fund's 2 % on all
    10,000,000 would be 50,000.00)."""
    fund, a, b, gp = await _side_letter_fund(api)
    fee = await api.request("GET", f"/funds/{fund}/management-fees?from=2026-01-01&to=2026-03-31")
    assert fee["amount"] == "41250.00"
    lines = {line["investor_id"]: line["amount"] for line in fee["lines"]}
    assert lines == {a: "30000.00", b: "11250.00"}
    assert gp not in lines
    [part] = fee["parts"]
    assert (part["basis_amount"], part["rate"], part["amount"]) == (
        "10000000.00",
        "0.02",
        "41250.00",
    )
    # A side letter signed later changes the fee from then on: B at 1 % is 7,500.00.
    await api.request(
        "PATCH", f"/funds/{fund}/commitments/{b}", json={"management_fee_rate": "0.01"}
    )
    fee = await api.request("GET", f"/funds/{fund}/management-fees?from=2026-04-01&to=2026-06-30")
    assert fee["amount"] == "37500.00"


def _by_hand(capital: D, share: D, pref_rate: D, carry: D) -> tuple[D, D]:
    """An independent European waterfall for one distribution a year after one contribution,
    with a full (100 %) catch-up: return of capital, pref = rate × capital, the GP catches up
    to `carry` of the pref and its catch-up (G = carry × pref / (1 − carry)), then the rest
    split carry / 1 − carry. Returns (LP, GP), each tier rounded to the cent."""
    left = share - capital
    pref = min(left, pref_rate * capital)
    left -= pref
    catch_up = min(left, carry * pref / (1 - carry)).quantize(CENT, ROUND_HALF_EVEN)
    left -= catch_up
    gp_carry = (carry * left).quantize(CENT, ROUND_HALF_EVEN)
    gp = catch_up + gp_carry
    return share - gp, gp


async def test_the_gp_commitment_pays_no_carry_and_a_side_letter_its_own(api: FundApi) -> None:
    """1,000,000 called (600,000 / 300,000 / 100,000), 2,000,000 distributed a year later
    (1,200,000 / 600,000 / 200,000). By hand: A 600,000 capital + 48,000 pref, catch-up
    12,000, carry 20 % of 540,000 = 108,000: LP 1,080,000.00, GP 120,000.00 (20 % of the
    600,000 profit). B: 300,000 + 24,000 pref, catch-up 2,666.67, 10 % of 273,333.33…: GP
    30,000.00 (10 % of its 300,000 profit), LP 570,000.00. The GP's commitment: 100,000 +
    8,000 pref + 92,000 all to it: LP 200,000.00, GP 0.00."""
    fund, a, b, gp = await _side_letter_fund(api)
    deal = await api.deal(fund)
    call = await api.call_and_issue(
        fund, [{"purpose": "investment", "amount": "1000000.00", "deal_id": deal}], notice=NOTICE
    )
    # Each paid on its due date (so contributed on it, whether capital counts when called or
    # when received).
    for investor, amount in ((a, "600000.00"), (b, "300000.00"), (gp, "100000.00")):
        await api.request(
            "POST",
            f"/funds/{fund}/capital-calls/{call['id']}/payments",
            json={"investor_id": investor, "amount": amount, "received_on": DUE},
            money=True,
        )
    made = await api.distribute(fund, "2000000.00", ONE_YEAR_LATER)
    lines = {line["investor_id"]: (line["lp_amount"], line["gp_amount"]) for line in made["lines"]}
    pref = D("0.08")
    expected = {
        a: _by_hand(D(600000), D(1200000), pref, D("0.20")),
        b: _by_hand(D(300000), D(600000), pref, D("0.10")),
        gp: _by_hand(D(100000), D(200000), pref, D(0)),
    }
    assert lines == {
        investor: (str(lp.quantize(CENT)), str(gp_part.quantize(CENT)))
        for investor, (lp, gp_part) in expected.items()
    }
    assert lines == {
        a: ("1080000.00", "120000.00"),
        b: ("570000.00", "30000.00"),
        gp: ("200000.00", "0.00"),
    }
    assert (made["lp_amount"], made["gp_amount"]) == ("1850000.00", "150000.00")
    # Everyone's pref is paid; only A and B pay catch-up and carry.
    assert made["tiers"]["preferred_return"] == {"lp": "80000.00", "gp": "0.00"}


async def test_terms_are_changed_by_patch_and_checked(api: FundApi, database: TestDatabase) -> None:
    fund, a, _, gp = await _side_letter_fund(api)
    changed = await api.request(
        "PATCH", f"/funds/{fund}/commitments/{a}", json={"carry_share": "0.15"}
    )
    assert (changed["carry_share"], changed["management_fee_rate"], changed["amount"]) == (
        "0.15",
        None,
        "6000000.00",
    )
    cleared = await api.request(
        "PATCH", f"/funds/{fund}/commitments/{a}", json={"carry_share": None}
    )
    assert cleared["carry_share"] is None
    with psycopg.connect(database.owner_url) as conn:
        audited = conn.execute(
            "SELECT before->>'carry_share', after->>'carry_share' FROM audit_log "
            "WHERE action = 'commitment.update_terms' AND entity_id = %s ORDER BY id",
            (changed["id"],),
        ).fetchall()
    assert audited == [(None, "0.15"), ("0.15", None)]
    # The GP's commitment has no fee and no carry: a rate on it means nothing.
    refused = await api.request(
        "PATCH", f"/funds/{fund}/commitments/{gp}", json={"carry_share": "0.10"}, expect=422
    )
    assert "GP commitment" in refused["detail"]
    # A carry the fund's catch-up could never reach.
    fund2 = await api.fund(catch_up_share="0.5")
    refused = await api.request(
        "POST",
        f"/funds/{fund2}/commitments",
        json={
            "investor_id": await api.investor(),
            "amount": "1.00",
            "committed_on": "2025-01-02",
            "carry_share": "0.6",
        },
        expect=422,
    )
    assert "catch_up_share" in refused["detail"]
    # Nor may the fund's catch-up later drop to a side letter's carry (above the fund's).
    await api.request("PATCH", f"/funds/{fund}/commitments/{a}", json={"carry_share": "0.30"})
    refused = await api.request(
        "PATCH", f"/funds/{fund}", json={"catch_up_share": "0.25"}, expect=422
    )
    assert "side letter" in refused["detail"]
    await api.request(
        "PATCH", f"/funds/{fund}/commitments/{await api.investor()}", json={}, expect=404
    )
    await api.request(
        "PATCH", f"/funds/{fund}/commitments/{a}", json={"general_partner": None}, expect=422
    )


async def test_the_console_shows_the_terms_and_a_manager_changes_them(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund, a, b, gp = await _side_letter_fund(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, "owner@a.example")
    page = await client.get(f"/funds/{fund}/investors/{gp}")
    assert "GP commitment: no management fee and no carried interest on it" in page.text
    page = await client.get(f"/funds/{fund}/investors/{b}")
    assert "1.50 % (side letter)" in page.text
    assert "10.00 % (side letter)" in page.text
    page = await client.get(f"/funds/{fund}/investors/{a}")
    assert "2.00 % (the fund's)" in page.text
    assert '<label for="terms_carry_share">' in page.text
    token = hidden_token(page.text)
    saved = await client.post(
        f"/funds/{fund}/investors/{a}/terms",
        data={"csrf_token": token, "terms_management_fee_rate": "0.0125", "terms_carry_share": ""},
    )
    assert saved.status_code == 303
    row = (await api.commitments(fund))[a]
    assert (row["management_fee_rate"], row["carry_share"], row["general_partner"]) == (
        "0.0125",
        None,
        False,
    )
    # Refused in the API's words, beside the field it names; the typed value kept.
    refused = await client.post(
        f"/funds/{fund}/investors/{a}/terms",
        data={"csrf_token": token, "terms_carry_share": "abc"},
    )
    assert refused.status_code == 422
    assert 'id="terms_carry_share-error"' in refused.text
    assert 'value="abc"' in refused.text
    refused = await client.post(
        f"/funds/{fund}/investors/{a}/terms",
        data={"csrf_token": token, "general_partner": "on", "terms_carry_share": "0.1"},
    )
    assert refused.status_code == 422
    assert 'id="terms-error"' in refused.text
    assert "GP commitment pays no management fee" in refused.text
