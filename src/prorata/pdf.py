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
  length. It uses the standard Helvetica fonts (no embedding) and reportlab's font metrics to
  align numbers; its output is deterministic too (no clock, no random id).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zlib
from collections.abc import Sequence
from typing import Protocol

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

PRODUCER = "Prorata"


class Writable(Protocol):
    """Where a streamed PDF goes: a file, a temporary file, a socket-like sink."""

    def write(self, data: bytes, /) -> object: ...


REGULAR, BOLD = "Helvetica", "Helvetica-Bold"


def document(*, title: str, subject: str) -> tuple[Canvas, io.BytesIO]:
    """A deterministic A4 canvas writing into a buffer (call `canvas.save()`, then read it)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setAuthor(PRODUCER)
    canvas.setCreator(PRODUCER)
    return canvas, buffer


def encode(text: str) -> bytes:
    """A PDF literal string in WinAnsi (the standard fonts' encoding): characters outside it
    become '?' (the standard fonts have no glyphs for them)."""
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


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

_CATALOG, _PAGES, _FONT, _BOLD_FONT, _INFO, _FIRST_PAGE_OBJECT = 1, 2, 3, 4, 5, 6


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
        self.written = 0
        self.page_objects: list[int] = []
        self.rows: list[Sequence[str]] = []
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
            + encode(title)
            + b" /Producer "
            + encode(PRODUCER)
            + b" /Creator "
            + encode(PRODUCER)
            + b" /CreationDate "
            + _date(dated)
            + b" >>",
        )

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

    def _text(self, parts: list[bytes], x: float, y: float, text: str) -> None:
        parts.append(b"1 0 0 1 %.2f %.2f Tm %s Tj\n" % (x, y, encode(text)))

    def _cell(self, parts: list[bytes], index: int, y: float, text: str) -> None:
        column = self.columns[index]
        x = self._x[index]
        if column.right:
            x += column.width - 4 - stringWidth(text, REGULAR, FONT_SIZE)
        parts.append(b"1 0 0 1 %.2f %.2f Tm %s Tj\n" % (x, y, encode(text)))

    def _page(self, closing: Sequence[str] = ()) -> None:
        number = len(self.page_objects) + 1
        top = PAGE[1] - MARGIN
        parts = [b"BT\n/F2 12 Tf\n"]
        self._text(parts, MARGIN, top - 12, self.title)
        parts.append(b"/F1 9 Tf\n")
        self._text(parts, MARGIN, top - 26, self.subtitle)
        parts.append(b"/F2 8 Tf\n")
        header_y = top - HEADER_HEIGHT + 8
        for index, column in enumerate(self.columns):
            self._cell(parts, index, header_y, column.title)
        parts.append(b"/F1 8 Tf\n")
        y = header_y - LEADING - 4
        for cells in self.rows:
            for index, text in enumerate(cells):
                self._cell(parts, index, y, text)
            y -= LEADING
        parts.append(b"/F2 8 Tf\n")
        for line in closing:
            y -= 4
            self._text(parts, MARGIN, y, line)
            y -= LEADING
        parts.append(b"/F1 8 Tf\n")
        self._text(parts, MARGIN, MARGIN, f"Page {number} of {self.total_pages}")
        parts.append(
            b"ET\n0.5 w %.2f %.2f m %.2f %.2f l S\n"
            % (
                MARGIN,
                header_y - 4,
                PAGE[0] - MARGIN,
                header_y - 4,
            )
        )
        content = zlib.compress(b"".join(parts), 6)
        content_number = _FIRST_PAGE_OBJECT + 2 * (number - 1)
        self._object(
            content_number,
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
            + content
            + b"\nendstream",
        )
        self._object(
            content_number + 1,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>"
            % (PAGE[0], PAGE[1], content_number),
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
