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
