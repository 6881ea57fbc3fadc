"""Imports of the files fund teams have (issue 20): .xlsx workbooks, Excel-style CSV (BOM,
CR LF, semicolons, `$1,234.56`, `Entity`, `USA`), dates and numbers in other notations by
option, blank rows at the end. The SQL rules one by one: tests/api/test_import_checks.py.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import httpx
import psycopg
import xlsxwriter

from prorata.imports import formats
from tests.import_support import Imports, csv_bytes, run_jobs, upload
from tests.support import TestDatabase

COMMITMENTS = "investor_email,amount,committed_on"


async def _investors(imports: Imports, *names: str) -> None:
    for name in names:
        await imports.api.request(
            "POST",
            "/investors",
            json={"name": name, "kind": "individual", "email": f"{name.lower()}@x.example"},
            expect=201,
        )


def _commitments(owner_url: str, fund_id: str) -> dict[str, tuple[str, str]]:
    """email → (amount as stored, committed_on)."""
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT i.email, c.amount::text, c.committed_on::text FROM commitments c "
            "JOIN investors i ON i.id = c.investor_id WHERE c.fund_id = %s",
            (fund_id,),
        ).fetchall()
    return {email: (amount, date) for email, amount, date in rows}


def workbook(*sheets: tuple[str, list[list[Any]]], first_row: int = 0) -> bytes:
    """An .xlsx file: each sheet's rows from `first_row` (0-based) on; dates as date cells,
    numbers as number cells, text as text."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    date_cell = book.add_format({"num_format": "mm/dd/yyyy"})
    for name, rows in sheets:
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows, start=first_row):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, value, date_cell)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif value is not None:
                    sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


async def test_an_xlsx_with_dates_and_numbers_as_cells_imports_exact_values(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob", "Cy", "Di")
    content = workbook(
        (
            "Commitments",
            [
                ["investor_email", "amount", "committed_on"],
                # The float nearest 15000000.1 is 15000000.099999999627…: the cell's shortest
                # form, 15000000.1, is what was typed, stored as 15000000.10.
                ["ada@x.example", 15000000.1, dt.date(2025, 3, 15)],
                ["bob@x.example", 1200, dt.date(2024, 2, 29)],
                ["cy@x.example", "$2,500.50", "2025-01-02"],  # text cells: the CSV rules
                ["di@x.example", 0.07, dt.datetime(2025, 12, 31)],  # a date-time at midnight
                [],  # blank rows at the end: ignored
                [None, None, None],
            ],
        ),
        ("Notes", [["nothing", "to", "see"]]),
    )
    done = await imports.run(fund, "commitments", content, filename="commitments.xlsx")
    assert (done["status"], done["rows_total"], done["inserted"]) == ("succeeded", 4, 4), done
    assert _commitments(database.owner_url, fund) == {
        "ada@x.example": ("15000000.10", "2025-03-15"),
        "bob@x.example": ("1200.00", "2024-02-29"),
        "cy@x.example": ("2500.50", "2025-01-02"),
        "di@x.example": ("0.07", "2025-12-31"),
    }


async def test_xlsx_errors_name_the_spreadsheet_row_and_header_text(imports: Imports) -> None:
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob")
    content = workbook(
        (
            "Sheet1",
            [
                [" Investor_Email ", "AMOUNT", "committed_on"],  # header on row 3
                ["ada@x.example", 12.3456, dt.date(2025, 3, 15)],  # row 4
                ["bob@x.example", 100, "15/03/2025"],  # row 5
                [],  # row 6: empty, before a row: kept, and refused like ",,"
                ["nobody@x.example", -5, dt.date(2025, 1, 1)],  # row 7
            ],
        ),
        first_row=2,
    )
    rejected = await imports.run(fund, "commitments", content)
    assert (rejected["status"], rejected["rows_total"]) == ("rejected", 4)
    found = await imports.messages(rejected)
    # Columns are named by the file's own header text (trimmed), as for CSV.
    assert found == {
        ("4", "AMOUNT"): "USD allows at most 2 decimal places",
        ("5", "committed_on"): (
            "not a date: write YYYY-MM-DD, or set date_format= to the file's notation "
            "(MM/DD/YYYY, DD/MM/YYYY, DD.MM.YYYY, YYYY/MM/DD, DD-MM-YYYY, MM-DD-YYYY)"
        ),
        ("6", "Investor_Email"): "required",
        ("6", "AMOUNT"): "required",
        ("6", "committed_on"): "required",
        ("7", "Investor_Email"): "no investor with this email",
        ("7", "AMOUNT"): "must be positive",
    }


async def test_the_sheet_option_and_a_workbooks_header_are_checked(imports: Imports) -> None:
    fund = await imports.api.fund()
    await _investors(imports, "Ada")
    content = workbook(
        ("Cover", [["Commitments of Fund I"]]),
        ("Data", [COMMITMENTS.split(","), ["ada@x.example", 10, dt.date(2025, 1, 2)]]),
    )
    first = await imports.run(fund, "commitments", content)
    assert first["status"] == "rejected"
    assert first["message"].startswith("line 1: unknown column 'Commitments of Fund I'; ")
    missing = await imports.run(fund, "commitments", content, options={"sheet": "Nope"})
    assert missing["message"] == "no sheet named 'Nope' (the sheets: 'Cover', 'Data')"
    done = await imports.run(fund, "commitments", content, options={"sheet": "Data"})
    assert (done["status"], done["inserted"], done["sheet"]) == ("succeeded", 1, "Data")
    # A CSV file has no sheets: the option is refused before anything is stored.
    response = await imports.client.post(
        f"/api/v1/funds/{fund}/imports",
        params={"kind": "commitments", "sheet": "Data"},
        files={"file": ("c.csv", csv_bytes(COMMITMENTS), "text/csv")},
        headers={"Authorization": f"Bearer {imports.org.api_key}"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "sheet= is for .xlsx workbooks; this file is CSV"


async def test_an_excel_style_csv_imports(imports: Imports, database: TestDatabase) -> None:
    """BOM, CR LF, Excel's header names (`External Ref`, `E-mail`), `Entity`, `USA` and
    country names; `$` and thousands; blank rows after."""
    fund = await imports.api.fund()
    investors = b"\xef\xbb\xbf" + csv_bytes(
        "Name,E-mail,Kind,Country,External Ref",
        "Acme LP,acme@x.example,Entity,USA,A-1",
        "Ada,ada@x.example,INDIVIDUAL,united kingdom,",
        "Bob,bob@x.example,individual,us,",
        ",,,,",
        "",
        newline="\r\n",
    )
    done = await imports.run(fund, "investors", investors)
    assert (done["status"], done["rows_total"], done["inserted"]) == ("succeeded", 3, 3), done
    with psycopg.connect(database.owner_url) as conn:
        stored = conn.execute(
            "SELECT email, kind::text, country, external_ref FROM investors ORDER BY email"
        ).fetchall()
    assert stored == [
        ("acme@x.example", "entity", "US", "A-1"),
        ("ada@x.example", "individual", "GB", None),
        ("bob@x.example", "individual", "US", None),
    ]
    commitments = b"\xef\xbb\xbf" + csv_bytes(
        COMMITMENTS,
        'acme@x.example,"$15,000,000.00 ",2025-03-15',
        'ada@x.example," 15,000,000.00",2025-03-15',
        "bob@x.example,USD 1200,2025-03-15",
        ",,",
        ",,",
        newline="\r\n",
    )
    done = await imports.run(fund, "commitments", commitments)
    assert (done["status"], done["rows_total"]) == ("succeeded", 3), done
    assert _commitments(database.owner_url, fund) == {
        "acme@x.example": ("15000000.00", "2025-03-15"),
        "ada@x.example": ("15000000.00", "2025-03-15"),
        "bob@x.example": ("1200.00", "2025-03-15"),
    }


async def test_us_dates_need_date_format(imports: Imports, database: TestDatabase) -> None:
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob")
    content = csv_bytes(
        COMMITMENTS, "ada@x.example,1000,03/15/2025", "bob@x.example,2000,12/1/2024"
    )
    rejected = await imports.run(fund, "commitments", content)
    assert rejected["status"] == "rejected"
    messages = {e["message"] for e in await imports.errors(rejected)}
    assert len(messages) == 1
    assert "set date_format=" in messages.pop()
    done = await imports.run(fund, "commitments", content, options={"date_format": "MM/DD/YYYY"})
    assert (done["status"], done["date_format"]) == ("succeeded", "MM/DD/YYYY"), done
    assert _commitments(database.owner_url, fund) == {
        "ada@x.example": ("1000.00", "2025-03-15"),
        "bob@x.example": ("2000.00", "2024-12-01"),
    }


async def test_a_semicolon_file_in_european_notation(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund("EUR")
    await _investors(imports, "Ada", "Bob")
    content = csv_bytes(
        "investor_email;amount;committed_on",
        "ada@x.example;1.234.567,89 €;15.03.2025",
        "bob@x.example;EUR 500;2025-03-16",
        ";;",
    )
    rejected = await imports.run(fund, "commitments", content)
    found = await imports.messages(rejected)
    assert found == {
        ("2", "amount"): "looks like 1.234,56 notation: set number_format=1.234,56",
        ("2", "committed_on"): (
            "not a date: write YYYY-MM-DD, or set date_format= to the file's notation "
            "(MM/DD/YYYY, DD/MM/YYYY, DD.MM.YYYY, YYYY/MM/DD, DD-MM-YYYY, MM-DD-YYYY)"
        ),
    }
    options = {"number_format": "1.234,56", "date_format": "DD.MM.YYYY"}
    done = await imports.run(fund, "commitments", content, options=options)
    assert (done["status"], done["rows_total"]) == ("succeeded", 2), done
    assert _commitments(database.owner_url, fund) == {
        "ada@x.example": ("1234567.89", "2025-03-15"),
        "bob@x.example": ("500.00", "2025-03-16"),
    }


async def test_a_tab_separated_file_in_spaced_notation(
    imports: Imports, database: TestDatabase
) -> None:
    fund = await imports.api.fund("EUR")
    await _investors(imports, "Ada")
    content = csv_bytes(
        "investor_email\tamount\tcommitted_on", "ada@x.example\t1\u202f234,50\t2025-03-15"
    )
    done = await imports.run(fund, "commitments", content, options={"number_format": "1 234,56"})
    assert done["status"] == "succeeded", done
    assert _commitments(database.owner_url, fund) == {"ada@x.example": ("1234.50", "2025-03-15")}


async def test_another_currency_and_a_parenthesised_negative_are_row_errors(
    imports: Imports,
) -> None:
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob")
    content = csv_bytes(
        COMMITMENTS, "ada@x.example,€1000,2025-01-02", 'bob@x.example,"(1,234.56)",2025-01-02'
    )
    rejected = await imports.run(fund, "commitments", content)
    found = {
        (e["line"], e["column"], e["value"]): e["message"] for e in await imports.errors(rejected)
    }
    assert found == {
        ("2", "amount", "€1000"): "€ is not this fund's currency (USD)",
        ("3", "amount", "(1,234.56)"): "must be positive",  # commitments are positive
    }


async def test_three_digits_after_the_separator_are_never_guessed(
    imports: Imports, database: TestDatabase
) -> None:
    """`1.000` is one in this notation and a thousand in 1.234,56: refused, naming the option,
    never read as 1.00 (nor `2,500` as 2.50 under 1.234,56)."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob")
    content = csv_bytes(
        COMMITMENTS, "ada@x.example,1.000,2025-01-02", "bob@x.example,$2.500,2025-01-02"
    )
    rejected = await imports.run(fund, "commitments", content)
    found = {(e["line"], e["value"]): e["message"] for e in await imports.errors(rejected)}
    hint = "(if . separates thousands in this file, set number_format=1.234,56)"
    assert found == {
        ("2", "1.000"): f"3 digits after the . may be thousands: write USD amounts with at "
        f"most 2 decimal places {hint}",
        ("3", "$2.500"): f"3 digits after the . may be thousands: write USD amounts with at "
        f"most 2 decimal places {hint}",
    }
    done = await imports.run(fund, "commitments", content, options={"number_format": "1.234,56"})
    assert done["status"] == "succeeded", done
    assert _commitments(database.owner_url, fund) == {
        "ada@x.example": ("1000.00", "2025-01-02"),
        "bob@x.example": ("2500.00", "2025-01-02"),
    }


async def test_errors_name_the_header_a_value_is_under_whatever_the_mapping(
    imports: Imports,
) -> None:
    """A mapping may give one header's text to another header's column: each error still
    names the header the value is under in the file."""
    fund = await imports.api.fund()
    content = csv_bytes(
        "name,investor_name,email,kind,country",
        f"{'R' * 101},Ada,ada@x.example,entity,US",
        "B-2,Bob,bob@x.example,entity,Narnia",
    )
    mapping = '{"name": "external_ref", "investor_name": "name"}'
    rejected = await imports.run(fund, "investors", content, options={"mapping": mapping})
    found = await imports.messages(rejected)
    assert found == {
        ("2", "name"): "at most 100 characters",
        ("3", "country"): (
            "not a country: write its ISO 3166-1 code (US, USA) or its name (United States)"
        ),
    }


async def test_countries_as_people_write_them(imports: Imports, database: TestDatabase) -> None:
    fund = await imports.api.fund()
    content = csv_bytes(
        "name,email,kind,country",
        "A,a@x.example,entity,Turkey",
        "B,b@x.example,entity,united  states",
        "C,c@x.example,entity,UAE",
        "D,d@x.example,entity,Korea",
        "E,e@x.example,,US",
    )
    rejected = await imports.run(fund, "investors", content)
    found = await imports.messages(rejected)
    assert found == {
        ("5", "country"): (
            "not a country: write its ISO 3166-1 code (US, USA) or its name (United States)"
        ),
        ("6", "kind"): "required",
    }
    fixed = content.replace(b"Korea", b"South Korea").replace(b",,US", b",individual,US")
    done = await imports.run(fund, "investors", fixed)
    assert done["status"] == "succeeded", done
    with psycopg.connect(database.owner_url) as conn:
        stored = conn.execute("SELECT name, country FROM investors ORDER BY name").fetchall()
    assert stored == [("A", "TR"), ("B", "US"), ("C", "AE"), ("D", "KR"), ("E", "US")]


async def test_a_file_of_cr_line_ends_imports_whatever_its_length(imports: Imports) -> None:
    """Excel for Mac's "CSV (Macintosh)": lines end in CR alone, so the bytes read to find the
    header line run on, and end inside a character (é is 2 bytes) wherever they are cut."""
    fund = await imports.api.fund()
    read = len(formats.BOM) + formats.MAX_HEADER_BYTES + 1  # what the web process reads
    rows = [f"Zoé {n:05d},z{n}@x.example,individual,FR" for n in range(1, 400)]
    for pad in range(64):  # moves every row after the first: the cut falls inside an é
        first = f"Zoë{'x' * pad},zz@x.example,individual,FR"
        content = "\r".join(["name,email,kind,country", first, *rows]).encode() + b"\r"
        if content[read - 1 : read + 1] == "é".encode():
            break
    else:
        raise AssertionError("no cut inside a character")
    done = await imports.run(fund, "investors", content)
    assert (done["status"], done["inserted"]) == ("succeeded", 400), done


async def test_empty_cells_at_the_end_of_the_header_name_no_column(
    imports: Imports, database: TestDatabase
) -> None:
    """Excel writes a column once used as empty cells (`country,,` on every line): they are
    left out, as a sheet's header ends at its last cell with text; a value under them is
    refused, never dropped."""
    fund = await imports.api.fund()
    content = csv_bytes(
        "name,email,kind,country,,",
        "Ada,ada@x.example,individual,US,,",
        "Bob,bob@x.example,entity,GB, ,",
    )
    done = await imports.run(fund, "investors", content)
    assert (done["status"], done["inserted"]) == ("succeeded", 2), done
    await _investors(imports, "Cy")
    commitments = csv_bytes(
        "investor_email,amount,committed_on,",
        "ada@x.example,100,2025-01-02,",
        "bob@x.example,200,2025-01-02,",
        "cy@x.example,300,2025-01-02,oops",
    )
    rejected = await imports.run(fund, "commitments", commitments)
    assert rejected["status"] == "rejected", rejected
    assert [(e["line"], e["message"]) for e in await imports.errors(rejected)] == [
        ("4", "a value in a column the header does not name (the empty cells at its end)")
    ]
    assert _commitments(database.owner_url, fund) == {}


async def test_a_file_refused_names_the_row_when_a_cell_holds_line_breaks(
    imports: Imports,
) -> None:
    """PostgreSQL counts line ends (inside quotes, the file's own), the row checks count rows:
    a quoted cell over three lines must not move the line of an error after it. The last
    pair is Excel on Windows: rows end in CR LF, a line break inside a cell is a lone LF."""
    fund = await imports.api.fund()
    for newline, in_cell in (("\n", "\n"), ("\r\n", "\r\n"), ("\r", "\r"), ("\r\n", "\n")):
        rows = [
            "name,email,kind,country",
            f'"Ada{in_cell}c/o Lovelace{in_cell}Trust",ada@x.example,entity,US',
            "Bob,bob@x.example,entity,US",
            "Cy,cy@x.example,entity,US",
            "Dee,dee@x.example,entity,US,extra",
        ]
        rejected = await imports.run(fund, "investors", newline.join(rows).encode())
        assert rejected["status"] == "rejected", rejected
        assert [(e["line"], e["message"]) for e in await imports.errors(rejected)] == [
            ("5", "more cells than the header has")
        ], (newline, in_cell)


async def test_blank_rows_in_the_middle_still_count(imports: Imports) -> None:
    """Only the blank rows at the end are dropped: one between rows is a row with nothing."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada", "Bob")
    content = csv_bytes(
        COMMITMENTS, "ada@x.example,1,2025-01-02", ",,", "bob@x.example,1,2025-01-02", ",,"
    )
    rejected = await imports.run(fund, "commitments", content)
    assert (rejected["status"], rejected["rows_total"], rejected["rows_invalid"]) == (
        "rejected",
        3,
        1,
    )
    assert {e["line"] for e in await imports.errors(rejected)} == {"3"}


async def test_a_nul_byte_in_the_header_is_named(imports: Imports) -> None:
    fund = await imports.api.fund()
    response = await imports.client.post(
        f"/api/v1/funds/{fund}/imports",
        params={"kind": "commitments"},
        files={"file": ("c.csv", b"investor_email,amount,commit\x00ted_on\n", "text/csv")},
        headers={"Authorization": f"Bearer {imports.org.api_key}"},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("a NUL byte (0x00) in the first line")


async def test_a_file_that_only_starts_like_a_workbook_is_rejected_by_the_worker(
    imports: Imports,
) -> None:
    """A zip's header row can only be read whole: the web process stores it, the worker
    refuses it, naming why."""
    fund = await imports.api.fund()
    rejected = await imports.run(fund, "allocations", b"PK\x03\x04\x14\x00\x06\x00")
    assert rejected["status"] == "rejected"
    assert rejected["message"].startswith("not a readable .xlsx workbook: ")


async def test_a_workbook_damaged_after_its_header_is_rejected_with_the_reason(
    imports: Imports,
) -> None:
    """The sheet is read as it is COPYed: a damaged part past the header rejects the import
    (nothing applied) with the reader's reason, not a failed job."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada")
    good = workbook(("S", [COMMITMENTS.split(","), ["ada@x.example", 10, dt.date(2025, 1, 2)]]))
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b'<c r="B2"', b'<c r="B2" t="q"')
            target.writestr(item, content)
    rejected = await imports.run(fund, "commitments", damaged.getvalue())
    assert (rejected["status"], rejected["inserted"]) == ("rejected", None), rejected
    assert "not a readable .xlsx workbook: unknown cell type 'q'" in rejected["message"]


async def test_the_same_file_read_with_other_options_is_another_import(imports: Imports) -> None:
    """01/02/2025 is the 1st of February as DD/MM/YYYY, the 2nd of January as MM/DD/YYYY: a
    file under one and the same bytes under the other are two imports, not one found again."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada")
    content = csv_bytes(COMMITMENTS, "ada@x.example,1000,01/02/2025")

    async def send(date_format: str) -> httpx.Response:
        return await upload(
            imports.client,
            imports.org.api_key,
            fund,
            "commitments",
            content,
            options={"date_format": date_format},
        )

    first = await send("DD/MM/YYYY")
    assert first.status_code == 202
    await run_jobs(imports.database.owner_url, imports.sessions, imports.settings)
    assert (await imports.get(first.headers["location"]))["status"] == "succeeded"
    again = await send("DD/MM/YYYY")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = await send("MM/DD/YYYY")
    assert other.status_code == 202
    assert other.json()["id"] != first.json()["id"]


async def test_an_xlsx_with_its_own_headers_imports_through_a_mapping(
    imports: Imports, database: TestDatabase
) -> None:
    """A workbook's header is read by the worker with the mapping sent at upload; errors name
    the workbook's own header text."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada")
    mapping = '{"LP e-mail": "investor_email", "Commitment": "amount", "Signed": "committed_on"}'
    good = workbook(
        (
            "Sheet1",
            [
                ["LP e-mail", "Commitment", "Signed"],
                ["ada@x.example", 2500000, dt.date(2025, 6, 30)],
            ],
        )
    )
    done = await imports.run(fund, "commitments", good, options={"mapping": mapping})
    assert (done["status"], done["inserted"]) == ("succeeded", 1), done
    assert _commitments(database.owner_url, fund) == {"ada@x.example": ("2500000.00", "2025-06-30")}
    bad = workbook(
        ("Sheet1", [["LP e-mail", "Commitment", "Signed"], ["ada@x.example", -1, "soon"]])
    )
    rejected = await imports.run(fund, "commitments", bad, options={"mapping": mapping})
    found = {(e["line"], e["column"]) for e in await imports.errors(rejected)}
    assert found == {("2", "Commitment"), ("2", "Signed")}
    # Without the mapping the workbook's header is refused, naming its own text.
    unmapped = await imports.run(fund, "commitments", good)
    assert unmapped["message"].startswith("line 1: unknown column 'LP e-mail'; ")


async def test_the_same_file_read_with_another_mapping_is_another_import(imports: Imports) -> None:
    """Which column is the date depends on the mapping: the same bytes read with another one
    are another import; with the same one, the earlier import is found again."""
    fund = await imports.api.fund()
    await _investors(imports, "Ada")
    content = csv_bytes("Mail,Amount,Signed,Funded", "ada@x.example,1000,2025-01-02,2025-02-03")
    by_signing = '{"Mail": "investor_email", "Signed": "committed_on", "Funded": null}'
    by_funding = '{"Mail": "investor_email", "Funded": "committed_on", "Signed": null}'

    async def send(mapping: str) -> httpx.Response:
        return await upload(
            imports.client,
            imports.org.api_key,
            fund,
            "commitments",
            content,
            options={"mapping": mapping},
        )

    first = await send(by_signing)
    assert first.status_code == 202
    again = await send(by_signing)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = await send(by_funding)
    assert other.status_code == 202
    assert other.json()["id"] != first.json()["id"]
