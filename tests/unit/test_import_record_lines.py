"""The row of a COPY refusal: PostgreSQL names a physical line, the import names rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from prorata.imports import ingest


def _record_of(data: bytes, line: int, *, chunk: int) -> int:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]

    return asyncio.run(ingest._record_of(pieces(), line))


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1024])  # a CR LF split between two pieces too
def test_physical_lines_are_counted_as_rows(newline: bytes, chunk: int) -> None:
    rows = [b"a,b", b'"x' + newline + b'y""' + newline + b'z",1', b"2,3", b'"q",4', b"5,6"]
    data = newline.join(rows) + newline
    # Physical lines: 1 header, 2-4 the quoted cell's row, 5, 6, 7.
    expected = {1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 4, 7: 5}
    assert {line: _record_of(data, line, chunk=chunk) for line in expected} == expected


@pytest.mark.parametrize("chunk", [1, 2, 1024])
def test_inside_quotes_only_the_files_own_line_end_counts(chunk: int) -> None:
    """As PostgreSQL counts: Excel on Windows ends rows in CR LF and a line break inside a
    cell (Alt+Enter) in a lone LF, which PostgreSQL does not count; the mirror case too."""
    crlf = b'name,n\r\n"Ada\nc/o Trust",1\r\nBob,2\r\nDee,3,extra\r\n'
    assert [_record_of(crlf, line, chunk=chunk) for line in (2, 3, 4)] == [2, 3, 4]
    lf = b'name,n\n"Ada\rc/o Trust",1\nBob,2\nDee,3,extra\n'
    assert [_record_of(lf, line, chunk=chunk) for line in (2, 3, 4)] == [2, 3, 4]
    # Inside quotes a CR LF counts once in a CR LF file (its CR), once in an LF file (its LF).
    both = b'name,n\r\n"A\r\nB",1\r\nC,2\r\n'
    assert [_record_of(both, line, chunk=chunk) for line in (2, 3, 4)] == [2, 2, 3]
