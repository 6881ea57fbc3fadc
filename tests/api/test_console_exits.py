"""The fund page's exits and carry (issue 19 in the console): a deal's realisation recorded and
cancelled from its row, a distribution naming the realisation whose proceeds it pays, the
clawback measure as of today beside the one stored with the latest distribution, escrow
released to the GP and the GP's clawback repayment — each refusal next to its field, in the
API's words."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.api.test_console_funds import cells
from tests.fund_support import FundApi
from tests.sign_in_support import hidden_token, person, sign_in

# No pref and no catch-up: carry is 20 % of a profit (hand-computed below).
SIMPLE = {"preferred_return_rate": "0", "catch_up_share": "0", "carry_share": "0.20"}
PREF_NO_CATCH_UP = {"preferred_return_rate": "0.08", "catch_up_share": "0", "carry_share": "0.20"}


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def text_of(page: Response) -> str:
    """The page's words, tags gone, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


def error_of(page: Response, key: str) -> str:
    """The error shown under the field `key` (its `key-error` paragraph)."""
    found = re.search(rf'<p class="error" id="{re.escape(key)}-error">(.*?)</p>', page.text, re.S)
    assert found, f"no error next to {key}"
    return html.unescape(" ".join(found.group(1).split()))


async def post(client: AsyncClient, path: str, **fields: str) -> Response:
    """A fund page form, sent with the page's CSRF token and a fresh idempotency key."""
    fund_page = re.match(r"/funds/[^/]+", path)
    assert fund_page
    token = hidden_token((await client.get(fund_page.group(0))).text)
    data = {"csrf_token": token, "idempotency_key": str(uuid.uuid4()), **fields}
    return await client.post(path, data=data)


async def as_manager(client: AsyncClient, org: NewOrg, sessions: Any) -> None:
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)


async def test_a_realisation_is_recorded_distributed_and_cancelled_from_the_fund_page(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fund = await api.fund(**SIMPLE)
    await api.investors_with(fund, ["600000.00", "400000.00"])
    deal = await api.deal(fund, "Acme exit")
    await api.call_and_pay(
        fund, [{"purpose": "investment", "amount": "100000.00", "deal_id": deal}]
    )  # cost 100,000 (LP 0 60,000, LP 1 40,000), contributed on 2026-03-16
    await as_manager(client, org, sessions)
    page = await client.get(f"/funds/{fund}")
    assert "Record a realisation" in page.text
    realise = f"/funds/{fund}/deals/{deal}/realisations"
    key = f"realise-{deal}"

    too_much = await post(
        client, realise, date="2026-06-30", proceeds="90000.00", cost_realised="150000.00"
    )
    assert too_much.status_code == 422
    assert error_of(too_much, f"{key}-cost_realised").startswith(
        "Cost_realised 150000.00 is more than the deal's cost not yet realised on 2026-06-30: "
        "100000.00 (cost 100000.00 contributed by then, already realised 0.00)."
    )
    assert "<details open>" in too_much.text  # the deal's form stays open on its error
    no_day = await post(client, realise, date="June", proceeds="1", cost_realised="1")
    assert error_of(no_day, f"{key}-date") == "The date must be a day, e.g. 2027-03-31."
    negative = await post(client, realise, date="2026-06-30", proceeds="-1", cost_realised="1")
    assert error_of(negative, f"{key}-proceeds") == "Proceeds must be zero or positive."
    assert (await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations"))["items"] == []

    made = await post(
        client, realise, date="2026-06-30", proceeds="90000.00", cost_realised="40000.00"
    )
    assert made.status_code == 303, made.text
    [realisation] = (await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations"))["items"]
    assert realisation["gain"] == "50000.00"  # 90,000 proceeds − 40,000 of cost
    table = cells((await client.get(f"/funds/{fund}")).text)
    row = table.index("Acme exit", table.index("Acme exit") + 1)  # the realisations table's
    # Deal, date, proceeds, cost realised, gain, distributed, undistributed.
    assert table[row + 1 : row + 7] == [
        "2026-06-30",
        "90,000.00",
        "40,000.00",
        "50,000.00",
        "0.00",
        "90,000.00",
    ]

    # The distribution form offers the realisation's undistributed proceeds.
    form = await client.get(f"/funds/{fund}/distributions/new")
    option = (
        f'<option value="{realisation["id"]}">Acme exit, 2026-06-30: 90,000.00 USD undistributed'
    )
    assert option in form.text
    wizard = {"date": "2026-08-14", "kind": "gain", "realisation_id": realisation["id"]}
    over = await client.post(
        f"/funds/{fund}/distributions/preview",
        data={"csrf_token": hidden_token(form.text), **wizard, "amount": "90000.01"},
    )
    assert over.status_code == 422
    assert error_of(over, "realisation_id").startswith(
        "90000.01 is more than the realisation's proceeds not yet distributed: 90000.00"
    )
    preview = await client.post(
        f"/funds/{fund}/distributions/preview",
        data={"csrf_token": hidden_token(form.text), **wizard, "amount": "20000.00"},
    )
    assert preview.status_code == 200, preview.text
    assert f'name="realisation_id" value="{realisation["id"]}"' in preview.text
    confirm = await client.post(
        f"/funds/{fund}/distributions",
        data={
            **wizard,
            "amount": "20000.00",
            "deal_id": "",
            "csrf_token": hidden_token(preview.text),
            "idempotency_key": str(uuid.uuid4()),
        },
    )
    assert confirm.status_code == 303, confirm.text
    [paid] = (await api.request("GET", f"/funds/{fund}/distributions"))["items"]
    assert paid["realisation_id"] == realisation["id"]
    [taken] = (await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations"))["items"]
    assert (taken["distributed"], taken["undistributed"]) == ("20000.00", "70000.00")

    # Cancelling asks for the box to be ticked, then refuses while a distribution stands.
    cancel = f"{realise}/{realisation['id']}/cancel"
    confirm_key = f"cancel-{realisation['id']}-confirm"
    unticked = await post(client, cancel)
    assert unticked.status_code == 422
    assert error_of(unticked, confirm_key) == (
        "Tick the box to confirm: the realised gain or loss is reversed."
    )
    standing = await post(client, cancel, confirm="yes")
    assert standing.status_code == 422
    assert error_of(standing, confirm_key) == (
        "20000.00 of this realisation's proceeds were distributed by standing distributions: "
        "cancel them first."
    )
    await api.request(
        "POST", f"/funds/{fund}/distributions/{paid['id']}/cancel", money=True, expect=200
    )
    cancelled = await post(client, cancel, confirm="yes")
    assert cancelled.status_code == 303, cancelled.text
    [gone] = (await api.request("GET", f"/funds/{fund}/deals/{deal}/realisations"))["items"]
    assert gone["cancelled_at"] is not None
    page = await client.get(f"/funds/{fund}")
    assert 'id="realisations-heading"' not in page.text  # no standing realisation is left


async def test_the_carry_panel_measures_today_and_settles_escrow_and_the_gps_repayment(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """tests/api/test_carry.py's American fund with deal B written off, a year earlier (so
    that every date is before today): the stored measure goes stale after the write-off."""
    fund = await api.fund(
        waterfall_style="american",
        carry_holdback="0.25",
        clawback_tax_rate="0.30",
        **PREF_NO_CATCH_UP,
    )
    await api.investors_with(fund, ["6000.00", "4000.00"])
    a, b = await api.deal(fund, "A"), await api.deal(fund, "B (written off)")
    await api.call_and_pay(
        fund,
        [
            {"purpose": "investment", "amount": "1000.00", "deal_id": a},
            {"purpose": "investment", "amount": "1000.00", "deal_id": b},
        ],
        notice="2025-03-03",
    )  # X 600 + 600, Y 400 + 400, contributed on 2025-03-17 (ten business days later)
    sold = {"date": "2026-03-17", "proceeds": "3000.00", "cost_realised": "1000.00"}
    await api.request(
        "POST", f"/funds/{fund}/deals/{a}/realisations", json=sold, money=True, expect=201
    )
    made = await api.distribute(fund, "3000.00", "2026-03-17", deal_id=a)
    # 365 days after the capital went in: X's 1,800 of deal A: 600 back, pref 48, 20 % of
    # 1,152 = 230.40 of carry (escrow 25 % = 57.60); Y's 1,200: 400, 32, 153.60 (38.40).
    # Measure: X's carry capped at 20 % of its net profit 1,800 − 1,200 = 120: 110.40 back;
    # Y: 153.60 − 80 = 73.60; 184.00 in all.
    assert made["interim_clawback"] == "184.00"
    await as_manager(client, org, sessions)
    text = text_of(await client.get(f"/funds/{fund}"))
    assert "Clawback if the fund ended today 184.00 184.00 at the latest distribution" in text
    assert "In escrow 96.00" in text  # 57.60 + 38.40
    # Deal B written off from its row: its loss is netted from deal A's proceeds before carry.
    # X: 1,800 − 600 = 1,200: 600 back, 48 pref, 20 % of 552 = 110.40 entitled: 120.00 back;
    # Y: 800: 400, 32, 20 % of 368 = 73.60: 80.00 back. Today's measure 200.00; the stored
    # one stays 184.00.
    written_off = await post(
        client,
        f"/funds/{fund}/deals/{b}/realisations",
        date="2026-06-30",
        proceeds="0",
        cost_realised="1000.00",
    )
    assert written_off.status_code == 303, written_off.text
    text = text_of(await client.get(f"/funds/{fund}"))
    assert "Clawback if the fund ended today 200.00 184.00 at the latest distribution" in text
    # Each standing realisation can be cancelled: A's gain 3,000 − 1,000, B's loss 0 − 1,000.
    assert "Reverse its gain of 2,000.00" in text
    assert "Reverse its loss of 1,000.00" in text
    # Each investor's escrow (57.60, 38.40) is below its measure (120, 80): none may go.
    assert "Escrow releasable to the GP today 0.00" in text
    releases = f"/funds/{fund}/escrow/releases"
    early = await post(client, releases, date="2026-03-16", amount="")
    assert error_of(early, "release-date") == (
        "Escrow is released on or after the fund's latest distribution (2026-03-17), not "
        "2026-03-16."
    )
    none = await post(client, releases, date="2026-07-01", amount="")
    assert none.status_code == 422
    assert error_of(none, "release-amount").startswith("Escrow releasable on 2026-07-01 is 0.00")

    # Wind-down: 200 owed, 96 from escrow, 104 by the GP × (1 − 0.30) = 72.80 receivable
    # (X 62.40 × 0.70 = 43.68, Y 41.60 × 0.70 = 29.12).
    await api.request(
        "POST", f"/funds/{fund}/clawback", json={"as_of": "2026-07-31"}, money=True, expect=201
    )
    page = await client.get(f"/funds/{fund}")
    assert "Release escrow to the GP" not in page.text  # settled by the clawback
    repayments = f"/funds/{fund}/clawback/repayments"
    before = await post(client, repayments, date="2026-07-01", amount="30.00")
    assert error_of(before, "repay-date") == (
        "A repayment is on or after the clawback's booking (2026-07-31), not 2026-07-01."
    )
    over = await post(client, repayments, date="2026-08-31", amount="80.00")
    assert error_of(over, "repay-amount").startswith("The GP owes 72.80 of the clawback receivable")
    repaid = await post(client, repayments, date="2026-08-31", amount="30.00")
    assert repaid.status_code == 303, repaid.text
    text = text_of(await client.get(f"/funds/{fund}"))
    assert "Clawback receivable from the GP 42.80 30.00 repaid" in text  # 72.80 − 30


async def test_escrow_is_released_to_the_gp_from_the_fund_page(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fund = await api.fund(carry_holdback="0.5", **SIMPLE)
    await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    await api.call_and_pay(fund, [{"purpose": "investment", "amount": "100.00", "deal_id": deal}])
    # 200 distributed: 100 back, 100 profit, carry 20, half of it (10) in escrow; the measure
    # is 0 (200 out for 100 in), so all 10 may be released.
    await api.distribute(fund, "200.00", "2026-06-30")
    await as_manager(client, org, sessions)
    text = text_of(await client.get(f"/funds/{fund}"))
    assert "Escrow releasable to the GP today 10.00" in text
    releases = f"/funds/{fund}/escrow/releases"
    over = await post(client, releases, date="2026-07-01", amount="10.01")
    assert error_of(over, "release-amount").startswith("Escrow releasable on 2026-07-01 is 10.00")
    not_a_number = await post(client, releases, date="2026-07-01", amount="six")
    assert error_of(not_a_number, "release-amount") == "Amount must be a number, e.g. 25000.00."
    released = await post(client, releases, date="2026-07-01", amount="6.00")
    assert released.status_code == 303, released.text
    text = text_of(await client.get(f"/funds/{fund}"))
    assert "In escrow 4.00" in text  # 10 − 6
    assert "Escrow released to the GP before wind-down 6.00" in text
    assert "Escrow releasable to the GP today 4.00" in text


async def test_a_viewer_sees_the_exits_but_has_no_forms(
    api: FundApi,
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    fund = await api.fund(carry_holdback="0.5", **SIMPLE)
    await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    await api.call_and_pay(fund, [{"purpose": "investment", "amount": "100.00", "deal_id": deal}])
    sold = {"date": "2026-06-30", "proceeds": "200.00", "cost_realised": "100.00"}
    await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/realisations", json=sold, money=True, expect=201
    )
    await api.distribute(fund, "200.00", "2026-06-30")
    _, viewer = await person(sessions, org, Role.viewer)
    await sign_in(client, viewer)
    page = await client.get(f"/funds/{fund}")
    assert 'id="realisations-heading"' in page.text
    for form in ("Record a realisation", "Release escrow to the GP", "/cancel"):
        assert form not in page.text
    refused = await post(client, f"/funds/{fund}/escrow/releases", date="2026-07-01")
    assert refused.status_code == 403
