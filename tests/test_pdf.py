"""The streamed table writer: a well-formed PDF of any length, page numbers known up front,
memory bounded by one page, the same bytes for the same rows. Names in any Latin, Greek or
Cyrillic script print as themselves (read back by pypdf, an independent reader)."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
import uuid
from decimal import Decimal

import pypdf
import pytest

from prorata import pdf
from prorata.documents import content, render
from tests import pdf_reader


def _report(
    rows: int, *, fund_name: str = "Fund (I) \\ Growth", names: tuple[str, ...] = ("Müller",)
) -> bytes:
    buffer = io.BytesIO()
    report = render.AllocationsReport(
        buffer, fund_name=fund_name, currency="EUR", as_of=dt.date(2026, 6, 30), total_rows=rows
    )
    for start in range(0, rows, 1000):
        report.rows(
            [
                content.AllocationRow(
                    f"LP {n} {names[n % len(names)]}", "Deal", "Acme", Decimal("10.01")
                )
                for n in range(start, min(rows, start + 1000))
            ]
        )
    report.finish()
    return buffer.getvalue()


# Polish, Hungarian (ő is not in WinAnsi), Russian, Greek, Czech, and Latin-1 beside them.
_NAMES = ("Łukasz Żółć", "Őry Ödön", "Дмитрий Иванов", "Ελένη Παπαδοπούλου", "Dvořák", "Müller")


def _read(data: bytes) -> tuple[str, dict[str, str]]:
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text, {str(k): str(v) for k, v in (reader.metadata or {}).items()}


@pytest.mark.parametrize(
    "rows",
    [0, 1, pdf.ROWS_PER_PAGE - 4, pdf.ROWS_PER_PAGE - 3, pdf.ROWS_PER_PAGE, 5 * pdf.ROWS_PER_PAGE],
)
def test_every_page_count_is_announced_right(rows: int) -> None:
    data = _report(rows)
    pdf_reader.check_structure(data)
    pages = pdf_reader.page_count(data)
    text = pdf_reader.text(data)
    assert f"Page {pages} of {pages}" in text
    assert f"Page {pages + 1}" not in text
    assert text.count("LP ") == rows
    assert f"Allocations: {rows:,}" in text
    assert f"Total: {Decimal('10.01') * rows:,} EUR" in text


def test_text_is_escaped_and_encoded() -> None:
    text = pdf_reader.text(_report(3))
    assert "Allocations — Fund (I) \\ Growth" in text
    assert "LP 2 Müller" in text


def test_the_same_rows_give_the_same_bytes() -> None:
    assert _report(500) == _report(500)


def test_memory_stays_at_a_page_whatever_the_length() -> None:
    def peak(rows: int) -> int:
        sink = io.BytesIO()
        tracemalloc.start()
        report = render.AllocationsReport(
            _Discard(), fund_name="F", currency="USD", as_of=dt.date(2026, 1, 1), total_rows=rows
        )
        row = content.AllocationRow("LP", "Deal", "Acme", Decimal("1.00"))
        for _ in range(rows // 1000):
            report.rows([row] * 1000)
        report.finish()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert sink.getvalue() == b""
        return top

    small, large = peak(2_000), peak(40_000)
    assert large < small * 2 + 512 * 1024  # 20× the rows, not 20× the memory


class _Discard(io.RawIOBase):
    """A file that forgets what is written (so only the writer's own memory is measured)."""

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return len(data)


def test_names_in_any_european_script_print_as_themselves_in_the_report() -> None:
    rows = 3 * pdf.ROWS_PER_PAGE  # the embedded font serves every page
    data = _report(rows, fund_name="Фонд Ω Growth", names=_NAMES)
    pdf_reader.check_structure(data)
    text, metadata = _read(data)
    assert "?" not in text
    for n in range(rows):
        assert f"LP {n} {_NAMES[n % len(_NAMES)]} Deal Acme 10.01" in text
    assert "Allocations — Фонд Ω Growth" in text
    assert metadata["/Title"] == "Allocations — Фонд Ω Growth"
    assert data == _report(rows, fund_name="Фонд Ω Growth", names=_NAMES)  # still deterministic


def test_a_report_in_winansi_embeds_no_font() -> None:
    data = _report(50)
    assert b"/FontFile2" not in data
    assert len(data) < 20_000
    assert b"/FontFile2" in _report(50, names=("Őry",))


def test_a_character_no_font_has_reads_back_as_unknown_not_as_another() -> None:
    text, _ = _read(_report(2, names=("王小明", "Ő")))
    assert "LP 0 \ufffd\ufffd\ufffd" in text  # three empty boxes on the page
    assert "LP 1 Ő" in text


def test_notices_print_any_european_name() -> None:
    notice = content.Notice(
        fund_name="Fundusz Wzrostu Łódź I",
        currency="PLN",
        call_id=uuid.UUID(int=7),
        investor_id=uuid.UUID(int=8),
        investor_name="Дмитрий Őry-Żółć",
        email=None,
        notice_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 3, 16),
        lines=[("Investment: Spółka Ω", Decimal("1000.00"))],
        total=Decimal("1000.00"),
        commitment=Decimal("50000.00"),
        contributed_before=Decimal("0.00"),
        contributed_after=Decimal("1000.00"),
        unfunded_before=Decimal("50000.00"),
        unfunded_after=Decimal("49000.00"),
        wire_instructions="Bank Polski, IBAN PL61 1090 1014 0000 0712 1981 2874, ref. Żółć",
    )
    data = render.notice_pdf(notice)
    text, _ = _read(data)
    for expected in (
        "Fundusz Wzrostu Łódź I",
        "Дмитрий Őry-Żółć",
        "Investment: Spółka Ω",
        "1,000.00 PLN",
        "ref. Żółć",
    ):
        assert expected in text
    assert render.notice_pdf(notice) == data
