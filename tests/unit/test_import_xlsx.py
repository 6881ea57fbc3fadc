"""A sheet's rows as the CSV text COPY reads (imports.xlsx.csv_chunks): joined with commas when
no cell needs quoting, written by `csv.writer` otherwise; the same text either way."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from prorata.imports import xlsx
from prorata.imports.values import NumberFormat


def _text(rows: list[list[Any]], width: int, number_format: NumberFormat) -> str:
    sheet = xlsx.Sheet(header=[], header_row=1, rows=iter(rows))
    return b"".join(xlsx.csv_chunks(sheet, width=width, number_format=number_format)).decode()


def test_plain_cells_are_joined_with_commas() -> None:
    rows: list[list[Any]] = [
        ["a", "b", 1000.0],
        ["c", "", 12.5],
        ["", "", ""],  # kept: a row follows
        ["d", "e", 15000000.1, ""],  # the empty cell past the header's width is cut
        ["f", dt.date(2025, 1, 2), 3],
        ["g", "h", 1e16],
        ["", "", ""],  # blank rows at the end: left out
        [],
    ]
    expected = "a,b,1000\nc,,12.5\n,,\nd,e,15000000.1\nf,2025-01-02,3\ng,h,10000000000000000\n"
    assert _text(rows, 3, NumberFormat.comma_point) == expected


def test_a_number_cell_in_the_comma_notation() -> None:
    assert _text([["a", 12.5], ["b", 1e-7]], 2, NumberFormat.point_comma) == (
        # a comma inside a cell: the chunk is written by csv.writer, which quotes it
        'a,"12,5"\nb,"0,0000001"\n'
    )


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('say "hi"', '"say ""hi"""'),
        ("one, two", '"one, two"'),
        ("line\nbreak", '"line\nbreak"'),
        # not quoted by csv.writer with LF line ends (and not joined either: the same text)
        ("carriage\rreturn", "carriage\rreturn"),
    ],
)
def test_a_cell_that_needs_quoting_is_written_as_csv_writer_does(cell: str, written: str) -> None:
    rows: list[list[Any]] = [["x", "y"], [cell, "z"]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    assert out.getvalue() == f"x,y\n{written},z\n"
    assert _text(rows, 2, NumberFormat.comma_point) == out.getvalue()


def test_one_column_rows_keep_the_quotes_of_an_empty_cell() -> None:
    # csv.writer writes a row of one empty cell as "" (an empty line would be no row at all)
    assert _text([[""], ["a"]], 1, NumberFormat.comma_point) == '""\na\n'
