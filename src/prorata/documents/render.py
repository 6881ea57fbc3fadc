"""The PDFs themselves (worker only: imports reportlab through `prorata.pdf`)."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence
from decimal import Decimal

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from prorata import money, pdf
from prorata.documents.content import AllocationRow, Notice, Statement

LEFT, RIGHT = 56.0, A4[0] - 56.0


def amount(value: Decimal, currency: str) -> str:
    return f"{value:,} {currency}"


class _Page:
    """A top-down cursor over one A4 page of a canvas."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.y = A4[1] - 64

    def title(self, text: str) -> None:
        pdf.draw(self.canvas, LEFT, self.y, text, size=16, bold=True)
        self.y -= 28

    def heading(self, text: str) -> None:
        self.y -= 8
        pdf.draw(self.canvas, LEFT, self.y, text, size=11, bold=True)
        self.canvas.setLineWidth(0.5)
        self.canvas.line(LEFT, self.y - 4, RIGHT, self.y - 4)
        self.y -= 20

    def row(self, label: str, value: str, *, bold: bool = False) -> None:
        pdf.draw(self.canvas, LEFT, self.y, label, size=10, bold=bold)
        pdf.draw_right(self.canvas, RIGHT, self.y, value, size=10, bold=bold)
        self.y -= 15

    def text(self, text: str, *, width: int = 95) -> None:
        for paragraph in text.splitlines() or [""]:
            for line in textwrap.wrap(paragraph, width) or [""]:
                pdf.draw(self.canvas, LEFT, self.y, line, size=10)
                self.y -= 14


def notice_pdf(notice: Notice) -> bytes:
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
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def statement_pdf(statement: Statement) -> bytes:
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
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


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
