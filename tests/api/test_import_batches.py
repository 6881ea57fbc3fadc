"""A workbook of new allocations is written batch by batch as it is read (imports.ingest
`_insert_all_new_allocations`): reading the next rows overlaps inserting these. Made small
here (a few rows a batch) so a small workbook has many batches; the rules: the rows written
are the file's, as one set with one audit record; anything that is not all new and plainly
written undoes every batch written and goes to the full check, which reports or upserts as it
does for any file; the reading thread never outlives the import. And a CSV file of amounts
as spreadsheets export them, COPYed in one with its amounts rewritten plainly on the way
(`imports.exported`): the same rules, and the full check reads the file as written."""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from prorata.imports import exported, ingest, xlsx
from tests.api.test_import_values import workbook
from tests.api.test_imports import _allocations
from tests.import_support import Imports, seed_fund

HEADER = ["investor_id", "deal_id", "amount"]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sheet read 2 KiB at a time and COPYed 1 KiB of CSV a batch: ~10 rows a batch."""
    monkeypatch.setattr(xlsx, "READ_BYTES", 2048)
    monkeypatch.setattr(ingest, "BATCH_BYTES", 1024)


def _fund(imports: Imports, investors: int = 20, deals: int = 10) -> dict[str, Any]:
    return seed_fund(
        imports.database.owner_url, imports.org.org_id, investors=investors, deals=deals
    )


def _rows(fund: dict[str, Any]) -> list[list[Any]]:
    """Every (investor, deal) pair once, in key order, amounts as number cells."""
    return [
        [str(investor), str(deal), float(Decimal(1000 + 7 * i + d) + Decimal("0.25"))]
        for i, investor in enumerate(fund["investors"])
        for d, deal in enumerate(fund["deals"])
    ]


def _bulk_writes(owner_url: str, fund_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(owner_url) as conn:
        return [
            after
            for (after,) in conn.execute(
                "SELECT after FROM audit_log WHERE action = 'allocation.bulk_upsert' "
                "AND entity_id = %s ORDER BY id",
                (fund_id,),
            )
        ]


def _expected(rows: list[list[Any]]) -> dict[tuple[str, str], str]:
    return {(investor, deal): f"{Decimal(str(amount)):.2f}" for investor, deal, amount in rows}


def _batches(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [
        record.__dict__["batches"]
        for record in caplog.records
        if record.message == "import of new allocations applied"
    ]


def _checked_in_full(caplog: pytest.LogCaptureFixture) -> bool:
    return any(record.message == "import checked in full" for record in caplog.records)


def _no_reader_thread() -> bool:
    return not any(thread.name == "import-reader" for thread in threading.enumerate())


def _no_rewriter_thread() -> bool:
    return not any(thread.name.startswith("import-rewriter") for thread in threading.enumerate())


async def test_a_workbook_of_new_allocations_is_written_in_batches_as_one_set(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports)
    rows = _rows(fund)
    done = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *rows])))
    assert (done["status"], done["rows_total"], done["inserted"]) == ("succeeded", 200, 200)
    assert _allocations(imports.database.owner_url, fund["id"]) == _expected(rows)
    [batches] = _batches(caplog)
    assert batches > 5, batches  # many batches, not one statement
    assert not _checked_in_full(caplog)
    [audit] = _bulk_writes(imports.database.owner_url, fund["id"])
    assert audit["written"] == 200
    assert _no_reader_thread()


async def test_amounts_written_as_exported_in_a_later_batch_are_read_so(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    """The plain notation reads the first batches; a text cell `$1,234.25 ` in a later one
    stops it there, and the exported notation reads that batch and the rest."""
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports)
    rows = _rows(fund)
    written = [
        [investor, deal, f"${Decimal(str(amount)):,.2f} " if n >= 120 else amount]
        for n, (investor, deal, amount) in enumerate(rows)
    ]
    done = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *written])))
    assert (done["status"], done["inserted"]) == ("succeeded", 200), done
    assert _allocations(imports.database.owner_url, fund["id"]) == _expected(rows)
    assert _batches(caplog)
    assert not _checked_in_full(caplog)


async def test_a_pair_that_exists_in_a_later_batch_undoes_the_batches_and_upserts(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports)
    rows = _rows(fund)
    first = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *rows[150:]])))
    assert (first["status"], first["inserted"]) == ("succeeded", 50)
    caplog.clear()
    # The first 150 rows are new; of the last 50 (existing), 10 change.
    changed = [[i, d, a + 1 if n < 10 else a] for n, (i, d, a) in enumerate(rows[150:])]
    done = await imports.run(
        fund["id"], "allocations", workbook(("S", [HEADER, *rows[:150], *changed]))
    )
    counts = (done["status"], done["inserted"], done["updated"], done["unchanged"])
    assert counts == ("succeeded", 150, 10, 40), done
    assert _allocations(imports.database.owner_url, fund["id"]) == _expected(
        [*rows[:150], *changed]
    )
    assert _checked_in_full(caplog)
    assert not _batches(caplog)
    # One record per import: the undone batches left none.
    assert [audit["written"] for audit in _bulk_writes(imports.database.owner_url, fund["id"])] == [
        50,
        160,
    ]
    assert _no_reader_thread()


async def test_errors_in_a_later_batch_reject_the_file_and_nothing_is_written(
    imports: Imports,
) -> None:
    fund = _fund(imports)
    rows = _rows(fund)
    rows[170][0] = "00000000-0000-0000-0000-000000000000"  # no such investor: row 172
    rows[180] = rows[3]  # a pair repeated from the first batch: row 182
    rejected = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *rows])))
    assert (rejected["status"], rejected["rows_invalid"]) == ("rejected", 2), rejected
    lines = {error["line"] for error in await imports.errors(rejected)}
    assert lines == {"172", "182"}
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
    assert _bulk_writes(imports.database.owner_url, fund["id"]) == []
    assert _no_reader_thread()


async def test_a_first_batch_not_all_new_is_checked_in_full_with_the_rest_staged(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing written yet: the staging keeps every batch from there on, read once."""
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports)
    rows = _rows(fund)
    rows[2][2] = -5.0  # row 4: below zero
    rejected = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *rows])))
    assert (rejected["status"], rejected["rows_total"]) == ("rejected", 200), rejected
    assert [error["line"] for error in await imports.errors(rejected)] == ["4"]
    assert _checked_in_full(caplog)


async def test_a_row_too_wide_in_a_later_batch_is_refused_at_its_spreadsheet_row(
    imports: Imports,
) -> None:
    """COPY counts the lines of each batch from 1: the refusal still names the sheet's row."""
    fund = _fund(imports)
    rows = _rows(fund)
    rows[150] = [*rows[150], "extra"]  # row 152 (the header is row 1)
    rejected = await imports.run(fund["id"], "allocations", workbook(("S", [HEADER, *rows])))
    assert rejected["status"] == "rejected", rejected
    assert rejected["message"] == "line 152: more cells than the header has"
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
    assert _no_reader_thread()


async def test_a_workbook_damaged_after_batches_were_written_is_rejected_with_nothing_applied(
    imports: Imports,
) -> None:
    fund = _fund(imports)
    good = workbook(("S", [HEADER, *_rows(fund)]))
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b'<c r="C190"', b'<c r="C190" t="q"')
            target.writestr(item, content)
    rejected = await imports.run(fund["id"], "allocations", damaged.getvalue())
    assert (rejected["status"], rejected["inserted"]) == ("rejected", None), rejected
    assert "unknown cell type 'q'" in rejected["message"]
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
    assert _bulk_writes(imports.database.owner_url, fund["id"]) == []
    assert _no_reader_thread()


# --- a CSV file of amounts as spreadsheets export them (`imports.exported`) ------------------


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file read a few hundred bytes at a time: the rewriting thread gets many pieces."""
    monkeypatch.setattr(ingest, "READ_CHUNK", 256)


def _messy_csv(rows: list[list[Any]], *, tail: bytes = b",,\r\n,,\r\n") -> bytes:
    """As an Excel user's CSV: a BOM, CR LF, amounts as `"$12,345.67 "`, blank rows after."""
    lines = [",".join(HEADER)] + [
        f'{investor},{deal},"${Decimal(str(amount)):,.2f} "'
        if isinstance(amount, float)
        else f"{investor},{deal},{amount}"
        for investor, deal, amount in rows
    ]
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n" + tail


@pytest.mark.usefixtures("small_reads")
async def test_a_csv_file_of_exported_amounts_is_rewritten_and_written_as_one_set(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    """COPYed in one, its amounts rewritten plainly on the way (`imports.exported`)."""
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports, investors=40)
    rows = _rows(fund)
    done = await imports.run(fund["id"], "allocations", _messy_csv(rows))
    assert (done["status"], done["rows_total"], done["inserted"]) == ("succeeded", 400, 400)
    assert _allocations(imports.database.owner_url, fund["id"]) == _expected(rows)
    assert _rewritten(caplog) == [True]
    assert not _checked_in_full(caplog)
    [audit] = _bulk_writes(imports.database.owner_url, fund["id"])
    assert audit["written"] == 400
    assert _no_rewriter_thread()


def _rewritten(caplog: pytest.LogCaptureFixture) -> list[bool]:
    return [
        record.__dict__["amounts_rewritten"]
        for record in caplog.records
        if record.message == "import of new allocations applied"
    ]


async def test_a_csv_file_of_plain_amounts_is_copied_as_it_is(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports)
    rows = _rows(fund)
    plain = "\n".join([",".join(HEADER)] + [f"{i},{d},{Decimal(str(a)):.2f}" for i, d, a in rows])
    done = await imports.run(fund["id"], "allocations", plain.encode())
    assert (done["status"], done["inserted"]) == ("succeeded", 200), done
    assert _rewritten(caplog) == [False]


@pytest.mark.usefixtures("small_reads")
async def test_errors_in_a_rewritten_file_are_reported_as_the_file_writes_them(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    """The fast path gives up; the full check reads the file again as it is: the values and
    lines it reports are the file's, not the rewritten rows'."""
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports, investors=40)
    rows: list[list[Any]] = _rows(fund)
    rows[2][2] = '"$1,000.255 "'  # line 4: more decimals than USD has
    rows[300][0] = "00000000-0000-0000-0000-000000000000"  # line 302: no such investor
    rows[350] = list(rows[5])  # line 352: a pair repeated from line 7
    rejected = await imports.run(fund["id"], "allocations", _messy_csv(rows))
    assert (rejected["status"], rejected["rows_invalid"]) == ("rejected", 3), rejected
    found = {(error["line"], error["value"]) for error in await imports.errors(rejected)}
    assert ("4", "$1,000.255") in found  # trimmed, as the full check reports any cell
    assert {line for line, _ in found} == {"4", "302", "352"}
    assert _checked_in_full(caplog)
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
    assert _bulk_writes(imports.database.owner_url, fund["id"]) == []


@pytest.mark.usefixtures("small_reads")
async def test_a_pair_that_exists_in_a_rewritten_file_undoes_the_fast_path_and_upserts(
    imports: Imports, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prorata.imports.ingest")
    fund = _fund(imports, investors=40)
    rows = _rows(fund)
    first = await imports.run(fund["id"], "allocations", _messy_csv(rows[390:]))
    assert (first["status"], first["inserted"]) == ("succeeded", 10)
    caplog.clear()
    changed = [[i, d, a + 1 if n < 4 else a] for n, (i, d, a) in enumerate(rows[390:])]
    done = await imports.run(fund["id"], "allocations", _messy_csv([*rows[:390], *changed]))
    counts = (done["status"], done["inserted"], done["updated"], done["unchanged"])
    assert counts == ("succeeded", 390, 4, 6), done
    assert _allocations(imports.database.owner_url, fund["id"]) == _expected(
        [*rows[:390], *changed]
    )
    assert _checked_in_full(caplog)
    assert [audit["written"] for audit in _bulk_writes(imports.database.owner_url, fund["id"])] == [
        10,
        394,
    ]


@pytest.mark.usefixtures("small_reads")
async def test_a_row_too_wide_in_a_rewritten_file_is_refused_at_its_line(
    imports: Imports,
) -> None:
    fund = _fund(imports, investors=40)
    rows: list[list[Any]] = _rows(fund)
    rows[250][2] = "5,extra"  # line 252 (the header is line 1)
    rejected = await imports.run(fund["id"], "allocations", _messy_csv(rows))
    assert rejected["status"] == "rejected", rejected
    assert rejected["message"] == "line 252: more cells than the header has"
    assert _allocations(imports.database.owner_url, fund["id"]) == {}


@pytest.mark.usefixtures("small_reads")
async def test_a_quote_left_open_in_a_rewritten_file_is_reported_at_its_line(
    imports: Imports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record ends in MAX_RECORD_BYTES: the fast path stops and COPY, reading the file as
    it is, ends inside the quote; the refusal names the row the quote opened in."""
    monkeypatch.setattr(exported, "MAX_RECORD_BYTES", 2048)
    fund = _fund(imports, investors=40)
    rows: list[list[Any]] = _rows(fund)
    rows[200][2] = '"$5'
    rejected = await imports.run(fund["id"], "allocations", _messy_csv(rows, tail=b""))
    assert rejected["status"] == "rejected", rejected
    assert rejected["message"] == "line 202: a quote opened on this line is never closed"
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
    assert _no_rewriter_thread()  # stopped by the error too


@pytest.mark.usefixtures("small_reads")
async def test_a_record_of_two_lines_in_a_rewritten_file_is_judged_as_written(
    imports: Imports,
) -> None:
    fund = _fund(imports, investors=40)
    rows: list[list[Any]] = _rows(fund)
    rows[120][0] = f'"{rows[120][0]}\r\n{rows[121][0]}"'  # line 122: an investor cell of two lines
    rejected = await imports.run(fund["id"], "allocations", _messy_csv(rows))
    assert (rejected["status"], rejected["rows_total"]) == ("rejected", 400), rejected
    errors = await imports.errors(rejected)
    assert [(error["line"], error["column"]) for error in errors] == [("122", "investor_id")]
    assert _allocations(imports.database.owner_url, fund["id"]) == {}
