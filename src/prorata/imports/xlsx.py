"""Reading an .xlsx upload as the CSV text the staged pipeline COPYs (worker only).

The sheet is streamed: its XML is inflated from the zip a MiB at a time and its cells read
as they come (regular expressions over each chunk; see `_cells`), so the first rows reach
COPY at once and memory is bounded by a chunk, the shared strings and the styles, whatever
the sheet's length. Rows go out as CSV text, a batch at a time, into the same COPY as a CSV
upload: one pipeline, one set of SQL checks. Cells Excel stores as dates or numbers keep
what they are: a number cell whose style is a date format becomes its ISO date, a number
cell its exact decimal text (the float's shortest representation, never a rounded or binary
expansion: 15000000.1 stays 15000000.1, so the checks see the decimals the cell has, and
refuse rather than round more than the currency allows). Text cells are passed as they are.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import html
import io
import itertools
import posixpath
import queue
import re
import threading
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from xml.etree import ElementTree

from prorata.imports.values import NumberFormat

# Excel's own limits: a sheet larger than this was not written by a spreadsheet program.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
ROWS_PER_CHUNK = 20_000
# Rows of nothing held back at most (blank rows at the end are dropped, not sent to COPY).
MAX_BLANK_RUN = 100_000
# The sheet's XML is inflated this much at a time.
READ_BYTES = 1 << 20
# The workbook's small parts (workbook, relationships, styles) are parsed whole: bounded.
MAX_PART_BYTES = 16 * 1024 * 1024
# An element that does not end within this much text is not one a spreadsheet writes.
MAX_ELEMENT_BYTES = 64 * 1024 * 1024

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class SheetRefused(Exception):
    """The workbook or sheet cannot be imported: (line, reason) as a CSV file's would be."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


@dataclasses.dataclass
class Sheet:
    header: list[str]  # the header row's cells as text
    header_row: int  # its spreadsheet row number (1-based)
    rows: Iterator[list[Any] | Block]  # the rows after it, in order, from row header_row + 1


@dataclasses.dataclass
class _Reading:
    blocks: bool = False  # rows may come as Blocks (set once the header is read)


def open_sheet(
    path: Path, sheet: str | None, *, number_format: NumberFormat = NumberFormat.comma_point
) -> Sheet:
    """The named sheet (or the first) of the workbook at `path`, from its header row on.
    (Its rows come in Blocks where they can, unless numbers are written in another notation
    than `1,234.56`'s: a Block holds them as the file does.)"""
    try:
        book = zipfile.ZipFile(path)
        part, styles = _workbook(book, sheet)
        strings = _shared_strings(book)
    except _UNREADABLE as exc:
        raise _unreadable(exc) from None
    reading = _Reading()
    rows = _guarded(_rows(book, part, strings, styles, reading))
    for number, cells in enumerate(rows, start=1):  # rows above the header are empty
        assert isinstance(cells, list)  # no Block before the header
        if any(cell != "" for cell in cells):
            header = [_text(cell, NumberFormat.comma_point) for cell in cells]
            reading.blocks = number_format is NumberFormat.comma_point
            return Sheet(header=header, header_row=number, rows=rows)
    raise SheetRefused(1, "the sheet is empty: the first row must name the columns")


# What a damaged or foreign file raises while read (UnicodeError is a ValueError).
_UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    KeyError,
    OSError,
    EOFError,
    zlib.error,
    ElementTree.ParseError,
    ValueError,
    IndexError,
    NotImplementedError,  # a compression method zipfile does not have
)


def _unreadable(exc: BaseException) -> SheetRefused:
    return SheetRefused(None, f"not a readable .xlsx workbook: {str(exc)[:120]}")


def _guarded(rows: Iterator[list[Any] | Block]) -> Iterator[list[Any] | Block]:
    """`rows`, a damaged part of the file raising SheetRefused (not a traceback) where it is."""
    try:
        yield from rows
    except _UNREADABLE as exc:
        raise _unreadable(exc) from None


# --- the workbook: which part is the sheet, how its styles and dates read ------------------


@dataclasses.dataclass(frozen=True)
class _Styles:
    dates: frozenset[int]  # the cell style indexes (s="…") whose number format shows a date
    epoch_1904: bool  # the workbook counts days from 1904-01-01 (old Mac Excel)


def _workbook(book: zipfile.ZipFile, sheet: str | None) -> tuple[str, _Styles]:
    """(the sheet's part name, the styles that read its numbers as dates)."""
    package = _rels(book, "_rels/.rels", "")
    workbook = next(
        (target for kind, _, target in package if kind.endswith("/officeDocument")),
        "xl/workbook.xml",
    )
    tree = _xml(book, workbook)
    sheets = [
        (element.get("name", ""), element.get(f"{_REL}id", ""))
        for element in tree.iter(f"{_MAIN}sheet")
    ]
    if not sheets:
        raise SheetRefused(None, "not a readable .xlsx workbook: it has no sheet")
    if sheet is None:
        rel_id = sheets[0][1]
    else:
        rel_id = sheet_id(sheets, sheet)
        if not rel_id:
            names = ", ".join(repr(name) for name, _ in sheets[:20])
            raise SheetRefused(None, f"no sheet named {sheet!r} (the sheets: {names})")
    base, name = posixpath.split(workbook)
    parts = _rels(book, posixpath.join(base, "_rels", f"{name}.rels"), base)
    target = next((target for _, rel, target in parts if rel == rel_id), None)
    if target is None:
        raise SheetRefused(None, "not a readable .xlsx workbook: the sheet's part is missing")
    properties = tree.find(f"{_MAIN}workbookPr")
    epoch_1904 = properties is not None and properties.get("date1904", "") in ("1", "true")
    styles = next((target for kind, _, target in parts if kind.endswith("/styles")), None)
    dates = _date_styles(book, styles) if styles else frozenset()
    return target, _Styles(dates=dates, epoch_1904=epoch_1904)


def sheet_id(sheets: list[tuple[str, str]], wanted: str) -> str:
    """The relationship id of the sheet named `wanted` among (name, id) pairs, "" if none.
    Excel matches sheet names whatever their case (it refuses two that differ only by case),
    so `data` finds `Data`; a name as written is taken first, in case a workbook from another
    program has both."""
    exact = next((rel for name, rel in sheets if name == wanted), "")
    folded = wanted.casefold()
    return exact or next((rel for name, rel in sheets if name.casefold() == folded), "")


def _rels(book: zipfile.ZipFile, name: str, base: str) -> list[tuple[str, str, str]]:
    """A relationships part as (type, id, target) each, the targets resolved against `base`
    (no such part: none)."""
    if name not in book.NameToInfo:
        return []
    found = []
    for element in _xml(book, name).iter(f"{_PKG_REL}Relationship"):
        target = element.get("Target", "")
        target = target[1:] if target.startswith("/") else posixpath.normpath(f"{base}/{target}")
        found.append((element.get("Type", ""), element.get("Id", ""), target.lstrip("/")))
    return found


def _xml(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    info = book.getinfo(name)
    if info.file_size > MAX_PART_BYTES:
        raise SheetRefused(None, f"not a readable .xlsx workbook: {name} is too large")
    data = book.read(info)
    # OOXML parts have no document type declaration: one could declare entities that
    # expand without end (what defusedxml refuses), so such a part is refused.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SheetRefused(None, f"not a readable .xlsx workbook: {name} declares entities")
    return ElementTree.fromstring(data)  # noqa: S314 - no DTD (above), no external entities


# Built-in number formats that show dates or times (ECMA-376 18.8.30; 27-36 and 50-58 are the
# East Asian date formats).
_BUILT_IN_DATES = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])
# What a format code shows literally, or says about colour, locale or condition: no date token.
_LITERAL = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|[_*].')


def is_date_format(code: str) -> bool:
    """A custom number format shows a date or time: d, m, y, h or s outside quoted text,
    brackets ([Red], [$-409], [h]) and escaped or spacing characters."""
    return any(letter in "dmyhs" for letter in _LITERAL.sub("", code).lower())


def _date_styles(book: zipfile.ZipFile, part: str) -> frozenset[int]:
    if part not in book.NameToInfo:
        return frozenset()
    tree = _xml(book, part)
    custom = {
        int(element.get("numFmtId", "-1")): is_date_format(element.get("formatCode", ""))
        for element in tree.iter(f"{_MAIN}numFmt")
    }
    cell_formats = tree.find(f"{_MAIN}cellXfs")
    if cell_formats is None:
        return frozenset()
    dates = set()
    for index, element in enumerate(cell_formats.iter(f"{_MAIN}xf")):
        number_format = int(element.get("numFmtId", "0"))
        if custom.get(number_format, number_format in _BUILT_IN_DATES):
            dates.add(index)
    return frozenset(dates)


# --- the text: shared strings and the sheet's XML, streamed -------------------------------


class _ReadAhead:
    """A part's stream read (inflated) by a thread of its own, a read or two ahead of its
    reader: zlib lets go of the interpreter while it inflates (and the CRC is computed), so
    the next MiB is inflated while the cells of this one are read (a million rows: ~0.6 s of
    inflating beside the reading, not before it). A context: leaving it stops the thread and
    waits for it, before the stream may be closed."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._fill, name="xlsx-read-ahead", daemon=True)

    def __enter__(self) -> _ReadAhead:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _fill(self) -> None:
        try:
            while data := self._stream.read(READ_BYTES):
                if not self._put(data):
                    return
            self._put(b"")
        except BaseException as exc:
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> bool:
        """Queue `item` unless the reader has gone (then False)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def read(self, _size: int = -1) -> bytes:
        """The next read's data (b"" at the end), as `stream.read(READ_BYTES)` gives it."""
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self._done = not item
        return item


def _chunks(stream: IO[bytes] | _ReadAhead, end: bytes) -> Iterator[bytes]:
    """The part's bytes in chunks that each end just after an `end` tag (the last: the rest;
    an ASCII tag never cuts a UTF-8 character)."""
    held = b""
    while data := stream.read(READ_BYTES):
        data = held + data if held else data
        cut = data.rfind(end)
        if cut < 0:
            if len(data) > MAX_ELEMENT_BYTES:
                raise ValueError(f"no {end.decode()} within {MAX_ELEMENT_BYTES:,} bytes")
            held = data
            continue
        cut += len(end)
        held = data[cut:]
        yield data[:cut]
    yield held


_SHARED = re.compile(r"<si>(?:<t>([^<&]*)</t>|(.*?))</si>|<si/>", re.S)
# The text runs of a string item or inline string, but not its phonetic guides (<rPh>).
_PHONETIC = re.compile(r"<rPh\b.*?</rPh>", re.S)
_RUN = re.compile(r"<t(?:\s[^>]*)?>([^<]*)</t>|<t\s*/>")


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    """The workbook's shared strings, in order. They are held for the whole read (a cell names
    one by index, anywhere in the sheet): one Python string each."""
    name = next((n for n in book.NameToInfo if n.lower() == "xl/sharedstrings.xml"), None)
    if name is None:
        return []
    strings: list[str] = []
    with book.open(name) as stream:
        for chunk in _chunks(stream, b"</si>"):
            text = chunk.decode()
            strings.extend(
                _unescape(plain) if "_x" in plain else plain or _unescape(_runs(rich))
                for plain, rich in _SHARED.findall(text)
            )
    return strings


def _runs(content: str) -> str:
    """The text (still escaped) of a string item or inline string that is more than one
    plain <t>: its runs, without phonetic guides."""
    return "".join(_RUN.findall(_PHONETIC.sub("", content))) if content else ""


# A character Excel cannot keep in XML is written `_xHHHH_` (ECMA-376 22.9.2.19).
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """XML text as it reads: its character references and `_xHHHH_` escapes resolved."""
    if "&" in text:
        text = html.unescape(text)
    if "_x" in text:
        text = _ESCAPED.sub(lambda match: chr(int(match[1], 16)), text)
    return text


# A cell as spreadsheet programs write it: its reference first, then its value or inline text
# (group 6: anything else, such as a formula before its value, or rich text). A chunk whose
# cells do not all read so (no reference, attributes in another order) goes through `_ANY`.
_CELL = re.compile(
    r'<c r="([A-Z]{1,3})(\d+)"([^>]*?)(?:/>|>(?:<v>([^<]*)</v>|<is><t>([^<]*)</t></is>|(.*?))</c>)',
    re.S,
)
_ANY = re.compile(r"<row\b([^>]*?)/?>|<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_ATTRIBUTE = re.compile(r'(\w+)\s*=\s*"([^"]*)"|(\w+)\s*=\s*\'([^\']*)\'')
_VALUE = re.compile(r"<v>([^<]*)</v>")
_INLINE = re.compile(r"<is>(.*?)</is>", re.S)
_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData\b[^>]*>")

# What a cell's attributes (other than its reference) say: how to read its value.
_NUMBER, _DATE, _SHARED_TEXT, _TEXT, _BOOLEAN, _ISO_DATE = range(6)
_TYPES = {"n": _NUMBER, "s": _SHARED_TEXT, "str": _TEXT, "inlineStr": _TEXT, "b": _BOOLEAN}
_TYPES |= {"e": _TEXT, "d": _ISO_DATE}
_BOOLEANS = {"1": True, "0": False}


def _rows(
    book: zipfile.ZipFile, part: str, strings: list[str], styles: _Styles, reading: _Reading
) -> Iterator[list[Any] | Block]:
    """The sheet's rows from row 1, a list of cells each (text, float, date, bool), the
    rows and cells the file leaves out filled in as empty; once `reading.blocks`, a chunk of
    rows `_block` can read comes as one Block."""
    kinds: dict[str, int] = {}  # a cell's other attributes → its kind (a few distinct ones)
    columns: dict[str, int] = {}  # column letters → index
    epoch = dt.datetime(1904, 1, 1) if styles.epoch_1904 else dt.datetime(1899, 12, 30)
    row: list[Any] = []
    row_number = 0  # of `row`
    current = ""  # its number as the file writes it
    with book, book.open(part) as stream, _ReadAhead(stream) as ahead:
        started = False
        for chunk in _chunks(ahead, b"</row>"):
            start = 0
            if not started:
                found = _SHEET_DATA.search(chunk)
                if found is None:
                    continue
                start, started = found.end(), True
            data = chunk[start:].split(b"</sheetData>", 1)[0]
            block = _block(data, row_number, strings, styles) if reading.blocks else None
            if block is not None:
                row_number += block.rows
                yield block
                continue
            text = data.decode()
            cells = _CELL.findall(text)
            if len(cells) != text.count("<c ") + text.count("<c>") + text.count("<c/>"):
                cells = _any_cells(text, row_number)
            for letters, number, attributes, plain_value, plain_inline, other in cells:
                if number != current:
                    if row:
                        yield row
                    at = int(number)
                    if at <= row_number or at > MAX_ROWS:
                        raise _refused(at, "rows out of order, or more than Excel allows")
                    for _ in range(row_number + 1, at):
                        yield []
                    row, row_number, current = [], at, number
                column = columns.get(letters)
                if column is None:
                    column = columns[letters] = _column(letters, row_number)
                if column != len(row):
                    if column < len(row):
                        raise _refused(row_number, f"cell {letters}{number} is out of order")
                    row.extend([""] * (column - len(row)))
                kind = kinds.get(attributes)
                if kind is None:
                    kind = kinds[attributes] = _kind(attributes, styles.dates)
                value, inline = _value_of(other) if other else (plain_value, plain_inline)
                if kind == _TEXT:
                    text_value = inline or value
                    unescaped = "&" not in text_value and "_x" not in text_value
                    row.append(text_value if unescaped else _unescape(text_value))
                elif kind == _NUMBER:
                    row.append(float(value) if value else "")
                elif kind == _SHARED_TEXT:
                    row.append(strings[int(value)] if value else "")
                elif kind == _DATE:
                    row.append(_date(float(value), epoch) if value else "")
                elif kind == _BOOLEAN:
                    row.append(_BOOLEANS.get(value.strip(), value))
                else:
                    row.append(_iso_date(value))
            # A chunk ends with a row's end: that row is whole (a row of the same number in
            # the next chunk is out of order).
            if row:
                yield row
            row, current = [], ""


@dataclasses.dataclass(frozen=True)
class Block:
    """Rows read at once (`_block`): `text` holds the rows (UTF-8) separated by \x01, the
    cells of a row by \x0e (before column B), \x0f (C), … (characters XML text cannot hold);
    every row `width` cells, none blank."""

    text: bytes
    width: int
    rows: int

    def csv(self) -> bytes | None:
        """The rows as `csv.writer` writes them, if no cell needs quoting (else None)."""
        if self.width < 2 or any(c in self.text for c in (b",", b'"', b"\r", b"\n")):
            return None
        return self.text.translate(_TO_CSV) + b"\n"

    def lists(self) -> Iterator[list[str]]:
        for line in self.text.decode().split("\x01"):
            yield _SEPARATOR.split(line)


_TO_CSV = bytes.maketrans(b"\x01" + bytes(range(0x0E, 0x20)), b"\n" + b"," * 18)
_SEPARATOR = re.compile("[\x0e-\x1f]")

# A number that is not the shortest text of its float (more than 15 digits, an exponent, a
# leading or trailing zero) is written as its float's (`_float_text`, as a cell read one by
# one): writers put up to 17 digits (8198.56 as 8198.559999999999). One of at most 15 is its
# float's shortest text already (a float keeps 15 digits: no shorter one reads back the same).
_UNLIKE_FLOAT = re.compile(
    rb"<v>(?!-?(?=\d{1,15}<|[\d.]{3,16}<)(?:0|[1-9]\d*)(?:\.\d*[1-9])?</v>)([^<]*)</v>"
)
# The markup a Block takes out, of cells as spreadsheet programs write most: a number, a
# shared string, an inline string of one run, or nothing, each cell's reference first. Each
# piece of markup between two values becomes one control character XML text cannot hold:
# between rows \x01, before column B \x0e, C \x0f, …; fixed replacements, done in C.
_SHARED_VALUE = re.compile(rb' t="s"><v>(\d+)</v>')
_EMPTY_CELL = re.compile(rb'<c r="([A-Z]{1,3}\d+)"( s="\d+")?/>')
_START = rb'\d+"(?: s="\d+")?(?:><v>| t="inlineStr"><is><t>)'
_END = rb"(?:</v>|</t></is>)</c>"
_FIRST = re.compile(rb'<row r="(\d+)"[^>/]*><c r="A\1"(?: s="\d+")?(?:><v>| t="inlineStr"><is><t>)')
_BETWEEN_ROWS = re.compile(_END + rb'</row><row r="(\d+)"[^>/]*><c r="A\1' + _START[3:])
_ROW_NUMBER = re.compile(rb'<row r="(\d+)"')
_LAST = (b"</v></c></row>", b"</t></is></c></row>")
_CELL_STYLE = re.compile(rb' s="(\d+)"')
MAX_BLOCK_WIDTH = 17  # columns A to Q: \x0e to \x1e


@functools.cache
def _between_cells(column: int) -> re.Pattern[bytes]:
    return re.compile(_END + b'<c r="' + _letters(column).encode() + _START)


@functools.cache
def _only_separators(width: int) -> tuple[bytes, bytes]:
    """(the bytes that are not separators of a Block `width` wide, the separators of a row)."""
    separators = bytes(range(0x0E, 0x0D + width))
    return bytes(set(range(256)) - set(separators + b"\x01")), separators


@functools.cache
def _blank_row(width: int) -> re.Pattern[bytes]:
    """A row of a Block `width` wide (between \x01s) whose cells hold nothing but spaces
    (ASCII ones and the no-break space): one the cell-by-cell reading keeps or drops as
    blank (a row of nothing is one too)."""
    separators = re.escape(bytes(range(0x0E, 0x0D + width)))
    return re.compile(rb"\x01(?:[\s" + separators + rb"]|\xc2\xa0)*\x01")


class _NotABlock(Exception):
    """The chunk has a value `_block` does not read (the cell-by-cell reading will)."""


def _float_value(value: re.Match[bytes]) -> bytes:
    try:
        number = float(value[1])
    except ValueError:  # not a number: an error value, a formula's text, a date as text
        raise _NotABlock from None
    return b"<v>%s</v>" % _float_text(number, NumberFormat.comma_point).encode()


def _block(data: bytes, last_row: int, strings: list[str], styles: _Styles) -> Block | None:
    """The chunk's rows as one Block, read by a few passes in C (regular expressions with
    fixed replacements) instead of cell by cell in Python (a million rows: ~1 s instead of
    ~4 s), when the chunk is in the shape spreadsheet programs write most sheets in: rows
    following `last_row` without a gap, each with the same columns from A in order (told by
    the separators left and `_row_shape`), none blank; cells as `_START` reads them, no
    number styled as a date, no escaped character. None for any other chunk (the
    cell-by-cell reading takes it). What is left of the markup once the known pieces are
    taken out tells: any `<` left, it was another."""
    numbers = _ROW_NUMBER.findall(data)
    rows = len(numbers)
    if not rows or numbers != [b"%d" % n for n in range(last_row + 1, last_row + 1 + rows)]:
        return None
    if styles.dates and not styles.dates.isdisjoint(map(int, _CELL_STYLE.findall(data))):
        return None
    try:
        data = _UNLIKE_FLOAT.sub(_float_value, data)
    except _NotABlock:
        return None
    if b"/>" in data:  # an empty cell: as an empty number
        data = _EMPTY_CELL.sub(rb'<c r="\1"\2><v></v></c>', data)
    # A shared string is put in last (as \x02 until then), so no pass reads its text.
    parts = _SHARED_VALUE.split(data) if b' t="s"' in data else [data]
    text = b"><v>\x02</v>".join(parts[0::2])
    first = _FIRST.match(text)
    end = next((len(end) for end in _LAST if text.endswith(end)), None)
    if first is None or end is None:
        return None
    text = _BETWEEN_ROWS.sub(b"\x01", text[first.end() : -end])
    width = 1
    while width < MAX_BLOCK_WIDTH and b'</c><c r="' in text:
        text = _between_cells(width).sub(bytes([0x0D + width]), text)
        width += 1
    if b"<" in text or b"&" in text or b"_x" in text:
        return None  # markup of another shape, or text to unescape
    # Every row's cells from A, in order, once each: its separators, in order, once each.
    others, separators = _only_separators(width)
    if text.translate(None, others) != (separators + b"\x01") * (rows - 1) + separators:
        return None
    if len(parts) > 1:
        values = [strings[int(index)].encode() for index in parts[1::2]]
        pieces = text.split(b"\x02")
        text = b"".join(itertools.chain.from_iterable(zip(pieces, [*values, b""], strict=True)))
    if _blank_row(width).search(b"\x01%s\x01" % text):
        return None  # a row of nothing, or of spaces: the cell-by-cell reading decides
    return Block(text=text, width=width, rows=rows)


def _refused(line: int, reason: str) -> SheetRefused:
    return SheetRefused(line, f"not a readable .xlsx sheet: {reason}")


def _any_cells(text: str, row_number: int) -> list[tuple[str, str, str, str, str, str]]:
    """The chunk's cells as `_CELL` reads them, from any well-formed layout: attributes in any
    order, and rows or cells without a reference (then the one after the previous)."""
    cells = []
    column = 0
    for match in _ANY.finditer(text):
        found = dict(_attributes(match[1] or match[2] or ""))
        if match[0].startswith("<row"):
            row_number, column = int(found.get("r", row_number + 1)), 0
            continue
        letters = found.pop("r", "").rstrip("0123456789").upper() or _letters(column)
        column = _column(letters, row_number) + 1
        rest = "".join(f' {key}="{value}"' for key, value in sorted(found.items()))
        cells.append((letters, str(row_number), rest, "", "", match[3] or ""))
    return cells


def _attributes(text: str) -> Iterator[tuple[str, str]]:
    for match in _ATTRIBUTE.finditer(text):
        yield (match[1], match[2]) if match[1] else (match[3], match[4])


def _kind(attributes: str, dates: frozenset[int]) -> int:
    found = dict(_attributes(attributes))
    kind = _TYPES.get(found.get("t", "n"))
    if kind is None:
        raise ValueError(f"unknown cell type {found.get('t')!r}")
    if kind == _NUMBER and int(found.get("s", "0")) in dates:
        return _DATE
    return kind


def _value_of(content: str) -> tuple[str, str]:
    """(value, inline text) of a cell's content that is not a plain <v> or <is><t>."""
    inline = _INLINE.search(content)
    if inline:
        return "", _runs(inline[1])
    value = _VALUE.search(content)
    return (value[1] if value else ""), ""


def _column(letters: str, row: int) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    if not 1 <= index <= MAX_COLUMNS or not letters.isascii() or not letters.isupper():
        raise _refused(row, f"column {letters!r} is beyond Excel's last (XFD)")
    return index - 1


def _letters(column: int) -> str:
    letters = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _date(serial: float, epoch: dt.datetime) -> dt.datetime | str:
    """A date cell's serial number as its date and time. In the 1900 system, Excel counts
    1900-02-29 (which was not a day): serials before it are one day later than the count,
    and that day itself is written as Excel shows it (the date check refuses it)."""
    if epoch.year == 1899 and serial < 61:
        if serial >= 60:
            return "1900-02-29"
        serial += 1
    try:
        return epoch + dt.timedelta(days=serial)
    except OverflowError:  # beyond year 9999: the number as it is (not a date)
        return repr(serial)


def _iso_date(value: str) -> dt.datetime | str:
    """A cell of type d: an ISO 8601 date and time as text (kept as text if it is not one)."""
    try:
        return dt.datetime.fromisoformat(value.removesuffix("Z"))
    except ValueError:
        return value


# --- the rows as CSV text --------------------------------------------------------------------


def csv_chunks(sheet: Sheet, *, width: int, number_format: NumberFormat) -> Iterator[bytes]:
    """The sheet's rows after the header as CSV (comma, LF), ROWS_PER_CHUNK rows a chunk.
    Each row is cut to the header's `width`, unless it has something beyond it (then COPY
    refuses it: more cells than the header has). Empty rows at the end are left out; empty
    rows before another are kept, so every line keeps its spreadsheet row number."""
    rows: list[list[str]] = []
    blank_run = 0
    blank_row = [""] * width
    for cells in _with_blocks_read(sheet.rows, width):
        if isinstance(cells, bytes):  # a Block's rows as CSV: after those held back
            rows.extend(blank_row for _ in range(blank_run))
            blank_run = 0
            if rows:
                yield _csv_text(rows, width)
                rows = []
            yield cells
            continue
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
        # Blank: no text, or only spaces (as a CSV row of spaces and delimiters is). The
        # first cell's test spares most rows the join.
        blank = not any(texts) or (not texts[0].strip() and not "".join(texts).strip())
        if blank and blank_run < MAX_BLANK_RUN:
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


def _with_blocks_read(rows: Iterator[list[Any] | Block], width: int) -> Iterator[list[Any] | bytes]:
    """`rows`, each Block as its CSV text when that needs nothing more (as wide as the
    header, no cell to quote), else as its rows."""
    for cells in rows:
        if isinstance(cells, list):
            yield cells
            continue
        text = cells.csv() if cells.width == width else None
        if text is None:
            yield from cells.lists()
        else:
            yield text


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
