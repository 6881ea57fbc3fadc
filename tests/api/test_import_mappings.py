"""Imports of files as teams export them (issue 20 items 3-5): header names normalised, column
mappings sent with the upload or saved per organisation and kind, a dry run's preview and
would-be counts, and a fund's imports listed newest first.

The job runs in this process (`import_support.run_jobs`: the code the worker task runs).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.imports import mappings
from prorata.imports.formats import PREVIEW_FIELDS, ImportKind
from prorata.imports.models import ImportMapping
from prorata.imports.schemas import MappingIn
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.import_support import csv_bytes, run_jobs
from tests.sign_in_support import give_password, sign_in
from tests.support import TestDatabase, bearer


class Files:
    """Uploads files to a fund with any query parameters, runs their jobs, reads the result."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        org: NewOrg,
        database: TestDatabase,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.client, self.org, self.database = client, org, database
        self.sessions, self.settings = sessions, settings
        self.api = FundApi(client, org.api_key)

    async def send(self, fund_id: str, content: bytes, **params: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/funds/{fund_id}/imports",
            params=params,
            files={"file": ("export.csv", content, "text/csv")},
            headers=bearer(self.org.api_key),
        )

    async def run(self, fund_id: str, content: bytes, **params: Any) -> dict[str, Any]:
        response = await self.send(fund_id, content, **params)
        assert response.status_code == 202, response.text
        await run_jobs(self.database.owner_url, self.sessions, self.settings)
        done: dict[str, Any] = await self.api.request(
            "GET", response.headers["location"].removeprefix("/api/v1")
        )
        return done

    async def errors(self, imported: dict[str, Any]) -> list[dict[str, str]]:
        response = await self.client.get(imported["errors_url"], headers=bearer(self.org.api_key))
        assert response.status_code == 200
        return list(csv.DictReader(io.StringIO(response.text)))

    def count(self, sql: str, *args: Any) -> int:
        with psycopg.connect(self.database.owner_url) as conn:
            row = conn.execute(sql, args).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def files(
    client: httpx.AsyncClient,
    org: NewOrg,
    database: TestDatabase,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> Files:
    return Files(client, org, database, sessions, settings)


async def _investors(files: Files) -> dict[str, dict[str, Any]]:
    listed = (await files.api.request("GET", "/investors?limit=500"))["items"]
    return {item["email"]: item for item in listed}


# --- header names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["External Ref", "external-ref", "EXTERNAL_REF", "External Ref."]
)
async def test_a_header_is_read_without_case_spaces_underscores_or_punctuation(
    files: Files, header: str
) -> None:
    fund = await files.api.fund()
    content = csv_bytes(
        f"Name,E-mail,Kind,Country,{header}",  # `E-mail`: an alias of email
        "Ada Capital,ada@lp.example,entity,US,CRM-1",
    )
    done = await files.run(fund, content, kind="investors")
    assert (done["status"], done["inserted"]) == ("succeeded", 1), done
    assert done["columns"] == {
        "Name": "name",
        "E-mail": "email",
        "Kind": "kind",
        "Country": "country",
        header: "external_ref",
    }
    assert (await _investors(files))["ada@lp.example"]["external_ref"] == "CRM-1"


async def test_errors_name_the_files_line_and_header_text(files: Files) -> None:
    fund = await files.api.fund()
    content = csv_bytes(
        "Investor Name,Email Address,Investor Type,Country",
        "Ada Capital,ada@lp.example,entity,US",
        "Bo Holdings,bo@lp.example,company,GB",  # line 3: not a kind
    )
    done = await files.run(fund, content, kind="investors")
    assert done["status"] == "rejected"
    assert await files.errors(done) == [
        {
            "line": "3",
            "column": "Investor Type",
            "value": "company",
            "message": "expected individual or entity",
        }
    ]


async def test_two_headers_naming_one_column_are_refused_by_their_text(files: Files) -> None:
    fund = await files.api.fund()
    response = await files.send(fund, csv_bytes("name,Email,E-mail,kind,country"), kind="investors")
    assert response.status_code == 422
    assert "the columns 'Email' and 'E-mail' both give email" in response.json()["detail"]


# --- mappings -----------------------------------------------------------------------------------


async def test_an_upload_with_a_mapping_reads_its_headers_and_leaves_out_a_column(
    files: Files, database: TestDatabase
) -> None:
    fund = await files.api.fund()
    await files.run(
        fund,
        csv_bytes("name,email,kind,country", "Ada Capital,ada@lp.example,entity,US"),
        kind="investors",
    )
    mapping = {"LP contact": "investor_email", "Signed": "committed_on", "Notes": None}
    content = csv_bytes(
        "LP Contact,Commitment Amount,signed,Notes",  # `Commitment Amount`: an alias of amount
        "ada@lp.example,2500000.00,2025-03-15,first close",
    )
    dry = await files.run(
        fund, content, kind="commitments", mapping=json.dumps(mapping), dry_run="true"
    )
    [ada] = (await _investors(files)).values()
    assert dry["preview"] == [
        {
            "line": 2,
            "outcome": "insert",
            "investor_id": ada["id"],
            "investor_name": "Ada Capital",
            "amount": "2500000.00",
            "committed_on": "2025-03-15",
        }
    ]
    done = await files.run(fund, content, kind="commitments", mapping=json.dumps(mapping))
    assert (done["status"], done["inserted"]) == ("succeeded", 1), done
    assert done["columns"] == {
        "LP Contact": "investor_email",
        "Commitment Amount": "amount",
        "signed": "committed_on",
        "Notes": None,
    }
    with psycopg.connect(database.owner_url) as conn:
        committed = conn.execute(
            "SELECT amount::text, committed_on::text FROM commitments WHERE fund_id = %s",
            (fund,),
        ).fetchall()
    assert committed == [("2500000.00", "2025-03-15")]


async def test_a_mapping_to_an_unknown_column_is_refused_naming_it(files: Files) -> None:
    fund = await files.api.fund()
    mapping = {"Investor Name": "nam", "Mail": "e_mail", "Kind": "kind"}
    response = await files.send(
        fund,
        csv_bytes("Investor Name,Mail,Kind,country"),
        kind="investors",
        mapping=json.dumps(mapping),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith("unknown target column 'e_mail', 'nam':")
    saved = await files.client.post(
        "/api/v1/import-mappings",
        json={"kind": "investors", "name": "CRM", "columns": mapping},
        headers=bearer(files.org.api_key),
    )
    assert saved.status_code == 422
    assert saved.headers["content-type"] == "application/problem+json"
    assert saved.json()["detail"].startswith("unknown target column 'e_mail', 'nam':")
    assert files.count("SELECT count(*) FROM imports") == 0
    assert files.count("SELECT count(*) FROM import_mappings") == 0
    not_json = await files.send(fund, csv_bytes("name"), kind="investors", mapping="name")
    assert not_json.status_code == 422
    assert "mapping must be a JSON object" in not_json.json()["detail"]


async def test_a_saved_mapping_is_used_by_a_second_upload(files: Files) -> None:
    fund = await files.api.fund()
    columns = {"Investor Name": "name", "Contact e-mail": "email", "Type": "kind", "Notes": None}
    saved = await files.api.request(
        "POST",
        "/import-mappings",
        json={"kind": "investors", "name": "CRM export", "columns": columns, "default": True},
        expect=201,
    )
    assert (saved["kind"], saved["name"], saved["columns"], saved["default"]) == (
        "investors",
        "CRM export",
        columns,
        True,
    )
    export = "Investor Name,Contact E-mail,Type,Country,Notes"
    # The default mapping of the kind: used by an upload that names none.
    first = await files.run(
        fund,
        csv_bytes(export, "Ada Capital,ada@lp.example,entity,US,met in Paris"),
        kind="investors",
    )
    assert (first["status"], first["inserted"]) == ("succeeded", 1), first
    # Named by id: the same, and a file with our own column names still imports by default.
    second = await files.run(
        fund,
        csv_bytes(export, "Bo Holdings,bo@lp.example,individual,GB,"),
        kind="investors",
        mapping_id=saved["id"],
    )
    assert (second["status"], second["inserted"]) == ("succeeded", 1), second
    plain = await files.run(
        fund, csv_bytes("name,email,kind,country", "Cy,cy@lp.example,entity,FR"), kind="investors"
    )
    assert (plain["status"], plain["inserted"]) == ("succeeded", 1), plain
    investors = await _investors(files)
    assert [(investors[e]["name"], investors[e]["kind"]) for e in sorted(investors)] == [
        ("Ada Capital", "entity"),
        ("Bo Holdings", "individual"),
        ("Cy", "entity"),
    ]
    # A mapping of another kind is refused by name; a commitments upload ignores this default.
    wrong = await files.send(
        fund,
        csv_bytes("investor_email,amount,committed_on"),
        kind="commitments",
        mapping_id=saved["id"],
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"] == f"mapping {saved['id']} is for investors, not commitments"


async def test_saved_mappings_are_listed_replaced_deleted_and_audited(files: Files) -> None:
    one = {"kind": "investors", "name": "CRM", "columns": {"Full name": "name"}, "default": True}
    first = await files.api.request("POST", "/import-mappings", json=one, expect=201)
    again = await files.client.post(
        "/api/v1/import-mappings", json=one, headers=bearer(files.org.api_key)
    )
    assert again.status_code == 409
    other = {**one, "name": "Fund admin", "columns": {"Legal name": "name"}}
    second = await files.api.request("POST", "/import-mappings", json=other, expect=201)
    # One default per kind: the newer default takes it from the first.
    listed = (await files.api.request("GET", "/import-mappings"))["items"]
    assert [(m["name"], m["default"]) for m in listed] == [("CRM", False), ("Fund admin", True)]
    replaced = await files.api.request(
        "PUT",
        f"/import-mappings/{first['id']}",
        json={"kind": "commitments", "name": "CRM", "columns": {"LP": "investor_email"}},
    )
    assert (replaced["kind"], replaced["columns"], replaced["default"]) == (
        "commitments",
        {"LP": "investor_email"},
        False,
    )
    assert await files.api.request("GET", f"/import-mappings/{first['id']}") == replaced
    await files.api.request("DELETE", f"/import-mappings/{second['id']}", expect=204)
    await files.api.request("GET", f"/import-mappings/{second['id']}", expect=404)
    with psycopg.connect(files.database.owner_url) as conn:
        actions = conn.execute(
            "SELECT action FROM audit_log WHERE entity = 'import_mapping' ORDER BY id"
        ).fetchall()
    assert [a for (a,) in actions] == [
        "import_mapping.create",
        "import_mapping.create",
        "import_mapping.update",
        "import_mapping.delete",
    ]


# --- the dry run's preview ---------------------------------------------------------------------


async def test_a_dry_run_previews_its_first_rows_and_counts_what_it_would_do(
    files: Files, database: TestDatabase
) -> None:
    fund = await files.api.fund()
    await files.run(
        fund,
        csv_bytes(
            "name,email,kind,country",
            "Ada Capital,ada@lp.example,entity,US",
            "Bo Holdings,bo@lp.example,entity,GB",
        ),
        kind="investors",
    )
    by_email = await _investors(files)
    ada, bo = by_email["ada@lp.example"]["id"], by_email["bo@lp.example"]["id"]
    for investor in (ada, bo):
        await files.api.commit(fund, investor, "1000000")
    atlas = await files.api.deal(fund, "Project Atlas")
    await files.api.request(
        "PUT", f"/funds/{fund}/deals/{atlas}/allocations/{ada}", json={"amount": "10.00"}
    )
    content = csv_bytes(
        "Investor Email,Deal,Amount",  # `Deal`: an alias of deal_name
        "ADA@lp.example, Project Atlas ,10",  # the same amount: unchanged
        "bo@lp.example,Project Atlas,2500.5",  # new: insert
    )
    dry = await files.run(fund, content, kind="allocations", dry_run="true")
    assert (dry["status"], dry["rows_total"], dry["rows_valid"]) == ("succeeded", 2, 2)
    assert (dry["inserted"], dry["updated"], dry["unchanged"]) == (None, None, None)
    assert dry["would"] == {"inserted": 1, "updated": 0, "unchanged": 1}
    assert set(dry["preview"][0]) == set(PREVIEW_FIELDS[ImportKind.allocations])
    # Normalised: amounts to the currency's two decimals, the deal's name trimmed and resolved.
    assert dry["preview"] == [
        {
            "line": 2,
            "outcome": "unchanged",
            "investor_id": ada,
            "investor_name": "Ada Capital",
            "deal_id": atlas,
            "deal_name": "Project Atlas",
            "amount": "10.00",
        },
        {
            "line": 3,
            "outcome": "insert",
            "investor_id": bo,
            "investor_name": "Bo Holdings",
            "deal_id": atlas,
            "deal_name": "Project Atlas",
            "amount": "2500.50",
        },
    ]
    # Nothing written: the one allocation made before is all there is.
    assert files.count("SELECT count(*) FROM allocations WHERE fund_id = %s", fund) == 1


async def test_a_dry_run_preview_is_bounded_to_twenty_rows(files: Files) -> None:
    fund = await files.api.fund()
    rows = [f"LP {n},lp{n}@lp.example,individual," for n in range(25)]
    dry = await files.run(
        fund, csv_bytes("name,email,kind,country", *rows), dry_run="true", kind="investors"
    )
    assert dry["would"] == {"inserted": 25, "updated": 0, "unchanged": 0}
    assert [row["line"] for row in dry["preview"]] == list(range(2, 22))  # lines 2…21
    assert set(dry["preview"][0]) == set(PREVIEW_FIELDS[ImportKind.investors])
    assert dry["preview"][0] == {
        "line": 2,
        "outcome": "insert",
        "investor_id": None,
        "name": "LP 0",
        "email": "lp0@lp.example",
        "kind": "individual",
        "country": None,
        "external_ref": None,
    }
    assert files.count("SELECT count(*) FROM investors") == 0


# --- the listing --------------------------------------------------------------------------------


async def test_a_funds_imports_are_listed_newest_first_a_page_at_a_time(files: Files) -> None:
    fund = await files.api.fund()
    other_fund = await files.api.fund()
    made = []
    for n in range(3):
        content = csv_bytes("name,email,kind,country", f"LP {n},lp{n}@lp.example,entity,US")
        made.append((await files.run(fund, content, kind="investors"))["id"])
    await files.run(
        other_fund,
        csv_bytes("name,email,kind,country", "X,x@lp.example,entity,"),
        kind="investors",
    )
    page = await files.api.request("GET", f"/funds/{fund}/imports?limit=2")
    assert [item["id"] for item in page["items"]] == [made[2], made[1]]
    assert page["items"][0]["status"] == "succeeded"
    rest = await files.api.request(
        "GET", f"/funds/{fund}/imports?limit=2&cursor={page['next_cursor']}"
    )
    assert ([item["id"] for item in rest["items"]], rest["next_cursor"]) == ([made[0]], None)


# --- the console ------------------------------------------------------------------------------


def _table(html: str, table_id: str) -> list[list[str]]:
    """The rows of one table of a page, each as its cells' text (tags stripped)."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert found, table_id
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", found.group(0), re.S)
    ]


async def test_the_console_lists_a_funds_imports_and_shows_a_dry_runs_preview(
    files: Files, sessions: async_sessionmaker[AsyncSession]
) -> None:
    fund = await files.api.fund()
    content = csv_bytes(
        "Investor Name,E-mail,Kind,Country", "Ada Capital,ada@lp.example,Entity,Atlantis"
    )
    rejected = await files.run(fund, content, kind="investors", dry_run="true")  # no such country
    dry = await files.run(
        fund,
        csv_bytes("name,email,kind,country", "Ada Capital,ada@lp.example,entity,US"),
        kind="investors",
        dry_run="true",
    )
    saved = await files.api.request(
        "POST",
        "/import-mappings",
        json={"kind": "commitments", "name": "Our CRM", "columns": {"LP": "investor_email"}},
        expect=201,
    )
    await give_password(sessions, files.org.org_id, files.org.user_id)
    await sign_in(files.client, "owner@a.example")
    listing = await files.client.get(f"/funds/{fund}/imports/new")
    assert listing.status_code == 200
    # The form offers the reading options and the saved mappings (of the kind chosen).
    assert '<option value="1.234,56">1.234,56</option>' in listing.text
    assert '<option value="MM/DD/YYYY">MM/DD/YYYY</option>' in listing.text
    assert (
        f'<option value="{saved["id"]}" data-kind="commitments">Our CRM (commitments)</option>'
        in listing.text
    )
    rows = _table(listing.text, "imports")
    assert [row[:4] for row in rows] == [
        ["File", "Kind", "Status", "Rows"],
        ["export.csv (dry run)", "investors", "succeeded", "1"],
        ["export.csv (dry run)", "investors", "rejected", "1"],
    ]
    assert f'href="/funds/{fund}/imports/{dry["id"]}"' in listing.text
    assert f'href="/funds/{fund}/imports/{rejected["id"]}"' in listing.text
    page = await files.client.get(f"/funds/{fund}/imports/{dry['id']}")
    assert _table(page.text, "preview") == [
        ["Line", "Outcome", "Name", "Email", "Kind", "Country", "External ref"],
        ["2", "insert", "Ada Capital", "ada@lp.example", "entity", "US", "—"],
    ]
    assert "<dt>Would add</dt><dd>1</dd>" in page.text


async def test_two_mappings_made_the_default_at_once_leave_the_later_one_the_default(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    """The second waits for the first to commit, then takes the default from it, as it would
    a moment later (before, its insert hit the one-default index: a 409 saying that its name
    was taken)."""
    owner = Principal(
        org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
    )

    async def make_default(session: AsyncSession, name: str) -> None:
        data = MappingIn(
            kind=ImportKind.investors, name=name, columns={"Nom": "name"}, default=True
        )
        await mappings.create(session, actor=owner, data=data)

    async def in_a_transaction_of_its_own(name: str) -> None:
        async with db.tenant_transaction(sessions, org.org_id) as session:
            await make_default(session, name)

    async with db.tenant_transaction(sessions, org.org_id) as first:
        await make_default(first, "First")
        second = asyncio.create_task(in_a_transaction_of_its_own("Second"))
        await asyncio.sleep(0.5)
        assert not second.done()  # it waits for the first to commit
    await asyncio.wait_for(second, timeout=30)
    async with db.tenant_transaction(sessions, org.org_id) as session:
        defaults = await session.scalars(
            sa.select(ImportMapping.name).where(
                ImportMapping.kind == ImportKind.investors, ImportMapping.is_default
            )
        )
        assert list(defaults) == ["Second"]
