"""The streaming .xlsx reader (imports.xlsx.open_sheet): a workbook written by xlsxwriter read
back as the CSV text COPY gets — dates told by their cell style (built-in and custom number
formats), the 1904 date system, shared and inline strings, cells and rows the file leaves
out, a sheet by name, and a damaged file refused with a reason, never a traceback. Rows read
a chunk at a time by the fast passes (`_block`) and cell by cell give the same text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter

from prorata.imports import xlsx
from prorata.imports.values import NumberFormat


def _book(
    path: Path,
    sheets: dict[str, list[list[Any]]],
    *,
    options: dict[str, Any] | None = None,
    formats: dict[tuple[str, int, int], str | int] | None = None,
) -> Path:
    """Each sheet's rows from A1; None leaves a cell out, a formatted cell is written as a
    number with that number format."""
    book = xlsxwriter.Workbook(str(path), options or {})
    made: dict[str | int, Any] = {}
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                number_format = (formats or {}).get((name, r, c))
                if number_format is not None:
                    if number_format not in made:
                        made[number_format] = book.add_format({"num_format": number_format})
                    style = made[number_format]
                    if isinstance(value, dt.date):
                        sheet.write_datetime(r, c, value, style)
                    else:
                        sheet.write_number(r, c, value, style)
                elif isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
    book.close()
    return path


def _read(path: Path, sheet: str | None = None) -> tuple[list[str], int, str]:
    opened = xlsx.open_sheet(path, sheet)
    width = len(opened.header)
    chunks = xlsx.csv_chunks(opened, width=width, number_format=NumberFormat.comma_point)
    return opened.header, opened.header_row, b"".join(chunks).decode()


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def test_dates_are_told_by_their_cell_style(tmp_path: Path) -> None:
    day = dt.date(2025, 3, 15)
    rows: list[list[Any]] = [
        ["builtin", "custom", "bracketed", "with_time", "quoted", "money", "red"],
        [day, day, day, dt.datetime(2025, 3, 15), 45731, 1234.5, 7],
    ]
    formats: dict[tuple[str, int, int], str | int] = {
        ("S", 1, 0): 14,  # built-in m/d/yyyy
        ("S", 1, 1): "dd/mm/yyyy",
        ("S", 1, 2): "[$-409]mmm d, yyyy;@",
        ("S", 1, 3): "yyyy-mm-dd hh:mm",
        ("S", 1, 4): '0 "days"',  # d, a, y inside quotes: a number
        ("S", 1, 5): "#,##0.00 [$USD]",
        ("S", 1, 6): "[Red]0.00",
    }
    _, _, text = _read(_book(tmp_path / "d.xlsx", {"S": rows}, formats=formats))
    assert text == "2025-03-15,2025-03-15,2025-03-15,2025-03-15,45731,1234.5,7\n"


@pytest.mark.parametrize(
    ("code", "is_date"),
    [
        ("yyyy-mm-dd", True),
        ("d-mmm", True),
        ("h:mm AM/PM", True),
        ("[h]:mm:ss", True),
        ("General", False),
        ("0.00E+00", False),
        ('#,##0 "shares"', False),
        ("[$-409]#,##0.00", False),
        ("0\\d", False),
        ("_(* #,##0_)", False),
    ],
)
def test_a_custom_number_format_shows_a_date(code: str, is_date: bool) -> None:
    assert xlsx.is_date_format(code) is is_date


def test_the_1904_date_system(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["on"], [dt.date(2025, 3, 15)], [dt.date(1904, 1, 2)]]
    formats: dict[tuple[str, int, int], str | int] = {("S", 1, 0): 14, ("S", 2, 0): 14}
    path = _book(tmp_path / "m.xlsx", {"S": rows}, options={"date_1904": True}, formats=formats)
    with zipfile.ZipFile(path) as book:
        assert b'date1904="1"' in book.read("xl/workbook.xml")
    assert _read(path)[2] == "2025-03-15\n1904-01-02\n"


def test_dates_before_march_1900_count_as_excel_does(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["on"], [1], [59], [60], [61]]
    formats: dict[tuple[str, int, int], str | int] = {("S", r, 0): 14 for r in range(1, 5)}
    text = _read(_book(tmp_path / "e.xlsx", {"S": rows}, formats=formats))[2]
    # Excel's serial 60 is 1900-02-29, a day that was not: written as Excel shows it.
    assert text == "1900-01-01\n1900-02-28\n1900-02-29\n1900-03-01\n"


ODD_TEXT = ['a "quoted" word', "one, two", "line\nbreak", "Ünïcödé €", "<tag> & more", " padded "]


@pytest.mark.parametrize("constant_memory", [False, True])  # shared strings, inline strings
def test_shared_and_inline_strings(tmp_path: Path, constant_memory: bool) -> None:
    rows: list[list[Any]] = [["name", "note"], *([text, "x"] for text in ODD_TEXT)]
    path = _book(tmp_path / "s.xlsx", {"S": rows}, options={"constant_memory": constant_memory})
    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml")
        assert (b't="inlineStr"' in sheet) is constant_memory
        assert (b't="s"' in sheet) is not constant_memory
    header, header_row, text = _read(path)
    assert (header, header_row) == (["name", "note"], 1)
    assert text == _csv([[value, "x"] for value in ODD_TEXT])


def test_cells_and_rows_left_out_are_empty(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        [],  # row 1 and 2 are not in the file: the header is row 3
        [],
        ["a", None, "c", None],  # the header's width: 3 (no text past C)
        [None, "b2", None],
        [],  # row 5: left out, kept (a row follows)
        ["x", None, 3.5],
        [],
        [],  # blank rows at the end: left out
    ]
    header, header_row, text = _read(_book(tmp_path / "g.xlsx", {"S": rows}))
    assert (header, header_row) == (["a", "", "c"], 3)
    assert text == ",b2,\n,,\nx,,3.5\n"


def test_a_sheet_by_name(tmp_path: Path) -> None:
    path = _book(tmp_path / "n.xlsx", {"Cover": [["title"]], "Data": [["id"], ["7"]]})
    assert _read(path, "Data") == (["id"], 1, "7\n")
    assert _read(path)[0] == ["title"]
    with pytest.raises(xlsx.SheetRefused) as refused:
        xlsx.open_sheet(path, "Nope")
    assert refused.value.reason == "no sheet named 'Nope' (the sheets: 'Cover', 'Data')"


def test_booleans_errors_and_formulas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "READ_BYTES", 2048)  # rows past the first chunks too
    path = tmp_path / "f.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["flag", "formula", "text_formula", "error"])
    for row in range(1, 200):
        sheet.write_boolean(row, 0, row % 2 == 1)
        sheet.write_formula(row, 1, "=1+2", None, 3)
        sheet.write_formula(row, 2, '="a"&"b"', None, "ab")
        sheet.write_formula(row, 3, "=1/0", None, "#DIV/0!")
    book.close()
    assert _read(path)[2] == "".join(
        f"{'TRUE' if row % 2 else 'FALSE'},3,ab,#DIV/0!\n" for row in range(1, 200)
    )


def test_many_chunks_read_at_once_give_the_same_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows across many small chunks: most read by `_block`, those with a blank row, an
    empty cell, a date or an escaped character cell by cell; one text either way."""
    monkeypatch.setattr(xlsx, "READ_BYTES", 2048)
    day = dt.date(2024, 2, 29)
    rows: list[list[Any]] = [["id", "name", "amount", "on"]]
    expected: list[list[str]] = []
    for n in range(1, 1500):
        amount = [0.25, 8198.56, 1e16, -5, 1e-7, 12.5][n % 6]
        name = {0: "plain", 1: "Ädå", 2: "a & b", 3: ""}.get(n % 97, f"name {n % 13}")
        row: list[Any] = [f"id-{n}", name or None, amount, day if n % 211 == 0 else "-"]
        if n % 389 == 0:
            row = []  # a blank row in the middle: kept
        rows.append(row)
        if row:
            amount_text = xlsx.number_text(amount, NumberFormat.comma_point)
            expected.append([row[0], name, amount_text, "2024-02-29" if n % 211 == 0 else "-"])
        else:
            expected.append(["", "", "", ""])
    formats: dict[tuple[str, int, int], str | int] = {
        ("S", r, 3): "yyyy-mm-dd" for r, row in enumerate(rows) if row and row[3] == day
    }
    for constant_memory in (False, True):
        path = _book(
            tmp_path / f"big{constant_memory}.xlsx",
            {"S": rows},
            options={"constant_memory": constant_memory},
            formats=formats,
        )
        assert _read(path) == (["id", "name", "amount", "on"], 1, _csv(expected))


def test_a_wide_sheet_and_another_notation_read_cell_by_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "READ_BYTES", 2048)
    width = xlsx.MAX_BLOCK_WIDTH + 3
    rows: list[list[Any]] = [[f"c{n}" for n in range(width)]]
    rows += [[f"r{r}", *range(1, width)] for r in range(300)]
    path = _book(tmp_path / "w.xlsx", {"S": rows})
    expected = _csv([[f"r{r}", *map(str, range(1, width))] for r in range(300)])
    assert _read(path)[2] == expected
    rows = [["a", "b"], *([f"r{r}", r + 0.5] for r in range(300))]
    path = _book(tmp_path / "p.xlsx", {"S": rows})
    opened = xlsx.open_sheet(path, None, number_format=NumberFormat.point_comma)
    text = b"".join(xlsx.csv_chunks(opened, width=2, number_format=NumberFormat.point_comma))
    assert text.decode() == _csv([[f"r{r}", f"{r},5"] for r in range(300)])


def _damaged(tmp_path: Path, part: str, content: bytes) -> Path:
    """A workbook whose `part` is replaced by `content`."""
    good = _book(tmp_path / "good.xlsx", {"S": [["id"], *([f"x{n}"] for n in range(50))]})
    path = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            target.writestr(item, content if item.filename == part else source.read(item))
    return path


def test_a_damaged_workbook_is_refused_with_a_reason(tmp_path: Path) -> None:
    cases = {
        "not a zip": (tmp_path / "x.xlsx", None),
        "no workbook": (_damaged(tmp_path, "xl/workbook.xml", b"<oops"), None),
        "entities": (
            _damaged(tmp_path, "xl/styles.xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'),
            None,
        ),
    }
    cases["not a zip"][0].write_bytes(b"PK\x03\x04 this is no zip archive")
    for name, (path, _) in cases.items():
        with pytest.raises(xlsx.SheetRefused) as refused:
            _read(path)
        assert refused.value.reason.startswith("not a readable .xlsx workbook: "), name


def test_a_sheet_damaged_after_its_header_is_refused_while_read(tmp_path: Path) -> None:
    good = _book(tmp_path / "good.xlsx", {"S": [["id"], ["a"]]})
    with zipfile.ZipFile(good) as book:
        sheet = book.read("xl/worksheets/sheet1.xml")
    cut = sheet.index(b'<row r="2"')
    broken = {
        "a cell type no one writes": sheet[:cut] + b'<row r="2"><c r="A2" t="q"><v>1</v></c></row>',
        "a shared string that is not there": sheet.replace(b"<v>1</v>", b"<v>99</v>"),
        "rows out of order": sheet[:cut] + b'<row r="1"><c r="A1"><v>1</v></c></row>',
    }
    for name, content in broken.items():
        path = _damaged(tmp_path, "xl/worksheets/sheet1.xml", content)
        with pytest.raises(xlsx.SheetRefused) as refused:
            _read(path)
        assert refused.value.reason.startswith("not a readable .xlsx"), name


def _sheet_rows(n: int) -> list[list[Any]]:
    return [["id", "amount"], *([f"investor {i * 7919 % 10007}", i * 1.25] for i in range(n))]


def test_a_sheet_that_does_not_inflate_is_refused_while_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sheet is inflated by a thread a read ahead of its reader: what goes wrong there
    (a damaged deflate stream, a CRC that does not match) is refused where it is read."""
    monkeypatch.setattr(xlsx, "READ_BYTES", 4096)
    path = _book(tmp_path / "book.xlsx", {"S": _sheet_rows(5000)})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as book:
        info = book.getinfo("xl/worksheets/sheet1.xml")
    # The member's data follows its local header (30 bytes, its name and its extra field).
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size * 3 // 4
    data[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(xlsx.SheetRefused) as refused:
        _read(path)
    assert refused.value.reason.startswith("not a readable .xlsx"), refused.value.reason


def test_a_sheet_left_after_its_header_stops_its_reading(tmp_path: Path) -> None:
    path = _book(tmp_path / "book.xlsx", {"S": _sheet_rows(3000)})
    sheet = xlsx.open_sheet(path, None)
    assert sheet.header == ["id", "amount"]
    sheet.rows.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "xlsx-read-ahead"]


def test_rows_of_spaces_are_blank_rows(tmp_path: Path) -> None:
    """As in a CSV file: a row of only spaces is blank, left out at the end, kept as an empty
    row before another (its row number stays)."""
    rows: list[list[Any]] = [["a", "b"], [" ", None], ["x", "y"], [None, "  "], [" ", " "]]
    header, header_row, text = _read(_book(tmp_path / "w.xlsx", {"S": rows}))
    assert (header, header_row) == (["a", "b"], 1)
    assert text == ",\nx,y\n"


@pytest.mark.parametrize("constant_memory", [False, True])
def test_rows_of_spaces_are_blank_in_chunks_read_at_once_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, constant_memory: bool
) -> None:
    """Rows as wide as the header, of spaces only, where `_block` reads the chunks: blank as
    well (a row of spaces in the middle kept empty, those at the end left out)."""
    monkeypatch.setattr(xlsx, "READ_BYTES", 2048)
    rows: list[list[Any]] = [["a", "b"], *([f"x{n}", f"y{n}"] for n in range(300))]
    rows[150] = [" ", "\u00a0"]
    rows += [[" ", " "], ["  ", "\t"], [" ", " "]]
    path = _book(tmp_path / "b.xlsx", {"S": rows}, options={"constant_memory": constant_memory})
    expected = [[f"x{n}", f"y{n}"] for n in range(300)]
    expected[149] = ["", ""]
    assert _read(path) == (["a", "b"], 1, _csv(expected))
