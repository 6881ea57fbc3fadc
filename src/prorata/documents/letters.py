"""What makes a document a letter from the GP: the organisation's letterhead and sign-off, the
investor's addressee block, dates as the organisation writes them, sequence numbers and
payment references (no PDF code here: the web process imports this).

The payment reference an investor quotes with its wire (`payment_reference`):
`<FUND>-<C|D><number, 3 digits>-<INVESTOR>`, e.g. `NG-C004-ALPHA01`:

- `FUND`: the initials of the fund's name (its first letter or digit of each word, ASCII,
  upper case, at most 6; `FUND` when the name has none);
- `C` for a capital call, `D` for a distribution, then its number in the fund;
- `INVESTOR`: the investor's `external_ref` (its letters and digits, upper case, at most 12),
  else the last 8 hexadecimal digits of its id.

It is made from data that does not change once a call is issued (its number, the investor's
reference) — a fund renamed afterwards gives later notices the new initials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from prorata.investors.models import Investor
from prorata.orgs.models import DateFormat, Org, PaperSize
from prorata.platform import storage

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(day: dt.date, style: DateFormat) -> str:
    """`day` as the organisation's letters write it."""
    if style is DateFormat.us:
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    if style is DateFormat.eu:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return day.isoformat()


@dataclasses.dataclass(frozen=True)
class Letterhead:
    """The sender: printed at the head of every letter, and its sign-off at the foot."""

    name: str  # the legal name, else the organisation's name
    address: str | None
    signature_block: str | None
    logo: bytes | None  # a PNG or JPEG checked on upload (`orgs.logo`)
    paper_size: PaperSize = PaperSize.a4
    date_format: DateFormat = DateFormat.iso

    def date(self, day: dt.date) -> str:
        return format_date(day, self.date_format)


@dataclasses.dataclass(frozen=True)
class Addressee:
    """The recipient block: the investor's legal name, its attention line and address."""

    name: str
    attention: str | None = None
    address: str | None = None


def addressee(investor: Investor) -> Addressee:
    return Addressee(name=investor.name, attention=investor.attention, address=investor.address)


async def letterhead(
    session: AsyncSession, blobs: storage.BlobStore | None, *, org_id: uuid.UUID
) -> Letterhead:
    """The organisation's letterhead, its logo read from the object store (a logo that cannot
    be read leaves the legal name alone: a notice is never held back for its picture)."""
    org = await session.get_one(Org, org_id)
    logo = None
    if org.logo_blob_id is not None and blobs is not None:
        blob = await storage.get(session, blob_id=org.logo_blob_id)
        if blob is not None:
            try:
                logo = await blobs.read(blob.key)
            except storage.BlobNotFound:
                logo = None
    return Letterhead(
        name=org.legal_name or org.name,
        address=org.address,
        signature_block=org.signature_block,
        logo=logo,
        paper_size=org.paper_size,
        date_format=org.date_format,
    )


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def fund_code(fund_name: str) -> str:
    initials = "".join(word[0] for word in re.findall(r"[A-Za-z0-9]+", _ascii(fund_name)))
    return initials.upper()[:6] or "FUND"


def investor_code(investor_id: uuid.UUID, external_ref: str | None) -> str:
    if external_ref:
        code = re.sub(r"[^A-Za-z0-9]", "", _ascii(external_ref)).upper()[:12]
        if code:
            return code
    return investor_id.hex[-8:].upper()


def payment_reference(
    *,
    fund_name: str,
    kind: str,
    number: int | None,
    investor_id: uuid.UUID,
    external_ref: str | None,
) -> str:
    """See the module's docstring. `kind`: "C" (a call) or "D" (a distribution)."""
    sequence = f"{kind}{number:03d}" if number is not None else kind
    return f"{fund_code(fund_name)}-{sequence}-{investor_code(investor_id, external_ref)}"


def percent(part: Decimal, whole: Decimal) -> str:
    """`part` as a percentage of `whole`, to two decimals ("2.50%"); "–" for no whole."""
    if not whole:
        return "–"
    value = (part * 100 / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{value:,}%"
