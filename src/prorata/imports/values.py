"""How an import file writes its values: the options an upload can give (`number_format`,
`date_format`, `sheet`), the delimiter a CSV file uses, and whether a file is a workbook.

Shared by the web process (which checks the header and records the options) and the worker
(whose SQL checks read them: `imports.checks`). The rules themselves, in plain words, are in
`VALUES_DOC`, which the upload route's description shows.
"""

from __future__ import annotations

import dataclasses
import enum

# An .xlsx file is a zip archive: its first bytes are a zip entry's signature.
XLSX_MAGIC = b"PK\x03\x04"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_SHEET_NAME = 100  # Excel allows 31 characters; room to spare, bounded

# The delimiters a CSV file may use, in the order a tie is settled.
DELIMITERS = (",", ";", "\t")


def is_xlsx(first_bytes: bytes) -> bool:
    return first_bytes.startswith(XLSX_MAGIC)


def delimiter_of(header: str) -> str:
    """The file's delimiter, told by its header line: whichever of comma, semicolon and tab it
    holds most often (a header names a few columns, none of which contains one of them);
    a tie, or a header of one column, is a comma."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: counts[delimiter])


class NumberFormat(enum.StrEnum):
    """How a file writes 1234.56: the thousands separator, then the decimal separator."""

    comma_point = "1,234.56"
    point_comma = "1.234,56"
    space_comma = "1 234,56"

    @property
    def decimal(self) -> str:
        return "." if self is NumberFormat.comma_point else ","

    @property
    def thousands(self) -> str:
        return {"1,234.56": ",", "1.234,56": ".", "1 234,56": " "}[self.value]


@dataclasses.dataclass(frozen=True)
class DateNotation:
    separator: str
    order: tuple[str, str, str]  # "year", "month", "day" in the order written


class DateFormat(enum.StrEnum):
    """The notations `date_format` names; ISO (YYYY-MM-DD) is read whatever it says."""

    mdy_slash = "MM/DD/YYYY"
    dmy_slash = "DD/MM/YYYY"
    dmy_dot = "DD.MM.YYYY"
    ymd_slash = "YYYY/MM/DD"
    dmy_dash = "DD-MM-YYYY"
    mdy_dash = "MM-DD-YYYY"

    @property
    def notation(self) -> DateNotation:
        words = {"YYYY": "year", "MM": "month", "DD": "day"}
        separator = self.value[2] if self.value[2] in "/.-" else self.value[4]
        first, second, third = self.value.split(separator)
        return DateNotation(separator, (words[first], words[second], words[third]))


# Currency symbols people write, and the currencies each may stand for. A 3-letter ISO code
# (USD, EUR, …) is read as itself; a symbol stands for the fund's currency only if listed here.
SYMBOLS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"),
    "US$": ("USD",),
    "C$": ("CAD",),
    "CA$": ("CAD",),
    "A$": ("AUD",),
    "AU$": ("AUD",),
    "NZ$": ("NZD",),
    "S$": ("SGD",),
    "HK$": ("HKD",),
    "€": ("EUR",),
    "£": ("GBP",),
    "¥": ("JPY", "CNY"),
    "₹": ("INR",),
    "₩": ("KRW",),
    "₣": ("CHF",),
    "CHF": ("CHF",),
    "R$": ("BRL",),
}


def currency_tokens(currency: str) -> list[str]:
    """What a cell may write for the fund's currency: its ISO code and the symbols listed for
    it (`USD`, `$`, `US$`), sorted."""
    return sorted({currency, *(token for token, codes in SYMBOLS.items() if currency in codes)})


VALUES_DOC = """\
Values are read by these rules (never guessed); any cell that does not fit is an error naming
the column and, where one would help, the option to set:

- **amount**: digits with a decimal point, such as `1234.56`; also `1,234.56`, ` $1,234.56 `,
  `USD 1234.56`, `1234.56 US$`: surrounding spaces, thousands separators and the fund's
  currency as a symbol or ISO code (before or after) are dropped. A symbol or code of another
  currency (`€12.50` in a USD fund) is an error naming it. A negative is `-1234.56` or
  `(1,234.56)`, and is an error where negatives are refused ("must be positive"). At most the
  currency's decimals (`12.345` is refused for USD). `number_format=` says how the file writes
  numbers: `1,234.56` (default: `,` thousands, `.` decimal point), `1.234,56` or `1 234,56`
  (a space, no-break space or narrow no-break space for thousands, `,` decimal). Under the
  default, `1,234` is one thousand two hundred thirty-four and `1.234` is one point two three
  four (refused for USD, with a hint to set `number_format=1.234,56`); a cell in another
  notation (`1.234,56` or `1.000.000` under the default) is an error naming the
  `number_format` to set. Thousands groups are 3 digits. 1 to 3 digits, the decimal
  separator and exactly 3 digits (`1.000`, `2.500`; `1,000` under `1.234,56`) is refused in a
  currency of fewer decimals, with the same hint: in the other notation it is a thousand.
- **date** (`committed_on`): `YYYY-MM-DD` always; another notation only with `date_format=`
  (`MM/DD/YYYY`, `DD/MM/YYYY`, `DD.MM.YYYY`, `YYYY/MM/DD`, `DD-MM-YYYY`, `MM-DD-YYYY`; a
  1-digit day or month such as `3/5/2025` is read too). Without it, `03/15/2025` is an error
  naming `date_format` — a date is never guessed, even when only one reading is possible.
- **kind**: `individual` or `entity`, any case (`Entity`, `INDIVIDUAL`).
- **country**: an ISO 3166-1 code, alpha-2 or alpha-3, or the country's name, any case
  (`US`, `us`, `USA`, `United States`, `united kingdom`, `UK`): ISO's names, their short forms
  (`Bolivia`, `Palestine`, `Holy See`) and names in common use (`Turkey`, `UAE`, `Cape Verde`,
  `Vatican City`, `South Korea`), accents optional; never a name two countries share
  (`Korea`, `Virgin Islands`). Stored as the alpha-2 code.
- **email**, **name**, **external_ref**, references: as written, spaces around trimmed.

Files: CSV in UTF-8 (with or without BOM), its delimiter — comma, semicolon or tab — told by
the header line (the one it holds most); line ends CR LF, LF or CR. Blank rows at the end
(empty or only delimiters, such as `,,`) are ignored; a NUL byte is reported as such. Empty
cells at the end of the header line (`country,,`, as Excel writes a column once used) name no
column: they are left out, and a value under them is an error. An error's line is the row's
number as a spreadsheet shows it (the header is 1), whatever line breaks a quoted cell holds.
Or an
.xlsx workbook (told by its content): its first sheet, or the sheet named by `sheet=`; the
header is the sheet's first row, errors name the spreadsheet's row number and the header's
text. Cells stored as dates are dates and cells stored as numbers are numbers, whatever
`date_format` and `number_format` say (a number cell with more decimals than the currency
has is an error, never rounded); text cells follow the rules above.
"""
