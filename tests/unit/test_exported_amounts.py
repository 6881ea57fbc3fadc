"""Amounts as spreadsheets export them, rewritten plainly before the fast path's COPY
(`imports.exported`): which lines are rewritten, to what, and where a batch may end. (That a
rewritten cell reads as PostgreSQL's strict exported reading reads it: tests/api/
test_import_checks.py; the imports themselves: tests/api/test_import_batches.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from prorata.imports import exported
from prorata.imports.exported import PlainAmounts

COLUMNS = ["investor_id", "deal_id", "amount"]


def _usd(delimiter: str = ",", columns: list[str] = COLUMNS) -> PlainAmounts:
    amounts = PlainAmounts.of(columns, delimiter, "USD")
    assert amounts is not None
    return amounts


@pytest.mark.parametrize(
    ("line", "plain"),
    [
        (b'i,d,"$12,345.67 "', b"i,d,12345.67"),
        (b'i,d," $1,000 "', b"i,d,1000"),
        (b'i,d,"USD1,000.00"', b"i,d,1000.00"),
        (b'i,d,"US$5"', b"i,d,5"),
        (b"i,d,$5.25", b"i,d,5.25"),  # bare: no thousands commas in a comma-delimited file
        (b"i,d, 5 ", b"i,d,5"),
        (b"i,d,1234.56", b"i,d,1234.56"),  # plain already: the same text
        (b'i,d,"007"', b"i,d,007"),  # not a plain number: the strict reading refuses it
    ],
)
def test_a_line_with_an_amount_as_exported_is_written_plainly(line: bytes, plain: bytes) -> None:
    assert _usd().rewrite(line + b"\r\n") == plain + b"\r\n"
    assert _usd().rewrite(line) == plain  # the file's last line, without a line break


@pytest.mark.parametrize(
    "line",
    [
        b"i,d,1,234",  # four cells: COPY must see them and refuse the line
        b'i,d,"$ 5"',  # a space between the symbol and the digits
        b'i,d,"\xe2\x82\xac5"',  # the euro sign in a USD fund
        b'i,d,"usd5"',  # a code in another case: the full check reads it
        b'i,d,"$1,23"',  # not groups of three
        b'i,d,"$1,234.567,8"',
        b'i,d,"-5"',
        b'i,d,"($5)"',
        b'i,d,"5."',
        b'i,d,".5"',
        b'i,d,"$5',  # a quote never closed
        b'i,d,"$5" ',  # a space after the closing quote
        b'i,"d",$5',  # another cell quoted
        b"i,d,$5,extra",  # more cells than the header
        b"i,$5",  # fewer
        b"",
    ],
)
def test_a_line_not_of_the_shape_leaves_its_batch_as_written(line: bytes) -> None:
    amounts = _usd()
    assert amounts.rewrite(line) == line
    batch = b'i,d,"$1,000.00"\r\n' + line + b'\r\ni,d,"$2,000.00"\r\n'
    assert amounts.rewrite(batch) == batch  # every line of a batch, or none


def test_the_amount_in_any_column_and_other_delimiters() -> None:
    columns = ["amount", "deal_name", "investor_email"]
    semicolons = _usd(";", columns)
    # A bare cell may hold thousands commas where the delimiter is not a comma.
    assert semicolons.rewrite(b"$1,234.50;Seed;a@x.example\n") == b"1234.50;Seed;a@x.example\n"
    assert semicolons.rewrite(b'"USD 5";Seed;a@x.example\n') == b'"USD 5";Seed;a@x.example\n'
    tabs = _usd("\t", ["investor_id", "amount", "deal_id"])
    assert tabs.rewrite(b"i\t$1,000\td\n") == b"i\t1000\td\n"
    euros = PlainAmounts.of(COLUMNS, ",", "EUR")
    assert euros is not None
    assert euros.rewrite('i,d,"€1,000.00"\n'.encode()) == b"i,d,1000.00\n"
    assert euros.rewrite(b'i,d,"$1,000.00"\n') == b'i,d,"$1,000.00"\n'
    assert PlainAmounts.of(["investor_id", "deal_id"], ",", "USD") is None


def test_the_first_lines_tell_whether_a_file_has_amounts_to_rewrite() -> None:
    amounts = _usd()
    assert amounts.finds_exported(b'i,d,"$1,000.00"\r\ni,d,"$2.00"\r\n')
    assert not amounts.finds_exported(b"i,d,1000.00\ni,d,2.00\n")
    assert not amounts.finds_exported(b"")


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"a,b\nc,d\ne", 8),
        (b"a,b\nc,d\n", 8),
        (b'a,"b\nc",d\ne', 10),  # the first line break is inside quotes
        (b'a,"b""\nc"\n', 10),  # a doubled quote inside quotes
        (b'a,"b\n', 0),
        (b"abc", 0),
    ],
)
def test_a_batch_ends_at_a_line_break_outside_quotes(data: bytes, end: int) -> None:
    assert exported.record_end(data) == end


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


async def _rewritten(data: bytes, size: int, ahead: int = 64) -> list[bytes]:
    pieces = exported.rewritten(_chunks(data, size), _usd(), ahead=ahead)
    return [piece async for piece in pieces]


async def test_pieces_end_at_records_in_order_and_read_as_the_file() -> None:
    lines = [f'i{n},d,"${n:,}.25 "\r\n'.encode() for n in range(900, 1300)]
    lines[7] = b'i7,"multi\r\nline",$5\r\n'  # a record of two lines
    pieces = await _rewritten(b"".join(lines), size=37)
    assert len(pieces) > 20
    assert all(exported.record_end(piece) == len(piece) for piece in pieces)
    # The piece holding the record of two lines is left as written, with its other lines; every
    # other line is rewritten, in the file's order.
    [kept] = [piece for piece in pieces if b"multi" in piece]
    as_written = [line for line in lines if line in kept]
    assert kept == b"".join(as_written)
    assert b"".join(pieces) == b"".join(
        line if line in as_written else f"i{n + 900},d,{n + 900}.25\r\n".encode()
        for n, line in enumerate(lines)
    )


async def test_a_quote_left_open_stops_the_rewriting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exported, "MAX_RECORD_BYTES", 100)
    data = b'i,d,"$5"\n' * 3 + b'i,d,"$6\n' + b'i,d,"$7"\n' * 40
    with pytest.raises(exported.NoRecordEnd):
        await _rewritten(data, size=16)
