"""The GP console's fund pages: the home's figures, a fund's overview, a call's payments board
(recorded once however often the form is sent) and the approval of its notices."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import openpyxl
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.import_support import run_jobs
from tests.sign_in_support import csrf, give_password, hidden_token, person, sign_in
from tests.support import TestDatabase

OWNER = "owner@a.example"


async def a_fund_with_a_call(
    api: FundApi, *, paid: bool = True, **terms: Any
) -> tuple[str, list[str], dict[str, Any]]:
    """Two investors and a call of 1,000.00 (600.00 / 400.00), paid on its due date unless
    `paid=False`."""
    fund_id = await api.fund(**terms)
    investors = await api.investors_with(fund_id, ["600000.00", "400000.00"])
    items = [{"purpose": "management_fee", "amount": "1000.00"}]
    call = await (api.call_and_pay if paid else api.call_and_issue)(fund_id, items)
    return fund_id, investors, call


def cells(html: str) -> list[str]:
    """The text of every table cell, in order (tags stripped)."""
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)
    ]


async def test_the_home_shows_each_fund_with_its_figures_and_what_needs_attention(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, call = await a_fund_with_a_call(api, notices_need_approval=True)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    home = await client.get("/")
    assert home.status_code == 200
    row = cells(home.text)
    name = (await api.request("GET", f"/funds/{fund_id}"))["name"]
    start = row.index(name)
    # Fund, currency, committed, called, % called, distributed, NAV, DPI, TVPI, IRR.
    assert row[start : start + 7] == [
        name,
        "USD",
        "1,000,000.00",
        "1,000.00",
        "0.1 %",
        "0.00",
        "0.00",
    ]
    assert "Call notices awaiting approval" in home.text
    assert f'href="/funds/{fund_id}/calls/{call["id"]}"' in home.text


async def test_an_lp_home_shows_no_fund_register(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, _ = await a_fund_with_a_call(api)
    _, lp = await person(sessions, org, Role.investor, investor_id=uuid.UUID(investors[0]))
    await sign_in(client, lp)
    home = await client.get("/")
    assert home.status_code == 200
    assert "Funds" not in cells(home.text)
    assert "1,000,000.00" not in home.text
    refused = await client.get(f"/funds/{fund_id}")
    assert refused.status_code == 403


async def test_the_fund_page_shows_figures_calls_and_commitments(
    client: AsyncClient, org: NewOrg, other_org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, call = await a_fund_with_a_call(api)
    theirs = await FundApi(client, other_org.api_key).fund()
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page = await client.get(f"/funds/{fund_id}")
    assert page.status_code == 200
    table = cells(page.text)
    assert table[table.index("LP 0") : table.index("LP 0") + 6] == [
        "LP 0",
        "600,000.00",
        "600.00",
        "0.00",
        "599,400.00",
        "0.1 %",
    ]
    assert f"/funds/{fund_id}/calls/{call['id']}" in page.text
    assert 'id="capital-data"' in page.text
    assert "<dt>Net IRR</dt>" in page.text
    assert "<dt>Gross IRR</dt>" in page.text  # beside net (docs: Performance measures)
    assert (await client.get(f"/funds/{theirs}")).status_code == 404  # another org's fund
    assert (await client.get(f"/funds/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/funds/not-a-uuid")).status_code == 404


async def test_a_payment_from_the_board_is_recorded_once_however_often_it_is_sent(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api, paid=False)
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    page = await client.get(board)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    form = {
        "csrf_token": hidden_token(page.text),
        "idempotency_key": key.group(1),
        "investor_id": investors[0],
        "amount": "250.00",
        "received_on": "2026-03-20",
    }
    first = await client.post(f"{board}/payments", data=form)
    again = await client.post(f"{board}/payments", data=form)  # a double click
    assert first.status_code == again.status_code == 303
    assert again.headers["idempotent-replayed"] == "true"
    view = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call['id']}")
    line = next(line for line in view["lines"] if line["investor_id"] == investors[0])
    assert (line["paid"], line["outstanding"]) == ("250.00", "350.00")
    assert view["status"] == "partially_paid"

    wrong = await client.post(
        f"{board}/payments", data={**form, "idempotency_key": str(uuid.uuid4()), "amount": "0.001"}
    )
    assert wrong.status_code == 422
    assert 'class="error"' in wrong.text
    too_much = await client.post(
        f"{board}/payments", data={**form, "idempotency_key": str(uuid.uuid4()), "amount": "x"}
    )
    assert too_much.status_code == 422
    assert "The amount must be a number" in too_much.text
    no_key = await client.post(f"{board}/payments", data={**form, "idempotency_key": ""})
    assert no_key.status_code == 400


async def test_a_viewer_sees_the_board_but_records_nothing(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api)
    _, viewer = await person(sessions, org, Role.viewer)
    await sign_in(client, viewer)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    page = await client.get(board)
    assert page.status_code == 200
    assert "Record a payment" not in page.text
    refused = await client.post(
        f"{board}/payments",
        data={
            "csrf_token": hidden_token(page.text),
            "idempotency_key": str(uuid.uuid4()),
            "investor_id": investors[0],
            "amount": "1.00",
            "received_on": "2026-03-20",
        },
    )
    assert refused.status_code == 403


async def test_notices_are_approved_from_the_call_page_by_a_second_admin(
    app: FastAPI, client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, call = await a_fund_with_a_call(api, notices_need_approval=True)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)  # the owner issued the call (with its key)
    own = await client.get(board)
    assert "Awaiting approval" in own.text
    assert "another admin approves its notices (four eyes)" in own.text
    refused = await client.post(
        f"{board}/notices/approve", data={"csrf_token": hidden_token(own.text)}
    )
    assert refused.status_code == 403
    assert "four eyes" in refused.text
    _, admin = await person(sessions, org, Role.admin)
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://prorata.test"
    ) as second:
        await sign_in(second, admin)
        page = await second.get(board)
        approved = await second.post(
            f"{board}/notices/approve", data={"csrf_token": hidden_token(page.text)}
        )
        assert approved.status_code == 303
        assert "mailed to every investor with an address" in (await second.get(board)).text
    view = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call['id']}")
    assert view["notices"] == "released"


async def test_the_call_wizard_previews_every_line_from_a_real_draft_then_issues_it(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund(notices_need_approval=True)
    investors = await api.investors_with(fund_id, ["600000.00", "400000.00"])
    deal_id = await api.deal(fund_id, "Acme Robotics A")
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    form_page = await client.get(f"/funds/{fund_id}/calls/new")
    assert form_page.status_code == 200
    assert "Acme Robotics A" in form_page.text
    base = {"csrf_token": hidden_token(form_page.text), "notice_date": "2026-03-02"}

    refused = await client.post(
        f"/funds/{fund_id}/calls",
        data={**base, "purpose_0": "investment", "amount_0": "1000.00"},  # no deal
    )
    assert refused.status_code == 422
    assert "deal" in refused.text
    assert 'value="1000.00"' in refused.text  # what was typed stays in the form

    made = await client.post(
        f"/funds/{fund_id}/calls",
        data={
            **base,
            "purpose_0": "management_fee",
            "amount_0": "10,000.00",
            "purpose_1": "investment",
            "deal_1": deal_id,
            "amount_1": "90000.00",
        },
    )
    assert made.status_code == 303
    preview_path = made.headers["location"]
    preview = await client.get(preview_path)
    assert "A draft: step 2 of 2" in preview.text
    row = cells(preview.text)
    lp0 = row.index("LP 0")
    # Investment, fee, total, this call's %, cumulative %, unfunded before and after.
    assert row[lp0 + 1 : lp0 + 8] == [
        "54,000.00",
        "6,000.00",
        "60,000.00",
        "10.00 %",
        "10.00 %",
        "600,000.00",
        "540,000.00",
    ]
    issued = await client.post(
        f"{preview_path}/issue",
        data={
            "csrf_token": hidden_token(preview.text),
            "idempotency_key": re.search(
                r'name="idempotency_key" value="([^"]+)"', preview.text
            ).group(1),  # type: ignore[union-attr]
        },
    )
    assert issued.status_code == 303
    call_id = preview_path.rsplit("/", 1)[1]
    view = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call_id}")
    assert (view["status"], view["notices"], view["amount"]) == (
        "issued",
        "awaiting_approval",
        "100000.00",
    )
    assert len(investors) == 2


async def test_the_console_tables_download_as_csv_and_excel(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    fund_page = await client.get(f"/funds/{fund_id}")
    assert f"/funds/{fund_id}/commitments.xlsx" in fund_page.text
    table = await client.get(f"/funds/{fund_id}/commitments.csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert sorted((r["investor"], r["commitment"], r["unfunded"]) for r in rows) == [
        ("LP 0", "600000.00", "599400.00"),
        ("LP 1", "400000.00", "399600.00"),
    ]
    book = await client.get(f"/funds/{fund_id}/calls/{call['id']}/lines.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    values = [
        dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    assert sorted((v["investor"], v["total"]) for v in values) == [("LP 0", 600.0), ("LP 1", 400.0)]
    assert (await client.get(f"/funds/{fund_id}/commitments.pdf")).status_code == 404
    assert investors


async def test_the_distribution_wizard_previews_the_waterfall_and_books_only_on_confirm(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, _ = await a_fund_with_a_call(api)
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    form_page = await client.get(f"/funds/{fund_id}/distributions/new")
    base = {"csrf_token": hidden_token(form_page.text), "date": "2026-07-01", "kind": "gain"}
    wrong = await client.post(
        f"/funds/{fund_id}/distributions/preview", data={**base, "amount": "lots"}
    )
    assert wrong.status_code == 422
    assert "The amount must be a number" in wrong.text
    preview = await client.post(
        f"/funds/{fund_id}/distributions/preview", data={**base, "amount": "1500.00"}
    )
    assert preview.status_code == 200, preview.text
    assert "Step 2 of 2: a preview" in preview.text
    row = cells(preview.text)
    lp0 = row.index("LP 0")
    assert row[lp0 + 1] == "900.00"  # 3/5 of the cash, by contributed capital
    assert row[lp0 + 2] == "600.00"  # its contribution back first
    assert (await api.request("GET", f"/funds/{fund_id}/distributions"))["items"] == []
    confirm = await client.post(
        f"/funds/{fund_id}/distributions",
        data={
            **base,
            "amount": "1500.00",
            "deal_id": "",
            "idempotency_key": re.search(
                r'name="idempotency_key" value="([^"]+)"', preview.text
            ).group(1),  # type: ignore[union-attr]
            "csrf_token": hidden_token(preview.text),
        },
    )
    assert confirm.status_code == 303
    [made] = (await api.request("GET", f"/funds/{fund_id}/distributions"))["items"]
    assert made["amount"] == "1500.00"
    fund_page = await client.get(f"/funds/{fund_id}")
    assert "1,500.00" in fund_page.text


async def test_a_fund_is_created_and_a_deal_allocated_from_the_console(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    form = await client.get("/funds/new")
    token = hidden_token(form.text)
    refused = await client.post(
        "/funds", data={"csrf_token": token, "name": "Growth I", "currency": "usd"}
    )
    assert refused.status_code == 422
    assert 'id="currency-error"' in refused.text  # the error next to its field
    assert 'value="Growth I"' in refused.text
    made = await client.post(
        "/funds",
        data={
            "csrf_token": token,
            "name": "Growth I",
            "currency": "EUR",
            "carry_share": "0.25",
            "notices_need_approval": "on",
        },
    )
    assert made.status_code == 303
    fund_id = made.headers["location"].rsplit("/", 1)[1]
    api = FundApi(client, org.api_key)  # with a key beside the cookie, the key decides
    fund = await api.request("GET", f"/funds/{fund_id}")
    assert (fund["currency"], fund["carry_share"], fund["notices_need_approval"]) == (
        "EUR",
        "0.25",
        True,
    )
    await api.investors_with(fund_id, ["750000.00", "250000.00"])
    page = await client.get(f"/funds/{fund_id}")
    added = await client.post(
        f"/funds/{fund_id}/deals",
        data={"csrf_token": hidden_token(page.text), "name": "Nordic Solar"},
    )
    assert added.status_code == 303
    [deal] = (await api.request("GET", f"/funds/{fund_id}/deals"))["items"]
    allocated = await client.post(
        f"/funds/{fund_id}/deals/{deal['id']}/allocate",
        data={"csrf_token": hidden_token(page.text), "amount": "100000.00"},
    )
    assert allocated.status_code == 303
    allocations = (await api.request("GET", f"/funds/{fund_id}/allocations"))["items"]
    assert sorted(a["amount"] for a in allocations) == ["25000.00", "75000.00"]
    page = await client.get(f"/funds/{fund_id}")
    assert "Nordic Solar" in page.text
    assert "100,000.00" in page.text


async def test_an_import_is_dry_run_shown_with_its_errors_and_applied_from_the_console(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    assert (await client.get(f"/funds/{fund_id}/imports/new")).status_code == 200
    token = await csrf(client)
    good = b"name,email,kind,country\nAlpine Pension,ops@alpine.example,entity,CH\n"
    bad = b"name,email,kind,country\nBroken,not-an-address,entity,XX\n"

    async def upload(content: bytes, dry_run: bool) -> str:
        response = await client.post(
            f"/api/v1/funds/{fund_id}/imports?kind=investors&dry_run={str(dry_run).lower()}",
            files={"file": ("lps.csv", content, "text/csv")},
            headers={"X-CSRF-Token": token},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    rejected = await upload(bad, True)
    dry = await upload(good, True)
    await run_jobs(database.owner_url, sessions, settings)
    errors_page = await client.get(f"/funds/{fund_id}/imports/{rejected}")
    assert "rejected" in errors_page.text
    assert "not-an-address" in cells(errors_page.text)
    dry_page = await client.get(f"/funds/{fund_id}/imports/{dry}")
    assert "Apply the import" in dry_page.text
    applied = await client.post(
        f"/funds/{fund_id}/imports/{dry}/apply", data={"csrf_token": hidden_token(dry_page.text)}
    )
    assert applied.status_code == 303
    real = applied.headers["location"].rsplit("/", 1)[1]
    assert real != dry
    await run_jobs(database.owner_url, sessions, settings)
    assert "Applied." in (await client.get(f"/funds/{fund_id}/imports/{real}")).text
    names = [i["name"] for i in (await api.request("GET", "/investors"))["items"]]
    assert names == ["Alpine Pension"]
    again = await client.post(
        f"/funds/{fund_id}/imports/{rejected}/apply",
        data={"csrf_token": hidden_token(dry_page.text)},
    )
    assert again.status_code == 409


async def test_an_investor_page_valuations_and_terms_from_the_console(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api)
    await api.pay(fund_id, call["id"], investors[0], "600.00")
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    fund_page = await client.get(f"/funds/{fund_id}")
    token = hidden_token(fund_page.text)
    recorded = await client.post(
        f"/funds/{fund_id}/valuations",
        data={"csrf_token": token, "as_of": "2026-06-30", "nav": "1200.00"},
    )
    assert recorded.status_code == 303
    wrong = await client.post(
        f"/funds/{fund_id}/valuations", data={"csrf_token": token, "as_of": "soon", "nav": "1"}
    )
    assert wrong.status_code == 422
    investor = await client.get(f"/funds/{fund_id}/investors/{investors[0]}?to=2026-06-30")
    assert investor.status_code == 200
    rows = cells(investor.text)
    # Without a `from`: quarter, year and inception to date, the API's statement.
    heads = rows.index("Quarter to date")
    assert rows[heads : heads + 3] == ["Quarter to date", "Year to date", "Inception to date"]
    itd = 3
    assert rows[rows.index("Contributions") + itd] == "600.00"
    assert rows[rows.index("For management fees") + itd] == "600.00"
    assert rows[rows.index("Commitment") + 1] == "600,000.00"
    download = re.search(r'href="([^"]+capital-account\.csv[^"]*)"', investor.text)
    assert download is not None
    statement = await client.get(download.group(1).replace("&amp;", "&"))
    lines = {r["line"]: r["amount"] for r in csv.DictReader(io.StringIO(statement.text))}
    assert (lines["Contributions"], lines["Commitment"]) == ("600.00", "600000.00")
    assert lines["Ending balance"] == rows[
        rows.index("Ending balance at 2026-06-30") + itd
    ].replace(",", "")
    empty = await client.get(
        f"/funds/{fund_id}/investors/{investors[0]}?from=2026-07-01&to=2026-06-30"
    )
    assert empty.status_code == 422
    assert "The period is empty" in empty.text

    terms = await client.get(f"/funds/{fund_id}/terms")
    changed = await client.post(
        f"/funds/{fund_id}/terms",
        data={
            "csrf_token": hidden_token(terms.text),
            "name": "Renamed Fund",
            "management_fee_rate": "0.015",
            "preferred_return_rate": "0.08",
            "catch_up_share": "1",
            "carry_share": "0.2",
            "waterfall_style": "european",
            "notice_business_days": "15",
            "holiday_calendar": "GB",
            "day_count": "act/360",
            "fee_day_count": "act/365",
            "fee_offset_rate": "0.8",
            "notices_need_approval": "on",
        },
    )
    assert changed.status_code == 303
    fund = await api.request("GET", f"/funds/{fund_id}")
    assert fund["holiday_calendar"] == "GB"
    assert fund["fee_offset_rate"] == "0.8"
    assert (fund["day_count"], fund["fee_day_count"]) == ("act/360", "act/365")
    assert (fund["name"], fund["management_fee_rate"], fund["notice_business_days"]) == (
        "Renamed Fund",
        "0.015",
        15,
    )
    assert fund["notices_need_approval"] is True
    refused = await client.post(
        f"/funds/{fund_id}/terms",
        data={"csrf_token": hidden_token(terms.text), "carry_share": "2.5", "name": "X"},
    )
    assert refused.status_code == 422
    assert 'id="carry_share-error"' in refused.text
    unknown = await client.post(
        f"/funds/{fund_id}/terms",
        data={"csrf_token": hidden_token(terms.text), "holiday_calendar": "XX", "name": "X"},
    )
    assert unknown.status_code == 422
    assert 'id="holiday_calendar-error"' in unknown.text
    assert "unknown holiday calendar" in unknown.text


async def test_the_management_fee_of_a_period_from_the_console(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, _ = await a_fund_with_a_call(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page = await client.get(f"/funds/{fund_id}/fees?from=2026-01-01&to=2026-03-31")
    assert page.status_code == 200
    row = cells(page.text)
    # 2 % a year on 1,000,000 committed, a quarter on the fee's 30/360: 5,000.00, split 3:2.
    assert "5,000.00" in page.text
    assert row[row.index("LP 0") + 1] == "3,000.00"
    assert row[row.index("LP 1") + 1] == "2,000.00"
    api_fee = await api.request(
        "GET", f"/funds/{fund_id}/management-fees?from=2026-01-01&to=2026-03-31"
    )
    assert api_fee["amount"] == "5000.00"
    download = re.search(r'href="([^"]+fees\.xlsx[^"]*)"', page.text)
    assert download is not None
    sheet = openpyxl.load_workbook(
        io.BytesIO((await client.get(download.group(1).replace("&amp;", "&"))).content)
    ).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("investor", "investor_id", "fee", "offset", "waived", "net")
    assert [(v[0], v[2]) for v in values[1:]] == [("LP 0", 3000), ("LP 1", 2000)]
    # A waiver of 1,000.00 of the quarter: split 3:2, 600.00 and 400.00; nets 2,400 and 1,600.
    await api.request(
        "POST",
        f"/funds/{fund_id}/fee-waivers",
        json={"period_start": "2026-01-01", "period_end": "2026-03-31", "amount": "1000.00"},
        expect=201,
        money=True,
    )
    page = await client.get(f"/funds/{fund_id}/fees?from=2026-01-01&to=2026-03-31")
    row = cells(page.text)
    assert row[row.index("LP 0") + 1 : row.index("LP 0") + 5] == [
        "3,000.00",
        "0.00",
        "600.00",
        "2,400.00",
    ]
    assert row[row.index("Waived by the GP") + 1] == "1,000.00"
    assert "4,000.00" in page.text  # the net fee
    # Q1 called (net 4,000.00); a second waiver of 500.00 recorded since: recomputed net
    # 5,000 − 1,500 = 3,500.00 while the fee call shows what it called, 4,000.00.
    await api.request(
        "POST",
        f"/funds/{fund_id}/management-fees/calls",
        json={
            "period_start": "2026-01-01",
            "period_end": "2026-03-31",
            "notice_date": "2026-03-31",
        },
        expect=201,
        money=True,
    )
    await api.request(
        "POST",
        f"/funds/{fund_id}/fee-waivers",
        json={"period_start": "2026-01-01", "period_end": "2026-03-31", "amount": "500.00"},
        expect=201,
        money=True,
    )
    page = await client.get(f"/funds/{fund_id}/fees?from=2026-01-01&to=2026-03-31")
    row = cells(page.text)
    called = row.index("2026-01-01 – 2026-03-31")
    assert row[called + 1 : called + 6] == [
        "5,000.00",
        "1,000.00",
        "0.00",
        "4,000.00",
        "differs from what was called",
    ]
    assert row[row.index("Waived by the GP") + 1] == "1,500.00"
    empty = await client.get(f"/funds/{fund_id}/fees?from=2026-04-01&to=2026-03-31")
    assert empty.status_code == 422
    assert (await client.get(f"/funds/{fund_id}/fees")).status_code == 200  # this quarter


async def test_a_funds_activity_is_its_audit_trail(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, _ = await a_fund_with_a_call(api)
    other_fund, _, _ = await a_fund_with_a_call(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page = await client.get(f"/funds/{fund_id}/activity")
    assert page.status_code == 200
    actions = [c for c in cells(page.text) if ":" in c and " " in c]
    for expected in (
        "fund: create",
        "commitment: create",
        "capital call: create",
        "capital call: issue",
    ):
        assert expected in actions, expected
    assert sum(a == "capital call: issue" for a in actions) == 1  # not the other fund's
    assert OWNER in page.text
    _, manager = await person(sessions, org, Role.manager)
    client.cookies.clear()
    await sign_in(client, manager)
    assert (await client.get(f"/funds/{other_fund}/activity")).status_code == 403


async def test_the_investors_table_sorts_by_name_or_commitment_and_keeps_the_order_when_paging(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    amounts = {"Oak Trust": "300.00", "Ash LP": "100.00", "Elm Partners": "900.00"}
    for name, amount in amounts.items():
        await api.commit(fund_id, await api.investor(name), amount)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)

    def investors_in(html: str) -> list[str]:
        table = html.split('id="investors-heading"', 1)[1]
        return [n for n in re.findall(r'/investors/[0-9a-f-]+">([^<]+)</a>', table)]

    largest = await client.get(f"/funds/{fund_id}?sort=-amount")
    assert investors_in(largest.text) == ["Elm Partners", "Oak Trust", "Ash LP"]
    assert 'aria-sort="descending"' in largest.text
    by_name = await client.get(f"/funds/{fund_id}?sort=name")
    assert investors_in(by_name.text) == ["Ash LP", "Elm Partners", "Oak Trust"]
    assert by_name.text.count('aria-sort="ascending"') == 1
    # A link in the header reverses the order; unknown orders fall back to the default.
    assert f'href="/funds/{fund_id}?sort=-name#investors-heading"' in by_name.text
    assert investors_in((await client.get(f"/funds/{fund_id}?sort=size")).text) == list(amounts)
    exported = await client.get(f"/funds/{fund_id}/commitments.csv?sort=-amount")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["investor"] for row in rows] == ["Elm Partners", "Oak Trust", "Ash LP"]


async def test_the_allocations_grid_edits_one_cell_with_the_apis_rule_and_audit(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    alpha, beta = await api.investors_with(fund_id, ["600000.00", "400000.00"])
    deal_id = await api.deal(fund_id, "Acme Robotics A")
    await api.request(
        "POST", f"/funds/{fund_id}/deals/{deal_id}/allocations/prorata", json={"amount": "1000.00"}
    )
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    grid = await client.get(f"/funds/{fund_id}/allocations")
    assert grid.status_code == 200
    cell = f"/funds/{fund_id}/deals/{deal_id}/allocations/{beta}"
    assert f'hx-post="{cell}"' in grid.text
    assert 'value="600.00"' in grid.text
    assert 'value="400.00"' in grid.text
    assert "Acme Robotics A: allocation of LP 1 (USD)" in grid.text  # each cell labelled
    token = hidden_token(grid.text)

    # htmx: the cell comes back alone, saved, and the API sees the new amount.
    saved = await client.post(
        cell, data={"csrf_token": token, "amount": "1,250.50"}, headers={"HX-Request": "true"}
    )
    assert saved.status_code == 200
    assert "<html" not in saved.text
    assert 'value="1,250.50"' in saved.text
    assert "Saved" in saved.text
    rows = await api.request("GET", f"/funds/{fund_id}/allocations?deal_id={deal_id}")
    assert {r["investor_id"]: r["amount"] for r in rows["items"]} == {
        alpha: "600.00",
        beta: "1250.50",
    }
    # The API's rule, in its words, beside the field; nothing written.
    refused = await client.post(
        cell, data={"csrf_token": token, "amount": "12.345"}, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 422
    assert 'aria-invalid="true"' in refused.text
    assert "decimal" in refused.text
    assert 'value="12.345"' in refused.text  # what was typed stays, to be corrected
    # Without JavaScript: a plain post comes back to the grid at that investor.
    plain = await client.post(cell, data={"csrf_token": token, "amount": "0", "here": "q=LP"})
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/funds/{fund_id}/allocations?q=LP#investor-{beta}"
    grid = await client.get(f"/funds/{fund_id}/allocations")
    assert "1,600.00" not in grid.text
    assert "600.00" in grid.text
    _, viewer = await person(sessions, org, Role.viewer)
    client.cookies.clear()
    await sign_in(client, viewer)
    read_only = await client.get(f"/funds/{fund_id}/allocations")
    assert read_only.status_code == 200
    assert "hx-post" not in read_only.text
    token = hidden_token(read_only.text)
    denied = await client.post(cell, data={"csrf_token": token, "amount": "5.00"})
    assert denied.status_code == 403


async def test_every_table_of_the_fund_page_downloads_with_the_session_as_csv_and_excel(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, _, call = await a_fund_with_a_call(api)
    await api.deal(fund_id, "Acme")
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    for page in (f"/funds/{fund_id}", "/", f"/funds/{fund_id}/allocations", "/settings"):
        html = (await client.get(page)).text
        links = re.findall(r'href="(/api/v1/[^"]+format=(csv|xlsx))"', html)
        assert links, page
        for link, fmt in links:
            got = await client.get(link.replace("&amp;", "&"))  # the session, no key
            assert got.status_code == 200, (link, got.text[:200])
            if fmt == "csv":
                assert got.headers["content-type"].startswith("text/csv")
            else:
                openpyxl.load_workbook(io.BytesIO(got.content))
    calls_csv = await client.get(f"/api/v1/funds/{fund_id}/capital-calls?format=csv")
    rows = list(csv.DictReader(io.StringIO(calls_csv.text)))
    assert [row["id"] for row in rows] == [call["id"]]


async def test_an_investors_contacts_are_kept_from_its_page(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, _ = await a_fund_with_a_call(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page_url = f"/funds/{fund_id}/investors/{investors[0]}"
    token = hidden_token((await client.get(page_url)).text)
    added = await client.post(
        f"{page_url}/contacts",
        data={
            "csrf_token": token,
            "name": "Finance team",
            "email": "finance@lp0.example",
            "notices": "on",
        },
    )
    assert added.status_code == 303
    [contact] = await api.request("GET", f"/investors/{investors[0]}/contacts")
    assert (contact["notices"], contact["statements"], contact["distributions"]) == (
        True,
        False,
        False,
    )
    twice = await client.post(
        f"{page_url}/contacts",
        data={"csrf_token": token, "name": "Again", "email": "FINANCE@lp0.example"},
    )
    assert twice.status_code == 409
    assert 'id="contact-error"' in twice.text
    assert "already has a contact" in twice.text
    bad = await client.post(
        f"{page_url}/contacts", data={"csrf_token": token, "name": "X", "email": "nope"}
    )
    assert bad.status_code == 422
    changed = await client.post(
        f"{page_url}/contacts/{contact['id']}",
        data={"csrf_token": token, "statements": "on", "distributions": "on"},
    )
    assert changed.status_code == 303
    [contact] = await api.request("GET", f"/investors/{investors[0]}/contacts")
    assert (contact["notices"], contact["statements"]) == (False, True)
    page = await client.get(page_url)
    assert "finance@lp0.example" in page.text
    removed = await client.post(
        f"{page_url}/contacts/{contact['id']}/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert await api.request("GET", f"/investors/{investors[0]}/contacts") == []


async def test_an_investors_letters_are_addressed_and_a_funds_late_terms_kept_from_the_console(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, investors, _ = await a_fund_with_a_call(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page_url = f"/funds/{fund_id}/investors/{investors[0]}"
    page = await client.get(page_url)
    assert '<label for="attention">Attention line (a person or a desk)</label>' in page.text
    token = hidden_token(page.text)
    saved = await client.post(
        f"{page_url}/addressee",
        data={
            "csrf_token": token,
            "attention": "Treasury",
            "address": "1 Main Street\r\nSpringfield",
        },
    )
    assert saved.status_code == 303
    investor = await api.request("GET", f"/investors/{investors[0]}")
    assert (investor["attention"], investor["address"]) == (
        "Treasury",
        "1 Main Street\r\nSpringfield",
    )
    refused = await client.post(
        f"{page_url}/addressee", data={"csrf_token": token, "attention": "x" * 201}
    )
    assert refused.status_code == 422
    assert 'id="addressee-error"' in refused.text
    cleared = await client.post(f"{page_url}/addressee", data={"csrf_token": token})
    assert cleared.status_code == 303
    investor = await api.request("GET", f"/investors/{investors[0]}")
    assert (investor["attention"], investor["address"]) == (None, None)

    terms_url = f"/funds/{fund_id}/terms"
    terms = await client.get(terms_url)
    assert '<textarea id="late_payment_terms" name="late_payment_terms"' in terms.text
    fund = await api.request("GET", f"/funds/{fund_id}")
    form = {
        name: str(fund[name])
        for name in (
            "name",
            "management_fee_rate",
            "preferred_return_rate",
            "catch_up_share",
            "carry_share",
            "waterfall_style",
            "notice_business_days",
        )
    }
    late = "Interest at 8% a year on late amounts; Section 5.4 applies to defaults."
    saved = await client.post(
        terms_url, data={**form, "csrf_token": token, "late_payment_terms": late}
    )
    assert saved.status_code == 303, saved.text
    assert (await api.request("GET", f"/funds/{fund_id}"))["late_payment_terms"] == late
    cleared = await client.post(terms_url, data={**form, "csrf_token": token})
    assert cleared.status_code == 303
    assert (await api.request("GET", f"/funds/{fund_id}"))["late_payment_terms"] is None
