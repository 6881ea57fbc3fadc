"""Letters from the GP: a call notice, a distribution notice and a statement on the
organisation's paper (letterhead with its logo, addressee block, numbers, payment reference,
late-payment terms, sign-off), read back with pypdf (an independent reader) and drawn to PNG
with pdftoppm. With PRORATA_SCREENSHOTS set, the pictures are written there (`make
screenshots` keeps them in docs/screenshots/)."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import unicodedata
import uuid
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from PIL import Image, ImageDraw

from prorata.distributions.models import DistributionKind
from prorata.documents import content, distribution_content, letters, render
from prorata.fund_metrics.schemas import ColumnOut, ColumnsOut, ContributionsOut, DistributionsOut
from prorata.orgs.models import DateFormat, PaperSize
from tests.document_support import ilpa_statement

RTL_NAME = "شركة الاستثمار"
FUND = "Northwind Growth Fund II"


def _logo() -> bytes:
    image = Image.new("RGB", (360, 120), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 120, 120), fill=(22, 58, 112))
    draw.polygon([(20, 100), (60, 20), (100, 100)], fill="white")
    draw.text((140, 50), "NORTHWIND CAPITAL", fill=(22, 58, 112))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _letterhead(paper: PaperSize = PaperSize.letter) -> letters.Letterhead:
    return letters.Letterhead(
        name="Northwind Capital Partners LLC",
        address="200 Park Avenue, Suite 1700\nNew York, NY 10166\n"
        "fundops@northwind.example · +1 212 555 0100",
        signature_block="Northwind Capital Partners LLC, as General Partner\n"
        "By: Jane Doe, Chief Financial Officer\n"
        "Questions: investor.relations@northwind.example · +1 212 555 0199",
        logo=_logo(),
        paper_size=paper,
        date_format=DateFormat.us if paper is PaperSize.letter else DateFormat.eu,
    )


ADDRESSEE = letters.Addressee(
    name=RTL_NAME, attention="Treasury Department", address="King Fahd Road 12\nRiyadh 11564"
)
LATE = (
    "Amounts not received by the due date bear interest at the prime rate plus 2% a year "
    "from the due date until paid; Section 5.4 of the Partnership Agreement applies to a "
    "Defaulting Limited Partner."
)


def _notice() -> content.Notice:
    return content.Notice(
        fund_name=FUND,
        currency="USD",
        call_id=uuid.UUID(int=7),
        investor_id=uuid.UUID(int=8),
        investor_name=RTL_NAME,
        recipients=(),
        notice_date=dt.date(2026, 3, 4),
        due_date=dt.date(2026, 3, 18),
        lines=[
            ("Investment: Acme Robotics A", Decimal("240000.00")),
            ("Management fee", Decimal("60000.00")),
        ],
        total=Decimal("300000.00"),
        commitment=Decimal("3000000.00"),
        contributed_before=Decimal("450000.00"),
        contributed_after=Decimal("750000.00"),
        unfunded_before=Decimal("2550000.00"),
        unfunded_after=Decimal("2250000.00"),
        wire_instructions="JPMorgan Chase Bank, N.A., ABA 021000021\n"
        "Account: Northwind Growth Fund II LP, No. 000123456789",
        number=4,
        payment_reference=letters.payment_reference(
            fund_name=FUND,
            kind="C",
            number=4,
            investor_id=uuid.UUID(int=8),
            external_ref="alpha-01",
        ),
        late_payment_terms=LATE,
        addressee=ADDRESSEE,
    )


def _distribution_notice(
    bank_account: str | None = "•••• 6789",
) -> distribution_content.DistributionNotice:
    return distribution_content.DistributionNotice(
        fund_name=FUND,
        currency="USD",
        distribution_id=uuid.UUID(int=9),
        number=2,
        kind=DistributionKind.gain,
        investor_id=uuid.UUID(int=8),
        investor_name=RTL_NAME,
        recipients=(),
        payment_date=dt.date(2026, 6, 30),
        gross=Decimal("500000.00"),
        tiers=[
            ("Return of capital", Decimal("300000.00")),
            ("Preferred return", Decimal("60000.00")),
            ("GP catch-up", Decimal("15000.00")),
            ("Gains (profit split)", Decimal("125000.00")),
        ],
        carried_interest=Decimal("40000.00"),
        set_off=Decimal("0.00"),
        net=Decimal("460000.00"),
        commitment=Decimal("3000000.00"),
        distributed_to_date=Decimal("610000.00"),
        payment_reference="NGFI-D002-ALPHA01",
        addressee=ADDRESSEE,
        bank_account=bank_account,
    )


def _column(
    start: dt.date | None, beginning: str, contributed: tuple[str, str, str], gains: str
) -> ColumnOut:
    """A column of a statement at 2026-03-31 with the distributions of its first quarter."""
    invested, fees, expenses = (Decimal(x) for x in contributed)
    returned, income = Decimal("100000.00"), Decimal("20000.00")
    zero = Decimal("0.00")
    ending = Decimal(beginning) + invested - returned - income + Decimal(gains)
    return ColumnOut(
        period_from=start,
        period_to=dt.date(2026, 3, 31),
        beginning_balance=Decimal(beginning),
        contributions=ContributionsOut(
            investment=invested,
            management_fee=fees,
            fund_expenses=expenses,
            total=invested + fees + expenses,
        ),
        distributions=DistributionsOut(
            return_of_capital=returned,
            income=income,
            gain=zero,
            recallable=zero,
            escrow_released=zero,
            total=returned + income,
        ),
        management_fees=fees,
        expenses=expenses,
        carried_interest=zero,
        allocated_gains_losses=Decimal(gains),
        ending_balance=ending,
    )


def _statement() -> content.Statement:
    """The first quarter of a fund's second year: 770,000.00 at the end of it."""
    quarter = _column(dt.date(2026, 1, 1), "520000.00", ("240000.00", "60000.00", "0"), "130000.00")
    itd = _column(None, "0", ("600000.00", "120000.00", "30000.00"), "290000.00")
    ilpa = ilpa_statement("USD", beginning=Decimal(0), commitment=Decimal("3000000.00"))
    ilpa = ilpa.model_copy(
        update={
            "as_of": dt.date(2026, 3, 31),
            "quarter": "2026-Q1",
            "columns": ColumnsOut(qtd=quarter, ytd=quarter, itd=itd),
            "contributed": Decimal("750000.00"),
            "unfunded": Decimal("2250000.00"),
            "paid_in": Decimal("750000.00"),
            "distributed": Decimal("120000.00"),
            "nav": Decimal("770000.00"),
            "dpi": Decimal("0.16"),
            "tvpi": Decimal("1.1867"),
            "irr": Decimal("0.1425"),
        }
    )
    return content.Statement(
        fund_name=FUND,
        investor_name=RTL_NAME,
        recipients=(),
        period_end=dt.date(2026, 3, 31),
        ilpa=ilpa,
    )


def _read(data: bytes) -> tuple[str, dict[str, str], list[tuple[float, float]]]:
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    # pypdf puts right-to-left runs back in reading order; NFKC turns Arabic's joined forms
    # (as drawn) back into its letters.
    text = unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages))
    sizes = [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages]
    return text, {str(k): str(v) for k, v in (reader.metadata or {}).items()}, sizes


def _png(data: bytes, tmp_path: Path, name: str) -> Image.Image:
    """The first page drawn by pdftoppm at 72 dpi (a pixel a point)."""
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "72", "-singlefile", str(pdf), str(tmp_path / name)],
        check=True,
        timeout=60,
    )
    return Image.open(tmp_path / f"{name}.png")


def _assert_drawn(image: Image.Image, size: tuple[int, int]) -> None:
    assert image.size == size
    grey = image.convert("L")
    dark = sum(grey.histogram()[:128])
    assert dark > 2000  # text, rules and the logo: not a blank page
    # The letterhead's logo is drawn at the top left (its dark blue square).
    corner = grey.getpixel((60, 45))
    assert isinstance(corner, int)
    assert corner < 128


def _shoot(image: Image.Image, tmp_path: Path, name: str) -> None:
    shots = os.environ.get("PRORATA_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        # 110 dpi: legible in a README, small enough to commit.
        pdf = tmp_path / f"{name}.pdf"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf), str(Path(shots) / name)],
            check=True,
            timeout=60,
        )


def test_a_call_notice_reads_like_a_letter_from_the_gp(tmp_path: Path) -> None:
    rendered = render.notice_pdf(_notice(), _letterhead())
    text, metadata, sizes = _read(rendered.data)
    for expected in (
        "Northwind Capital Partners LLC",  # letterhead
        "200 Park Avenue, Suite 1700",
        RTL_NAME,  # the addressee, right to left, joined
        "Attn: Treasury Department",
        "King Fahd Road 12",
        "March 4, 2026",  # the US date format
        "March 18, 2026",
        "Capital Call Notice",
        "Capital Call No. 4",
        "This call, % of commitment",
        "10.00%",
        "25.00%",  # cumulative: 750,000 of 3,000,000
        "NGFI-C004-ALPHA01",
        "Please quote the reference NGFI-C004-ALPHA01 with your payment.",
        "Late payment and default",
        "Defaulting Limited Partner",
        "Yours faithfully,",
        "By: Jane Doe, Chief Financial Officer",
        "Page 1",
    ):
        assert expected in text, expected
    assert metadata["/Title"] == f"Capital Call No. 4 — {FUND}"
    assert sizes == [(612.0, 792.0)]  # US Letter
    assert rendered.pages == 1
    assert render.notice_pdf(_notice(), _letterhead()) == rendered  # deterministic
    image = _png(rendered.data, tmp_path, "call-notice")
    _assert_drawn(image, (612, 792))
    _shoot(image, tmp_path, "call-notice")


def test_a_distribution_notice_breaks_the_share_down_on_a4(tmp_path: Path) -> None:
    rendered = render.distribution_notice_pdf(_distribution_notice(), _letterhead(PaperSize.a4))
    text, metadata, sizes = _read(rendered.data)
    for expected in (
        "Northwind Capital Partners LLC",
        RTL_NAME,
        "Distribution Notice",
        "Distribution No. 2",
        "30 June 2026",  # the EU date format
        "Realised gain",
        "Return of capital\n300,000.00 USD",
        "Preferred return\n60,000.00 USD",
        "Gains (profit split)\n125,000.00 USD",
        "Your gross share\n500,000.00 USD",
        "Less: carried interest withheld\n-40,000.00 USD",
        "Net amount paid to you\n460,000.00 USD",
        "NGFI-D002-ALPHA01",
    ):
        assert expected in text, expected
    assert "set off" not in text  # nothing was
    # (pypdf reads Helvetica's bullet back as DEL; the page shows "•••• 6789".)
    [bank] = [line for line in text.splitlines() if line.startswith("Bank account on file: ")]
    assert bank.endswith(" 6789")
    assert metadata["/Title"] == f"Distribution No. 2 — {FUND}"
    assert [(round(w), round(h)) for w, h in sizes] == [(595, 842)]  # A4
    assert render.distribution_notice_pdf(_distribution_notice(), _letterhead(PaperSize.a4)) == (
        rendered
    )
    without = _read(render.distribution_notice_pdf(_distribution_notice(None)).data)[0]
    assert "Bank account on file" not in without
    image = _png(rendered.data, tmp_path, "distribution-notice")
    _assert_drawn(image, (596, 842))  # 595.28 x 841.89 pt, rounded up by pdftoppm
    _shoot(image, tmp_path, "distribution-notice")


def test_a_statement_wears_the_same_letterhead(tmp_path: Path) -> None:
    rendered = render.statement_pdf(_statement(), _letterhead(), ADDRESSEE)
    text, metadata, sizes = _read(rendered.data)
    for expected in (
        "Northwind Capital Partners LLC",
        "Attn: Treasury Department",
        RTL_NAME,
        "March 31, 2026",
        "Capital Account Statement",
        "Ending balance\n770,000.00\n770,000.00\n770,000.00",
        "By: Jane Doe, Chief Financial Officer",
    ):
        assert expected in text, expected
    assert metadata["/Title"] == "Capital account statement 2026-Q1 (2026-03-31)"
    assert sizes == [(612.0, 792.0)]
    image = _png(rendered.data, tmp_path, "statement")
    _assert_drawn(image, (612, 792))
    _shoot(image, tmp_path, "statement")


@pytest.mark.parametrize(
    ("style", "written"),
    [
        (DateFormat.iso, "2026-03-04"),
        (DateFormat.us, "March 4, 2026"),
        (DateFormat.eu, "4 March 2026"),
    ],
)
def test_dates_are_written_as_the_organisation_writes_them(style: DateFormat, written: str) -> None:
    assert letters.format_date(dt.date(2026, 3, 4), style) == written


def test_payment_references_are_short_stable_and_ascii() -> None:
    investor = uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0123456789ab")
    made = letters.payment_reference(
        fund_name="Fonds Élan — Croissance II",
        kind="D",
        number=2,
        investor_id=investor,
        external_ref=None,
    )
    assert made == "FECI-D002-456789AB"
    assert (
        letters.payment_reference(
            fund_name="北京基金", kind="C", number=12, investor_id=investor, external_ref="LP/0042"
        )
        == "FUND-C012-LP0042"
    )


def test_a_long_late_payment_text_and_a_long_address_stay_on_the_page() -> None:
    notice = _notice()
    long = content.Notice(
        **{
            **{f: getattr(notice, f) for f in notice.__dataclass_fields__},
            "late_payment_terms": LATE * 12,
            "addressee": letters.Addressee(
                name=RTL_NAME + " " + "Holdings" * 30, attention="A" * 200, address="Street " * 70
            ),
        }
    )
    rendered = render.notice_pdf(long, _letterhead())
    text, _, sizes = _read(rendered.data)
    assert rendered.pages == len(sizes) > 1
    assert "Page 2" in text
    assert "".join(text.split()).count("Defaulting") == 12
