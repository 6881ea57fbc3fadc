"""Running one import (worker only): stream the blob into a staging table, check every row in
SQL, then apply all valid rows in one statement through the owning service — or nothing.

Transactions:
1. a short one marks the import `running` (visible at once to whoever polls it);
2. the main one takes a transaction-scoped advisory lock on the import (a retried job waits
   for a stalled one, then finds it finished), re-reads the status, loads, checks, records
   the errors and applies — and commits the final status with the writes. A crash anywhere
   before that commit leaves nothing applied and the import `running`: the retry starts over.
   After it, a retry finds the final status and does nothing. So nothing is applied twice;
3. progress (phase, bytes loaded) is written by short transactions of their own while the main
   one runs, so it can be polled; the main one does not touch the import row until the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.allocations import service as allocation_service
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.imports import checks, exported, formats, values, xlsx
from prorata.imports.formats import ImportKind
from prorata.imports.models import DataImport, ImportPhase, ImportRowError, ImportStatus
from prorata.investors import service as investor_service
from prorata.observability import instruments
from prorata.platform import db, errors, events, storage

log = logging.getLogger(__name__)

MAX_RECORDED_ERRORS = 10_000
PREVIEW_ROWS = 20
PROGRESS_EVERY_SECONDS = 1.0
READ_CHUNK = 1024 * 1024
WORK_MEM = "128MB"


class Progress:
    """Writes the phase and bytes loaded in short transactions of their own, at most once a
    second, and tells live clients (`import.progress`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], row: DataImport) -> None:
        self.sessions = sessions
        self.org_id, self.fund_id, self.import_id = row.org_id, row.fund_id, row.id
        self.bytes_total = row.bytes_total
        self.bytes_read = 0
        self.saved_at = 0.0

    async def loaded(self, size: int) -> None:
        self.bytes_read += size
        if time.monotonic() - self.saved_at >= PROGRESS_EVERY_SECONDS:
            await self.save(ImportPhase.loading)

    async def header_read(self, header: dict[str, str]) -> None:
        """Record a workbook's header as read, for the API (a CSV file's is read at upload),
        in a short transaction of its own as progress is: updated in the job's, the import's
        row would stay locked, and the next progress save would wait for the job to end."""
        async with db.tenant_transaction(self.sessions, self.org_id) as session:
            await session.execute(
                sa.update(DataImport)
                .where(DataImport.id == self.import_id)
                .values(
                    header={cell: formats.column_or_none(name) for cell, name in header.items()}
                )
            )

    async def save(self, phase: ImportPhase) -> None:
        self.saved_at = time.monotonic()
        async with db.tenant_transaction(self.sessions, self.org_id) as session:
            await session.execute(
                sa.update(DataImport)
                .where(DataImport.id == self.import_id)
                .values(phase=phase, bytes_read=self.bytes_read)
            )
            await events.publish(
                session,
                org_id=self.org_id,
                fund_id=self.fund_id,
                kind=events.Progress.import_progress,
                data={
                    "import_id": str(self.import_id),
                    "phase": str(phase),
                    "bytes_read": self.bytes_read,
                    "bytes_total": self.bytes_total,
                },
            )


async def run(
    *,
    sessions: async_sessionmaker[AsyncSession],
    blobs: storage.BlobStore,
    org_id: uuid.UUID,
    import_id: uuid.UUID,
) -> None:
    if not await _mark_running(sessions, org_id=org_id, import_id=import_id):
        return
    try:
        await _ingest(sessions, blobs, org_id=org_id, import_id=import_id)
    except Exception:
        log.exception("import failed", extra={"import_id": str(import_id)})
        await _mark_failed(sessions, org_id=org_id, import_id=import_id)
        raise


async def _mark_running(
    sessions: async_sessionmaker[AsyncSession], *, org_id: uuid.UUID, import_id: uuid.UUID
) -> bool:
    """Queued (or running, after a crash) → running; False when it is already finished."""
    async with db.tenant_transaction(sessions, org_id) as session:
        started = await session.execute(
            sa.update(DataImport)
            .where(
                DataImport.id == import_id,
                DataImport.status.in_([ImportStatus.queued, ImportStatus.running]),
            )
            .values(status=ImportStatus.running, started_at=sa.func.now(), bytes_read=0)
        )
    return bool(getattr(started, "rowcount", 0))


async def _mark_failed(
    sessions: async_sessionmaker[AsyncSession], *, org_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    async with db.tenant_transaction(sessions, org_id) as session:
        row = await session.get(DataImport, import_id)
        if row is None or row.status.final:
            return
        row.status, row.phase = ImportStatus.failed, ImportPhase.done
        row.message = "the import could not run to the end; nothing was applied (upload again)"
        row.finished_at = sa.func.now()
        await session.flush()
        await _publish_finished(session, row)


def _lock_key(import_id: uuid.UUID) -> int:
    return int.from_bytes(
        hashlib.sha256(b"import:" + import_id.bytes).digest()[:8], "big", signed=True
    )


async def _ingest(
    sessions: async_sessionmaker[AsyncSession],
    blobs: storage.BlobStore,
    *,
    org_id: uuid.UUID,
    import_id: uuid.UUID,
) -> None:
    async with db.tenant_transaction(sessions, org_id) as session:
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(import_id))))
        # Sorts and hashes over a million staged rows fit in memory instead of spilling to
        # disk (the default is 4 MB); for this transaction only.
        await session.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        row = await session.get(DataImport, import_id, populate_existing=True)
        if row is None or row.status.final:
            return
        fund = await fund_service.get(session, fund_id=row.fund_id)
        blob = await storage.get(session, blob_id=row.blob_id)
        assert blob is not None  # a foreign key
        progress = Progress(sessions, row)
        await progress.save(ImportPhase.loading)
        header: dict[str, str] | None = None

        def file() -> AsyncIterator[bytes]:
            return blobs.stream(blob.key, chunk_size=READ_CHUNK)

        if _all_new_possible(row):
            fast = await _insert_all_new_allocations(session, file, row, fund, progress)
            if fast.finished:
                return
            header = fast.staged
        if header is None:  # (again, when the fast path had written rows and undid them)
            progress.bytes_read = 0
            header, refused = await _load(session, file, row, progress)
            if refused is not None:
                await _reject_file(session, row, *refused)
                return
            await progress.save(ImportPhase.validating)
        # Temporary tables get no statistics by themselves: without them the planner guesses
        # ten million rows and sorts to disk where a hash join against the small maps would do.
        await session.execute(sa.text(f"ANALYZE {checks.STAGING}"))
        log.info("import checked in full", extra={"import_id": str(row.id)})
        await _check_and_apply(session, row, fund, header, progress)


def _all_new_possible(row: DataImport) -> bool:
    """Whether the file may be all new allocations in the plain notation: then the fast path is
    tried first (the strict reading takes amounts in the default notation only)."""
    return (
        row.kind is ImportKind.allocations
        and not row.dry_run
        and row.number_format == values.NumberFormat.comma_point
    )


# Called between two COPY batches of a workbook, with the staged columns (`_copy`).
Between = Callable[[list[str]], Awaitable[None]]


async def _load(
    session: AsyncSession,
    file: Callable[[], AsyncIterator[bytes]],
    row: DataImport,
    progress: Progress,
    *,
    fast: _NewAllocations | None = None,
) -> tuple[dict[str, str], tuple[int | None, str] | None]:
    """COPY the file into `import_staging`: (its header cells → our columns, None), or
    (…, (line, why)) when the file itself is not readable CSV (or .xlsx) of its kind (then
    nothing is loaded). For the fast path (`fast`), a workbook is COPYed in batches, each
    written by `fast.between` but the last. A CSV file is COPYed in one (reading it costs next
    to nothing: nothing to overlap); for the fast path, amounts written as spreadsheets export
    them are rewritten plainly on the way, in a thread (`imports.exported`), so PostgreSQL
    reads them as plain numbers. `file` opens the file's bytes (again, to name the row of a
    refusal: `_record_of`)."""
    stream = file()
    first = await anext(stream, b"")
    if values.is_xlsx(first):
        return await _load_workbook(
            session,
            _chained(first, stream),
            row,
            progress,
            between=None if fast is None else fast.between,
        )
    header_line = first.split(b"\n", 1)[0]
    try:
        header = formats.read_header(row.kind, header_line, mapping=row.columns)
    except errors.Problem as problem:
        return {}, (1, problem.detail)
    unnamed = [f"unnamed_{n}" for n in range(formats.unnamed_columns(header_line))]
    columns = [*header.values(), *unnamed]
    text = header_line.removeprefix(formats.BOM).split(b"\r", 1)[0].decode()
    delimiter = values.delimiter_of(text)
    await _create_staging(session, columns, first_line=2)
    chunks = _without_blank_tail(_counted(_chained(first, stream), progress), delimiter)
    amounts = _exported_amounts(first, header_line, columns, delimiter, fast)
    if amounts is None:
        refused = await _copy(session, columns, chunks, delimiter=delimiter, header=True)
    else:
        assert fast is not None
        fast.amounts_rewritten = True
        pieces = exported.rewritten(_after_first_line(chunks), amounts, ahead=READ_AHEAD_BYTES)
        async with contextlib.aclosing(pieces):
            refused = await _copy(
                session, columns, pieces, delimiter=delimiter, header=False, line_offset=1
            )
    if refused is not None and refused[0] is not None:
        refused = await _record_of(file(), refused[0]), refused[1]
    return header, refused or await _value_without_header(session, unnamed)


async def _record_of(stream: AsyncIterator[bytes], line: int) -> int:
    """The record (counted as rows are, the header being 1) that holds the file's `line` as
    PostgreSQL names a COPY error's: it counts every line end between records (a CR LF once)
    but, inside a quoted cell, only the file's own line-end character — LF in a file whose
    first line ends in LF, CR in one whose first line ends in CR or CR LF (`CopyReadLineText`).
    Excel on Windows ends rows in CR LF and writes a line break inside a cell as a lone LF."""
    physical = record = 1
    if line <= physical:
        return record
    in_quotes = False
    ends_in: bytes | None = None  # b"\n" or b"\r": what counts inside quotes
    offset, last_cr = 0, -2  # where this chunk starts in the file; the last CR's position
    async for chunk in stream:
        for found in _BREAK_OR_QUOTE.finditer(chunk):
            at, byte = offset + found.start(), found[0]
            if byte == b'"':
                in_quotes = not in_quotes
                continue
            ends_in = ends_in or byte
            crlf_end = byte == b"\n" and last_cr == at - 1
            if byte == b"\r":
                last_cr = at
            if in_quotes:
                physical += byte == ends_in
            elif not crlf_end:
                physical += 1
                record += 1
            if physical == line:
                return record
        offset += len(chunk)
    return record


_BREAK_OR_QUOTE = re.compile(rb'["\r\n]')


async def _value_without_header(
    session: AsyncSession, unnamed: list[str]
) -> tuple[int | None, str] | None:
    """(line, why) of the first row with a value in a column the header leaves unnamed (the
    empty cells at its end), else None: such a value is refused, never dropped."""
    if not unnamed:
        return None
    found = " OR ".join(f"btrim(\"{name}\") <> ''" for name in unnamed)
    query = f"SELECT min(line) FROM {checks.STAGING} WHERE {found}"  # noqa: S608 - our names
    line = await session.scalar(sa.text(query))
    if line is None:
        return None
    return line, "a value in a column the header does not name (the empty cells at its end)"


def _exported_amounts(
    first: bytes,
    header_line: bytes,
    columns: list[str],
    delimiter: str,
    fast: _NewAllocations | None,
) -> exported.PlainAmounts | None:
    """For the fast path, what rewrites the file's amounts plainly — if its first rows have
    amounts as spreadsheets export them, and its lines end in LF (or CR LF) with a header of
    whole quotes; else None."""
    if fast is None or b"\n" not in first or b"\r" in header_line.rstrip(b"\r"):
        return None
    if header_line.count(b'"') % 2:
        return None
    amounts = exported.PlainAmounts.of(columns, delimiter, fast.fund.currency)
    rows = first[len(header_line) + 1 :]
    sample = rows[: exported.record_end(rows)]
    return amounts if amounts is not None and amounts.finds_exported(sample) else None


async def _after_first_line(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`chunks` without the file's first line (its header), whose cells COPY is not to load."""
    header_done = False
    async for chunk in chunks:
        rows = chunk
        if not header_done:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            header_done, rows = True, chunk[newline + 1 :]
        if rows:
            yield rows


async def _load_workbook(
    session: AsyncSession,
    stream: AsyncIterator[bytes],
    row: DataImport,
    progress: Progress,
    *,
    between: Between | None,
) -> tuple[dict[str, str], tuple[int | None, str] | None]:
    """An .xlsx upload: the workbook is spooled to a temporary file (a zip is read from its
    end), its sheet read and COPYed as CSV text, a batch of rows at a time; a line of the
    staging table is the spreadsheet's row number."""
    number_format = values.NumberFormat(row.number_format)
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as spool:
        async for chunk in _counted(stream, progress):
            spool.write(chunk)
        spool.flush()
        try:
            sheet = await asyncio.to_thread(
                functools.partial(xlsx.open_sheet, number_format=number_format),
                Path(spool.name),
                row.sheet,
            )
        except xlsx.SheetRefused as refused:
            return {}, (refused.line, refused.reason)
        width = max((n + 1 for n, cell in enumerate(sheet.header) if cell.strip()), default=0)
        try:
            header = formats.read_cells(
                row.kind, [cell.strip() for cell in sheet.header[:width]], mapping=row.columns
            )
        except errors.Problem as problem:
            return {}, (sheet.header_row, problem.detail)
        await progress.header_read(header)
        columns = list(header.values())
        await _create_staging(session, columns, first_line=sheet.header_row + 1)
        rows = xlsx.csv_chunks(sheet, width=width, number_format=number_format)
        # Closed on the way out whatever happens (an error, a batch refused, the job cancelled):
        # the reading thread stops before the spooled file is closed under it.
        async with contextlib.aclosing(_read_ahead(rows, limit=READ_AHEAD_BYTES)) as chunks:
            return header, await _copy(
                session,
                columns,
                chunks,
                delimiter=",",
                header=False,
                line_offset=sheet.header_row,
                between=between,
            )


# A workbook's rows are COPYed (and, all new, inserted) this many bytes of CSV text at a time,
# and read up to this many bytes ahead: enough for the reading thread to read the next batches
# while PostgreSQL inserts this one (a million rows: 1.2-1.7 s less than one batch, measured;
# a read-ahead of one batch or less gained nothing: the thread waited for room).
BATCH_BYTES = 8 * 1024 * 1024
READ_AHEAD_BYTES = 3 * BATCH_BYTES


async def _read_ahead(rows: Iterator[bytes], *, limit: int) -> AsyncGenerator[bytes]:
    """The chunks of `rows`, made by a thread of their own up to `limit` bytes ahead (or one
    chunk, if bigger): reading a sheet is CPU work (so the worker's other jobs go on meanwhile),
    and PostgreSQL parses or inserts what came before while the thread reads on. An error
    reading is raised here."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
    room = threading.Condition()
    ahead = 0  # bytes made and not yet taken
    stop = threading.Event()

    def produce() -> None:
        nonlocal ahead
        last: Exception | None = None
        try:
            for chunk in rows:
                with room:
                    while ahead and ahead + len(chunk) > limit and not stop.is_set():
                        room.wait(0.1)
                    if stop.is_set():
                        return
                    ahead += len(chunk)
                loop.call_soon_threadsafe(ready.put_nowait, chunk)
        except Exception as exc:  # handed to the reader, raised there
            last = exc
        loop.call_soon_threadsafe(ready.put_nowait, last)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, Exception):
                raise item
            with room:
                ahead -= len(item)
                room.notify()
            yield item
    finally:
        stop.set()  # the reader stopped early (an error, a batch refused): so does the thread
        await asyncio.to_thread(thread.join)


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _counted(chunks: AsyncIterator[bytes], progress: Progress) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk
        await progress.loaded(len(chunk))


# Blank rows at the end of a file held back at most; past this, they are sent on (and refused).
MAX_BLANK_TAIL = 8 * 1024 * 1024


async def _without_blank_tail(chunks: AsyncIterator[bytes], delimiter: str) -> AsyncIterator[bytes]:
    """The file without its blank rows at the end (empty lines, or only delimiters and spaces,
    such as `,,`: what a spreadsheet leaves below its data). Whatever follows the last line
    holding something is held back until more of the file shows it was not the end; at the
    end it is dropped, all but the last line's own end (its cells, its line break)."""
    blank = b" \t\r\n" + delimiter.encode()
    held = b""
    async for chunk in chunks:
        data = held + chunk if held else chunk
        kept = len(data.rstrip(blank))
        if kept == 0 and len(data) <= MAX_BLANK_TAIL:
            held = data
            continue
        ends = [end for end in (data.find(b"\n", kept), data.find(b"\r", kept)) if end >= 0]
        cut = min(ends) if ends and kept else len(data)
        held = data[cut:]
        yield data[:cut]
    if held:
        yield _own_line_end(held)


def _own_line_end(tail: bytes) -> bytes:
    """What of a blank tail belongs to the line before it: up to its first line break."""
    ends = [end for end in (tail.find(b"\n"), tail.find(b"\r")) if end >= 0]
    if not ends:
        return tail
    end = min(ends)
    return tail[: end + (2 if tail[end : end + 2] == b"\r\n" else 1)]


# Line numbers the staging's sequence hands out from memory at a time: one backend fills it,
# so they stay consecutive, and COPY spends ~0.1 s less per million rows than with one at a
# time (each a sequence-page update).
LINE_NUMBERS_CACHED = 100_000


async def _create_staging(session: AsyncSession, columns: list[str], *, first_line: int) -> None:
    text_columns = ", ".join(f'"{name}" text' for name in columns)
    await session.execute(
        sa.text(
            f"CREATE TEMP TABLE {checks.STAGING} (line bigint GENERATED ALWAYS AS IDENTITY "
            f"(START WITH {int(first_line)} CACHE {LINE_NUMBERS_CACHED}), {text_columns}) "
            "ON COMMIT DROP"
        )
    )


async def _copy(
    session: AsyncSession,
    columns: list[str],
    chunks: AsyncIterator[bytes],
    *,
    delimiter: str,
    header: bool,
    line_offset: int = 0,
    between: Between | None = None,
) -> tuple[int | None, str] | None:
    """COPY `chunks` (CSV) into the staging table; None, or (line, why) it was refused. With
    `between`, in batches of BATCH_BYTES (chunks end at a row's end), `between` called after
    each but the last; a line in a refusal counts from the first batch's first line."""
    assert between is None or not header  # a header belongs to the first COPY alone
    connection = await db.driver_connection(session)
    names = ", ".join(f'"{name}"' for name in columns)
    options = "FORMAT csv" + (", HEADER true" if header else "")
    if delimiter != ",":
        options += ", DELIMITER E'\\t'" if delimiter == "\t" else f", DELIMITER '{delimiter}'"
    try:
        while True:
            sent, ended = 0, True
            # A savepoint: a malformed file undoes the load, not the job's transaction.
            async with (
                connection.transaction(),  # inside the session's transaction: a SAVEPOINT
                connection.cursor() as cursor,
            ):
                async with cursor.copy(
                    f"COPY {checks.STAGING} ({names}) FROM STDIN ({options})"
                ) as copy:
                    async for chunk in chunks:
                        await copy.write(chunk)
                        sent += len(chunk)
                        if between is not None and sent >= BATCH_BYTES:
                            ended = False
                            break
                copied = cursor.rowcount  # (the cursor forgets it once closed)
            if ended:
                return None
            line_offset += copied  # COPY counts the lines of each batch from 1
            assert between is not None
            await between(columns)
    except (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded) as exc:
        line, why = _copy_problem(exc)
        return (line + line_offset if line is not None else None), why
    except xlsx.SheetRefused as refused:  # a workbook damaged past its header (streamed)
        return refused.line, refused.reason


_COPY_LINE = re.compile(r"line (\d+)(: \"(?P<record>.*)\")?", re.DOTALL)
_MIXED_LINE_ENDS = (
    "this line does not end like the first one (CR LF, LF or CR): save the file again as CSV"
)
_NUL = "a NUL byte (0x00): a text file has none; export the sheet again as CSV UTF-8"
_COPY_REASONS = {
    "extra data after last expected column": "more cells than the header has",
    "missing data for column": "fewer cells than the header has",
    # PostgreSQL names the line where the file ended, inside the open quote; as a row
    # (`_record_of`), that is the row the quote opened in.
    "unterminated CSV quoted field": "a quote opened on this line is never closed",
    "invalid byte sequence": "not valid UTF-8: save the file as CSV UTF-8",
    # COPY takes the first line's ending (CR LF, LF or CR) for the file's, and refuses another.
    "unquoted newline found": _MIXED_LINE_ENDS,
    "unquoted carriage return found": _MIXED_LINE_ENDS,
}


def _copy_problem(exc: psycopg.Error) -> tuple[int | None, str]:
    """PostgreSQL's COPY error, as (line, reason) in words a spreadsheet user can act on."""
    found = _COPY_LINE.search(exc.diag.context or "")
    primary = exc.diag.message_primary or str(exc)
    reason = next((text for key, text in _COPY_REASONS.items() if key in primary), primary)
    if "invalid byte sequence" in primary and "0x00" in primary:
        reason = _NUL  # valid UTF-8, but PostgreSQL text cannot hold it
    if found and found.group("record") == "" and "missing data" in primary:
        reason = "an empty line: remove it"
    return (int(found.group(1)) if found else None), reason[:300]


async def _reject_file(session: AsyncSession, row: DataImport, line: int | None, why: str) -> None:
    session.add(ImportRowError(org_id=row.org_id, import_id=row.id, line=line, message=why))
    await _finish(
        session,
        row,
        status=ImportStatus.rejected,
        counts={},
        errors_recorded=1,
        message=f"line {line}: {why}" if line else why,
    )


class _NotAllNew(Exception):
    """The file is not all new allocations plainly written: the full check decides."""


@dataclasses.dataclass(frozen=True)
class _FastPath:
    finished: bool  # applied, or the file refused: nothing left to do
    # Not finished: the staged file's header when the staging holds all of the file (else it
    # must be loaded again: rows the fast path had written were undone, and the staging too).
    staged: dict[str, str] | None = None


class _NewAllocations:
    """Writes the staged rows of a file of new allocations by the strict reading
    (`checks.strict_allocations`), a batch at a time, as one set (`_insert_all_new_allocations`).
    The notation that read a batch reads the rest: the plain one, or the exported one (`$1,234`)
    from the first batch the plain one stopped at."""

    def __init__(self, session: AsyncSession, row: DataImport, fund: Fund) -> None:
        self.session, self.row, self.fund = session, row, fund
        self.refs: checks.AllocationRefs | None = None
        self.as_exported = False
        self.batches = 0  # written and dropped from the staging
        self.written = 0
        self.given_up = False
        # The staging holds amounts rewritten plainly (`imports.exported`): the full check
        # must never read it, only the file as it is.
        self.amounts_rewritten = False

    async def between(self, columns: list[str]) -> None:
        """After a batch of a workbook: write it and empty the staging for the next, so the
        reading thread reads on while PostgreSQL inserts. A first batch that is not all new
        stays staged, and so do the rest (the full check reads them all); a later one raises
        `_NotAllNew`: what was written must be undone."""
        if self.given_up:
            return
        try:
            await self.write(columns)
        except _NotAllNew:
            if self.batches:
                raise
            self.given_up = True
            return
        self.batches += 1
        await self.session.execute(sa.text(f"TRUNCATE {checks.STAGING}"))

    async def write(self, columns: list[str]) -> None:
        """Write what is staged (`_NotAllNew`: nothing of it was written)."""
        if self.given_up:
            raise _NotAllNew
        if self.refs is None:
            self.refs = checks.allocation_refs(columns)
            for statement in self.refs.statements:
                await self.session.execute(sa.text(statement), {"fund_id": self.fund.id})
        for as_exported in (True,) if self.as_exported else (False, True):
            try:
                written = await allocation_service.write_rows(
                    self.session,
                    org_id=self.row.org_id,
                    fund_id=self.fund.id,
                    rows=checks.strict_allocations(
                        self.refs, self.fund.currency, as_exported=as_exported
                    ),
                    all_new=True,
                )
            except sa.exc.DataError:  # a cell no plain number: try the exported notation
                continue
            except allocation_service.SetRefused:
                raise _NotAllNew from None
            self.as_exported = as_exported
            self.written += written
            return
        raise _NotAllNew

    async def drop_maps(self) -> None:
        """The full check makes maps of the same names."""
        await self.session.execute(
            sa.text("DROP TABLE IF EXISTS import_investor_refs, import_deal_refs")
        )


async def _insert_all_new_allocations(
    session: AsyncSession,
    file: Callable[[], AsyncIterator[bytes]],
    row: DataImport,
    fund: Fund,
    progress: Progress,
) -> _FastPath:
    """The common case, first: a file of valid allocations that are all new goes in by INSERTs
    of the strict reading of the staged rows, without judging each cell (a million rows: ~4 s
    less); a workbook's batch by batch as it is read, so reading overlaps inserting. Anything
    else — an error anywhere, a pair that exists or repeats — makes the service refuse a batch;
    all the fast path wrote is undone (a savepoint) and the full check then runs, explains every
    error, and upserts — on the file loaded again if the staging holds amounts the fast path
    rewrote. Both ways write the same rows, as one set with one audit record."""
    new = _NewAllocations(session, row, fund)
    header: dict[str, str] | None = None
    fast = await session.begin_nested()
    try:
        header, refused = await _load(session, file, row, progress, fast=new)
        if refused is not None:
            await fast.rollback()
            await _reject_file(session, row, *refused)
            return _FastPath(finished=True)
        await progress.save(ImportPhase.validating)
        await new.write(list(header.values()))
    except (_NotAllNew, exported.NoRecordEnd):
        if new.batches or new.amounts_rewritten:
            await fast.rollback()
            return _FastPath(finished=False)
        await new.drop_maps()
        await fast.commit()
        return _FastPath(finished=False, staged=header)
    await fast.commit()
    await allocation_service.record_bulk_write(
        session,
        org_id=row.org_id,
        actor_user_id=row.created_by,
        fund_id=fund.id,
        written=new.written,
        source=f"import:{row.id}",
    )
    log.info(
        "import of new allocations applied",
        extra={
            "import_id": str(row.id),
            "batches": new.batches + 1,
            "amounts_rewritten": new.amounts_rewritten,
        },
    )
    counts = {"rows_total": new.written, "rows_valid": new.written, "rows_invalid": 0}
    await _finish(
        session,
        row,
        status=ImportStatus.succeeded,
        counts={**counts, "inserted": new.written, "updated": 0, "unchanged": 0},
        errors_recorded=0,
        message=None,
    )
    return _FastPath(finished=True)


async def _check_and_apply(
    session: AsyncSession, row: DataImport, fund: Fund, header: dict[str, str], progress: Progress
) -> None:
    """Judge every staged row; all valid: apply (or, for a dry run, preview); else record the
    errors. `header` is the file's header cells → our columns."""
    judgement, params = checks.judge(
        row.kind,
        columns=list(header.values()),
        fund_id=fund.id,
        currency=fund.currency,
        notation=checks.Notation.of(row.number_format, row.date_format),
    )
    await _lock_before_matching(session, row)
    await checks.run(session, judgement, params)
    counts = await checks.counts(session, judgement)
    recorded = 0
    if counts["invalid"]:
        recorded = await checks.record_errors(
            session, judgement, org_id=row.org_id, import_id=row.id, limit=MAX_RECORDED_ERRORS
        )
        await _name_columns_as_the_file_does(session, row, header)
    summary = {
        "rows_total": counts["total"],
        "rows_invalid": counts["invalid"],
        "rows_valid": counts["total"] - counts["invalid"],
    }
    if counts["invalid"]:
        await _finish(
            session,
            row,
            status=ImportStatus.rejected,
            counts=summary,
            errors_recorded=recorded,
            message=f"{counts['invalid']} of {counts['total']} rows are invalid: nothing applied",
        )
        return
    outcome = {name: counts[name] for name in ("inserted", "updated", "unchanged")}
    if row.dry_run:
        await _finish_dry_run(session, row, summary, outcome)
        return
    await progress.save(ImportPhase.applying)
    outcome = await _apply(session, row, judgement, outcome)
    await _finish(
        session,
        row,
        status=ImportStatus.succeeded,
        counts={**summary, **outcome},
        errors_recorded=0,
        message=None,
    )


async def _name_columns_as_the_file_does(
    session: AsyncSession, row: DataImport, header: dict[str, str]
) -> None:
    """errors.csv names the file's own header text (`External Ref`), not our column name
    (`external_ref`), where the two differ. In one statement: a mapping may give one header's
    text to another's column (`name` → external_ref, `investor_name` → name), and renaming
    one column at a time would rename the first's errors twice."""
    renamed = {
        column: cell[:64]
        for cell, column in header.items()
        if formats.column_or_none(column) is not None and column != cell
    }
    if renamed:
        await session.execute(
            sa.update(ImportRowError)
            .where(ImportRowError.import_id == row.id, ImportRowError.column.in_(renamed))
            .values(column=sa.case(renamed, value=ImportRowError.column))
        )


async def _finish_dry_run(
    session: AsyncSession, row: DataImport, summary: dict[str, int], would: dict[str, int]
) -> None:
    """A dry run that passed: what applying it would do, and its first rows as they would be
    applied. Nothing was applied, so `inserted`, `updated` and `unchanged` stay empty."""
    await _finish(
        session,
        row,
        status=ImportStatus.succeeded,
        counts={
            **summary,
            "would_insert": would["inserted"],
            "would_update": would["updated"],
            "would_keep": would["unchanged"],
            "preview": await _preview(session, row.kind),
        },
        errors_recorded=0,
        message=None,
    )


# The first rows of a dry run, as they would be applied: normalised values, and the investors
# and deals the rows resolve to (ids and names). Valid rows only (a dry run that passed).
_PREVIEW_ROWS: dict[ImportKind, str] = {
    ImportKind.investors: """
        SELECT c.line, c.outcome, c.investor_id, c.name, c.email, c.kind,
               nullif(c.country, '') AS country, nullif(c.external_ref, '') AS external_ref
        FROM import_checked c""",
    ImportKind.commitments: """
        SELECT c.line, c.outcome, c.investor_id, i.name AS investor_name,
               c.amount::text AS amount, c.committed_on::text AS committed_on
        FROM import_checked c JOIN investors i ON i.id = c.investor_id""",
    ImportKind.allocations: """
        SELECT c.line, c.outcome, c.investor_id, i.name AS investor_name, c.deal_id,
               d.name AS deal_name, c.amount::text AS amount
        FROM import_checked c JOIN investors i ON i.id = c.investor_id
        JOIN deals d ON d.id = c.deal_id""",
}


async def _preview(session: AsyncSession, kind: ImportKind) -> list[dict[str, Any]]:
    statement = (
        "SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.line), '[]'::jsonb) "
        "FROM (ROWS ORDER BY c.line LIMIT :limit) p"
    ).replace("ROWS", _PREVIEW_ROWS[kind].replace("import_checked", checks.CHECKED))
    preview: list[dict[str, Any]] = (
        await session.scalar(sa.text(statement), {"limit": PREVIEW_ROWS}) or []
    )
    return preview


async def _lock_before_matching(session: AsyncSession, row: DataImport) -> None:
    """Take the lock the write will take, before the rows are matched to what exists: an
    import matching meanwhile would otherwise find the same new investor (or commitment) new
    too, and create it again (or fail on the unique key). The check, a later statement, then
    sees what the import before it committed. Allocations need no such lock: their write is
    an upsert, right whatever ran meanwhile."""
    if row.dry_run:
        return
    if row.kind is ImportKind.investors:
        await investor_service.lock_bulk_writes(session, org_id=row.org_id)
    elif row.kind is ImportKind.commitments:
        await fund_service.locked_for_bulk_write(session, fund_id=row.fund_id)


async def _apply(
    session: AsyncSession, row: DataImport, judgement: checks.Judgement, predicted: dict[str, int]
) -> dict[str, int]:
    """Hand the valid rows to the service that owns the table; return what it did.

    `predicted` comes from the check in this transaction; what the statement writes is the
    truth (a concurrent API write may have changed a row meanwhile).
    """
    common: dict[str, Any] = {
        "org_id": row.org_id,
        "actor_user_id": row.created_by,
        "source": f"import:{row.id}",
    }
    total = predicted["inserted"] + predicted["updated"] + predicted["unchanged"]
    if row.kind is ImportKind.allocations:
        written = await allocation_service.apply_rows(
            session,
            fund_id=row.fund_id,
            rows=checks.valid_rows(judgement, "investor_id", "deal_id", "amount"),
            **common,
        )
        inserted = min(predicted["inserted"], written)
        return {"inserted": inserted, "updated": written - inserted, "unchanged": total - written}
    if row.kind is ImportKind.commitments:
        added = await fund_service.add_commitment_rows(
            session,
            fund_id=row.fund_id,
            rows=checks.valid_rows(judgement, "investor_id", "amount", "committed_on"),
            **common,
        )
        return {"inserted": added, "updated": 0, "unchanged": total - added}
    inserted, updated = await investor_service.apply_rows(
        session,
        rows=checks.valid_rows(
            judgement, "investor_id", "name", "email", "kind", "country", "external_ref"
        ),
        **common,
    )
    return {"inserted": inserted, "updated": updated, "unchanged": total - inserted - updated}


async def _finish(
    session: AsyncSession,
    row: DataImport,
    *,
    status: ImportStatus,
    counts: dict[str, Any],
    errors_recorded: int,
    message: str | None,
) -> None:
    """The final state, written in the main transaction: it commits with the writes, or not."""
    values: dict[str, Any] = {
        "status": status,
        "phase": ImportPhase.done,
        "bytes_read": row.bytes_total,
        "errors_recorded": errors_recorded,
        "message": message,
        "finished_at": sa.func.now(),
        **counts,
    }
    await session.execute(sa.update(DataImport).where(DataImport.id == row.id).values(**values))
    await session.refresh(row)
    await _publish_finished(session, row)
    instruments.count_import_rows(kind=row.kind, rows=counts.get("rows_total", 0))


async def _publish_finished(session: AsyncSession, row: DataImport) -> None:
    await events.publish(
        session,
        org_id=row.org_id,
        fund_id=row.fund_id,
        kind=events.Progress.import_finished,
        data={
            "import_id": str(row.id),
            "status": str(row.status),
            **{
                name: getattr(row, name)
                for name in (
                    "rows_total",
                    "rows_valid",
                    "rows_invalid",
                    "inserted",
                    "updated",
                    "unchanged",
                )
            },
            # A dry run applies nothing: what applying it would do (as `ImportOut.would`).
            "dry_run": row.dry_run,
            "would": None
            if row.would_insert is None
            else {
                "inserted": row.would_insert,
                "updated": row.would_update or 0,
                "unchanged": row.would_keep or 0,
            },
        },
    )
