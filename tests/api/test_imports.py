"""CSV imports through the API: upload → import row + job → ingest → status, counts, errors.csv.

The job runs in this process (`import_support.run_jobs`: the code the worker task runs);
tests/test_import_worker.py runs it in a real worker process.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.imports import ingest
from prorata.orgs.service import NewOrg
from prorata.platform import storage
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.import_support import Imports, csv_bytes, queued_imports, run_jobs, upload
from tests.support import TestDatabase, bearer


def _allocations(owner_url: str, fund_id: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT investor_id, deal_id, amount FROM allocations WHERE fund_id = %s", (fund_id,)
        ).fetchall()
    return {(str(investor), str(deal)): str(amount) for investor, deal, amount in rows}


async def _fund_with(
    api: FundApi, investors: int, deals: int, currency: str = "USD"
) -> tuple[str, list[str], list[str]]:
    fund = await api.fund(currency)
    investor_ids = await api.investors_with(fund, ["1000000"] * investors)
    deal_ids = [await api.deal(fund, f"Deal {n}") for n in range(deals)]
    return fund, investor_ids, deal_ids


# --- the acceptance path --------------------------------------------------------------------


async def test_a_bad_row_rejects_the_file_then_the_fixed_file_applies_once(
    imports: Imports, database: TestDatabase
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=5, deals=2)
    rows = [f"{investors[n % 5]},{deals[n // 5]},{100 + n}.{n:02d}" for n in range(10)]
    bad = list(rows)
    bad[6] = f"{investors[1]},{deals[1]},12.345"  # line 8: finer than a cent
    rejected = await imports.run(fund, "allocations", csv_bytes("investor_id,deal_id,amount", *bad))
    assert rejected["status"] == "rejected"
    assert (rejected["rows_total"], rejected["rows_valid"], rejected["rows_invalid"]) == (10, 9, 1)
    assert rejected["inserted"] is None
    assert _allocations(database.owner_url, fund) == {}  # all or nothing
    assert await imports.errors(rejected) == [
        {
            "line": "8",
            "column": "amount",
            "value": "12.345",
            # 12.345 may be twelve thousand in another notation: the option is named.
            "message": "USD allows at most 2 decimal places (if . separates thousands in this "
            "file, set number_format=1.234,56)",
        }
    ]

    fixed = csv_bytes("investor_id,deal_id,amount", *rows)
    succeeded = await imports.run(fund, "allocations", fixed)
    assert succeeded["status"] == "succeeded"
    assert (succeeded["inserted"], succeeded["updated"], succeeded["unchanged"]) == (10, 0, 0)
    assert succeeded["errors_url"] is None
    applied = _allocations(database.owner_url, fund)
    assert len(applied) == 10
    assert applied[(investors[2], deals[1])] == "107.07"

    again = await upload(imports.client, imports.org.api_key, fund, "allocations", fixed)
    assert again.status_code == 200  # the same file: the existing import, not a second one
    assert again.json()["id"] == succeeded["id"]
    assert again.headers["location"] == f"/api/v1/imports/{succeeded['id']}"
    assert queued_imports(database.owner_url) == []  # no job was queued for it


async def test_a_rejected_file_imports_once_what_it_names_exists(
    imports: Imports, database: TestDatabase
) -> None:
    """A rejected import applied nothing: the same file uploaded again runs again (here, once
    the investor it names has been created), and only a file that did apply is returned."""
    fund = await imports.api.fund()
    content = csv_bytes(
        "investor_email,amount,committed_on", "late@lp.example,250000.00,2026-02-01"
    )
    rejected = await imports.run(fund, "commitments", content)
    assert rejected["status"] == "rejected"
    assert [e["column"] for e in await imports.errors(rejected)] == ["investor_email"]

    await imports.api.request(
        "POST",
        "/investors",
        json={"name": "Late LP", "kind": "entity", "email": "late@lp.example"},
        expect=201,
    )
    response = await upload(imports.client, imports.org.api_key, fund, "commitments", content)
    assert response.status_code == 202, response.text
    assert response.json()["id"] != rejected["id"]
    await run_jobs(database.owner_url, imports.sessions, imports.settings)
    succeeded = await imports.get(response.headers["location"])
    assert (succeeded["status"], succeeded["inserted"]) == ("succeeded", 1)

    again = await upload(imports.client, imports.org.api_key, fund, "commitments", content)
    assert again.status_code == 200
    assert again.json()["id"] == succeeded["id"]
    commitments = await imports.api.request("GET", f"/funds/{fund}/commitments")
    assert [c["amount"] for c in commitments["items"]] == ["250000.00"]


async def test_upload_answers_202_with_location_and_the_queued_import(
    imports: Imports, database: TestDatabase, settings: Settings
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=1, deals=1)
    content = csv_bytes("amount,deal_id,investor_id", f"5.00,{deals[0]},{investors[0]}")
    response = await upload(imports.client, imports.org.api_key, fund, "allocations", content)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"/api/v1/imports/{body['id']}"
    assert body["status"] == "queued"
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["progress"] == {"phase": "queued", "bytes_read": 0, "bytes_total": len(content)}
    # The job was enqueued in the same transaction as the import row.
    assert queued_imports(database.owner_url) == [(body["id"], str(imports.org.org_id))]
    # The file is in the object store, byte for byte, under the org's prefix.
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT b.key, b.size, b.sha256, b.org_id "
            "FROM imports i JOIN blobs b ON b.id = i.blob_id"
        ).fetchone()
    assert row is not None
    key, size, sha, org_id = row
    assert (size, sha, org_id) == (len(content), body["sha256"], imports.org.org_id)
    assert await storage.open_store(settings).read(key) == content


async def test_dry_run_validates_and_predicts_without_applying(
    imports: Imports, database: TestDatabase
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=2, deals=1)
    await imports.api.request(
        "PUT", f"/funds/{fund}/deals/{deals[0]}/allocations/{investors[0]}", json={"amount": "1.00"}
    )
    content = csv_bytes(
        "investor_id,deal_id,amount",
        f"{investors[0]},{deals[0]},2.00",
        f"{investors[1]},{deals[0]},3",
    )
    dry = await imports.run(fund, "allocations", content, dry_run=True)
    assert (dry["status"], dry["dry_run"]) == ("succeeded", True)
    # Nothing applied, so nothing reported as inserted: what applying it would do is `would`.
    assert (dry["inserted"], dry["updated"], dry["unchanged"]) == (None, None, None)
    assert dry["would"] == {"inserted": 1, "updated": 1, "unchanged": 0}
    assert _allocations(database.owner_url, fund) == {(investors[0], deals[0]): "1.00"}
    # A dry run does not stand in for the real import of the same file.
    real = await imports.run(fund, "allocations", content)
    assert real["id"] != dry["id"]
    assert (real["inserted"], real["updated"], real["unchanged"]) == (1, 1, 0)
    assert _allocations(database.owner_url, fund) == {
        (investors[0], deals[0]): "2.00",
        (investors[1], deals[0]): "3.00",
    }


def _paths_taken(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = {
        "import of new allocations applied": "all new",
        "import checked in full": "in full",
    }
    return [messages[r.message] for r in caplog.records if r.message in messages]


async def test_a_second_file_reports_inserted_updated_and_unchanged(
    imports: Imports, database: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund, investors, deals = await _fund_with(imports.api, investors=3, deals=1)
    first = csv_bytes(
        "investor_id,deal_id,amount",
        f"{investors[0]},{deals[0]},1.00",
        f"{investors[1]},{deals[0]},2.00",
    )
    done = await imports.run(fund, "allocations", first)
    assert (done["rows_total"], done["rows_valid"], done["rows_invalid"]) == (2, 2, 0)
    assert (done["inserted"], done["updated"], done["unchanged"]) == (2, 0, 0)
    # New, valid rows take the one-statement path; a file touching existing pairs the full one.
    assert _paths_taken(caplog) == ["all new"]
    second = csv_bytes(
        "investor_id,deal_id,amount",
        f"{investors[0]},{deals[0]},1",  # same amount, other spelling
        f"{investors[1]},{deals[0]},2.50",
        f"{investors[2]},{deals[0]},3.00",
    )
    done = await imports.run(fund, "allocations", second)
    assert (done["inserted"], done["updated"], done["unchanged"]) == (1, 1, 1)
    assert _allocations(database.owner_url, fund)[(investors[1], deals[0])] == "2.50"
    assert _paths_taken(caplog) == ["all new", "in full"]


# --- allocations: references, money and duplicates --------------------------------------------


async def test_allocation_rows_are_checked_for_references_money_and_duplicates(
    imports: Imports, database: TestDatabase
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=2, deals=4)
    outsider = await imports.api.investor("No commitment")
    other_fund, _, other_deals = await _fund_with(imports.api, investors=0, deals=1)
    lines = [
        "investor_id,deal_id,amount",
        f"{investors[0]},{deals[0]},10.00",  # 2: fine
        f"{outsider},{deals[0]},1.00",  # 3: not in this fund
        f"{investors[0]},{other_deals[0]},1.00",  # 4: another fund's deal
        f"{investors[1]},{deals[1]},-5.00",  # 5: negative
        f'{investors[1]},{deals[2]},"1,000.00"',  # 6: a thousands separator: 1000.00
        f"{investors[0]},{deals[0]},11.00",  # 7: same pair as line 2
        f"not-a-uuid,{deals[1]},abc",  # 8: two bad cells
        f",{deals[1]},",  # 9: empty cells
        f"{investors[1]},{deals[3]},1234567890123456",  # 10: too large
        f"{investors[1]},{deals[0]},0",  # 11: zero is a valid allocation
    ]
    rejected = await imports.run(fund, "allocations", csv_bytes(*lines))
    assert rejected["status"] == "rejected"
    assert (rejected["rows_total"], rejected["rows_invalid"]) == (10, 7)
    found = {(e["line"], e["column"]): e["message"] for e in await imports.errors(rejected)}
    assert found == {
        ("3", "investor_id"): "no investor with this id has a commitment to this fund",
        ("4", "deal_id"): "no such deal in this fund",
        ("5", "amount"): "must be zero or positive",
        ("7", ""): "same investor and deal as line 2",
        ("8", "investor_id"): "no investor with this id has a commitment to this fund",
        ("8", "amount"): "not an amount: write digits and a decimal point, such as 1234.56",
        ("9", "investor_id"): "required",
        ("9", "amount"): "required",
        ("10", "amount"): "too large",
    }
    assert _allocations(database.owner_url, fund) == {}
    assert other_fund


async def test_references_by_email_and_deal_name_and_a_zero_decimal_currency(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund("JPY")
    ada = await imports.api.request(
        "POST",
        "/investors",
        json={"name": "Ada", "kind": "individual", "email": "Ada@X.example"},
        expect=201,
    )
    await imports.api.commit(fund, ada["id"], "5000000")
    deal = await imports.api.deal(fund, "Acme Seed")
    twin_a = await imports.api.deal(fund, "Twin")
    await imports.api.deal(fund, "Twin")
    await imports.api.deal(fund, "Beta")
    content = csv_bytes(
        "deal_name,amount,investor_email",
        "Acme Seed,1200,ada@x.example",  # emails match without regard to case
        "Twin,100,ada@x.example",  # two deals have this name
        "Beta,1.5,ada@x.example",  # yen have no decimals
        "Nothing,1,ada@x.example",
    )
    rejected = await imports.run(fund, "allocations", content)
    found = {(e["line"], e["column"]): e["message"] for e in await imports.errors(rejected)}
    assert found == {
        ("3", "deal_name"): "several deals in this fund have this name: use deal_id",
        ("4", "amount"): "JPY allows at most 0 decimal places",
        ("5", "deal_name"): "no deal with this name in this fund",
    }
    done = await imports.run(
        fund,
        "allocations",
        csv_bytes("deal_name,amount,investor_email", "Acme Seed,1200,ada@x.example"),
    )
    assert done["status"] == "succeeded"
    assert _allocations(database.owner_url, fund) == {(ada["id"], deal): "1200"}
    assert twin_a


@pytest.mark.parametrize(
    ("encoding", "newline"),
    [("utf-8", "\n"), ("utf-8-sig", "\r\n")],
    ids=["plain", "bom-and-crlf"],
)
async def test_utf8_with_or_without_bom_and_quoted_cells(
    imports: Imports, database: TestDatabase, encoding: str, newline: str
) -> None:
    fund = await imports.api.fund()
    text = (
        newline.join(
            [
                " Name , EMAIL,kind,country,external_ref",  # names: any case, spaces around
                '"Zoë ""Z"" Müller",zoe@x.example,individual,DE,"crm,7"',
                "Åsa Öberg,asa@x.example,entity,,",
            ]
        )
        + newline
    )
    done = await imports.run(fund, "investors", text.encode(encoding))
    assert done["status"] == "succeeded", done
    listed = (await imports.api.request("GET", "/investors?limit=500"))["items"]
    by_email = {item["email"]: item for item in listed}
    assert by_email["zoe@x.example"]["name"] == 'Zoë "Z" Müller'
    assert by_email["zoe@x.example"]["external_ref"] == "crm,7"
    assert by_email["asa@x.example"]["country"] is None


# --- the file as a whole --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"investor_id,deal_id\n", "missing column 'amount'"),
        (b"investor_id,deal_id,amount,note\n", "unknown column 'note'"),
        (b"investor_id,investor_email,deal_id,amount\n", "exactly one of the columns"),
        (b"amount,amount,deal_id,investor_id\n", "appears more than once"),
        ("investor_id,deal_id,montant\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"\xff\xfei\x00n\x00v\x00\n\x00", "not UTF-8"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "not UTF-8"),
    ],
    ids=["empty", "missing", "unknown", "both", "repeated", "latin-1", "utf-16", "xls"],
)
async def test_a_file_with_a_bad_header_is_a_422_before_anything_is_stored(
    imports: Imports, database: TestDatabase, settings: Settings, content: bytes, expected: str
) -> None:
    fund = await imports.api.fund()
    response = await upload(imports.client, imports.org.api_key, fund, "allocations", content)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert expected in response.json()["detail"]
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM imports").fetchone() == (0,)
    assert not list((settings.data_dir / "blobs").rglob("*.csv"))


async def test_a_header_longer_than_the_part_read_to_check_it_is_a_422(
    imports: Imports, database: TestDatabase
) -> None:
    """The upload checks the header on the file's first bytes: a header that goes on past them
    is refused there, not accepted on its first part and stored."""
    fund = await imports.api.fund()
    header = b"investor_id,deal_id,amount" + b" " * 8000 + b",note\n"
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'

    async def streamed() -> AsyncIterator[bytes]:  # as a client sends it: in pieces
        body = start + header + b"a,b,1\r\n--b--\r\n"
        for at in range(0, len(body), 1024):
            yield body[at : at + 1024]

    response = await imports.client.post(
        f"/api/v1/funds/{fund}/imports?kind=allocations",
        content=streamed(),
        headers={**bearer(imports.org.api_key), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 422, response.text
    assert "longer than 4096 bytes" in response.json()["detail"]
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM imports").fetchone() == (0,)


_MIXED_LINE_ENDS = (
    "this line does not end like the first one (CR LF, LF or CR): save the file again as CSV"
)


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("investor_id,deal_id,amount\na,b,c\na,b,c,d\n", 3, "more cells than the header has"),
        ("investor_id,deal_id,amount\na,b,c\na,b\n", 3, "fewer cells than the header has"),
        (
            'investor_id,deal_id,amount\na,b,"c\nd,e,f\n',
            2,  # the row it opened in (PostgreSQL names the end of the file, line 4)
            "a quote opened on this line is never closed",
        ),
        ("investor_id,deal_id,amount\na,b,c\n\nd,e,f\n", 3, "an empty line: remove it"),
        (
            "investor_id,deal_id,amount\r\na,b,c\r\nd,e,f\n",  # a row added in another editor
            3,
            _MIXED_LINE_ENDS,
        ),
        (
            "investor_id,deal_id,amount\na,b,c\rd,e,f\n",
            2,
            _MIXED_LINE_ENDS,
        ),
    ],
    ids=["extra-cell", "missing-cell", "open-quote", "empty-line", "mixed-crlf-lf", "stray-cr"],
)
async def test_malformed_csv_is_rejected_at_its_line(
    imports: Imports, body: str, line: int, reason: str
) -> None:
    fund = await imports.api.fund()
    rejected = await imports.run(fund, "allocations", body.encode())
    assert rejected["status"] == "rejected"
    assert rejected["message"] == f"line {line}: {reason}"
    assert await imports.errors(rejected) == [
        {"line": str(line), "column": "", "value": "", "message": reason}
    ]


async def test_bytes_that_are_not_utf8_after_the_header_reject_the_file(imports: Imports) -> None:
    fund = await imports.api.fund()
    content = (
        b"name,email,kind,country\nAda,ada@x.example,individual,GB\n"
        b"Jos\xe9,j@x.example,individual,FR\n"  # Latin-1, not UTF-8
    )
    rejected = await imports.run(fund, "investors", content)
    assert rejected["status"] == "rejected"
    assert rejected["message"] == "line 3: not valid UTF-8: save the file as CSV UTF-8"


async def test_a_nul_byte_is_named_as_such(imports: Imports) -> None:
    fund = await imports.api.fund()
    content = (
        b"name,email,kind,country\nAda,ada@x.example,individual,GB\n"
        b"Jo\x00e,j@x.example,individual,FR\n"
    )
    rejected = await imports.run(fund, "investors", content)
    assert rejected["status"] == "rejected"
    assert rejected["message"] == (
        "line 3: a NUL byte (0x00): a text file has none; export the sheet again as CSV UTF-8"
    )


async def test_an_upload_must_be_a_multipart_file_field(imports: Imports) -> None:
    fund = await imports.api.fund()
    path = f"/api/v1/funds/{fund}/imports?kind=investors"
    headers = bearer(imports.org.api_key)
    as_json = await imports.client.post(path, json={"file": "name,email"}, headers=headers)
    assert as_json.status_code == 422
    assert "multipart/form-data" in as_json.json()["detail"]
    other_field = await imports.client.post(
        path, files={"upload": ("a.csv", b"name,email,kind,country\n")}, headers=headers
    )
    assert other_field.status_code == 422
    assert "field named 'file'" in other_field.json()["detail"]
    broken = await imports.client.post(
        path,
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nname,email',
        headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code in {400, 422}
    assert broken.headers["content-type"] == "application/problem+json"
    kind = await imports.client.post(
        f"/api/v1/funds/{fund}/imports?kind=deals",
        files={"file": ("a.csv", b"x\n")},
        headers=headers,
    )
    assert kind.status_code == 422


async def test_uploads_have_their_own_size_bound_bigger_than_json(
    settings: Settings, org: NewOrg
) -> None:
    from httpx import ASGITransport

    from prorata.app import create_app

    bounded = settings_with(settings, max_json_body_bytes=2048, max_upload_bytes=64 * 1024)
    app = create_app(bounded)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            api = FundApi(client, org.api_key)
            fund = await api.fund()
            rows = [f"LP {n},lp{n}@x.example,entity,US" for n in range(400)]  # ~12 KiB > JSON limit
            small = await upload(
                client, org.api_key, fund, "investors", csv_bytes("name,email,kind,country", *rows)
            )
            assert small.status_code == 202, small.text
            rows = [f"LP {n},lp{n}@x.example,entity,US" for n in range(3000)]  # ~90 KiB
            big = await upload(
                client, org.api_key, fund, "investors", csv_bytes("name,email,kind,country", *rows)
            )
            assert big.status_code == 413
            assert big.headers["content-type"] == "application/problem+json"
            # Streamed without Content-Length, the bound holds too.
            body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'

            async def streamed() -> AsyncIterator[bytes]:
                yield body + b"name,email,kind,country\n"
                for _ in range(100):
                    yield b"LP,lp@x.example,entity,US\n" * 40
                yield b"\r\n--b--\r\n"

            chunked = await client.post(
                f"/api/v1/funds/{fund}/imports?kind=investors",
                content=streamed(),
                headers={**bearer(org.api_key), "Content-Type": "multipart/form-data; boundary=b"},
            )
            assert chunked.status_code == 413
            # JSON routes keep the JSON bound.
            too_big_json = await client.post(
                "/api/v1/investors",
                json={"name": "x" * 3000, "kind": "entity"},
                headers=bearer(org.api_key),
            )
            assert too_big_json.status_code == 413


# --- investors and commitments --------------------------------------------------------------


async def test_investors_are_created_then_updated_by_email_or_external_ref(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    existing = await imports.api.request(
        "POST",
        "/investors",
        json={"name": "Old Name", "kind": "entity", "email": "old@x.example"},
        expect=201,
    )
    first = await imports.run(
        fund,
        "investors",
        csv_bytes(
            "name,email,kind,country,external_ref",
            "New Name,OLD@x.example,entity,US,",  # matches by email: updated
            "Bea,bea@x.example,individual,FR,crm-2",  # new
            "Cy,cy@x.example,entity,,",  # new
        ),
    )
    assert (first["inserted"], first["updated"], first["unchanged"]) == (2, 1, 0)
    second = await imports.run(
        fund,
        "investors",
        csv_bytes(
            "external_ref,name,email,kind,country",
            "crm-2,Bea,bea.new@x.example,individual,FR",  # matches by external_ref: email changes
            ",Cy,cy@x.example,entity,",  # unchanged
        ),
    )
    assert (second["inserted"], second["updated"], second["unchanged"]) == (0, 1, 1)
    listed = {
        i["name"]: i for i in (await imports.api.request("GET", "/investors?limit=500"))["items"]
    }
    assert listed["New Name"]["id"] == existing["id"]
    assert listed["New Name"]["country"] == "US"
    assert listed["New Name"]["email"] == "OLD@x.example"  # matched ignoring case, kept as written
    assert listed["Bea"]["email"] == "bea.new@x.example"
    assert len(listed) == 3
    with psycopg.connect(database.owner_url) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM investors ORDER BY id")]
    assert all(str(i)[14] == "7" for i in ids[1:])  # created in SQL as UUIDv7 too


async def _run_queued_while_locked(imports: Imports, lock: str, *params: object) -> list[str]:
    """Start every queued import job while another connection holds `lock` (SQL), let go once
    all of them wait, and return the import ids."""
    queued = queued_imports(imports.database.owner_url)
    blobs = storage.open_store(imports.settings)
    with psycopg.connect(imports.database.owner_url) as holder:
        holder.execute(lock, params)
        runs = [
            asyncio.create_task(
                ingest.run(
                    sessions=imports.sessions,
                    blobs=blobs,
                    org_id=uuid.UUID(org_id),
                    import_id=uuid.UUID(import_id),
                )
            )
            for import_id, org_id in queued
        ]
        with psycopg.connect(imports.database.owner_url, autocommit=True) as watcher:
            for _ in range(200):
                waiting = watcher.execute(
                    # this database's: a shared server runs other tests that wait on locks too
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ).fetchone()
                if waiting == (len(runs),):
                    break
                await asyncio.sleep(0.05)
            assert waiting == (len(runs),)
        holder.rollback()  # lets go of the lock
        await asyncio.gather(*runs)
    return [import_id for import_id, _ in queued]


async def test_two_imports_of_the_same_new_investor_at_once_create_it_once(
    imports: Imports, database: TestDatabase
) -> None:
    """Investors belong to the organisation: the same file imported into two funds at once must
    not create the same investor twice."""
    fund_a, fund_b = await imports.api.fund(), await imports.api.fund()
    content = csv_bytes(
        "name,email,kind,country",
        "Ada,ada@x.example,individual,GB",
        "Bea,bea@x.example,individual,FR",
    )
    for fund in (fund_a, fund_b):
        response = await upload(imports.client, imports.org.api_key, fund, "investors", content)
        assert response.status_code == 202, response.text
    # Both jobs start while another bulk write of the organisation's investors holds its lock.
    ids = await _run_queued_while_locked(
        imports,
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        f"investors:{imports.org.org_id}",
    )
    done = [await imports.get(f"/api/v1/imports/{import_id}") for import_id in ids]
    assert [d["status"] for d in done] == ["succeeded", "succeeded"], done
    assert sorted((d["inserted"], d["unchanged"]) for d in done) == [(0, 2), (2, 0)]
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute(
            "SELECT email, count(*) FROM investors GROUP BY email ORDER BY email"
        ).fetchall() == [("ada@x.example", 1), ("bea@x.example", 1)]


async def test_two_commitment_files_for_one_fund_at_once_both_apply(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    for name in ("ada", "bob"):
        await imports.api.request(
            "POST",
            "/investors",
            json={"name": name, "kind": "individual", "email": f"{name}@x.example"},
            expect=201,
        )
    header = "investor_email,amount,committed_on"
    for rows in (
        ["ada@x.example,100,2026-01-02"],
        ["ada@x.example,100,2026-01-02", "bob@x.example,5,2026-01-02"],
    ):
        response = await upload(
            imports.client, imports.org.api_key, fund, "commitments", csv_bytes(header, *rows)
        )
        assert response.status_code == 202, response.text
    # Both jobs start while a bulk write to the fund (another import, a call) holds it.
    ids = await _run_queued_while_locked(
        imports, "SELECT 1 FROM funds WHERE id = %s FOR NO KEY UPDATE", fund
    )
    done = [await imports.get(f"/api/v1/imports/{import_id}") for import_id in ids]
    assert [d["status"] for d in done] == ["succeeded", "succeeded"], done
    assert sum(d["inserted"] for d in done) == 2
    assert len(await imports.api.commitments(fund)) == 2


async def test_investor_rows_are_checked(imports: Imports) -> None:
    fund = await imports.api.fund()
    await imports.api.request(
        "POST",
        "/investors",
        json={"name": "A", "kind": "entity", "email": "twin@x.example"},
        expect=201,
    )
    await imports.api.request(
        "POST",
        "/investors",
        json={"name": "B", "kind": "entity", "email": "twin@x.example"},
        expect=201,
    )
    rejected = await imports.run(
        fund,
        "investors",
        csv_bytes(
            "name,email,kind,country",
            "Ok,ok@x.example,entity,US",
            ",no-at-sign,company,Atlantis",
            "Dup,OK@x.example,entity,US",
            "Twin,twin@x.example,entity,US",
            "X" * 201 + ",long@x.example,entity,US",
        ),
    )
    found = {(e["line"], e["column"]): e["message"] for e in await imports.errors(rejected)}
    assert found == {
        ("3", "name"): "required",
        ("3", "email"): "not an email address",
        ("3", "kind"): "expected individual or entity",
        ("3", "country"): (
            "not a country: write its ISO 3166-1 code (US, USA) or its name (United States)"
        ),
        ("4", ""): "same email as line 2",
        ("5", ""): "several investors have this email: give them an external_ref",
        ("6", "name"): "at most 200 characters",
    }


async def test_commitments_need_a_known_investor_and_are_never_amended(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    for name in ("Ada", "Bob"):
        await imports.api.request(
            "POST",
            "/investors",
            json={"name": name, "kind": "individual", "email": f"{name.lower()}@x.example"},
            expect=201,
        )
    header = "investor_email,amount,committed_on"
    rejected = await imports.run(
        fund,
        "commitments",
        csv_bytes(
            header,
            "ada@x.example,0,2026-01-02",
            "nobody@x.example,5,2026-01-02",
            "bob@x.example,5.00,2026-02-29",
            "bob@x.example,5.00,02/01/2026",
        ),
    )
    found = {(e["line"], e["column"]): e["message"] for e in await imports.errors(rejected)}
    assert found == {
        ("2", "amount"): "must be positive",
        ("3", "investor_email"): "no investor with this email",
        ("4", "committed_on"): "no such date",
        ("5", "committed_on"): (
            "not a date: write YYYY-MM-DD, or set date_format= to the file's notation "
            "(MM/DD/YYYY, DD/MM/YYYY, DD.MM.YYYY, YYYY/MM/DD, DD-MM-YYYY, MM-DD-YYYY)"
        ),
        ("5", ""): "same investor as line 4",
    }
    done = await imports.run(
        fund, "commitments", csv_bytes(header, "ada@x.example,1000.5,2024-02-29")
    )
    assert (done["status"], done["inserted"]) == ("succeeded", 1)
    commitments = await imports.api.commitments(fund)
    [(investor_id, row)] = commitments.items()
    assert (row["amount"], row["committed_on"], row["unfunded"]) == (
        "1000.50",
        "2024-02-29",
        "1000.50",
    )
    same = await imports.run(
        fund,
        "commitments",
        csv_bytes(header, "ADA@x.example,1000.50,2024-02-29", "bob@x.example,7,2026-01-05"),
    )
    assert (same["inserted"], same["unchanged"]) == (1, 1)
    amended = await imports.run(
        fund, "commitments", csv_bytes(header, "ada@x.example,2000,2024-02-29")
    )
    assert [e["message"] for e in await imports.errors(amended)] == [
        "this investor already has another commitment to this fund (1000.50 on 2024-02-29); "
        "amending commitments is not supported yet"
    ]
    assert investor_id


# --- errors.csv, events, access -------------------------------------------------------------


async def test_errors_csv_is_safe_to_open_in_a_spreadsheet(imports: Imports) -> None:
    fund = await imports.api.fund()
    rejected = await imports.run(
        fund,
        "investors",
        csv_bytes(
            "name,email,kind,country",
            '=HYPERLINK("http://evil.example"),a@x.example,=1+1,US',
            "Ok,@SUM(A1),entity,+1",
        ),
    )
    response = await imports.client.get(rejected["errors_url"], headers=bearer(imports.org.api_key))
    for row in list(csv.reader(io.StringIO(response.text)))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), row
    values = {e["value"] for e in await imports.errors(rejected)}
    assert "'=1+1" in values
    assert "'@SUM(A1)" in values
    assert "'+1" in values


@pytest.mark.parametrize("dry_run", [False, True])
async def test_progress_and_result_are_published_as_events(
    imports: Imports, database: TestDatabase, dry_run: bool
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=1, deals=1)
    listener = await psycopg.AsyncConnection.connect(database.owner_url, autocommit=True)
    try:
        await listener.execute("LISTEN prorata_events")
        done = await imports.run(
            fund,
            "allocations",
            csv_bytes("investor_id,deal_id,amount", f"{investors[0]},{deals[0]},7"),
            dry_run=dry_run,
        )
        payloads = []
        async for notify in listener.notifies(timeout=1.0, stop_after=10):
            payloads.append(json.loads(notify.payload))
    finally:
        await listener.close()
    kinds = [p["kind"] for p in payloads]
    assert "import.progress" in kinds
    assert kinds[-1] == "import.finished"
    finished = payloads[-1]
    assert finished["org_id"] == str(imports.org.org_id)
    assert finished["fund_id"] == fund
    assert finished["data"] == {
        "import_id": done["id"],
        "status": "succeeded",
        "rows_total": 1,
        "rows_valid": 1,
        "rows_invalid": 0,
        # A dry run applied nothing: its counts are what applying it would do.
        "inserted": None if dry_run else 1,
        "updated": None if dry_run else 0,
        "unchanged": None if dry_run else 0,
        "dry_run": dry_run,
        "would": {"inserted": 1, "updated": 0, "unchanged": 0} if dry_run else None,
    }
    # Ids and counts only: nothing of the file travels in an event.
    assert investors[0] not in json.dumps(payloads)


async def test_imports_are_for_managers_and_stay_in_their_organisation(
    imports: Imports, role_keys: dict[Role, str], other_org: NewOrg
) -> None:
    fund = await imports.api.fund()
    content = csv_bytes("name,email,kind,country", "Ada,ada@x.example,individual,GB")
    for role, status in ((Role.viewer, 403), (Role.investor, 403), (Role.manager, 202)):
        response = await upload(imports.client, role_keys[role], fund, "investors", content)
        assert response.status_code == status, role
    location = response.headers["location"]
    assert (
        await imports.client.get(location, headers=bearer(role_keys[Role.viewer]))
    ).status_code == 403
    foreign = await imports.client.get(location, headers=bearer(other_org.api_key))
    assert foreign.status_code == 404
    foreign_errors = await imports.client.get(
        f"{location}/errors.csv", headers=bearer(other_org.api_key)
    )
    assert foreign_errors.status_code == 404
    unknown = await imports.client.get(
        f"/api/v1/imports/{uuid.uuid4()}", headers=bearer(imports.org.api_key)
    )
    assert unknown.status_code == 404


async def test_an_idempotency_key_replays_the_same_file_and_refuses_another(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    content = csv_bytes("name,email,kind,country", "Ada,ada@x.example,individual,GB")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await upload(
        imports.client, imports.org.api_key, fund, "investors", content, headers=key
    )
    replay = await upload(
        imports.client, imports.org.api_key, fund, "investors", content, headers=key
    )
    assert (first.status_code, replay.status_code) == (202, 202)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other = csv_bytes("name,email,kind,country", "Bob,bob@x.example,individual,GB")
    refused = await upload(
        imports.client, imports.org.api_key, fund, "investors", other, headers=key
    )
    assert refused.status_code == 422
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM imports").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (1,)


async def test_the_upload_is_never_stored_in_a_database_row(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    marker = uuid.uuid4().hex
    content = csv_bytes(
        "name,email,kind,country", f"Marker {marker},m@x.example,entity,US", "Bad,,,"
    )
    imported = await imports.run(fund, "investors", content)
    assert imported["status"] == "rejected"  # nothing applied, so the marker is nowhere legit
    with psycopg.connect(database.owner_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')"
        ).fetchall()
        holding = [
            (table, column)
            for table, column in columns
            if conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE %s',
                (f"%{marker}%",),
            ).fetchone()
            != (0,)
        ]
    assert holding == []


async def test_a_deleted_blob_fails_the_import_without_applying_anything(
    imports: Imports, database: TestDatabase, settings: Settings
) -> None:
    fund, investors, deals = await _fund_with(imports.api, investors=1, deals=1)
    content = csv_bytes("investor_id,deal_id,amount", f"{investors[0]},{deals[0]},1")
    response = await upload(imports.client, imports.org.api_key, fund, "allocations", content)
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute("SELECT key FROM blobs").fetchone()
    assert row is not None
    await storage.open_store(settings).delete(row[0])
    with pytest.raises(storage.BlobNotFound):
        await run_jobs(database.owner_url, imports.sessions, settings)
    failed = await imports.get(response.headers["location"])
    assert failed["status"] == "failed"
    assert "nothing was applied" in failed["message"]
    assert _allocations(database.owner_url, fund) == {}
    # A failed import does not block the same file from being uploaded again.
    again = await upload(imports.client, imports.org.api_key, fund, "allocations", content)
    assert again.status_code == 202


# --- fuzz: whatever the file, a clear answer and never a crashed job -----------------------

_CELLS = st.text(alphabet='ab1.-,"\r\n \t;=é\x00\ufeff', max_size=30)
_FILES = st.one_of(
    st.binary(max_size=300),
    _CELLS.map(lambda body: ("investor_id,deal_id,amount\n" + body).encode("utf-8", "replace")),
    st.lists(_CELLS, max_size=6).map(
        lambda rows: ("name,email,kind,country\n" + "\n".join(rows)).encode("utf-8", "replace")
    ),
    _CELLS.map(lambda body: ("name,email,kind,country\r" + body).encode("utf-8", "replace")),
)


def test_any_file_gets_a_clear_answer_and_the_job_never_crashes(
    settings: Settings, database: TestDatabase, org: NewOrg
) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings

    from prorata.app import create_app
    from prorata.platform import db

    async def attempt(content: bytes, kind: str) -> None:
        app = create_app(settings)
        engine = db.app_engine(settings, pool_size=2)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    fund = await FundApi(client, org.api_key).fund()
                    response = await upload(client, org.api_key, fund, kind, content)
                    assert response.status_code in {202, 400, 422}, response.text
                    if response.status_code != 202:
                        assert response.headers["content-type"] == "application/problem+json"
                        return
                    await run_jobs(database.owner_url, db.sessionmaker(engine), settings)
                    done = (
                        await client.get(response.headers["location"], headers=bearer(org.api_key))
                    ).json()
                    assert done["status"] in {"succeeded", "rejected"}, done
        finally:
            await engine.dispose()

    @given(content=_FILES, kind=st.sampled_from(["investors", "allocations"]))
    @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(content: bytes, kind: str) -> None:
        asyncio.run(attempt(content, kind))

    fuzz()


async def test_a_bulk_write_lock_holds_off_other_bulk_writes_and_calls_but_not_new_rows(
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    imports: Imports,
    database: TestDatabase,
) -> None:
    """An import applying to a fund must not block an upload or a new deal for that fund
    (foreign-key checks take KEY SHARE on the fund row), but must serialise with another bulk
    write and with a call being issued."""
    from prorata.funds import repository as fund_repository
    from prorata.platform import db

    fund = await imports.api.fund()
    async with db.tenant_transaction(sessions, org.org_id) as session:
        assert await fund_repository.lock_for_bulk_write(session, fund_id=uuid.UUID(fund))
        with psycopg.connect(database.owner_url, autocommit=True) as other:
            other.execute("SET lock_timeout = '500ms'")
            other.execute(
                "INSERT INTO deals (id, org_id, fund_id, name, status) "
                "VALUES (gen_random_uuid(), %s, %s, 'Meanwhile', 'open')",
                (org.org_id, fund),
            )
            for lock in ("FOR NO KEY UPDATE", "FOR UPDATE"):
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(f"SELECT 1 FROM funds WHERE id = %s {lock}", (fund,))
