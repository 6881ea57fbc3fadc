"""The PDFs themselves (worker only: imports reportlab through `prorata.pdf.writer`)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from prorata.documents.content import AllocationRow, Notice, Statement
from prorata.finance import money
from prorata.pdf import writer as pdf

LEFT, RIGHT = 56.0, A4[0] - 56.0
TOP, BOTTOM = A4[1] - 64, 56.0  # the first and the lowest baseline of a page


def amount(value: Decimal, currency: str) -> str:
    return f"{value:,} {currency}"


class Rendered(NamedTuple):
    data: bytes
    pages: int


class _Page:
    """A top-down cursor over the A4 pages of a canvas. Every line is kept inside the margins:
    long text wraps (a 200-character name, 2,000 characters of wire instructions) and a new page
    starts where the page ends, so nothing is drawn off the paper."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.y = TOP

    def _room(self, height: float) -> None:
        """Start a new page unless `height` points still fit above the bottom margin."""
        if self.y - height < BOTTOM:
            self.canvas.showPage()
            self.y = TOP

    def title(self, text: str) -> None:
        for line in pdf.wrap(text, RIGHT - LEFT, size=16, bold=True):
            self._room(0)
            pdf.draw(self.canvas, LEFT, self.y, line, size=16, bold=True)
            self.y -= 20
        self.y -= 8

    def heading(self, text: str) -> None:
        self._room(8 + 20 + 15)  # never alone at the foot of a page: with its first row
        self.y -= 8
        pdf.draw(self.canvas, LEFT, self.y, text, size=11, bold=True)
        self.canvas.setLineWidth(0.5)
        self.canvas.line(LEFT, self.y - 4, RIGHT, self.y - 4)
        self.y -= 20

    def row(self, label: str, value: str, *, bold: bool = False) -> None:
        """`label` on the left, `value` ending at the right margin; when they do not fit side by
        side, each wraps in its own column (a long name under the label's width)."""
        labels, values = _columns(label, value, bold=bold)
        for left, right in itertools.zip_longest(labels, values, fillvalue=""):
            self._room(0)
            if left:
                pdf.draw(self.canvas, LEFT, self.y, left, size=10, bold=bold)
            if right:
                pdf.draw_right(self.canvas, RIGHT, self.y, right, size=10, bold=bold)
            self.y -= 15

    def text(self, text: str) -> None:
        for line in pdf.wrap(text, RIGHT - LEFT, size=10):
            self._room(0)
            pdf.draw(self.canvas, LEFT, self.y, line, size=10)
            self.y -= 14

    def finish(self) -> int:
        """End the document; return its number of pages."""
        pages: int = self.canvas.getPageNumber()
        self.canvas.showPage()
        self.canvas.save()
        return pages


GAP = 12.0  # between a row's label and its value


def _columns(label: str, value: str, *, bold: bool) -> tuple[list[str], list[str]]:
    """A row's label and value as lines. Side by side when they fit; else the value (an
    amount, a date, or a name) keeps the width it needs up to what half the label leaves, and
    the label wraps in the rest."""
    room = RIGHT - LEFT
    label_width = pdf.width(label, size=10, bold=bold)
    value_width = pdf.width(value, size=10, bold=bold)
    if label_width + GAP + value_width <= room:
        return [label], [value]
    values = pdf.wrap(value, room - min(label_width, room / 2) - GAP, size=10, bold=bold)
    widest = max(pdf.width(line, size=10, bold=bold) for line in values)
    return pdf.wrap(label, room - widest - GAP, size=10, bold=bold), values


def notice_pdf(notice: Notice) -> Rendered:
    canvas, buffer = pdf.document(
        title=f"Capital call notice {notice.reference}", subject=notice.fund_name
    )
    page = _Page(canvas)
    page.title("Capital Call Notice")
    page.row("Fund", notice.fund_name)
    page.row("Investor", notice.investor_name)
    page.row("Call reference", notice.reference)
    page.row("Notice date", notice.notice_date.isoformat())
    page.row("Due date", notice.due_date.isoformat(), bold=True)
    page.heading("Amount due by purpose")
    for label, value in notice.lines:
        page.row(label, amount(value, notice.currency))
    page.row("Total amount due", amount(notice.total, notice.currency), bold=True)
    page.heading("Your commitment")
    page.row("Commitment", amount(notice.commitment, notice.currency))
    page.row(
        "Contributions to date, before this call",
        amount(notice.contributed_before, notice.currency),
    )
    page.row(
        "Contributions to date, after this call", amount(notice.contributed_after, notice.currency)
    )
    page.row(
        "Unfunded commitment, before this call", amount(notice.unfunded_before, notice.currency)
    )
    page.row("Unfunded commitment, after this call", amount(notice.unfunded_after, notice.currency))
    page.heading("Wire instructions")
    page.text(notice.wire_instructions or "Your fund manager will send wire instructions.")
    page.y -= 10
    page.text(f"Please quote the reference {notice.reference} with your payment.")
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


def statement_pdf(statement: Statement) -> Rendered:
    currency = statement.currency
    canvas, buffer = pdf.document(
        title=f"Capital account statement {statement.period_start} to {statement.period_end}",
        subject=statement.fund_name,
    )
    page = _Page(canvas)
    page.title("Capital Account Statement")
    page.row("Fund", statement.fund_name)
    page.row("Investor", statement.investor_name)
    page.row(
        "Period", f"{statement.period_start.isoformat()} to {statement.period_end.isoformat()}"
    )
    page.heading("Capital account")
    page.row("Opening balance", amount(statement.opening, currency), bold=True)
    for label, value in statement.movements:
        page.row(label, amount(value, currency))
    page.row("Closing balance", amount(statement.closing, currency), bold=True)
    page.heading("Commitment")
    page.row("Commitment", amount(statement.commitment, currency))
    page.row("Contributions to date", amount(statement.contributed_to_date, currency))
    page.row("Paid in to date", amount(statement.paid_in_to_date, currency))
    page.row("Distributions to date", amount(statement.distributed_to_date, currency))
    page.row("Unfunded commitment", amount(statement.unfunded, currency), bold=True)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


ALLOCATION_COLUMNS = [
    pdf.Column("Investor", 250),
    pdf.Column("Deal", 190),
    pdf.Column("Company", 180),
    pdf.Column("Amount", 150, right=True),
]


class AllocationsReport:
    """The fund allocations report, streamed page by page to `out`."""

    def __init__(
        self, out: pdf.Writable, *, fund_name: str, currency: str, as_of: dt.date, total_rows: int
    ) -> None:
        self.currency = currency
        self.count = 0
        self.total = Decimal(0)
        self.writer = pdf.TableWriter(
            out,
            title=f"Allocations — {fund_name}",
            subtitle=f"As of {as_of.isoformat()} · {total_rows:,} allocations · in {currency}",
            columns=ALLOCATION_COLUMNS,
            total_rows=total_rows,
            dated=as_of,
            closing_lines=2,
        )

    def rows(self, rows: Sequence[AllocationRow]) -> None:
        for row in rows:
            self.count += 1
            self.total += row.amount
            self.writer.row((row.investor, row.deal, row.company, f"{row.amount:,}"))

    def finish(self) -> int:
        total = self.total.quantize(money.quantum(self.currency))
        return self.writer.finish(
            [f"Allocations: {self.count:,}", f"Total: {amount(total, self.currency)}"]
        )
