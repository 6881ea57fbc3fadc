"""The streamed table writer: a well-formed PDF of any length, page numbers known up front,
memory bounded by one page, the same bytes for the same rows. Names in any Latin, Greek,
Cyrillic, Chinese, Japanese or Korean script print as themselves (read back by pypdf, an
independent reader)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import re
import tracemalloc
import unicodedata
import uuid
from decimal import Decimal
from typing import Any

import pypdf
import pytest
from reportlab.pdfbase.ttfonts import TTFontFile

from prorata.documents import content, render
from prorata.pdf import writer as pdf
from prorata.platform.ids import new_id
from tests import pdf_reader
from tests.document_support import ilpa_statement


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


@pytest.mark.parametrize(
    "fund_name", ["Northwind Growth", "Northwind — Growth “II” €", "Café Ñandú", "Fonds (A) \\ B"]
)
def test_the_title_metadata_reads_back_as_written(fund_name: str) -> None:
    """Document-information strings are PDFDocEncoding or UTF-16BE, never WinAnsi (the em dash
    of every title read back as `Š`)."""
    _, metadata = _read(_report(5, fund_name=fund_name))
    assert metadata["/Title"] == f"Allocations — {fund_name}"
    assert metadata["/Producer"].startswith("Prorata")


def test_a_report_embeds_a_font_only_for_what_winansi_cannot_write_and_only_its_glyphs() -> None:
    plain = _report(50)
    assert b"/FontFile2" not in plain
    assert len(plain) < 20_000
    with_names = _report(50, names=_NAMES)
    assert with_names.count(b"/FontFile2") == 1  # the regular style only: no bold text needs it
    assert len(with_names) < len(plain) + 40_000  # a subset: the whole font is ~370 KB


# Chinese, Japanese (kanji, hiragana, katakana), Korean, and CJK beside Latin and Greek.
_CJK_NAMES = ("王小明", "山田 太郎", "やまだ ハナコ", "김민준", "Łódź 陈伟 Ω", "Müller")


def test_chinese_japanese_and_korean_names_print_as_themselves() -> None:
    rows = 2 * pdf.ROWS_PER_PAGE
    data = _report(rows, fund_name="亚洲增长基金 I", names=_CJK_NAMES)
    pdf_reader.check_structure(data)
    text, metadata = _read(data)
    assert "?" not in text
    assert "\ufffd" not in text
    for n in range(rows):
        assert f"LP {n} {_CJK_NAMES[n % len(_CJK_NAMES)]} Deal Acme 10.01" in text
    assert "Allocations — 亚洲增长基金 I" in text  # the bold title: CJK has no bold face
    assert metadata["/Title"] == "Allocations — 亚洲增长基金 I"
    assert data == _report(rows, fund_name="亚洲增长基金 I", names=_CJK_NAMES)
    assert data.count(b"/FontFile2") == 1  # one CJK subset serves regular and bold
    assert len(data) < 200_000  # a subset: the whole font is 5 MB


# Arabic (letters that join) and Hebrew, written right to left, beside left-to-right text.
_RTL_NAMES = ("محمد العلي", "דוד כהן", "LP شركة الأفق", "Müller")


def _logical(text: str) -> str:
    """What a reader's extraction gives, in plain letters: pypdf puts right-to-left runs back
    in reading order; NFKC turns Arabic's joined forms back into its letters."""
    return unicodedata.normalize("NFKC", text)


def test_arabic_and_hebrew_names_print_right_to_left_and_joined() -> None:
    data = _report(len(_RTL_NAMES), names=_RTL_NAMES)
    pdf_reader.check_structure(data)
    text, _ = _read(data)
    for n, name in enumerate(_RTL_NAMES):
        assert f"LP {n} {name} Deal Acme 10.01" in _logical(text), name
    # Arabic is drawn in its joined (contextual) forms, not as isolated letters.
    assert any("\ufe70" <= char <= "\ufefc" for char in text)
    for name in _RTL_NAMES[:3]:
        notice, _ = _read(render.notice_pdf(_notice(name)).data)
        assert name in _logical(notice)


def test_a_character_no_font_has_reads_back_as_unknown_not_as_another() -> None:
    # Devanagari: neither DejaVu Sans nor Micro Hei has it.
    text, _ = _read(_report(2, names=("अमित", "Ő")))
    assert "LP 0 \ufffd\ufffd\ufffd\ufffd" in text  # four empty boxes on the page
    assert "LP 1 Ő" in text


def test_calls_made_in_the_same_minute_have_different_references() -> None:
    """The reference an investor quotes with its wire tells the calls apart."""
    references = {_notice("LP", call_id=new_id()).reference for _ in range(1000)}
    assert len(references) == 1000


@pytest.mark.parametrize("investor_name", ["Дмитрий Őry-Żółć", "山田 太郎", "김민준 (Kim Min-jun)"])
def test_notices_print_any_name(investor_name: str) -> None:
    notice = _notice(investor_name)
    data = render.notice_pdf(notice).data
    text, _ = _read(data)
    for expected in (
        "Fundusz Wzrostu Łódź I",
        investor_name,
        "Investment: Spółka Ω",
        "1,000.00 PLN",
        "ref. Żółć",
    ):
        assert expected in text
    assert render.notice_pdf(notice).data == data


_CALL = uuid.UUID(int=7)


def _notice(investor_name: str, call_id: uuid.UUID = _CALL) -> content.Notice:
    return content.Notice(
        fund_name="Fundusz Wzrostu Łódź I",
        currency="PLN",
        call_id=call_id,
        investor_id=uuid.UUID(int=8),
        investor_name=investor_name,
        recipients=(),
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


@pytest.mark.parametrize(
    ("names", "font_file"), [(_NAMES, "DejaVuSans.ttf"), (_CJK_NAMES[:4], "wqy-microhei.ttc")]
)
def test_each_code_of_the_embedded_subset_draws_its_characters_glyph(
    names: tuple[str, ...], font_file: str
) -> None:
    """Text extraction reads only the ToUnicode map; what a reader draws is the subset's
    glyph for each code. Every code's glyph has the original glyph's metrics and outline."""
    reader = pypdf.PdfReader(io.BytesIO(_report(len(names), names=names)))
    resources: Any = reader.pages[0]["/Resources"]
    fonts = [font.get_object() for font in resources["/Font"].values()]
    (type0,) = [font for font in fonts if font["/Subtype"] == "/Type0"]
    cid_font = type0["/DescendantFonts"][0].get_object()
    subset = TTFontFile(io.BytesIO(cid_font["/FontDescriptor"]["/FontFile2"].get_data()))
    to_unicode = type0["/ToUnicode"].get_data().decode().split("endcodespacerange")[1]
    chars = {
        int(code, 16): bytes.fromhex(text).decode("utf-16-be")
        for code, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]+)>", to_unicode)
    }
    original = TTFontFile(str(pdf.FONTS / font_file))
    # Every name but a WinAnsi one (Helvetica) is set in the font, whole.
    assert set("".join(name for name in names if name != "Müller")) <= set(chars.values())
    declared = cid_font["/W"]  # code [width] code [width] …
    widths = {
        int(code): int(width[0]) for code, width in zip(declared[::2], declared[1::2], strict=True)
    }
    for code, char in chars.items():
        glyph = original.charToGlyph[ord(char)]
        assert _advance(subset, code) == _advance(original, glyph), char
        assert widths[code] == round(_advance(original, glyph)), char  # what readers space by
        assert _outline(subset, code) == _outline(original, glyph), char


def _advance(font: TTFontFile, glyph: int) -> float:
    """A glyph's advance width in thousandths of an em, read from the font's hmtx table (glyphs
    past its last full entry share that entry's width; reportlab's parse scales only those)."""
    data: bytes = font._ttf_data
    full_entries = int.from_bytes(data[font.get_table_pos("hhea")[0] + 34 :][:2], "big")
    entry = font.get_table_pos("hmtx")[0] + 4 * min(glyph, full_entries - 1)
    units_per_em: int = font.unitsPerEm
    return int.from_bytes(data[entry : entry + 2], "big") * 1000 / units_per_em


def _outline(font: TTFontFile, glyph: int) -> bytes:
    """A glyph's contours and bounding box; a composite glyph (Ż = Z + dot) names its parts by
    glyph index, which subsetting renumbers, so for it only the header counts."""
    start = font.get_table_pos("glyf")[0]
    data: bytes = font._ttf_data[start + font.glyphPos[glyph] : start + font.glyphPos[glyph + 1]]
    composite = data[:2] == b"\xff\xff"
    return data[:10] if composite else data


# A 200-character name (the longest the API takes) with no space to break at, in the widest
# letter; a long name that breaks at spaces; 2,000 characters of wire instructions.
_LONG_WORD = "W" * 200
_LONG_NAME = ("Wolfgang Maximilian Württemberg-Hohenzollern " * 5)[:200].strip()
_LONG_WIRE = "\n".join(
    ["Bank: " + "Wide Bank of Westphalia " * 8, "IBAN: DE" + "W" * 150]
    + [f"Line {n}: intermediary WWW" for n in range(70)]
)[:2000]


_SHOWN = re.compile(
    rb"/(?P<font>\w+) (?P<size>[\d.]+) Tf|1 0 0 1 (?P<x>[\d.-]+) (?P<y>[\d.-]+) Tm "
    rb"\((?P<text>(?:\\.|[^\\)])*)\) Tj"
)


def _unescaped(escape: re.Match[bytes]) -> bytes:
    code = escape[1]
    return bytes([int(code, 8)]) if code[:1].isdigit() else code


def _placed(data: bytes) -> list[tuple[int, float, float, float, str]]:
    """Every string drawn: page, x, y, width and text, read from the pages' content streams
    (the standard fonts' strings: the text of these tests is all WinAnsi)."""
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    found = []
    for number, page in enumerate(reader.pages):
        resources: Any = page["/Resources"]
        fonts = {
            str(k)[1:]: str(v.get_object()["/BaseFont"]) for k, v in resources["/Font"].items()
        }
        font, size = "", 0.0
        content = page.get_contents()
        assert content is not None
        for match in _SHOWN.finditer(content.get_data()):
            if match["font"]:
                font, size = fonts[match["font"].decode()], float(match["size"])
                continue
            assert font in ("/Helvetica", "/Helvetica-Bold"), font
            text = re.sub(rb"\\([0-7]{1,3}|.)", _unescaped, match["text"]).decode("cp1252")
            width = pdf.width(text, size=size, bold=font.endswith("Bold"))
            found.append((number, float(match["x"]), float(match["y"]), width, text))
    return found


def _assert_on_the_page(
    data: bytes,
    left: float = render.LEFT,
    right: float = render.RIGHT,
    bottom: float = render.BOTTOM,
    top: float = render.TOP,
) -> tuple[str, str]:
    """Nothing outside the margins, no two strings over each other; return the text drawn in
    the left column and in the others, without white space (wrapped lines join up)."""
    placed = _placed(data)
    for _, x, y, w, text in placed:
        assert x >= left - 0.01, (x, text)
        assert x + w <= right + 0.01, (x, w, text)
        assert bottom - 0.01 <= y <= top + 0.01, (y, text)
    for a, b in itertools.pairwise(placed):
        if a[0] == b[0] and abs(a[2] - b[2]) < 1:  # the same line, left to right
            assert a[1] + a[3] <= b[1], (a[4], b[4])
    first = "".join(text for _, x, _, _, text in placed if abs(x - left) < 0.01)
    others = "".join(text for _, x, _, _, text in placed if abs(x - left) >= 0.01)
    return "".join(first.split()), "".join(others.split())


def _squeezed(text: str) -> str:
    return "".join(text.split())


def test_long_names_and_wire_instructions_wrap_on_the_page_and_nothing_is_lost() -> None:
    notice = dataclasses.replace(
        _notice(_LONG_WORD),
        fund_name=_LONG_NAME,
        lines=[(f"Investment: {_LONG_NAME}", Decimal("1000.00"))] * 20,  # the most items
        wire_instructions=_LONG_WIRE,
    )
    rendered = render.notice_pdf(notice)
    left, right = _assert_on_the_page(rendered.data)
    assert _squeezed(_LONG_WIRE) in left
    assert _squeezed("Investment: " + _LONG_NAME) * 20 in left
    assert _squeezed(_LONG_NAME + _LONG_WORD) in right  # the fund, then the investor
    pages = len(pypdf.PdfReader(io.BytesIO(rendered.data)).pages)
    assert rendered.pages == pages > 1
    assert render.notice_pdf(notice) == rendered  # still deterministic

    statement = content.Statement(
        fund_name=_LONG_NAME,
        investor_name=_LONG_WORD,
        recipients=(),
        period_end=dt.date(2026, 12, 31),
        ilpa=ilpa_statement(
            "BHD",
            beginning=Decimal("-1234567.891"),
            commitment=Decimal("1000000000000.000"),
        ),
    )
    rendered = render.statement_pdf(statement)
    _, right = _assert_on_the_page(rendered.data)
    assert _squeezed(_LONG_NAME + _LONG_WORD) in right
    assert "-1,234,567.891" in right
    assert "1,000,000,000,000.000BHD" in right
    assert rendered.pages == 1


def test_a_reports_long_names_are_cut_short_in_their_columns() -> None:
    data = _report(3, fund_name=_LONG_WORD, names=(_LONG_NAME, "Müller"))
    margin = pdf.MARGIN
    _assert_on_the_page(data, margin, pdf.PAGE[0] - margin, margin, pdf.PAGE[1] - margin)
    text, _ = _read(data)
    assert "LP 1 Müller Deal Acme 10.01" in text
    assert "LP 0 Wolfgang Maximilian" in text
    assert "Allocations — WWW" in text
