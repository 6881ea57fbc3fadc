"""PDF output, for the worker only (the web process never imports this module or reportlab).

Two ways, each where it fits:

- `document`: a reportlab canvas in invariant mode (fixed creation date and file id), for
  documents of a few pages (notices, statements). Same input, same bytes: the SHA-256 of a
  document identifies its content.
- `TableWriter`: a table of any length written page by page straight to a file. reportlab
  keeps every page of a document in memory until `save()` and then builds the whole file as one
  bytes object, which a report of hundreds of MB cannot afford. `TableWriter` emits each page
  as soon as it is full (a Flate-compressed content stream and its page object) and only keeps
  the byte offsets the cross-reference table needs, so memory stays at one page whatever the
  length. Its output is deterministic too (no clock, no random id).

Fonts, in both: text that WinAnsi can write (Western European names, amounts, dates) is set in
the standard Helvetica, which a PDF does not embed; any other text in the first vendored font
that has all its characters — DejaVu Sans (Łódź, Őry, Дмитрий, Ελένη), else WenQuanYi Micro Hei
(王小明, 山田太郎, 김민준) — embedded as a subset only in a document that uses it, so an investor's
name is never printed as "?". Micro Hei has no bold face: bold CJK text is set in its regular.
Hebrew and Arabic are put in display order and Arabic letters in their joined forms (`visual`)
before any of this, as PDF text runs left to right a glyph at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import arabic_reshaper
from bidi import get_display
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace, TTFontFile
from reportlab.pdfgen.canvas import Canvas

PRODUCER = "Prorata"


class Writable(Protocol):
    """Where a streamed PDF goes: a file, a temporary file, a socket-like sink."""

    def write(self, data: bytes, /) -> object: ...


REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
FONTS = Path(__file__).parent / "fonts"
# TrueType fonts for text WinAnsi cannot write, by preference: (regular, bold) file names, the
# registered font name being the file's stem. The CJK font is loaded only when text needs it.
_UNICODE_FAMILIES = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("wqy-microhei.ttc", "wqy-microhei.ttc"),
)


def winansi(text: str) -> bytes | None:
    """`text` in WinAnsi (cp1252), the standard fonts' encoding, or None if it cannot be."""
    try:
        return text.encode("cp1252")
    except UnicodeEncodeError:
        return None


def font_for(text: str, *, bold: bool = False) -> str:
    """The font to set `text` in: Helvetica where WinAnsi can write it, else the first of our
    TrueType fonts with a glyph for every character (else the one with the most)."""
    if winansi(text) is not None:
        return BOLD if bold else REGULAR
    chars = {ord(char) for char in text}
    best, best_missing = "", len(chars) + 1
    for regular, bolder in _UNICODE_FAMILIES:
        name = _registered(bolder if bold else regular)
        missing = len(chars - _face(name).charToGlyph.keys())
        if missing == 0:
            return name
        if missing < best_missing:
            best, best_missing = name, missing
    return best


@functools.cache
def _registered(file_name: str) -> str:
    """The reportlab name of a vendored font, registered on first use (the first face of a
    collection)."""
    name = Path(file_name).stem
    pdfmetrics.registerFont(TTFont(name, FONTS / file_name))
    return name


# Hebrew, Arabic (and the scripts beside them in Unicode) and their presentation forms.
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def visual(text: str) -> str:
    """`text` as a page shows it. PDF text is drawn left to right, a glyph per character, while
    Hebrew and Arabic are written right to left and Arabic letters join: such text is reshaped
    into the letters' contextual forms (arabic-reshaper) and put in display order (the Unicode
    bidirectional algorithm, python-bidi). Any other text is returned as it is."""
    if not _RIGHT_TO_LEFT.search(text):
        return text
    return str(get_display(arabic_reshaper.reshape(text)))


def draw(canvas: Canvas, x: float, y: float, text: str, *, size: float, bold: bool = False) -> None:
    """`text` at (x, y) on a canvas, in display order, in the font `font_for` chooses."""
    shown = visual(text)
    canvas.setFont(font_for(shown, bold=bold), size)
    canvas.drawString(x, y, shown)


def draw_right(
    canvas: Canvas, x: float, y: float, text: str, *, size: float, bold: bool = False
) -> None:
    """`text` ending at x, in display order, in the font `font_for` chooses."""
    shown = visual(text)
    canvas.setFont(font_for(shown, bold=bold), size)
    canvas.drawRightString(x, y, shown)


def width(text: str, *, size: float, bold: bool = False) -> float:
    """How wide `text` is drawn (in display order, in the font `font_for` chooses), in points."""
    shown = visual(text)
    return float(stringWidth(shown, font_for(shown, bold=bold), size))


def wrap(text: str, room: float, *, size: float, bold: bool = False) -> list[str]:
    """`text` in lines no wider than `room` points, broken at spaces, each of its own line
    breaks kept. A word wider than a line (an IBAN without spaces, a long name) is broken where
    it must be: names and wire instructions are up to 2,000 characters, and nothing may be
    drawn off the page."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            joined = f"{line} {word}" if line else word
            if width(joined, size=size, bold=bold) <= room:
                line = joined
                continue
            if line:
                lines.append(line)
            rest = word
            while width(rest, size=size, bold=bold) > room:
                cut = _fitting(rest, room, size=size, bold=bold)
                lines.append(rest[:cut])
                rest = rest[cut:]
            line = rest
        lines.append(line)
    return lines


def _fitting(text: str, room: float, *, size: float, bold: bool) -> int:
    """The length of the longest prefix of `text` that fits `room` (at least one character,
    so wrapping always advances), by bisection: widths grow with the prefix."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if width(text[:middle], size=size, bold=bold) <= room:
            low = middle
        else:
            high = middle - 1
    return low


ELLIPSIS = "\u2026"


@functools.lru_cache(maxsize=4096)
def fit(text: str, room: float, *, size: float, bold: bool = False) -> str:
    """`text`, or as much of it as fits `room` points followed by an ellipsis: a table cell is
    one line, and a name may be 200 characters. Cached: a report repeats its names row after
    row (an investor's allocations are consecutive)."""
    if width(text, size=size, bold=bold) <= room:
        return text
    cut = _fitting(text, room - width(ELLIPSIS, size=size, bold=bold), size=size, bold=bold)
    return text[:cut].rstrip() + ELLIPSIS


def document(
    *, title: str, subject: str, pagesize: tuple[float, float] = A4
) -> tuple[Canvas, io.BytesIO]:
    """A deterministic canvas (A4 unless told) writing into a buffer (call `canvas.save()`,
    then read it). reportlab writes the title and subject as PDFDocEncoding or UTF-16BE."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=pagesize, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setAuthor(PRODUCER)
    canvas.setCreator(PRODUCER)
    return canvas, buffer


def _literal(raw: bytes) -> bytes:
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _info_string(text: str) -> bytes:
    """A document-information string (title). Readers decode one as PDFDocEncoding unless it
    starts with the UTF-16BE byte order mark, and PDFDocEncoding is not WinAnsi: 0x80–0x9F
    differ (an em dash written in WinAnsi reads back as `Š`). Printable ASCII is the same in
    both; anything else is written as UTF-16BE."""
    if text.isascii() and text.isprintable():
        return _literal(text.encode("ascii"))
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def _face(name: str) -> TTFontFace:
    font = pdfmetrics.getFont(name)
    assert isinstance(font, TTFont)
    return font.face


class _EmbeddedFont:
    """A TrueType font embedded as a CID font (Identity-H: two bytes per character code).

    Pages are written before the document knows which characters it will need, so each new
    glyph takes the next code as text meets it; at the end the font is subset to exactly those
    glyphs, in that order (reportlab's `makeSubset` numbers them so: 0 is .notdef, then first
    use), and written with their widths and a ToUnicode map (search and copy).
    """

    def __init__(self, name: str, resource: bytes, first_object: int) -> None:
        self.name = name
        self.resource = resource
        self.first_object = first_object  # Type0 font, CID font, descriptor, program, map
        self.glyphs = _face(name).charToGlyph
        self.codes: dict[int, int] = {}  # glyph of the whole font → code (its subset glyph)
        self.chars: list[str] = []  # the character of each code from 1, in order
        self.missing = False  # some character has no glyph: code 0, .notdef, an empty box

    def show(self, text: str) -> bytes:
        codes = []
        for char in text:
            glyph = self.glyphs.get(ord(char), 0)
            if not glyph:
                self.missing = True
                codes.append(0)
                continue
            code = self.codes.get(glyph)
            if code is None:
                code = self.codes[glyph] = len(self.chars) + 1
                self.chars.append(char)
            codes.append(code)
        return b"<" + "".join(f"{code:04X}" for code in codes).encode() + b">"

    def objects(self) -> list[tuple[int, bytes]]:
        # A parser of our own: reportlab's shared face keeps a read position, and a notice
        # may be subsetting it in another thread.
        face = TTFontFile(_face(self.name).filename)  # a collection: its first face, as ours
        program = face.makeSubset([ord(char) for char in self.chars])
        # Widths in thousandths of an em: `charWidths`, as reportlab's `hmetrics` holds raw
        # units for some glyphs and scaled ones for those past the table's last full entry.
        widths = b" ".join(
            b"%d [%d]" % (code, round(face.charWidths[ord(char)]))
            for code, char in enumerate(self.chars, start=1)
        )
        # A subset's name carries a six-letter tag; ours derives from its characters.
        digest = hashlib.sha256("".join(self.chars).encode()).digest()
        name = bytes(65 + byte % 26 for byte in digest[:6]) + b"+" + self.name.encode()
        number = self.first_object
        return [
            (
                number,
                b"<< /Type /Font /Subtype /Type0 /BaseFont /%s /Encoding /Identity-H "
                b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (name, number + 1, number + 4),
            ),
            (
                number + 1,
                b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /%s /CIDSystemInfo "
                b"<< /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                b"/FontDescriptor %d 0 R /CIDToGIDMap /Identity /DW %d /W [%s] >>"
                % (name, number + 2, round(face.defaultWidth), widths),
            ),
            (
                number + 2,
                b"<< /Type /FontDescriptor /FontName /%s /Flags 32 /FontBBox [%s] "
                b"/ItalicAngle %d /Ascent %d /Descent %d /CapHeight %d /StemV %d "
                b"/FontFile2 %d 0 R >>"
                % (
                    name,
                    b" ".join(b"%d" % round(v) for v in face.bbox),
                    round(face.italicAngle),
                    round(face.ascent),
                    round(face.descent),
                    round(face.capHeight),
                    round(face.stemV),
                    number + 3,
                ),
            ),
            (number + 3, _stream(zlib.compress(program, 6), b" /Length1 %d" % len(program))),
            (number + 4, _stream(zlib.compress(self._to_unicode(), 6), b"")),
        ]

    def _to_unicode(self) -> bytes:
        # A missing glyph reads back as U+FFFD, the replacement character.
        chars = (["\ufffd"] if self.missing else []) + self.chars
        codes = ([0] if self.missing else []) + list(range(1, len(self.chars) + 1))
        entries = [
            b"<%04X> <%s>" % (code, char.encode("utf-16-be").hex().upper().encode())
            for code, char in zip(codes, chars, strict=True)
        ]
        blocks = [
            b"%d beginbfchar\n%s\nendbfchar" % (len(chunk), b"\n".join(chunk))
            for chunk in (entries[i : i + 100] for i in range(0, len(entries), 100))
        ]
        return (
            b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            + b"\n".join(blocks)
            + b"\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
        )


def _stream(compressed: bytes, extra: bytes) -> bytes:
    return (
        b"<< /Length %d /Filter /FlateDecode%s >>\nstream\n" % (len(compressed), extra)
        + compressed
        + b"\nendstream"
    )


@dataclasses.dataclass(frozen=True)
class Column:
    title: str
    width: float  # points
    right: bool = False  # right-aligned (amounts)


PAGE = landscape(A4)
MARGIN = 36.0
FONT_SIZE = 8.0
LEADING = 10.0
HEADER_HEIGHT = 58.0
FOOTER_HEIGHT = 24.0
ROWS_PER_PAGE = int((PAGE[1] - 2 * MARGIN - HEADER_HEIGHT - FOOTER_HEIGHT) // LEADING)

_CATALOG, _PAGES, _FONT, _BOLD_FONT, _INFO = 1, 2, 3, 4, 5
# The standard fonts' resource names; embedded ones take F3, F4, … in order of first use.
_STANDARD = {REGULAR: b"F1", BOLD: b"F2"}


def _date(day: dt.date) -> bytes:
    return f"(D:{day:%Y%m%d}000000Z)".encode()


class TableWriter:
    """Pages of a table, streamed to `out`: call `row(...)` for each row, then `finish()`."""

    def __init__(
        self,
        out: Writable,
        *,
        title: str,
        subtitle: str,
        columns: Sequence[Column],
        total_rows: int,
        dated: dt.date,
        closing_lines: int = 0,
    ) -> None:
        self.out = out
        self.title = title
        self.subtitle = subtitle
        self.columns = list(columns)
        # A closing line (totals) takes two rows' height; known up front, so every page can
        # say "of N" while nothing but the current page is in memory.
        self.closing_lines = closing_lines
        self.total_pages = max(1, -(-(total_rows + 2 * closing_lines) // ROWS_PER_PAGE))
        self.dated = dated
        self.offsets: dict[int, int] = {}
        self.next_object = _INFO + 1
        self.written = 0
        self.page_objects: list[int] = []
        self.rows: list[Sequence[str]] = []
        self.embedded: dict[str, _EmbeddedFont] = {}  # by font name, once text needs it
        self._font = (b"", 0.0)  # the content stream's current font and size
        self._x = [MARGIN]
        for column in self.columns[:-1]:
            self._x.append(self._x[-1] + column.width)
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(_CATALOG, b"<< /Type /Catalog /Pages 2 0 R >>")
        for number, font in ((_FONT, REGULAR), (_BOLD_FONT, BOLD)):
            self._object(
                number,
                b"<< /Type /Font /Subtype /Type1 /BaseFont /"
                + font.encode()
                + b" /Encoding /WinAnsiEncoding >>",
            )
        self._object(
            _INFO,
            b"<< /Title "
            + _info_string(title)
            + b" /Producer "
            + _info_string(PRODUCER)
            + b" /Creator "
            + _info_string(PRODUCER)
            + b" /CreationDate "
            + _date(dated)
            + b" >>",
        )

    def _allocate(self, count: int = 1) -> int:
        first = self.next_object
        self.next_object += count
        return first

    def _shown(self, text: str, font: str, size: float) -> tuple[bytes, bytes]:
        """`text` as a string operand, and the font to select first (b"" if current)."""
        raw = winansi(text)
        if raw is not None:
            resource, operand = _STANDARD[font], _literal(raw)
        else:
            name = font_for(text, bold=font == BOLD)
            embedded = self.embedded.get(name)
            if embedded is None:
                resource = b"F%d" % (len(_STANDARD) + len(self.embedded) + 1)
                embedded = self.embedded[name] = _EmbeddedFont(name, resource, self._allocate(5))
            resource, operand = embedded.resource, embedded.show(text)
        if self._font == (resource, size):
            return operand, b""
        self._font = (resource, size)
        return operand, b"/%s %g Tf\n" % (resource, size)

    @property
    def pages(self) -> int:
        return len(self.page_objects)

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.written += len(data)

    def _object(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.written
        self._write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def row(self, cells: Sequence[str]) -> None:
        self.rows.append(cells)
        if len(self.rows) == ROWS_PER_PAGE:
            self._page()

    def _text(
        self, parts: list[bytes], x: float, y: float, text: str, font: str, size: float
    ) -> None:
        operand, select = self._shown(visual(text), font, size)
        parts.append(select + b"1 0 0 1 %.2f %.2f Tm %s Tj\n" % (x, y, operand))

    def _cell(self, parts: list[bytes], index: int, y: float, text: str, font: str) -> None:
        column = self.columns[index]
        x = self._x[index]
        bold = font == BOLD
        text = fit(text, column.width - 4, size=FONT_SIZE, bold=bold)  # not over the next
        if column.right:
            x += column.width - 4 - width(text, size=FONT_SIZE, bold=bold)
        self._text(parts, x, y, text, font, FONT_SIZE)

    def _page(self, closing: Sequence[str] = ()) -> None:
        number = len(self.page_objects) + 1
        top = PAGE[1] - MARGIN
        self._font = (b"", 0.0)  # each content stream starts with no font
        parts = [b"BT\n"]
        room = PAGE[0] - 2 * MARGIN
        self._text(parts, MARGIN, top - 12, fit(self.title, room, size=12, bold=True), BOLD, 12)
        self._text(parts, MARGIN, top - 26, fit(self.subtitle, room, size=9), REGULAR, 9)
        header_y = top - HEADER_HEIGHT + 8
        for index, column in enumerate(self.columns):
            self._cell(parts, index, header_y, column.title, BOLD)
        y = header_y - LEADING - 4
        for cells in self.rows:
            for index, text in enumerate(cells):
                self._cell(parts, index, y, text, REGULAR)
            y -= LEADING
        for line in closing:
            y -= 4
            self._text(parts, MARGIN, y, line, BOLD, FONT_SIZE)
            y -= LEADING
        self._text(parts, MARGIN, MARGIN, f"Page {number} of {self.total_pages}", REGULAR, 8)
        parts.append(
            b"ET\n0.5 w %.2f %.2f m %.2f %.2f l S\n"
            % (
                MARGIN,
                header_y - 4,
                PAGE[0] - MARGIN,
                header_y - 4,
            )
        )
        content_number = self._allocate(2)
        self._object(content_number, _stream(zlib.compress(b"".join(parts), 6), b""))
        fonts = b" ".join(
            [b"/F1 3 0 R /F2 4 0 R"]
            + [b"/%s %d 0 R" % (e.resource, e.first_object) for e in self.embedded.values()]
        )
        self._object(
            content_number + 1,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /Font << %s >> >> >>" % (PAGE[0], PAGE[1], content_number, fonts),
        )
        self.page_objects.append(content_number + 1)
        self.rows = []

    def finish(self, closing: Sequence[str] = ()) -> int:
        """Write the last page (with `closing` lines under the table), the page tree and the
        cross-reference table; return the number of pages."""
        if len(closing) != self.closing_lines:
            raise ValueError(
                f"{self.closing_lines} closing lines were announced, not {len(closing)}"
            )
        if len(self.rows) + 2 * len(closing) > ROWS_PER_PAGE:
            self._page()
        if self.rows or not self.page_objects or closing:
            self._page(closing)
        for embedded in self.embedded.values():
            for number, body in embedded.objects():
                self._object(number, body)
        kids = b" ".join(b"%d 0 R" % n for n in self.page_objects)
        self._object(
            _PAGES, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.page_objects))
        )
        size = max(self.offsets) + 1
        xref = self.written
        entries = [b"0000000000 65535 f \n"]
        entries += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, size)]
        self._write(b"xref\n0 %d\n" % size + b"".join(entries))
        self._write(
            b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, xref)
        )
        return self.pages
