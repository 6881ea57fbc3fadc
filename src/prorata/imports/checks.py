"""Row checks of each import kind, in SQL, over the whole staging table in one pass (worker only).

The file is COPYed as text into the TEMP table `import_staging` (one text column per CSV
column, `line` = record number + 1, the header being line 1). `judge` builds the TEMP table
`import_checked`: one row per line with the trimmed cells, one error column per cell (NULL when
fine), a row error (duplicates, conflicts), the resolved values and the `outcome` a valid row
would have: insert, update or unchanged. Nothing is written to a tenant table here.

Why SQL and not Python: a million rows cost ~1 s to check in one statement, several seconds to
parse and check row by row in Python (and PostgreSQL has to look the references up anyway).
The amount and date rules mirror `money.check_amount` and the API's patterns exactly;
tests/test_import_checks.py holds them side by side. Before them, a cell is read as people
write it (`imports.values.VALUES_DOC`: `$1,234.56`, `(5)`, `1.234,56` by `number_format`,
`03/15/2025` by `date_format`, `Entity`, `USA`) into the plain notation; plain cells skip that
reading (one `translate`), so a clean million rows pays nothing for it.
"""

from __future__ import annotations

import dataclasses
import unicodedata
import uuid
from typing import Any

import pycountry
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.finance import money
from prorata.imports.formats import ImportKind
from prorata.imports.values import SYMBOLS, DateFormat, NumberFormat, currency_tokens

STAGING = "import_staging"
CHECKED = "import_checked"

# Cells are trimmed first (COPY keeps the spaces around unquoted values).
_CONTROL = r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
_ADDRESS_PART = r"[^@\s\x01-\x1f\x7f-\x9f]+"
EMAIL_PATTERN = rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$"
# The API's money pattern allows 15 integer digits and 6 decimals (schemas.MONEY_PATTERN).
MAX_INTEGER_DIGITS = 15
MAX_DECIMALS_WRITTEN = 6
NOT_AN_AMOUNT = "not an amount: write digits and a decimal point, such as 1234.56"
# An amount read as 1 to 3 digits (not a lone 0), the decimal separator and exactly 3 digits:
# in another notation the separator groups thousands. Refused in currencies of fewer decimals.
AMBIGUOUS_AMOUNT = "^[1-9][0-9]{0,2}\\.[0-9]{3}$"


def _digits_only(cell: str) -> str:
    """SQL: `cell` is digits with at most one inner decimal point (cheap C string functions;
    a regular expression costs several times more on a million rows)."""
    return (
        f"({cell} <> '' AND translate({cell}, '0123456789', '') IN ('', '.') "
        f"AND left({cell}, 1) <> '.' AND right({cell}, 1) <> '.')"
    )


def amount_parts(cell: str) -> str:
    """SQL select-list items an amount check reads, computed once per row in a step before it:
    the amount without its sign, its non-digit characters, and where its point is."""
    return (
        f"(CASE WHEN left({cell}, 1) = '-' THEN substr({cell}, 2) ELSE {cell} END) AS amount_abs, "
        f"translate({cell}, '0123456789', '') AS amount_shape, "
        f"strpos({cell}, '.') AS amount_dot"
    )


def amount_problem(
    cell: str,
    *,
    currency: str,
    allow_zero: bool,
    note: str = "NULL::text",
    number_format: NumberFormat = NumberFormat.comma_point,
) -> str:
    """SQL: why `cell` (trimmed text) is not an acceptable amount of `currency`, or NULL.
    Reads the columns of `amount_parts(cell)`; `note` (SQL), when not NULL, is the problem
    found reading the cell as written (`amount_reading`).

    The API's rules: `schemas.MONEY_PATTERN` (15 integer digits, 6 decimals written), then
    `money.check_amount` (no more decimals than the currency has, trailing zeros aside), then
    the sign (a negative zero is zero); and one rule of the import's own, as a file's notation
    is not JSON's: `AMBIGUOUS_AMOUNT` (`1.000`) is refused in a currency of fewer than 3
    decimals, where the API would take it as 1.00. The first WHEN passes the usual amount
    ("1234.56", "1200") on a few integer comparisons; the rest explain everything else.
    """
    decimals = money.minor_unit(currency)
    sign_rule = "zero or positive" if allow_zero else "positive"
    places = f"{decimals} decimal place{'' if decimals == 1 else 's'}"
    hint = _thousands_hint(cell, number_format)
    # "1.000" may be one or a thousand (and "1,000" under 1.234,56): the trailing zeros would
    # make it a valid 1.00, silently a thousandth of what a file from another locale meant.
    ambiguous = (
        f"WHEN amount_abs ~ '{AMBIGUOUS_AMOUNT}' THEN '3 digits after the "
        f"{number_format.decimal} may be thousands: write {currency} amounts with at most "
        f"{places}' || {hint}"
        if decimals < 3
        else ""
    )
    return f"""CASE
        WHEN {note} IS NOT NULL THEN {note}
        WHEN {amount_is_usual(cell, currency=currency, allow_zero=allow_zero)} THEN NULL
        WHEN {cell} = '' THEN 'required'
        WHEN NOT {_digits_only("amount_abs")} THEN {_not_an_amount("amount_abs", number_format)}
        WHEN length(split_part(amount_abs, '.', 1)) > {MAX_INTEGER_DIGITS} THEN 'too large'
        WHEN length(split_part(amount_abs, '.', 2)) > {MAX_DECIMALS_WRITTEN}
            OR length(rtrim(split_part(amount_abs, '.', 2), '0')) > {decimals}
            THEN '{currency} allows at most {places}' || {hint}
        {ambiguous}
        WHEN left({cell}, 1) = '-' AND amount_abs::numeric <> 0 THEN 'must be {sign_rule}'
        {"" if allow_zero else "WHEN amount_abs::numeric = 0 THEN 'must be positive'"}
    END"""


def _not_an_amount(cell: str, number_format: NumberFormat) -> str:
    """SQL: why a cell of digits, points and a minus is no amount: another notation, named
    (`1.000.000` under the default), or none."""
    hints = " ".join(
        f"WHEN {cell} ~ '{_grouped(other)}' "
        f"THEN 'looks like {other} notation: set number_format={other}'"
        for other in NumberFormat
        if other is not number_format
    )
    return f"CASE {hints} ELSE '{NOT_AN_AMOUNT}' END"


def _thousands_hint(cell: str, number_format: NumberFormat) -> str:
    """SQL: a hint for an amount with too many decimals that may be thousands ("1.234" under
    the default notation, "1,234" under 1.234,56; `cell` is read, with a point): the option."""
    other = (
        NumberFormat.point_comma
        if number_format is NumberFormat.comma_point
        else NumberFormat.comma_point
    )
    return (
        f"CASE WHEN {cell} ~ '^-?[0-9]{{1,3}}\\.[0-9]{{3}}$' THEN ' (if "
        f"{number_format.decimal} separates thousands in this file, set number_format={other})' "
        "ELSE '' END"
    )


def amount_is_usual(cell: str, *, currency: str, allow_zero: bool) -> str:
    """SQL: `cell` is a plain well-formed amount ("1234.56", "1200"), told by a few integer
    comparisons on the columns of `amount_parts(cell)`. Every such cell is valid; a cell
    failing this may still be valid ("-0", "12.500") and `amount_problem` decides."""
    decimals = money.minor_unit(currency)
    nonzero = "" if allow_zero else f" AND translate({cell}, '0.', '') <> ''"
    return (
        f"(((amount_shape = '' AND length({cell}) BETWEEN 1 AND {MAX_INTEGER_DIGITS}) OR "
        f"(amount_shape = '.' AND amount_dot BETWEEN 2 AND {MAX_INTEGER_DIGITS + 1} "
        f"AND length({cell}) - amount_dot BETWEEN 1 AND {min(decimals, MAX_DECIMALS_WRITTEN)}))"
        f"{nonzero})"
    )


def amount_value(cell: str, *, currency: str) -> str:
    """SQL: the amount with exactly the currency's exponent (valid cells only)."""
    return f"round({cell}::numeric, {money.minor_unit(currency)})"


def date_problem(cell: str, *, note: str = "NULL::text", read_as: DateFormat | None = None) -> str:
    """SQL: why `cell` is not an ISO date (YYYY-MM-DD), or NULL; `note` (SQL), when not NULL,
    is the problem found reading it as written (`date_reading`); `read_as`, the notation of
    the cells `date_match` read, named when such a cell gives no date (`31/12/2025` read as
    MM/DD/YYYY: the option may be what is wrong). The WHENs run in order, so make_date only
    ever sees a real month."""
    no_such_date = (
        "'no such date'"
        if read_as is None
        else "CASE WHEN date_match IS NULL THEN 'no such date' "
        f"ELSE 'no such date in {read_as} notation (date_format)' END"
    )
    year, month, day = (
        f"substr({cell}, 1, 4)::int",
        f"substr({cell}, 6, 2)::int",
        f"substr({cell}, 9, 2)::int",
    )
    return f"""CASE
        WHEN {cell} = '' THEN 'required'
        WHEN {note} IS NOT NULL THEN {note}
        WHEN NOT (length({cell}) = 10 AND translate({cell}, '0123456789', '') = '--'
                  AND substr({cell}, 5, 1) = '-' AND substr({cell}, 8, 1) = '-')
            THEN 'not a date: write YYYY-MM-DD'
        WHEN {year} < 1 OR {month} NOT BETWEEN 1 AND 12 OR {day} < 1 THEN {no_such_date}
        WHEN {day} > extract(day FROM make_date({year}, {month}, 1)
                                       + interval '1 month' - interval '1 day')
            THEN {no_such_date}
    END"""


def text_problem(cell: str, *, max_length: int, required: bool) -> str:
    return f"""CASE
        {f"WHEN {cell} = '' THEN 'required'" if required else ""}
        WHEN length({cell}) > {max_length} THEN 'at most {max_length} characters'
        WHEN {cell} ~ '{_CONTROL}' THEN 'control characters are not allowed'
    END"""


@dataclasses.dataclass(frozen=True)
class Notation:
    """How the file writes numbers and dates (the upload's options)."""

    number: NumberFormat = NumberFormat.comma_point
    date: DateFormat | None = None

    @classmethod
    def of(cls, number_format: str, date_format: str | None) -> Notation:
        return cls(NumberFormat(number_format), DateFormat(date_format) if date_format else None)


# Spaces people leave in numbers: the ASCII one, the no-break space and the narrow one. (No
# POSIX classes such as [[:space:]] in this SQL: `sa.text` would read ":space" as a parameter.)
_SPACES = " \u00a0\u202f"
_SPACE = f"[\\s{_SPACES[1:]}]"
_CURRENCY_TOKEN = f"[^0-9\\s{_SPACES[1:]}().,+-]+"
_NUMBER = f"[0-9](?:[0-9.,{_SPACES}]*[0-9])?"
# ( sign currency sign number currency ): the parts of an amount written by hand.
_AMOUNT_PATTERN = (
    f"^(\\()?{_SPACE}*([-+])?{_SPACE}*({_CURRENCY_TOKEN})?{_SPACE}*([-+])?{_SPACE}*"
    f"({_NUMBER}){_SPACE}*({_CURRENCY_TOKEN})?{_SPACE}*(\\))?$"
)


def _grouped(number_format: NumberFormat) -> str:
    """A regular expression: a number well written in `number_format` (thousands in groups
    of three, or none; a decimal separator and decimals, or none)."""
    thousands = {
        NumberFormat.comma_point: ",",
        NumberFormat.point_comma: "\\.",
        NumberFormat.space_comma: f"[{_SPACES}]",
    }[number_format]
    decimal = "\\." if number_format.decimal == "." else ","
    return f"^([0-9]{{1,3}}({thousands}[0-9]{{3}})+|[0-9]+)({decimal}[0-9]+)?$"


def amount_match(cell: str, *, number_format: NumberFormat) -> str:
    """SQL select-list items: `amount_plain`, the cell is digits, a minus and (in the default
    notation) a point — most cells, read as they are — and, for the others, `amount_match`,
    their parts (`_AMOUNT_PATTERN`), or NULL when they have none."""
    plain_characters = "0123456789-" + ("." if number_format.decimal == "." else "")
    plain = f"translate({cell}, '{plain_characters}', '') = ''"
    return (
        f"{plain} AS amount_plain, "
        f"CASE WHEN NOT {plain} THEN regexp_match({cell}, '{_AMOUNT_PATTERN}') END AS amount_match"
    )


def amount_reading(cell: str, *, currency: str, number_format: NumberFormat) -> str:
    """SQL select-list items, reading the columns of `amount_match(cell)`: `amount_text`, the
    amount in the plain notation (`-1234.56`), and `amount_note`, why it cannot be read (NULL
    when it can): another currency, two signs, a notation other than `number_format` (named,
    to set)."""
    m = "amount_match"
    accepted = currency_tokens(currency)
    known = sorted({*money.ISO_4217_MINOR_UNITS, *SYMBOLS})
    token = f"upper(coalesce({m}[3], {m}[6]))"
    others = [other for other in NumberFormat if other is not number_format]
    notation_hints = " ".join(
        f"WHEN {m}[5] ~ '{_grouped(other)}' "
        f"THEN 'looks like {other} notation: set number_format={other}'"
        for other in others
    )
    sign = f"CASE WHEN {m}[1] IS NOT NULL OR {m}[2] = '-' OR {m}[4] = '-' THEN '-' ELSE '' END"
    if number_format.decimal == ",":
        # translate maps the decimal comma to the point and drops the thousands separators.
        thousands = _SPACES if number_format is NumberFormat.space_comma else "."
        number = f"translate({m}[5], ',{thousands}', '.')"
    else:
        number = f"replace({m}[5], ',', '')"
    text = f"CASE WHEN {m} IS NULL THEN {cell} ELSE {sign} || {number} END"
    note = f"""CASE
        WHEN amount_plain THEN NULL
        WHEN {m} IS NULL OR ({m}[1] IS NULL) <> ({m}[7] IS NULL)
             OR ({m}[3] IS NOT NULL AND {m}[6] IS NOT NULL)
             OR (({m}[1] IS NOT NULL)::int + ({m}[2] IS NOT NULL)::int
                 + ({m}[4] IS NOT NULL)::int) > 1
            THEN '{NOT_AN_AMOUNT}'
        WHEN {token} IS NULL OR {token} IN ({", ".join(f"'{t}'" for t in accepted)}) THEN
            CASE WHEN {m}[5] !~ '{_grouped(number_format)}' THEN
                     CASE {notation_hints}
                          ELSE 'not an amount in {number_format} notation (number_format)' END
            END
        WHEN {token} IN ({", ".join(f"'{t}'" for t in known)})
            THEN {token} || ' is not this fund''s currency ({currency})'
        ELSE '{NOT_AN_AMOUNT}'
    END"""
    return f"{text} AS amount_text, {note} AS amount_note"


def _iso_shaped(cell: str) -> str:
    return f"(length({cell}) = 10 AND substr({cell}, 5, 1) = '-' AND substr({cell}, 8, 1) = '-')"


def date_match(cell: str, *, date_format: DateFormat | None) -> str:
    """SQL select-list item `date_match`: the year, month and day of a cell written in
    `date_format` (NULL for a cell shaped like YYYY-MM-DD, or written otherwise)."""
    if date_format is None:
        return "NULL::text[] AS date_match"
    notation = date_format.notation
    part = {"year": "([0-9]{4})", "month": "([0-9]{1,2})", "day": "([0-9]{1,2})"}
    separator = "\\." if notation.separator == "." else notation.separator
    pattern = "^" + separator.join(part[name] for name in notation.order) + "$"
    return (
        f"CASE WHEN NOT {_iso_shaped(cell)} THEN regexp_match({cell}, '{pattern}') END "
        "AS date_match"
    )


def date_reading(cell: str, *, date_format: DateFormat | None) -> str:
    """SQL select-list items, reading `date_match(cell)`: `date_text`, the cell as
    YYYY-MM-DD when it is written in `date_format` (else as it is), and `date_note`, why it
    is a date in neither notation (NULL when it is, or may be: `date_problem` decides)."""
    if date_format is None:
        names = ", ".join(DateFormat)
        note = (
            f"CASE WHEN {cell} <> '' AND NOT {_iso_shaped(cell)} THEN 'not a date: write "
            f"YYYY-MM-DD, or set date_format= to the file''s notation ({names})' END"
        )
        return f"{cell} AS date_text, {note} AS date_note"
    position = {name: n + 1 for n, name in enumerate(date_format.notation.order)}
    text = (
        f"CASE WHEN date_match IS NULL THEN {cell} ELSE date_match[{position['year']}] || '-' "
        f"|| lpad(date_match[{position['month']}], 2, '0') || '-' "
        f"|| lpad(date_match[{position['day']}], 2, '0') END"
    )
    note = (
        f"CASE WHEN {cell} <> '' AND NOT {_iso_shaped(cell)} AND date_match IS NULL "
        f"THEN 'not a date: write {date_format} (date_format) or YYYY-MM-DD' END"
    )
    return f"{text} AS date_text, {note} AS date_note"


def country_names() -> dict[str, str]:
    """Every way the import reads a country, in lower case with single spaces → its alpha-2
    code: the ISO codes (alpha-2, alpha-3), names, common and official names of `pycountry`;
    their short forms where only one country has it (`Palestine` of "Palestine, State of",
    `Holy See` of "Holy See (Vatican City State)", not `Korea`, which two names start with);
    each also without its accents; and names in common use that ISO does not give."""
    names: dict[str, str] = {}
    short: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            spelling = getattr(country, attribute, None)
            if not spelling:
                continue
            for key in _spelt(spelling):
                names.setdefault(key, country.alpha_2)
            for form in _short_forms(spelling):
                for key in _spelt(form):
                    short.setdefault(key, set()).add(country.alpha_2)
    for key, codes in short.items():
        if len(codes) == 1:
            names.setdefault(key, codes.pop())
    names.update(COUNTRY_ALIASES)
    for country in pycountry.countries:  # codes first: "in" is India, not a word
        names[country.alpha_3.lower()] = names[country.alpha_2.lower()] = country.alpha_2
    return names


def _spelt(name: str) -> set[str]:
    """`name` as a cell is compared (lower case, single spaces), with and without accents."""
    key = " ".join(name.lower().split())
    plain = "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))
    return {key, plain}


def _short_forms(name: str) -> list[str]:
    """What people write of an ISO name: before its comma, before and inside its brackets."""
    forms = [name.split(",", 1)[0], name.split("(", 1)[0]]
    if "(" in name:
        forms.append(name.split("(", 1)[1].rstrip(")"))
    return [form.strip() for form in forms if form.strip() and form.strip() != name]


COUNTRY_ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "u.k.": "GB",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "russia": "RU",
    "the netherlands": "NL",
    "holland": "NL",
    "ivory coast": "CI",
    "czech republic": "CZ",
    "south korea": "KR",
    "north korea": "KP",
    "turkey": "TR",
    "uae": "AE",
    "u.a.e.": "AE",
    "cape verde": "CV",
    "vatican": "VA",
    "vatican city": "VA",
    "brunei": "BN",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "macau": "MO",
    "burma": "MM",
    "swaziland": "SZ",
    "macedonia": "MK",
    "east timor": "TL",
    "the bahamas": "BS",
    "the gambia": "GM",
}


def _cell(name: str) -> str:
    return f"btrim(coalesce(s.\"{name}\", ''))"


# Each step of a check ends with OFFSET 0, an optimisation fence: PostgreSQL would otherwise
# inline the step and recompute an expression (a trimmed cell, an amount's checks) at every
# place a later step names it — several times per row, a million rows over.
FENCE = "OFFSET 0"


@dataclasses.dataclass(frozen=True)
class CellCheck:
    """An error column of `import_checked` and the file column it reports on."""

    column: str  # the CSV column name (errors.csv), or "" for a whole-line error
    value: str  # the import_checked column holding the cell's text
    error: str  # the import_checked column holding the message


@dataclasses.dataclass(frozen=True)
class Judgement:
    statements: list[str]
    cells: list[CellCheck]


ROW_ERROR = CellCheck(column="", value="''", error="row_error")


def judge(
    kind: ImportKind,
    *,
    columns: list[str],
    fund_id: uuid.UUID,
    currency: str,
    notation: Notation | None = None,
) -> tuple[Judgement, dict[str, Any]]:
    """The statements that build `import_checked` for `kind`, and their parameters."""
    notation = notation or Notation()
    params: dict[str, Any] = {"fund_id": fund_id}
    if kind is ImportKind.allocations:
        return _allocations(columns, currency, notation), params
    if kind is ImportKind.commitments:
        return _commitments(currency, notation), params
    names = country_names()
    params |= {"country_names": list(names), "country_codes": list(names.values())}
    return _investors(columns), params


@dataclasses.dataclass(frozen=True)
class AllocationRefs:
    """How an allocations file names investors and deals, and the maps resolving them."""

    investor_column: str  # investor_email | investor_id
    deal_column: str  # deal_name | deal_id
    deal_key: str  # SQL: the map key of a trimmed deal cell `deal_raw`
    statements: list[str]  # build TEMP import_investor_refs and import_deal_refs

    @property
    def by_email(self) -> bool:
        return self.investor_column == "investor_email"

    @property
    def by_deal_name(self) -> bool:
        return self.deal_column == "deal_name"


def allocation_refs(columns: list[str]) -> AllocationRefs:
    by_email = "investor_email" in columns
    by_deal_name = "deal_name" in columns
    investor_ref = "lower(i.email)" if by_email else "c.investor_id::text"
    deal_ref = "d.name" if by_deal_name else "d.id::text"
    statements = [
        # The fund's investors (those with a commitment) and deals, by the reference the file
        # uses: small maps, so the million-row join is a hash join against them.
        f"""CREATE TEMP TABLE import_investor_refs ON COMMIT DROP AS
            SELECT {investor_ref} AS ref, min(c.investor_id::text)::uuid AS investor_id,
                   count(*) AS matches, {investor_ref} = btrim({investor_ref}) AS plain
            FROM commitments c JOIN investors i ON i.id = c.investor_id
            WHERE c.fund_id = :fund_id {"AND i.email IS NOT NULL" if by_email else ""}
            GROUP BY 1""",
        f"""CREATE TEMP TABLE import_deal_refs ON COMMIT DROP AS
            SELECT {deal_ref} AS ref, min(d.id::text)::uuid AS deal_id, count(*) AS matches,
                   {deal_ref} = btrim({deal_ref}) AS plain
            FROM deals d WHERE d.fund_id = :fund_id GROUP BY 1""",
        "ANALYZE import_investor_refs",
        "ANALYZE import_deal_refs",
    ]
    return AllocationRefs(
        investor_column="investor_email" if by_email else "investor_id",
        deal_column="deal_name" if by_deal_name else "deal_id",
        deal_key="deal_raw" if by_deal_name else "lower(deal_raw)",
        statements=statements,
    )


# The shape of a thousands-grouped integer part, read from its end: `right(…, n)` is the shape
# of n characters (LIKE: `_` any one character). 15 digits and their 4 commas at most.
_GROUPED_SHAPE = "___,___,___,___,___"


def _strict_written_amount(currency: str) -> str:
    """SQL: the staged rows with `amount_text`, the amount of a cell written as spreadsheets
    export it — the fund's currency symbol or code right before the digits, thousands in groups
    of 3, spaces around (`$15,000,000.00 `) — in the plain notation, or NULL where the cell is
    not written so. Cheap C string functions, no regular expression (docs/benchmarks.md, the
    ingest section, has the figures): the token is what `ltrim` of its characters takes off
    the front; the digits are the rest without its commas, which must be digits and points
    only (one search for any other character: on a million cells ~0.3-0.5 s less than
    `_digits_only`'s string tests, which build a string per cell). The caller's cast then
    refuses what is no number (no digit, two points: `sa.exc.DataError`, and the full check
    explains it; PostgreSQL 15 has no `pg_input_is_valid`) and keeps only a number it writes
    back the same (no leading zeros, no point at either end); commas, if any, must be exactly
    where thousands groups put them in the integer part.
    Equivalent to `^(token)?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\\.[0-9]+)?$` on the trimmed cell
    for every amount below 10^15 (larger ones are refused by the caller either way)."""
    tokens = currency_tokens(currency)
    listed = ", ".join("'" + token.replace("'", "''") + "'" for token in ["", *tokens])
    token_characters = "".join(sorted({c for token in tokens for c in token})).replace("'", "''")
    # Integer digits of `digits` (before its point), and the commas the grouping puts in them.
    integer_digits = (
        "CASE strpos(digits, '.') WHEN 0 THEN length(digits) ELSE strpos(digits, '.') - 1 END"
    )
    commas = "(integer_digits - 1) / 3"
    grouped = (
        f"(length(rest) - length(digits) = {commas} AND left(rest, integer_digits + {commas}) "
        f"LIKE right('{_GROUPED_SHAPE}', integer_digits + {commas}))"
    )
    return f"""(SELECT s.*, CASE
                WHEN left(trimmed, length(trimmed) - length(rest)) IN ({listed})
                     AND (length(rest) = length(digits) OR {grouped})
                     AND digits !~ '[^0-9.]'
                    THEN digits END AS amount_text
        FROM (SELECT s.*, {integer_digits} AS integer_digits
              FROM (SELECT s.*, replace(rest, ',', '') AS digits
                    FROM (SELECT s.*, ltrim(trimmed, '{token_characters}') AS rest
                          FROM (SELECT s.*, btrim(s.amount) AS trimmed FROM {STAGING} s {FENCE}) s
                          {FENCE}) s
                    {FENCE}) s
              {FENCE}) s
        {FENCE})"""


def strict_allocations(
    refs: AllocationRefs, currency: str, *, as_exported: bool = False
) -> sa.Select[Any]:
    """The staged allocations file read strictly, for the common case of a file that is all
    valid and plainly written: (investor_id, deal_id, amount) per line, with NULL wherever the
    full check (`judge`) could find fault or this reading will not look — a reference unknown,
    ambiguous or not written exactly as the map has it (an id in capitals, a cell with spaces
    around it), an amount not plainly written; a cell that is not a number at all raises
    `sa.exc.DataError`. The allocation service refuses a set with a NULL, so a file goes in this
    way only if the full check would accept every line with the same values; repeated pairs are
    refused by the table's key. Cells are compared as they are, with no trimming or case
    folding (emails aside): a million rows, ~1 s less. Needs the maps of `refs.statements`;
    `line` is for tests that hold the two readings side by side."""
    investor_cell = f's."{refs.investor_column}"'
    investor_key = f"lower({investor_cell})" if refs.by_email else investor_cell
    decimals = money.minor_unit(currency)
    # Plainly written: PostgreSQL writes the number back exactly as the file has it (no sign,
    # spaces, exponent, leading zeros or stray point), at most the currency's decimals, below
    # 10^15 (NaN and Infinity are not). Two C functions per cell, a third of the string tests
    # of `amount_is_usual`; a cell that is no number at all stops the cast, and the statement.
    # `as_exported`: the cells as spreadsheets export them (`_strict_written_amount`), for a
    # second try when the first stopped at a cell that is no plain number.
    staged = f"(SELECT s.*, s.amount AS amount_text FROM {STAGING} s)"
    if as_exported:
        staged = _strict_written_amount(currency)
    statement = f"""SELECT line, i.investor_id, d.deal_id,
            CASE WHEN value >= 0 AND value < 1e{MAX_INTEGER_DIGITS} AND scale(value) <= {decimals}
                      AND value::text = amount_text
                 THEN round(value, {decimals}) END AS amount
        FROM (SELECT s.*, s.amount_text::numeric AS value FROM {staged} s {FENCE}) s
        LEFT JOIN import_investor_refs i ON i.ref = {investor_key} AND i.matches = 1 AND i.plain
        LEFT JOIN import_deal_refs d
            ON d.ref = s."{refs.deal_column}" AND d.matches = 1 AND d.plain"""
    strict = sa.text(statement).columns(
        sa.column("line", sa.BigInteger),
        sa.column("investor_id", sa.Uuid),
        sa.column("deal_id", sa.Uuid),
        sa.column("amount", sa.Numeric),
    )
    return sa.select(strict.subquery("strict"))


def _allocations(columns: list[str], currency: str, notation: Notation) -> Judgement:
    refs = allocation_refs(columns)
    investor_column, deal_column, deal_key = refs.investor_column, refs.deal_column, refs.deal_key
    by_email, by_deal_name = refs.by_email, refs.by_deal_name
    missing_investor = (
        "'no investor with this email has a commitment to this fund'"
        if by_email
        else "'no investor with this id has a commitment to this fund'"
    )
    missing_deal = (
        "'no deal with this name in this fund'" if by_deal_name else "'no such deal in this fund'"
    )
    reading = amount_reading("m.amount_raw", currency=currency, number_format=notation.number)
    amount_check = amount_problem(
        "c.amount_text",
        currency=currency,
        allow_zero=True,
        note="c.amount_note",
        number_format=notation.number,
    )
    checked = f"""CREATE TEMP TABLE {CHECKED} ON COMMIT DROP AS
        WITH raw AS (
            SELECT s.line, {_cell(investor_column)} AS investor_raw,
                   {_cell(deal_column)} AS deal_raw, {_cell("amount")} AS amount_raw
            FROM {STAGING} s {FENCE}
        ), matched AS (
            SELECT r.*, {amount_match("r.amount_raw", number_format=notation.number)}
            FROM raw r {FENCE}
        ), read AS (
            SELECT m.*, {reading}
            FROM matched m {FENCE}
        ), cells AS (
            SELECT r.*, {amount_parts("r.amount_text")} FROM read r {FENCE}
        ), resolved AS (
            SELECT c.*, i.investor_id, i.matches AS investor_matches,
                   d.deal_id, d.matches AS deal_matches,
                   {amount_check}
                       AS amount_error
            FROM cells c
            LEFT JOIN import_investor_refs i ON i.ref = lower(investor_raw)
            LEFT JOIN import_deal_refs d ON d.ref = {deal_key}
            {FENCE}
        ), judged AS (
            SELECT r.*,
                CASE WHEN investor_raw = '' THEN 'required'
                     WHEN investor_id IS NULL THEN {missing_investor}
                     WHEN investor_matches > 1
                         THEN 'several investors in this fund have this email: use investor_id'
                END AS investor_error,
                CASE WHEN deal_raw = '' THEN 'required'
                     WHEN deal_id IS NULL THEN {missing_deal}
                     WHEN deal_matches > 1
                         THEN 'several deals in this fund have this name: use deal_id'
                END AS deal_error,
                CASE WHEN amount_error IS NULL
                     THEN {amount_value("amount_text", currency=currency)} END AS amount
            FROM resolved r {FENCE}
        )
        SELECT j.*, NULL::text AS row_error,
            CASE WHEN a.amount IS NULL THEN 'insert'
                 WHEN a.amount <> j.amount THEN 'update'
                 ELSE 'unchanged' END AS outcome
        FROM judged j
        LEFT JOIN allocations a
            ON a.fund_id = :fund_id AND a.investor_id = j.investor_id AND a.deal_id = j.deal_id"""
    # Duplicates by aggregation (a hash over the resolved pairs), not by a window over a
    # million rows sorted: only the lines that repeat a pair are touched.
    duplicates = f"""UPDATE {CHECKED} c SET row_error = 'same investor and deal as line ' || d.first
        FROM (SELECT investor_id, deal_id, min(line) AS first FROM {CHECKED}
              WHERE investor_error IS NULL AND deal_error IS NULL
              GROUP BY investor_id, deal_id HAVING count(*) > 1) d
        WHERE c.investor_id = d.investor_id AND c.deal_id = d.deal_id AND c.line <> d.first"""
    return Judgement(
        statements=[*refs.statements, checked, duplicates],
        cells=[
            CellCheck(investor_column, "investor_raw", "investor_error"),
            CellCheck(deal_column, "deal_raw", "deal_error"),
            CellCheck("amount", "amount_raw", "amount_error"),
            ROW_ERROR,
        ],
    )


def _commitments(currency: str, notation: Notation) -> Judgement:
    refs = """CREATE TEMP TABLE import_investor_refs ON COMMIT DROP AS
        SELECT lower(email) AS ref, min(id::text)::uuid AS investor_id, count(*) AS matches
        FROM investors WHERE email IS NOT NULL GROUP BY 1"""
    reading = amount_reading("m.amount_raw", currency=currency, number_format=notation.number)
    amount_check = amount_problem(
        "c.amount_text",
        currency=currency,
        allow_zero=False,
        note="c.amount_note",
        number_format=notation.number,
    )
    checked = f"""CREATE TEMP TABLE {CHECKED} ON COMMIT DROP AS
        WITH raw AS (
            SELECT s.line, {_cell("investor_email")} AS email_raw, {_cell("amount")} AS amount_raw,
                   {_cell("committed_on")} AS date_raw
            FROM {STAGING} s {FENCE}
        ), matched AS (
            SELECT r.*, {amount_match("r.amount_raw", number_format=notation.number)},
                   {date_match("r.date_raw", date_format=notation.date)}
            FROM raw r {FENCE}
        ), read AS (
            SELECT m.*, {reading},
                   {date_reading("m.date_raw", date_format=notation.date)}
            FROM matched m {FENCE}
        ), cells AS (
            SELECT r.*, {amount_parts("r.amount_text")} FROM read r {FENCE}
        ), judged AS (
            SELECT c.*, i.investor_id,
                CASE WHEN email_raw = '' THEN 'required'
                     WHEN i.investor_id IS NULL THEN 'no investor with this email'
                     WHEN i.matches > 1 THEN 'several investors have this email'
                END AS investor_error,
                {amount_check}
                    AS amount_error,
                {date_problem("c.date_text", note="c.date_note", read_as=notation.date)}
                    AS date_error
            FROM cells c LEFT JOIN import_investor_refs i ON i.ref = lower(c.email_raw)
            {FENCE}
        ), valued AS (
            SELECT j.*,
                CASE WHEN amount_error IS NULL
                     THEN {amount_value("amount_text", currency=currency)} END AS amount,
                CASE WHEN date_error IS NULL THEN date_text::date END AS committed_on,
                first_value(line) OVER (
                    PARTITION BY investor_id, investor_error IS NULL ORDER BY line) AS first_line
            FROM judged j
        )
        SELECT v.*,
            CASE WHEN investor_error IS NOT NULL THEN NULL
                 WHEN first_line <> line THEN 'same investor as line ' || first_line
                 WHEN c.id IS NOT NULL AND amount_error IS NULL AND date_error IS NULL
                      AND (c.amount <> v.amount OR c.committed_on <> v.committed_on)
                     THEN 'this investor already has another commitment to this fund ('
                          || c.amount || ' on ' || c.committed_on
                          || '); amending commitments is not supported yet'
            END AS row_error,
            CASE WHEN c.id IS NULL THEN 'insert' ELSE 'unchanged' END AS outcome
        FROM valued v
        LEFT JOIN commitments c ON c.fund_id = :fund_id AND c.investor_id = v.investor_id"""
    return Judgement(
        statements=[refs, checked],
        cells=[
            CellCheck("investor_email", "email_raw", "investor_error"),
            CellCheck("amount", "amount_raw", "amount_error"),
            CellCheck("committed_on", "date_raw", "date_error"),
            ROW_ERROR,
        ],
    )


def _investors(columns: list[str]) -> Judgement:
    external_ref = _cell("external_ref") if "external_ref" in columns else "''"
    kinds = "'individual', 'entity'"
    # Every way of writing a country (`country_names`), to its alpha-2 code: a small map the
    # rows are hash-joined against.
    countries = """CREATE TEMP TABLE import_countries ON COMMIT DROP AS
        SELECT * FROM unnest(CAST(:country_names AS text[]), CAST(:country_codes AS text[]))
            AS k(name, alpha_2)"""
    checked = rf"""CREATE TEMP TABLE {CHECKED} ON COMMIT DROP AS
        WITH written AS (
            SELECT s.line, {_cell("name")} AS name, {_cell("email")} AS email,
                   {_cell("kind")} AS kind_raw, {_cell("country")} AS country_raw,
                   {external_ref} AS external_ref
            FROM {STAGING} s {FENCE}
        ), cells AS (
            -- Enums in any case; countries by code or name, in any case.
            SELECT w.*, lower(w.kind_raw) AS kind, k.alpha_2 AS country
            FROM written w LEFT JOIN import_countries k
                ON k.name = lower(regexp_replace(w.country_raw, '\s+', ' ', 'g'))
            {FENCE}
        ), judged AS (
            SELECT c.*,
                {text_problem("c.name", max_length=200, required=True)} AS name_error,
                CASE WHEN c.email = '' THEN 'required'
                     WHEN length(c.email) > 320 OR c.email !~ '{EMAIL_PATTERN}'
                         THEN 'not an email address' END AS email_error,
                CASE WHEN c.kind = '' THEN 'required'
                     WHEN c.kind NOT IN ({kinds}) THEN 'expected individual or entity'
                END AS kind_error,
                CASE WHEN c.country_raw <> '' AND c.country IS NULL
                     THEN 'not a country: write its ISO 3166-1 code (US, USA) or its name '
                          || '(United States)'
                END AS country_error,
                {text_problem("c.external_ref", max_length=100, required=False)}
                    AS external_ref_error,
                by_ref.id AS ref_match,
                by_email.investor_id AS email_match, by_email.matches AS email_matches,
                by_email.external_ref AS email_match_ref
            FROM cells c
            LEFT JOIN investors by_ref
                ON c.external_ref <> '' AND by_ref.external_ref = c.external_ref
            LEFT JOIN (
                SELECT lower(email) AS email, min(id::text)::uuid AS investor_id,
                       count(*) AS matches, min(external_ref) AS external_ref
                FROM investors WHERE email IS NOT NULL GROUP BY 1
            ) by_email ON by_email.email = lower(c.email)
        ), matched AS (
            SELECT j.*,
                coalesce(ref_match, CASE WHEN email_matches = 1 THEN email_match END)
                    AS investor_id,
                first_value(line) OVER (PARTITION BY lower(email) ORDER BY line)
                    AS first_email_line,
                first_value(line) OVER (PARTITION BY nullif(external_ref, '') ORDER BY line)
                    AS first_ref_line
            FROM judged j
        ), ranked AS (
            SELECT m.*, first_value(line) OVER (
                PARTITION BY coalesce(investor_id::text, line::text) ORDER BY line)
                AS first_investor_line
            FROM matched m
        )
        SELECT r.*,
            CASE WHEN email_error IS NOT NULL THEN NULL
                 WHEN first_email_line <> line THEN 'same email as line ' || first_email_line
                 WHEN r.external_ref <> '' AND first_ref_line <> line
                     THEN 'same external_ref as line ' || first_ref_line
                 WHEN first_investor_line <> line
                     THEN 'the same investor as line ' || first_investor_line
                 WHEN ref_match IS NULL AND email_matches > 1
                     THEN 'several investors have this email: give them an external_ref'
                 WHEN ref_match IS NULL AND email_matches = 1 AND r.external_ref <> ''
                      AND email_match_ref IS NOT NULL AND email_match_ref <> r.external_ref
                     THEN 'the investor with this email has another external_ref ('
                          || email_match_ref || ')'
            END AS row_error,
            CASE WHEN investor_id IS NULL THEN 'insert'
                 WHEN (i.name, i.email, i.kind, i.country)
                      IS DISTINCT FROM (r.name, r.email, r.kind, nullif(r.country, ''))
                      OR (r.external_ref <> '' AND i.external_ref IS DISTINCT FROM r.external_ref)
                     THEN 'update'
                 ELSE 'unchanged'
            END AS outcome
        FROM ranked r LEFT JOIN investors i ON i.id = r.investor_id"""
    cells = [
        CellCheck("name", "name", "name_error"),
        CellCheck("email", "email", "email_error"),
        CellCheck("kind", "kind_raw", "kind_error"),
        CellCheck("country", "country_raw", "country_error"),
        CellCheck("external_ref", "external_ref", "external_ref_error"),
        ROW_ERROR,
    ]
    return Judgement(statements=[countries, checked], cells=cells)


def invalid_condition(judgement: Judgement) -> str:
    return " OR ".join(f"{cell.error} IS NOT NULL" for cell in judgement.cells)


async def run(session: AsyncSession, judgement: Judgement, params: dict[str, Any]) -> None:
    for statement in judgement.statements:
        await session.execute(sa.text(statement), params)


async def counts(session: AsyncSession, judgement: Judgement) -> dict[str, int]:
    """Rows in the file, rows with an error, and what the valid ones would do."""
    row = (
        await session.execute(
            sa.text(
                f"""SELECT count(*) AS total,
                       count(*) FILTER (WHERE {invalid_condition(judgement)}) AS invalid,
                       count(*) FILTER (WHERE outcome = 'insert') AS inserted,
                       count(*) FILTER (WHERE outcome = 'update') AS updated,
                       count(*) FILTER (WHERE outcome = 'unchanged') AS unchanged
                FROM {CHECKED}"""
            )
        )
    ).one()
    return dict(row._mapping)


async def record_errors(
    session: AsyncSession,
    judgement: Judgement,
    *,
    org_id: uuid.UUID,
    import_id: uuid.UUID,
    limit: int,
) -> int:
    """Copy up to `limit` cell errors into `import_errors`, in line order; return how many."""
    cells = ", ".join(
        f"({position}, '{cell.column}', {cell.value}, {cell.error})"
        for position, cell in enumerate(judgement.cells)
    )
    result = await session.execute(
        sa.text(
            f"""INSERT INTO import_errors (org_id, import_id, line, "column", value, message)
                SELECT :org_id, :import_id, c.line, nullif(e.col, ''), left(nullif(e.val, ''), 200),
                       left(e.msg, 300)
                FROM {CHECKED} c,
                     LATERAL (VALUES {cells}) AS e(position, col, val, msg)
                WHERE e.msg IS NOT NULL
                ORDER BY c.line, e.position
                LIMIT :limit"""
        ),
        {"org_id": org_id, "import_id": import_id, "limit": limit},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def valid_rows(judgement: Judgement, *columns: str, changed_only: bool = True) -> sa.Select[Any]:
    """The rows a service applies: valid, and (by default) only those that change something."""
    table = sa.table(CHECKED, *(sa.column(name) for name in [*columns, "outcome"]))
    statement = sa.select(*(table.c[name] for name in columns)).where(
        sa.text(f"NOT ({invalid_condition(judgement)})")
    )
    if changed_only:
        statement = statement.where(table.c.outcome.in_(["insert", "update"]))
    return statement
