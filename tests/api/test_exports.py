"""Every list downloads as CSV or XLSX (every page of it), with numbers as numbers, dates as
dates and formula-like text neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import bearer


async def test_a_list_downloads_whole_as_csv_by_query_or_accept_header(
    client: AsyncClient, org: NewOrg
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    amounts = [f"{n}000.50" for n in range(1, 8)]
    await api.investors_with(fund_id, amounts)
    path = f"/api/v1/funds/{fund_id}/commitments"
    by_query = await client.get(f"{path}?format=csv&limit=2", headers=bearer(org.api_key))
    assert by_query.status_code == 200
    assert by_query.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="list-commitments.csv"' in by_query.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(by_query.text)))
    assert sorted(r["amount"] for r in rows) == sorted(amounts)  # every page, not the first 2
    assert set(rows[0]) >= {"investor_id", "amount", "contributed", "unfunded", "committed_on"}
    by_header = await client.get(path, headers={**bearer(org.api_key), "Accept": "text/csv"})
    assert by_header.text == by_query.text
    wrong = await client.get(f"{path}?format=pdf", headers=bearer(org.api_key))
    assert wrong.status_code == 400


async def test_xlsx_has_numbers_dates_and_neutralised_formulas(
    client: AsyncClient, org: NewOrg
) -> None:
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    await api.request(
        "POST", "/investors", json={"name": '=HYPERLINK("evil")', "kind": "entity"}, expect=201
    )
    [investor_id] = await api.investors_with(fund_id, ["1234567.89"])
    commitments = await client.get(
        f"/api/v1/funds/{fund_id}/commitments?format=xlsx", headers=bearer(org.api_key)
    )
    assert commitments.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(commitments.content)).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    assert row["amount"].value == 1234567.89
    assert row["amount"].number_format == "#,##0.00"
    assert row["committed_on"].value == dt.datetime(2025, 1, 2)
    assert row["investor_id"].value == investor_id

    investors = await client.get("/api/v1/investors?format=csv", headers=bearer(org.api_key))
    names = [r["name"] for r in csv.DictReader(io.StringIO(investors.text))]
    assert '\'=HYPERLINK("evil")' in names  # text, never a formula
    xlsx = await client.get("/api/v1/investors?format=xlsx", headers=bearer(org.api_key))
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert book is not None
    cells = [c.value for row in book.iter_rows() for c in row]
    assert '\'=HYPERLINK("evil")' in cells


async def test_an_export_goes_through_the_same_checks_as_the_list(
    client: AsyncClient, org: NewOrg, other_org: NewOrg
) -> None:
    fund_id = await FundApi(client, org.api_key).fund()
    theirs = await client.get(
        f"/api/v1/funds/{fund_id}/commitments?format=csv", headers=bearer(other_org.api_key)
    )
    assert theirs.status_code == 404
    anonymous = await client.get(f"/api/v1/funds/{fund_id}/commitments?format=csv")
    assert anonymous.status_code == 401
    schema = (await client.get("/api/v1/openapi.json")).json()
    operation = schema["paths"]["/api/v1/funds/{fund_id}/commitments"]["get"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert any(p["name"] == "format" for p in operation["parameters"])
