"""The streamed table writer: a well-formed PDF of any length, page numbers known up front,
memory bounded by one page, the same bytes for the same rows."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from decimal import Decimal

import pytest

from prorata import pdf
from prorata.documents import content, render
from tests import pdf_reader


def _report(rows: int, out: io.BytesIO | None = None) -> bytes:
    buffer = out or io.BytesIO()
    report = render.AllocationsReport(
        buffer, fund_name="Fund (I) \\ Growth", currency="EUR", as_of=dt.date(2026, 6, 30),
        total_rows=rows,
    )  # fmt: skip
    for start in range(0, rows, 1000):
        report.rows(
            [
                content.AllocationRow(f"LP {n} Müller", "Deal", "Acme", Decimal("10.01"))
                for n in range(start, min(rows, start + 1000))
            ]
        )
    report.finish()
    return buffer.getvalue()


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
