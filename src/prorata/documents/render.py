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
from prorata.fund_metrics.schemas import StatementOut
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
    ilpa = statement.ilpa
    canvas, buffer = pdf.document(
        title=f"Capital account statement {ilpa.quarter} ({statement.period_end})",
        subject=statement.fund_name,
    )
    page = _Page(canvas)
    page.title("Capital Account Statement")
    page.row("Fund", statement.fund_name)
    page.row("Investor", statement.investor_name)
    page.row("Period ended", f"{statement.period_end.isoformat()} ({ilpa.quarter})")
    statement_body(page, ilpa)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


LABEL_WIDTH = 200.0  # the ILPA table's label column; its three figure columns share the rest
STATEMENT_LINES: list[tuple[str, str, int, bool]] = [
    # (label, field of a column: a dotted path, sign shown, bold)
    ("Beginning balance", "beginning_balance", 1, True),
    ("Contributions: investments", "contributions.investment", 1, False),
    ("Contributions: management fees", "contributions.management_fee", 1, False),
    ("Contributions: fund expenses", "contributions.fund_expenses", 1, False),
    ("Total contributions", "contributions.total", 1, True),
    ("Distributions: return of capital", "distributions.return_of_capital", -1, False),
    ("Distributions: income and preferred return", "distributions.income", -1, False),
    ("Distributions: gains", "distributions.gain", -1, False),
    ("Distributions: recallable", "distributions.recallable", -1, False),
    ("Total distributions", "distributions.total", -1, True),
    ("Management fees", "management_fees", -1, False),
    ("Fund expenses", "expenses", -1, False),
    ("Carried interest", "carried_interest", -1, False),
    ("Allocated gains and losses", "allocated_gains_losses", 1, False),
    ("Ending balance", "ending_balance", 1, True),
]


def _field(column: object, path: str) -> Decimal:
    value = column
    for name in path.split("."):
        value = getattr(value, name)
    assert isinstance(value, Decimal)
    return value


def signed(value: Decimal, sign: int) -> str:
    """An outflow in parentheses, as statements show them; an inflow as it is."""
    if sign < 0 and value:
        return f"({value:,})"
    return f"{value:,}"


def statement_body(page: _Page, ilpa: StatementOut) -> None:
    """The ILPA table (QTD, YTD, ITD, amounts right-aligned in the currency's decimals) and the
    summary: commitment, ownership and the investor's performance."""
    columns = [ilpa.columns.qtd, ilpa.columns.ytd, ilpa.columns.itd]
    page.heading(f"Capital account (in {ilpa.currency})")
    _figures(page, "", ["Quarter to date", "Year to date", "Inception to date"], bold=True)
    for label, path, sign, bold in STATEMENT_LINES:
        _figures(page, label, [signed(_field(c, path), sign) for c in columns], bold=bold)
    currency = ilpa.currency
    page.heading(f"Commitment and performance at {ilpa.as_of.isoformat()}")
    page.row("Commitment", amount(ilpa.commitment, currency))
    page.row("Contributed since inception", amount(ilpa.contributed, currency))
    page.row("Unfunded commitment", amount(ilpa.unfunded, currency), bold=True)
    page.row("Ownership of the fund's commitments", _percent(ilpa.ownership))
    page.row("Paid in", amount(ilpa.paid_in, currency))
    page.row("Distributed", amount(ilpa.distributed, currency))
    page.row("DPI", _multiple(ilpa.dpi))
    page.row("TVPI", _multiple(ilpa.tvpi))
    page.row("Net IRR", _percent(ilpa.irr, places=2))


def _figures(page: _Page, label: str, values: list[str], *, bold: bool) -> None:
    """A label (wrapped in its column) and one figure per column, each ending at its column's
    right edge, on the label's first line."""
    width = (RIGHT - LEFT - LABEL_WIDTH) / len(values)
    lines = pdf.wrap(label, LABEL_WIDTH - GAP, size=9, bold=bold) if label else [""]
    for n, line in enumerate(lines):
        page._room(0)
        if line:
            pdf.draw(page.canvas, LEFT, page.y, line, size=9, bold=bold)
        if n == 0:
            for i, value in enumerate(values):
                right = LEFT + LABEL_WIDTH + width * (i + 1)
                pdf.draw_right(page.canvas, right, page.y, value, size=9, bold=bold)
        page.y -= 13


def _percent(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "n/a"
    return f"{(value * 100).quantize(Decimal(1).scaleb(-places))}%"


def _multiple(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.quantize(Decimal('0.01'))}x"


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
