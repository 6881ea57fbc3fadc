"""The PDFs themselves (worker only: imports reportlab through `prorata.pdf.writer`)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from prorata.documents.closing_content import ClosingNotice
from prorata.documents.content import AllocationRow, Notice, Statement
from prorata.documents.distribution_content import DistributionNotice
from prorata.documents.letters import Addressee, Letterhead
from prorata.finance import money
from prorata.fund_metrics.schemas import StatementOut
from prorata.orgs.models import PaperSize
from prorata.pdf import writer as pdf

LEFT, RIGHT = 56.0, A4[0] - 56.0
TOP, BOTTOM = A4[1] - 64, 56.0  # the first and the lowest baseline of an A4 page
MARGIN = 56.0
PAPER = {PaperSize.a4: A4, PaperSize.letter: LETTER}
LOGO_HEIGHT, LOGO_WIDTH = 44.0, 150.0  # the logo's box at the head of a letter
GREY = (0.35, 0.35, 0.35)


def amount(value: Decimal, currency: str) -> str:
    return f"{value:,} {currency}"


class Rendered(NamedTuple):
    data: bytes
    pages: int


class _Page:
    """A top-down cursor over the pages of a canvas. Every line is kept inside the margins:
    long text wraps (a 200-character name, 2,000 characters of wire instructions) and a new page
    starts where the page ends, so nothing is drawn off the paper. A letter's pages carry its
    sender and reference in a footer under the bottom margin."""

    def __init__(
        self, canvas: Canvas, size: tuple[float, float] = A4, footer: str | None = None
    ) -> None:
        self.canvas = canvas
        self.width, self.height = size
        self.left, self.right = MARGIN, size[0] - MARGIN
        self.top, self.bottom = size[1] - 64, MARGIN
        self.footer = footer
        self.y = self.top

    @property
    def room(self) -> float:
        return self.right - self.left

    def _footer(self) -> None:
        if self.footer is None:
            return
        self.canvas.setFillColorRGB(*GREY)
        y = self.bottom - 26
        number = f"Page {self.canvas.getPageNumber()}"
        text = pdf.fit(self.footer, self.room - pdf.width(number, size=7.5) - GAP, size=7.5)
        pdf.draw(self.canvas, self.left, y, text, size=7.5)
        pdf.draw_right(self.canvas, self.right, y, number, size=7.5)
        self.canvas.setFillColorRGB(0, 0, 0)

    def need(self, height: float) -> None:
        """Start a new page unless `height` points still fit above the bottom margin."""
        if self.y - height < self.bottom:
            self._footer()
            self.canvas.showPage()
            self.y = self.top

    def title(self, text: str) -> None:
        for line in pdf.wrap(text, self.room, size=16, bold=True):
            self.need(0)
            pdf.draw(self.canvas, self.left, self.y, line, size=16, bold=True)
            self.y -= 20
        self.y -= 8

    def headline(self, title: str, number: str, about: str) -> None:
        """A letter's title ("Capital Call Notice") with its number at the right, and what it
        is about (the fund) under them."""
        self.need(40)
        pdf.draw_right(self.canvas, self.right, self.y, number, size=12, bold=True)
        room = self.room - pdf.width(number, size=12, bold=True) - GAP
        for line in pdf.wrap(title, room, size=16, bold=True):
            self.need(0)
            pdf.draw(self.canvas, self.left, self.y, line, size=16, bold=True)
            self.y -= 18
        for line in pdf.wrap(about, self.room, size=11):
            self.need(0)
            pdf.draw(self.canvas, self.left, self.y, line, size=11)
            self.y -= 14
        self.y -= 8

    def heading(self, text: str) -> None:
        self.need(8 + 20 + 15)  # never alone at the foot of a page: with its first row
        self.y -= 8
        pdf.draw(self.canvas, self.left, self.y, text, size=11, bold=True)
        self.canvas.setLineWidth(0.5)
        self.canvas.line(self.left, self.y - 4, self.right, self.y - 4)
        self.y -= 20

    def row(self, label: str, value: str, *, bold: bool = False) -> None:
        """`label` on the left, `value` ending at the right margin; when they do not fit side by
        side, each wraps in its own column (a long name under the label's width)."""
        labels, values = _columns(label, value, bold=bold, room=self.room)
        for left, right in itertools.zip_longest(labels, values, fillvalue=""):
            self.need(0)
            if left:
                pdf.draw(self.canvas, self.left, self.y, left, size=10, bold=bold)
            if right:
                pdf.draw_right(self.canvas, self.right, self.y, right, size=10, bold=bold)
            self.y -= 15

    def text(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        for line in pdf.wrap(text, self.room, size=size, bold=bold):
            self.need(0)
            pdf.draw(self.canvas, self.left, self.y, line, size=size, bold=bold)
            self.y -= size + 4

    def gap(self, points: float) -> None:
        self.y -= points

    def finish(self) -> int:
        """End the document; return its number of pages."""
        pages: int = self.canvas.getPageNumber()
        self._footer()
        self.canvas.showPage()
        self.canvas.save()
        return pages


GAP = 12.0  # between a row's label and its value


def _columns(
    label: str, value: str, *, bold: bool, room: float = RIGHT - LEFT
) -> tuple[list[str], list[str]]:
    """A row's label and value as lines. Side by side when they fit; else the value (an
    amount, a date, or a name) keeps the width it needs up to what half the label leaves, and
    the label wraps in the rest."""
    label_width = pdf.width(label, size=10, bold=bold)
    value_width = pdf.width(value, size=10, bold=bold)
    if label_width + GAP + value_width <= room:
        return [label], [value]
    values = pdf.wrap(value, room - min(label_width, room / 2) - GAP, size=10, bold=bold)
    widest = max(pdf.width(line, size=10, bold=bold) for line in values)
    return pdf.wrap(label, room - widest - GAP, size=10, bold=bold), values


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _letter(
    letter: Letterhead | None,
    title: str,
    subject: str,
    reference: str,
) -> tuple[_Page, io.BytesIO]:
    """A canvas on the organisation's paper, its pages footed with the sender and `reference`."""
    size = PAPER[letter.paper_size] if letter else A4
    canvas, buffer = pdf.document(title=title, subject=subject, pagesize=size)
    footer = f"{letter.name} · {reference}" if letter else None
    return _Page(canvas, size, footer), buffer


def _letterhead(page: _Page, letter: Letterhead) -> None:
    """The sender at the head of the first page: its logo on the left, its legal name and
    address on the right, a rule under them."""
    top = page.height - 40
    logo_width = 0.0
    if letter.logo is not None:
        image = ImageReader(io.BytesIO(letter.logo))
        width, height = image.getSize()
        scale = min(LOGO_HEIGHT / height, LOGO_WIDTH / width)
        logo_width = width * scale
        page.canvas.drawImage(
            image, page.left, top - height * scale, width * scale, height * scale, mask="auto"
        )
    room = page.room - logo_width - GAP
    y = top - 12
    for line in pdf.wrap(letter.name, room, size=12, bold=True):
        pdf.draw_right(page.canvas, page.right, y, line, size=12, bold=True)
        y -= 15
    page.canvas.setFillColorRGB(*GREY)
    for part in _lines(letter.address):
        for line in pdf.wrap(part, room, size=8.5):
            pdf.draw_right(page.canvas, page.right, y, line, size=8.5)
            y -= 11
    page.canvas.setFillColorRGB(0, 0, 0)
    rule = min(y + 4, top - LOGO_HEIGHT - 8)
    page.canvas.setLineWidth(0.75)
    page.canvas.line(page.left, rule, page.right, rule)
    page.y = rule - 24


def _addressed(page: _Page, addressee: Addressee | None, date: str) -> None:
    """The addressee block (legal name, attention line, address) with the date at the right
    of its first line."""
    pdf.draw_right(page.canvas, page.right, page.y, date, size=10)
    if addressee is None:
        page.gap(24)
        return
    room = page.room - pdf.width(date, size=10) - GAP
    lines = [(line, True) for line in pdf.wrap(addressee.name, room, size=10, bold=True)]
    if addressee.attention:
        lines += [(line, False) for line in pdf.wrap(f"Attn: {addressee.attention}", room, size=10)]
    for part in _lines(addressee.address):
        lines += [(line, False) for line in pdf.wrap(part, room, size=10)]
    for line, bold in lines:
        page.need(0)
        pdf.draw(page.canvas, page.left, page.y, line, size=10, bold=bold)
        page.y -= 13
    page.gap(14)


def _sign_off(page: _Page, letter: Letterhead, *, closing: bool = True) -> None:
    """The closing and the organisation's signature and contact block, kept together."""
    lines = _lines(letter.signature_block) or [letter.name]
    page.need(10 + 14 + 10 + 14 * len(lines))
    page.gap(10)
    if closing:
        page.text("Yours faithfully,")
        page.gap(10)
    for line in lines:
        page.text(line)


def notice_pdf(notice: Notice, letter: Letterhead | None = None) -> Rendered:
    numbered = f"Capital Call No. {notice.number}" if notice.number is not None else None
    reference = notice.payment_reference or notice.reference
    page, buffer = _letter(
        letter,
        f"{numbered} — {notice.fund_name}"
        if numbered
        else f"Capital call notice {notice.reference}",
        notice.fund_name,
        f"{numbered or 'Capital call'} · {reference}",
    )
    date = letter.date if letter else dt.date.isoformat
    if letter is not None:
        _letterhead(page, letter)
        _addressed(page, notice.addressee, date(notice.notice_date))
    if letter is not None and numbered:
        page.headline("Capital Call Notice", numbered, notice.fund_name)
    else:
        page.title("Capital Call Notice")
        page.row("Fund", notice.fund_name)
        page.row("Investor", notice.investor_name)
    page.row("Call reference", notice.reference)
    if notice.payment_reference:
        page.row("Your payment reference", notice.payment_reference, bold=True)
    page.row("Notice date", date(notice.notice_date))
    page.row("Due date", date(notice.due_date), bold=True)
    page.heading("Amount due by purpose")
    for label, value in notice.lines:
        page.row(label, amount(value, notice.currency))
    if notice.credit_applied:
        page.row("Total called", amount(notice.total, notice.currency))
        page.row(
            "Your credit applied (an earlier overpayment)",
            amount(-notice.credit_applied, notice.currency),
        )
        page.row("Total amount due", amount(notice.amount_due, notice.currency), bold=True)
    else:
        page.row("Total amount due", amount(notice.total, notice.currency), bold=True)
    page.heading("Your commitment")
    page.row("Commitment", amount(notice.commitment, notice.currency))
    if notice.number is not None:
        page.row("This call, % of commitment", notice.called_percent)
        page.row("Called to date with this call, % of commitment", notice.cumulative_percent)
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
    page.gap(10)
    page.text(f"Please quote the reference {reference} with your payment.")
    if notice.late_payment_terms:
        page.heading("Late payment and default")
        page.text(notice.late_payment_terms)
    if letter is not None:
        _sign_off(page, letter)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


def distribution_notice_pdf(
    notice: DistributionNotice, letter: Letterhead | None = None
) -> Rendered:
    currency = notice.currency
    numbered = f"Distribution No. {notice.number}"
    page, buffer = _letter(
        letter,
        f"{numbered} — {notice.fund_name}",
        notice.fund_name,
        f"{numbered} · {notice.payment_reference}",
    )
    date = letter.date if letter else dt.date.isoformat
    if letter is not None:
        _letterhead(page, letter)
    _addressed(page, notice.addressee, date(notice.payment_date))
    page.headline("Distribution Notice", numbered, notice.fund_name)
    page.row("Nature of the distribution", notice.kind_label)
    page.row("Payment reference", notice.payment_reference, bold=True)
    page.row("Payment date", date(notice.payment_date), bold=True)
    page.heading("Your share of the distribution")
    for label, value in notice.tiers:
        if value:
            page.row(label, amount(value, currency))
    page.row("Your gross share", amount(notice.gross, currency), bold=True)
    page.row("Less: carried interest withheld", amount(-notice.carried_interest, currency))
    if notice.set_off:
        page.row("Less: set off", amount(-notice.set_off, currency))
    page.row("Net amount paid to you", amount(notice.net, currency), bold=True)
    page.heading("Your commitment")
    page.row("Commitment", amount(notice.commitment, currency))
    page.row(
        "Distributions paid to date, this one included",
        amount(notice.distributed_to_date, currency),
    )
    if notice.recallable:
        page.gap(4)
        page.text(
            "This distribution is recallable: it returns to your unfunded commitment and may "
            "be called again."
        )
    page.heading("Payment")
    page.text(
        f"The net amount will be paid on {date(notice.payment_date)} to the bank account we "
        "hold for you, quoting the reference above."
    )
    if notice.bank_account:
        page.text(f"Bank account on file: {notice.bank_account}")
    if letter is not None:
        _sign_off(page, letter)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


def closing_notice_pdf(notice: ClosingNotice, letter: Letterhead | None = None) -> Rendered:
    """A subsequent close's letter: the investor's line of the closing."""
    currency = notice.currency
    numbered = f"Subsequent Close No. {notice.number}"
    page, buffer = _letter(letter, f"{numbered} — {notice.fund_name}", notice.fund_name, numbered)
    date = letter.date if letter else dt.date.isoformat
    if letter is not None:
        _letterhead(page, letter)
    _addressed(page, notice.addressee, date(notice.closing_date))
    page.headline("Subsequent Close — Equalization", numbered, notice.fund_name)
    page.row("Closing date", date(notice.closing_date))
    page.row("Due date", date(notice.due_date), bold=True)
    page.row("Your commitment", amount(notice.commitment, currency))
    if notice.new:
        page.heading("What you pay to be level with the earlier investors")
    else:
        page.heading("What is paid back to you")
    for label, value in notice.rows:
        page.row(label, amount(value, currency))
    page.row(
        "Total due from you" if notice.new else "Total paid to you",
        amount(notice.total, currency),
        bold=True,
    )
    page.gap(4)
    if notice.new:
        page.text(
            "The equalization and the fee catch-up are asked by the capital call sent with "
            "this letter; the equalization interest is wired with it. It is not capital: it "
            "is passed to the earlier investors (or kept by the fund, as its terms say)."
        )
    else:
        page.text(
            "The return of excess contribution restores your unfunded commitment: it may be "
            "called again. Any part you had not yet paid is released from your call instead."
        )
    if letter is not None:
        _sign_off(page, letter)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


def statement_pdf(
    statement: Statement, letter: Letterhead | None = None, addressee: Addressee | None = None
) -> Rendered:
    """A statement on the organisation's paper: the letterhead, the addressee, then its body
    (`_statement_body`), then the sign-off."""
    page, buffer = _letter(
        letter,
        f"Capital account statement {statement.ilpa.quarter} ({statement.period_end})",
        statement.fund_name,
        f"Capital account statement · {statement.period_end}",
    )
    if letter is not None:
        _letterhead(page, letter)
        _addressed(page, addressee, letter.date(statement.period_end))
    _statement_body(page, statement)
    if letter is not None:
        _sign_off(page, letter, closing=False)
    pages = page.finish()
    return Rendered(buffer.getvalue(), pages)


def _statement_body(page: _Page, statement: Statement) -> None:
    page.title("Capital Account Statement")
    page.row("Fund", statement.fund_name)
    page.row("Investor", statement.investor_name)
    page.row("Period ended", f"{statement.period_end.isoformat()} ({statement.ilpa.quarter})")
    statement_body(page, statement.ilpa)


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
    (
        "Distributions: carry given back (escrow released and GP repayments)",
        "distributions.escrow_released",
        -1,
        False,
    ),
    ("Total distributions", "distributions.total", -1, True),
    ("Management fees", "management_fees", -1, False),
    ("Fund expenses", "expenses", -1, False),
    ("Carried interest", "carried_interest", -1, False),
    ("Allocated gains and losses", "allocated_gains_losses", 1, False),
    ("Ending balance", "ending_balance", 1, True),
]
# Lines of rare events, printed only when a column has one (the page stays one page).
RARE_LINES = frozenset({"distributions.escrow_released"})


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
    quantum = money.quantum(ilpa.currency)  # every figure with the currency's decimals
    for label, path, sign, bold in STATEMENT_LINES:
        if path in RARE_LINES and not any(_field(c, path) for c in columns):
            continue
        figures = [signed(_field(c, path).quantize(quantum), sign) for c in columns]
        _figures(page, label, figures, bold=bold)
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
    width = (page.room - LABEL_WIDTH) / len(values)
    lines = pdf.wrap(label, LABEL_WIDTH - GAP, size=9, bold=bold) if label else [""]
    for n, line in enumerate(lines):
        page.need(0)
        if line:
            pdf.draw(page.canvas, page.left, page.y, line, size=9, bold=bold)
        if n == 0:
            for i, value in enumerate(values):
                right = page.left + LABEL_WIDTH + width * (i + 1)
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
