"""Reading an .xlsx upload as the CSV text the staged pipeline COPYs (worker only).

The sheet is read with python-calamine (Rust: a million rows in a few seconds, a fraction of
openpyxl's time and memory) and written back out as CSV, a batch of rows at a time, into the
same COPY as a CSV upload: one pipeline, one set of SQL checks. Cells Excel stores as dates
or numbers keep what they are: a date cell becomes its ISO date, a number cell its exact
decimal text (the float's shortest representation, never a rounded or binary expansion:
15000000.1 stays 15000000.1, so the checks see the decimals the cell has, and refuse rather
than round more than the currency allows). Text cells are passed as they are.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import python_calamine

from prorata.imports.values import NumberFormat

# Excel's own limits: a sheet larger than this was not written by a spreadsheet program.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
ROWS_PER_CHUNK = 20_000
# Rows of nothing held back at most (blank rows at the end are dropped, not sent to COPY).
MAX_BLANK_RUN = 100_000


class SheetRefused(Exception):
    """The workbook or sheet cannot be imported: (line, reason) as a CSV file's would be."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


@dataclasses.dataclass
class Sheet:
    header: list[str]  # the header row's cells as text
    header_row: int  # its spreadsheet row number (1-based)
    rows: Iterator[list[Any]]  # the rows after it, in order, from row header_row + 1


def open_sheet(path: Path, sheet: str | None) -> Sheet:
    """The named sheet (or the first) of the workbook at `path`, from its header row on."""
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        if sheet is None:
            data = workbook.get_sheet_by_index(0)
        else:
            data = workbook.get_sheet_by_name(sheet)
    except python_calamine.WorksheetNotFound:
        names = ", ".join(repr(name) for name in workbook.sheet_names[:20])
        raise SheetRefused(None, f"no sheet named {sheet!r} (the sheets: {names})") from None
    except (python_calamine.CalamineError, IndexError, ValueError) as exc:
        raise SheetRefused(None, f"not a readable .xlsx workbook: {str(exc)[:120]}") from None
    if data.total_height > MAX_ROWS or data.total_width > MAX_COLUMNS:
        raise SheetRefused(None, f"the sheet is larger than Excel allows ({MAX_ROWS:,} rows)")
    rows = iter(data.iter_rows())
    for number, cells in enumerate(rows, start=1):  # rows above the header are empty
        if any(cell != "" for cell in cells):
            header = [_text(cell, NumberFormat.comma_point) for cell in cells]
            return Sheet(header=header, header_row=number, rows=rows)
    raise SheetRefused(1, "the sheet is empty: the first row must name the columns")


def csv_chunks(sheet: Sheet, *, width: int, number_format: NumberFormat) -> Iterator[bytes]:
    """The sheet's rows after the header as CSV (comma, LF), ROWS_PER_CHUNK rows a chunk.
    Each row is cut to the header's `width`, unless it has something beyond it (then COPY
    refuses it: more cells than the header has). Empty rows at the end are left out; empty
    rows before another are kept, so every line keeps its spreadsheet row number."""
    rows: list[list[str]] = []
    blank_run = 0
    blank_row = [""] * width
    for cells in sheet.rows:
        # Most cells are text, the others mostly numbers: both skip `_text` (a million rows,
        # ~1 s less).
        texts = [
            cell
            if cell.__class__ is str
            else _float_text(cell, number_format)
            if cell.__class__ is float
            else _text(cell, number_format)
            for cell in cells
        ]
        while len(texts) > width and texts[-1] == "":
            texts.pop()
        if not any(texts) and blank_run < MAX_BLANK_RUN:
            blank_run += 1
            continue
        for _ in range(blank_run):
            rows.append(blank_row)
        blank_run = 0
        rows.append(texts + [""] * (width - len(texts)) if len(texts) < width else texts)
        if len(rows) >= ROWS_PER_CHUNK:
            yield _csv_text(rows, width)
            rows = []
    if rows:
        yield _csv_text(rows, width)


def _csv_text(rows: list[list[str]], width: int) -> bytes:
    """`rows` as CSV lines, as `csv.writer` writes them (QUOTE_MINIMAL, LF). Most chunks hold
    no cell that needs quoting (no comma, quote or line break in any cell; more than one
    column, as the writer quotes a row of one empty cell): then the cells joined with commas
    are that text, at a fraction of the writer's time (told by counting in C over the whole
    chunk: a comma or line break inside a cell makes more than the joins put in)."""
    text = "\n".join(map(",".join, rows)) + "\n"
    plain = (
        text.count("\n") == len(rows)
        and text.count(",") == sum(map(len, rows)) - len(rows)
        and '"' not in text
        and "\r" not in text
        and width > 1
    )
    if not plain:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        text = out.getvalue()
    return text.encode()


def _text(cell: Any, number_format: NumberFormat) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float | int):
        return number_text(cell, number_format)
    if isinstance(cell, dt.datetime):
        # A date cell formatted with a time of day shows midnight: that is the date. Any other
        # time is written out, and the date check refuses it.
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell)


def _float_text(value: float, number_format: NumberFormat) -> str:
    """`number_text` of a float, its common case (no exponent, point notation) inline."""
    text = repr(value)
    if "e" in text or number_format is not NumberFormat.comma_point:
        return number_text(value, number_format)
    return text[:-2] if text.endswith(".0") else text


def number_text(value: float | int, number_format: NumberFormat) -> str:
    """A number cell as the file's notation writes it, without thousands separators: the
    shortest decimal that reads back as the same float (repr), never an exponent."""
    text = repr(value)
    if "e" in text or "E" in text:  # 1e-07, 1e+16: written out in full
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text if number_format.decimal == "." else text.replace(".", number_format.decimal)
