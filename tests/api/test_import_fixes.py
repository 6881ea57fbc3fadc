"""Import bugs found by exploratory testing against a running server, each held by a test:
a mapping renamed to a taken name, a dry run answered by an older one, a workbook's header as
read, a sheet named in another case, and a fund's imports exported as CSV.

The job runs in this process (`import_support.run_jobs`: the code the worker task runs).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from prorata.http import exports
from prorata.imports import xlsx
from tests.api.test_import_values import workbook
from tests.import_support import Imports, csv_bytes, run_jobs, upload
from tests.support import TestDatabase, bearer, migrations


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


INVESTORS = csv_bytes(
    "name,email,kind,country",
    "Ada,ada@lp.example,individual,US",
    "Bob,bob@lp.example,individual,FR",
    "Cy,cy@lp.example,entity,",
)


# --- saved mappings: a name taken is a 409, on PUT as on POST --------------------------------


async def test_renaming_a_mapping_to_a_name_taken_is_a_409_like_creating_one(
    imports: Imports,
) -> None:
    api = imports.api
    first = {"kind": "allocations", "name": "A", "columns": {}}
    await api.request("POST", "/import-mappings", json=first, expect=201)
    second = await api.request("POST", "/import-mappings", json={**first, "name": "B"}, expect=201)
    created = await imports.client.post(
        "/api/v1/import-mappings", json=first, headers=bearer(imports.org.api_key)
    )
    renamed = await imports.client.put(
        f"/api/v1/import-mappings/{second['id']}", json=first, headers=bearer(imports.org.api_key)
    )
    same = ("type", "title", "status", "detail")
    assert [_problem(renamed, 409).get(k) for k in same] == [
        _problem(created, 409).get(k) for k in same
    ]
    # Nothing changed, and the connection is as good as before.
    assert await api.request("GET", f"/import-mappings/{second['id']}") == second


async def test_a_mapping_moved_to_a_kind_where_its_name_is_taken_is_a_409(
    imports: Imports,
) -> None:
    api = imports.api
    body = {"kind": "investors", "name": "CRM", "columns": {}, "default": True}
    await api.request("POST", "/import-mappings", json=body, expect=201)
    other = await api.request(
        "POST", "/import-mappings", json={**body, "kind": "commitments"}, expect=201
    )
    moved = await imports.client.put(
        f"/api/v1/import-mappings/{other['id']}",
        json=body,
        headers=bearer(imports.org.api_key),
    )
    assert _problem(moved, 409)["detail"] == (
        "the organisation has a investors mapping named 'CRM' already"
    )
    assert await api.request("GET", f"/import-mappings/{other['id']}") == other


async def test_making_a_mapping_the_default_by_put_moves_the_default(imports: Imports) -> None:
    api = imports.api
    body = {"kind": "investors", "name": "A", "columns": {}, "default": True}
    first = await api.request("POST", "/import-mappings", json=body, expect=201)
    second = await api.request(
        "POST", "/import-mappings", json={**body, "name": "B", "default": False}, expect=201
    )
    put = await api.request(
        "PUT", f"/import-mappings/{second['id']}", json={**body, "name": "B"}, expect=200
    )
    assert put["default"] is True
    assert (await api.request("GET", f"/import-mappings/{first['id']}"))["default"] is False


# --- a dry run checks the data as it is now ---------------------------------------------------


async def test_a_dry_run_of_a_file_imported_since_is_run_again(imports: Imports) -> None:
    fund = await imports.api.fund()
    before = await imports.run(fund, "investors", INVESTORS, dry_run=True)
    assert before["would"] == {"inserted": 3, "updated": 0, "unchanged": 0}
    real = await imports.run(fund, "investors", INVESTORS)
    assert real["inserted"] == 3
    response = await upload(
        imports.client, imports.org.api_key, fund, "investors", INVESTORS, dry_run=True
    )
    assert response.status_code == 202, response.text  # a new dry run, not the first one
    await run_jobs(imports.database.owner_url, imports.sessions, imports.settings)
    after = await imports.get(response.headers["location"])
    assert after["id"] != before["id"]
    assert after["would"] == {"inserted": 0, "updated": 0, "unchanged": 3}
    assert {row["outcome"] for row in after["preview"]} == {"unchanged"}
    assert all(row["investor_id"] is not None for row in after["preview"])
    # The real import is still deduplicated: the same file again is the earlier import.
    again = await upload(imports.client, imports.org.api_key, fund, "investors", INVESTORS)
    assert (again.status_code, again.json()["id"]) == (200, real["id"])


async def test_the_same_dry_run_sent_twice_runs_twice(imports: Imports) -> None:
    fund = await imports.api.fund()
    sent = [
        await upload(
            imports.client, imports.org.api_key, fund, "investors", INVESTORS, dry_run=True
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in sent] == [202, 202]
    assert sent[0].json()["id"] != sent[1].json()["id"]


# --- a workbook's columns are its header as read ------------------------------------------------


# The worker records the header it read (`ingest.Progress.header_read`).
async def test_a_workbooks_columns_are_its_header_as_read(imports: Imports) -> None:
    fund = await imports.api.fund()
    content = workbook(
        (
            "Investors",
            [
                ["Name", "LP Contact", "Kind", "Country"],
                ["Ada", "ada@lp.example", "individual", "US"],
            ],
        )
    )
    done = await imports.run(
        fund, "investors", content, options={"mapping": json.dumps({"LP contact": "email"})}
    )
    assert done["status"] == "succeeded", done
    assert done["columns"] == {
        "Name": "name",
        "LP Contact": "email",
        "Kind": "kind",
        "Country": "country",
    }


async def test_a_workbooks_columns_are_unknown_until_its_header_is_read(
    imports: Imports,
) -> None:
    fund = await imports.api.fund()
    content = workbook(
        ("S", [["name", "email", "kind", "country"], ["Ada", "ada@lp.example", "individual", "US"]])
    )
    response = await upload(
        imports.client,
        imports.org.api_key,
        fund,
        "investors",
        content,
        options={"mapping": json.dumps({"LP contact": "email"})},
    )
    assert response.status_code == 202, response.text
    assert response.json()["columns"] is None  # not the mapping sent, echoed


async def test_a_csv_files_columns_are_its_header_as_read_from_the_upload_on(
    imports: Imports,
) -> None:
    fund = await imports.api.fund()
    content = csv_bytes("Name,LP Contact,Kind,Country", "Ada,ada@lp.example,individual,US")
    response = await upload(
        imports.client,
        imports.org.api_key,
        fund,
        "investors",
        content,
        options={"mapping": json.dumps({"LP contact": "email"})},
    )
    columns = {"Name": "name", "LP Contact": "email", "Kind": "kind", "Country": "country"}
    assert response.json()["columns"] == columns
    await run_jobs(imports.database.owner_url, imports.sessions, imports.settings)
    assert (await imports.get(response.headers["location"]))["columns"] == columns


async def test_imports_made_before_the_header_was_kept_get_it_if_they_are_csv(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    csv_import = await imports.run(fund, "investors", INVESTORS)
    content = workbook(
        ("S", [["name", "email", "kind", "country"], ["Di", "d@x.example", "entity", ""]])
    )
    xlsx_import = (
        await upload(imports.client, imports.org.api_key, fund, "investors", content)
    ).json()
    with migrations(database.owner_url) as schema:
        schema.down("0042")
        schema.up()
        rows = schema.connection.execute(sa.text("SELECT id::text, header FROM imports"))
        headers = {row.id: row.header for row in rows}
    assert headers == {csv_import["id"]: csv_import["columns"], xlsx_import["id"]: None}


# --- sheet names are matched as Excel does: case does not count ------------------------------


async def test_a_sheet_is_found_whatever_the_case_of_its_name(imports: Imports) -> None:
    fund = await imports.api.fund()
    content = workbook(
        ("Cover", [["Investors of Fund I"]]),
        (
            "Data",
            [["name", "email", "kind", "country"], ["Ada", "ada@lp.example", "individual", "US"]],
        ),
    )
    done = await imports.run(fund, "investors", content, options={"sheet": "data"})
    assert (done["status"], done["inserted"]) == ("succeeded", 1), done
    missing = await imports.run(fund, "investors", content, options={"sheet": "Dat"})
    assert missing["message"] == "no sheet named 'Dat' (the sheets: 'Cover', 'Data')"


@pytest.mark.parametrize(
    ("wanted", "found"),
    [("Data", "r2"), ("data", "r3"), ("DATA", "r2"), ("ÉTÉ", "r4"), ("été", "r4"), ("x", "")],
)
def test_a_sheet_name_matches_exactly_first_then_whatever_its_case(wanted: str, found: str) -> None:
    sheets = [("Cover", "r1"), ("Data", "r2"), ("data", "r3"), ("Été", "r4")]
    assert xlsx.sheet_id(sheets, wanted) == found


# --- a fund's imports as CSV: nested values are JSON text -------------------------------------


async def test_a_funds_imports_export_nested_values_as_json_text(imports: Imports) -> None:
    fund = await imports.api.fund()
    dry = await imports.run(fund, "investors", INVESTORS, dry_run=True)
    other = csv_bytes("Name,E-mail,Kind,Country", "Di,di@lp.example,entity,DE")
    await imports.run(fund, "investors", other)
    exported = await imports.client.get(
        f"/api/v1/funds/{fund}/imports?format=csv", headers=bearer(imports.org.api_key)
    )
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    header = list(rows[0])
    # One column each, whatever the files' headers; a fixed-shape object still spreads.
    assert {"columns", "preview", "progress.phase", "would.inserted"} <= set(header)
    assert not any(name.startswith(("columns.", "preview.")) for name in header)
    by_id = {row["id"]: row for row in rows}
    assert json.loads(by_id[dry["id"]]["preview"]) == dry["preview"]
    assert json.loads(by_id[dry["id"]]["columns"]) == dry["columns"]
    assert by_id[dry["id"]]["would.inserted"] == "3"


class _Amounts(BaseModel):
    investment: str
    fee: str


class _Line(BaseModel):
    id: int
    amounts: _Amounts | None
    seen: dict[str, Any]
    tags: list[str]
    rows: list[dict[str, Any]]


def test_an_export_spreads_fixed_shapes_and_writes_other_nested_values_as_json() -> None:
    items = [
        _Line(
            id=n,
            amounts=_Amounts(investment=f"{n}.00", fee="1.50"),
            seen={f"Header {n}": "name"},
            tags=["a", "b"],
            rows=[{"line": 2, "outcome": "insert"}],
        ).model_dump(mode="json")
        for n in (1, 2)
    ]
    columns, rows = exports.table(items, spread=exports.spread_fields(_Line))
    assert columns == ["id", "amounts.investment", "amounts.fee", "seen", "tags", "rows"]
    assert rows[1] == [
        2,
        "2.00",
        "1.50",
        '{"Header 2": "name"}',
        "a; b",
        '[{"line": 2, "outcome": "insert"}]',
    ]
    # Rows built by hand (the console's tables) have no model: their objects are spread.
    assert exports.table([{"a": {"b": 1}}]) == (["a.b"], [[1]])


async def test_the_activity_exports_its_snapshots_as_json_text(imports: Imports) -> None:
    fund = await imports.api.fund()
    exported = await imports.client.get(
        f"/api/v1/funds/{fund}/activity?format=csv", headers=bearer(imports.org.api_key)
    )
    assert exported.status_code == 200, exported.text
    [created] = list(csv.DictReader(io.StringIO(exported.text)))
    assert created["action"] == "fund.create"
    assert not any(name.startswith(("before.", "after.")) for name in created)
    assert json.loads(created["after"])["currency"] == "USD"
