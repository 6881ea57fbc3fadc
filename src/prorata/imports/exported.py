"""A CSV file's amounts as spreadsheets export them (`"$12,345.67 "`), written plainly
(`12345.67`) by the worker, in a thread, as the import's fast path COPYs the rows.

Why: PostgreSQL reading such cells (`checks._strict_written_amount`) costs its one backend
~1.5 s per million rows, on top of the insert; here the same work costs ~1 s of CPU on the
other core while the backend parses the COPY (docs/benchmarks.md, the ingest section).

Why the rows mean the same: a line is rewritten only when all of it has the expected shape —
every cell free of quotes and line breaks but the amount, which is either bare or quoted whole
— and a piece of the file, which starts at a record's start, only if every line of it has; so
each line rewritten is one record of as many cells as the header, and its amount cell is the
text between the quotes. That cell is rewritten only where the strict exported reading reads
it, to exactly the digits that reading takes (its regular expression: the fund's currency
symbol or code right before the digits, thousands in groups of 3, spaces around), so the
strict plain reading then gives the same value. And only the fast path reads rewritten rows:
when it does not take the file, the file is loaded again as it is, and the full check reads
and reports every cell as written (`imports.ingest`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import re
from collections.abc import AsyncGenerator, AsyncIterator

from prorata.imports.values import currency_tokens

# A record longer than this (a quote left open) stops the fast path: the full check reads the
# file as it is. Far above any row of a file of allocations.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Line breaks tried, from the end of the bytes held, for one outside quotes.
_RECORD_END_TRIES = 8


class NoRecordEnd(Exception):
    """No line break outside quotes in MAX_RECORD_BYTES: this file is not for the fast path."""


@dataclasses.dataclass(frozen=True)
class PlainAmounts:
    """Rewrites the amount cells of whole lines of one file (its columns, delimiter and fund
    currency), as the module's docstring says."""

    line: re.Pattern[bytes]

    @classmethod
    def of(cls, columns: list[str], delimiter: str, currency: str) -> PlainAmounts | None:
        if "amount" not in columns:
            return None
        before, after = columns.index("amount"), len(columns) - 1 - columns.index("amount")
        d = re.escape(delimiter.encode())
        cell = rb'[^"' + d + rb"\r\n]*"
        tokens = sorted((t.encode() for t in currency_tokens(currency)), key=len, reverse=True)
        # Grouped, at most 15 digits (as the SQL reading: a larger amount is refused anyway).
        grouped = rb"[0-9]{1,3}(?:,[0-9]{3}){1,4}|[0-9]+"
        # A bare cell cannot hold the delimiter: in a comma-delimited file, no thousands commas.
        bare = rb"[0-9]+" if delimiter == "," else grouped
        token = b"(?:" + b"|".join(re.escape(t) for t in tokens) + b")?"
        integer = b"(?P<integer>(?(quote)(?:" + grouped + b")|(?:" + bare + b")))"
        amount = rb'(?P<quote>")? *' + token + integer + rb"(?P<fraction>\.[0-9]+)? *(?(quote)\")"
        # The amount after `before` cells, and `after` cells after it, to the line's end.
        cells_before = b"(?P<before>(?:%s%s){%d})" % (cell, d, before)
        cells_after = b"(?=(?:%s%s){%d}\r?$)" % (d, cell, after)
        pattern = b"^" + cells_before + amount + cells_after
        return cls(re.compile(pattern, re.MULTILINE))

    def rewrite(self, lines: bytes) -> bytes:
        """`lines` (whole lines) with every amount written plainly — or as they are, unless
        every line has the shape."""
        count = lines.count(b"\n") + (not lines.endswith(b"\n"))
        rewritten, matched = self.line.subn(_plainly, lines)
        return rewritten if matched == count else lines

    def finds_exported(self, lines: bytes) -> bool:
        """Whether these lines have amounts to rewrite (the file's first lines tell)."""
        return bool(lines) and self.rewrite(lines) != lines


def _plainly(found: re.Match[bytes]) -> bytes:
    return found["before"] + found["integer"].replace(b",", b"") + (found["fraction"] or b"")


def record_end(data: bytes) -> int:
    """The length of `data` (which starts at a record's start) up to and with its last line
    break outside quotes; 0 if none is found. COPY's CSV reading toggles "in quotes" at every
    quote (a doubled quote toggles twice), so a line break after an even number is a record's
    end."""
    end = len(data)
    for _ in range(_RECORD_END_TRIES):
        newline = data.rfind(b"\n", 0, end)
        if newline < 0:
            return 0
        if data.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        end = newline
    return 0


async def rewritten(
    chunks: AsyncIterator[bytes], amounts: PlainAmounts, *, ahead: int
) -> AsyncGenerator[bytes]:
    """`chunks` (a CSV file's rows, no header) as pieces that end at a record's end, each
    rewritten by `amounts` in a thread of its own, up to `ahead` bytes ahead of the pieces
    taken: the thread goes on while the caller's COPY waits on PostgreSQL. Raises NoRecordEnd
    (see MAX_RECORD_BYTES)."""
    loop = asyncio.get_running_loop()
    # One thread: several would take turns at the GIL with the event loop feeding COPY.
    thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="import-rewriter")
    pending: collections.deque[tuple[int, asyncio.Future[bytes]]] = collections.deque()
    in_flight, held, ended = 0, b"", False
    try:
        while True:
            while not ended and in_flight < ahead:
                chunk = await anext(chunks, None)
                if chunk is None:
                    ended, piece, held = True, held, b""
                else:
                    held += chunk
                    end = record_end(held)
                    if not end:
                        if len(held) > MAX_RECORD_BYTES:
                            raise NoRecordEnd
                        continue
                    piece, held = held[:end], held[end:]
                if piece:
                    pending.append(
                        (len(piece), loop.run_in_executor(thread, amounts.rewrite, piece))
                    )
                    in_flight += len(piece)
            if not pending:
                return
            size, future = pending.popleft()
            in_flight -= size
            yield await future
    finally:
        # Pieces not begun are dropped; one being rewritten ends within milliseconds: the
        # thread is gone when the COPY is (waited for off the event loop).
        await asyncio.to_thread(thread.shutdown, wait=True, cancel_futures=True)
