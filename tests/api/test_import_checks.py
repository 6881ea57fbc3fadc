"""The import's SQL checks say what the API's Python rules say, case for case: amounts
(`schemas.MONEY_PATTERN` + `money.check_amount` + sign) and ISO dates; and the strict reading.
(The header check: tests/unit/test_import_checks.py.)"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import settings as settings_
from hypothesis import strategies as st

from prorata.config import Settings
from prorata.finance import money
from prorata.imports import checks, exported
from prorata.imports.formats import ImportKind
from prorata.imports.values import DateFormat, NumberFormat
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.support import TestDatabase

CURRENCIES = ["USD", "JPY", "BHD", "CLF"]
_API_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,6})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AMBIGUOUS = re.compile(r"[1-9][0-9]{0,2}\.[0-9]{3}")


def python_amount(text: str, currency: str, *, allow_zero: bool) -> Decimal | None:
    """What the API accepts for an amount (None: refused)."""
    if not _API_AMOUNT.fullmatch(text):
        return None
    if money.minor_unit(currency) < 3 and _AMBIGUOUS.fullmatch(text.removeprefix("-")):
        return None  # "1.000": a thousand in another notation, refused by the import alone
    try:
        checked = money.check_amount(Decimal(text), currency)
    except money.InvalidAmount:
        return None
    if checked < 0 or (checked == 0 and not allow_zero):
        return None
    return checked


def python_date(text: str) -> dt.date | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _sql_amount(
    conn: psycopg.Connection[tuple[object, ...]], text: str, currency: str, allow_zero: bool
) -> Decimal | None:
    problem = checks.amount_problem("c", currency=currency, allow_zero=allow_zero)
    value = checks.amount_value("c", currency=currency)
    row = conn.execute(
        f"SELECT problem, CASE WHEN problem IS NULL THEN {value} END FROM ("
        f"  SELECT c, {problem} AS problem FROM ("
        f"    SELECT c, {checks.amount_parts('c')} FROM (SELECT %(c)s::text AS c) cell"
        f"  ) parts"
        f") checked",
        {"c": text},
    ).fetchone()
    assert row is not None
    result = row[1]
    assert isinstance(result, Decimal | None)
    return result


amount_texts = st.one_of(
    st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,8})?", fullmatch=True),
    # Magnitudes around the 15-digit bound, with 0 to 8 decimals.
    st.builds(
        lambda units, places: str(Decimal(units).scaleb(-places)),
        st.integers(min_value=-(10**23), max_value=10**23),
        st.integers(min_value=0, max_value=8),
    ),
    st.text(alphabet="0123456789.-+e, ", max_size=12),
    # Trailing zeros: they do not count against the currency, but the API writes at most 6.
    st.builds(
        lambda whole, digit, zeros: f"{whole}.{digit}{'0' * zeros}",
        st.integers(min_value=0, max_value=99),
        st.sampled_from(["", "5", "25"]),
        st.integers(min_value=0, max_value=8),
    ),
    st.sampled_from(
        [
            *("-0", "-0.00", "0", "0.000000", "1.0000001", ".5", "5.", "1e3", "--1"),
            *("999999999999999", "1000000000000000", "999999999999999.990000"),
        ]
    ),
)


def test_sql_amount_check_agrees_with_money_check_amount(database: TestDatabase) -> None:
    with psycopg.connect(database.owner_url) as conn:

        @given(text=amount_texts, currency=st.sampled_from(CURRENCIES), allow_zero=st.booleans())
        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        def agree(text: str, currency: str, allow_zero: bool) -> None:
            expected = python_amount(text, currency, allow_zero=allow_zero)
            got = _sql_amount(conn, text, currency, allow_zero)
            assert got == expected, (text, currency, allow_zero)
            if expected is not None:  # the same exponent as check_amount gives
                assert got is not None
                assert got.as_tuple().exponent == expected.as_tuple().exponent

        agree()


# Cells as spreadsheets export amounts, and near misses.
exported_cells = st.one_of(
    st.text(alphabet="0123456789,. $USDu€-()", max_size=14),
    st.builds(
        lambda token, units, places, spaces: (
            f"{spaces}{token}{Decimal(units).scaleb(-places):,}{spaces}"
        ),
        st.sampled_from(["", "$", "US$", "USD", "€", "C$"]),
        st.integers(min_value=0, max_value=10**17),
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["", " ", "  "]),
    ),
)
_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def test_amounts_rewritten_in_the_worker_are_what_the_sql_reading_takes(
    database: TestDatabase,
) -> None:
    """A cell the worker rewrites plainly (`imports.exported`, quoted or bare) becomes exactly
    the digits PostgreSQL's strict exported reading takes from it, for every currency token;
    and a cell that reading takes as a number is rewritten (else the worker saves nothing)."""
    with psycopg.connect(database.owner_url) as conn:

        @given(cell=exported_cells, currency=st.sampled_from(["USD", "EUR", "CAD"]))
        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        def agree(cell: str, currency: str) -> None:
            amounts = exported.PlainAmounts.of(["investor_id", "deal_id", "amount"], ",", currency)
            assert amounts is not None
            quoted = amounts.rewrite(f'i,d,"{cell}"'.encode())
            rewritten = quoted.decode().removeprefix("i,d,") if quoted.count(b'"') == 0 else None
            if "," not in cell:  # a bare cell: rewritten the same way
                bare = amounts.rewrite(f"i,d,{cell}".encode()).decode().removeprefix("i,d,")
                assert bare == (cell if rewritten is None else rewritten)
            with conn.transaction(force_rollback=True):
                conn.execute(f"CREATE TEMP TABLE {checks.STAGING} (line int, amount text)")
                conn.execute(f"INSERT INTO {checks.STAGING} VALUES (1, %s)", (cell,))
                row = conn.execute(
                    f"SELECT amount_text FROM {checks._strict_written_amount(currency)} s"
                ).fetchone()
            assert row is not None
            taken = row[0] if row[0] is not None and _PLAIN_NUMBER.fullmatch(row[0]) else None
            assert rewritten == taken, (cell, currency, rewritten, row[0])

        agree()


def test_sql_date_check_agrees_with_iso_dates(database: TestDatabase) -> None:
    with psycopg.connect(database.owner_url) as conn:

        @given(
            text=st.one_of(
                st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
                st.dates().map(dt.date.isoformat),
                st.text(alphabet="0123456789-/ ", max_size=11),
            )
        )
        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        def agree(text: str) -> None:
            problem = checks.date_problem("%(c)s::text")
            row = conn.execute(
                f"SELECT problem, CASE WHEN problem IS NULL THEN %(c)s::date END "
                f"FROM (SELECT {problem} AS problem) p",
                {"c": text},
            ).fetchone()
            assert row is not None
            assert row[1] == python_date(text), text

        agree()
        for text, expected in [("2024-02-29", True), ("2023-02-29", False), ("0000-01-01", False)]:
            assert (python_date(text) is not None) is expected


# --- the strict reading of an allocations file (the import's fast path) ----------------------

_TWIN_EMAIL = "twin@x.example"


async def test_the_strict_reading_accepts_only_what_the_full_check_accepts(
    client: httpx.AsyncClient, org: NewOrg, settings: Settings
) -> None:
    """Line by line, over generated files: where the strict reading has every value, the full
    check finds no fault in the cells and resolves the same values; and every valid line with
    plainly written cells (references exactly as the maps have them, emails in any case; plain
    amounts) is read strictly — or the fast path would rarely be taken."""
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    people = {}
    for name, email in [("A", "a@x.example"), ("B", "B@X.example"), ("T1", _TWIN_EMAIL)]:
        person = await api.request(
            "POST", "/investors", json={"name": name, "kind": "entity", "email": email}, expect=201
        )
        await api.commit(fund, person["id"], "1000.00")
        people[email] = person["id"]
    twin = await api.request(
        "POST",
        "/investors",
        json={"name": "T2", "kind": "entity", "email": _TWIN_EMAIL},
        expect=201,
    )
    await api.commit(fund, twin["id"], "1000.00")
    outsider = await api.investor("No commitment")
    deals = {name: await api.deal(fund, name) for name in ("Seed", "Twin", "Beta")}
    await api.deal(fund, "Twin")
    ids = [people["a@x.example"], people["B@X.example"]]
    # Cells in each form a file may use, mostly ones that resolve: by id, or by email.
    investor_cells = {
        False: st.one_of(
            st.sampled_from(ids),
            st.sampled_from(ids).map(str.upper),
            st.sampled_from(ids).map(lambda i: f" {i} "),
            st.sampled_from(
                [outsider, twin["id"], "", "x", "{" + ids[0] + "}", ids[0].replace("-", "")]
            ),
        ),
        True: st.one_of(
            st.sampled_from([*people, "A@x.example", " a@x.example "]),
            st.sampled_from([_TWIN_EMAIL, "nobody@x.example", "", ids[0]]),
        ),
    }
    deal_cells = {
        False: st.one_of(
            st.sampled_from([*deals.values()]),
            st.sampled_from([*deals.values()]).map(str.upper),
            st.sampled_from(["", "Seed", deals["Seed"][:-1]]),
        ),
        True: st.one_of(
            st.sampled_from([*deals]), st.sampled_from(["seed", " Seed ", "Nothing", ""])
        ),
    }
    plain_amounts = st.decimals(min_value=0, max_value=10**9, places=2).map(str)
    # Numbers PostgreSQL reads that are not plainly written (or not valid at all).
    odd_numbers = st.sampled_from(
        [
            *("1e3", ".5", "5.", "+5", " 5", "5 ", "007", "-0", "-0.00", "-5.00", "12.500"),
            *("1.005", "NaN", "Infinity", "1_000", "1234567890123456", "999999999999999.99"),
            # As spreadsheets export them: read by the second, exported, strict reading.
            *("$1,234.56", " $1,000 ", "USD1,000.00", "US$5", "$ 5", "$1,23", "$007", "€5"),
            *("1,000,000.5", "$-5", "($5)", "1,2345", "$1,234.567", "usd5"),
        ]
    )

    @st.composite
    def files(draw: st.DrawFn) -> tuple[bool, bool, list[tuple[str, str, str]]]:
        by_email, by_name = draw(st.booleans()), draw(st.booleans())
        line = st.tuples(
            investor_cells[by_email],
            deal_cells[by_name],
            st.one_of(plain_amounts, odd_numbers, amount_texts),
        )
        return by_email, by_name, draw(st.lists(line, max_size=6))

    # The checks run in the worker: its direct connection.
    engine = db.sync_engine(db.worker_url(settings))

    @given(file=files())
    @settings_(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def agree(file: tuple[bool, bool, list[tuple[str, str, str]]]) -> None:
        by_email, by_name, lines = file
        columns = [
            "investor_email" if by_email else "investor_id",
            "deal_name" if by_name else "deal_id",
            "amount",
        ]
        with engine.begin() as conn:
            conn.execute(
                sa.text("SELECT set_config('app.org_id', :org, true)"), {"org": str(org.org_id)}
            )
            conn.execute(
                sa.text(
                    f"CREATE TEMP TABLE {checks.STAGING} (line bigint GENERATED ALWAYS AS "
                    f"IDENTITY (START WITH 2), {', '.join(f'{c} text' for c in columns)}) "
                    "ON COMMIT DROP"
                )
            )
            for line in lines:
                conn.execute(
                    sa.text(
                        f"INSERT INTO {checks.STAGING} ({', '.join(columns)}) VALUES (:i, :d, :a)"
                    ),
                    {"i": line[0], "d": line[1], "a": line[2]},
                )
            judgement, params = checks.judge(
                ImportKind.allocations, columns=columns, fund_id=uuid.UUID(fund), currency="USD"
            )
            for statement in judgement.statements:
                conn.execute(sa.text(statement), params)
            full = {
                row.line: row for row in conn.execute(sa.text(f"SELECT * FROM {checks.CHECKED}"))
            }
            refs = checks.allocation_refs(columns)
            strict: list[Any] = []
            # As the import does: plainly, then (a cell no number) as spreadsheets export.
            for as_exported in (False, True):
                try:
                    with conn.begin_nested():
                        reading = checks.strict_allocations(refs, "USD", as_exported=as_exported)
                        strict = list(conn.execute(reading).all())
                    break
                except sa.exc.DataError:  # a cell that is no number stops the strict reading
                    assert not as_exported or any(row.amount_error for row in full.values())
            conn.rollback()
        for row in strict:
            judged = full[row.line]
            investor, deal, amount = lines[row.line - 2]
            plain = python_amount(amount, "USD", allow_zero=True)
            written_plainly = (
                plain is not None
                and amount == str(plain)
                and all(cell == cell.strip() for cell in (investor, deal))
                and (by_email or investor == investor.lower())
                and (by_name or deal == deal.lower())
            )
            cells_fine = (judged.investor_error, judged.deal_error, judged.amount_error) == (
                None,
                None,
                None,
            )
            read_strictly = None not in (row.investor_id, row.deal_id, row.amount)
            if read_strictly:
                assert cells_fine, (row, judged)
                assert (row.investor_id, row.deal_id, row.amount) == (
                    judged.investor_id,
                    judged.deal_id,
                    judged.amount,
                )
                assert row.amount.as_tuple().exponent == judged.amount.as_tuple().exponent
            if cells_fine and written_plainly:
                assert read_strictly, (row, judged)

    try:
        agree()
    finally:
        engine.dispose()


# --- values as people write them (issue 20): the reading before the checks above -------------


def _sql_written_amount(
    conn: psycopg.Connection[tuple[object, ...]],
    text: str,
    *,
    currency: str = "USD",
    allow_zero: bool = True,
    number_format: NumberFormat = NumberFormat.comma_point,
) -> tuple[str | None, Decimal | None]:
    """(problem, amount) of a cell read as the import reads it: match, reading, checks."""
    match = checks.amount_match("c", number_format=number_format)
    reading = checks.amount_reading("c", currency=currency, number_format=number_format)
    problem = checks.amount_problem(
        "amount_text",
        currency=currency,
        allow_zero=allow_zero,
        note="amount_note",
        number_format=number_format,
    )
    value = checks.amount_value("amount_text", currency=currency)
    row = conn.execute(
        f"SELECT problem, CASE WHEN problem IS NULL THEN {value} END FROM ("
        f"  SELECT amount_text, {problem} AS problem FROM ("
        f"    SELECT r.*, {checks.amount_parts('amount_text')} FROM ("
        f"      SELECT m.*, {reading} FROM ("
        f"        SELECT c, {match} FROM (SELECT %(c)s::text AS c) cell) m) r) parts) checked",
        {"c": text},
    ).fetchone()
    assert row is not None
    problem_text, amount = row
    assert isinstance(problem_text, str | None)
    assert isinstance(amount, Decimal | None)
    return problem_text, amount


def test_amounts_as_people_write_them(database: TestDatabase) -> None:
    ok = None
    with psycopg.connect(database.owner_url) as conn:
        for text, expected in [
            ("1234.56", (ok, Decimal("1234.56"))),  # plain: the fast path
            ("15,000,000.00", (ok, Decimal("15000000.00"))),
            ("$15,000,000.00", (ok, Decimal("15000000.00"))),
            ("$1,234", (ok, Decimal("1234.00"))),  # "1,234" is 1234 under the default
            ("USD 1,234.5", (ok, Decimal("1234.50"))),
            ("1234.56 usd", (ok, Decimal("1234.56"))),
            ("US$ 12", (ok, Decimal("12.00"))),
            ("(1,234.56)", ("must be zero or positive", None)),  # negative: refused here
            ("-$5", ("must be zero or positive", None)),
            ("(0.00)", (ok, Decimal("0.00"))),  # a negative zero is zero
            ("€12.50", ("€ is not this fund's currency (USD)", None)),
            ("12.50 EUR", ("EUR is not this fund's currency (USD)", None)),
            ("£1", ("£ is not this fund's currency (USD)", None)),
            ("1.234,56", ("looks like 1.234,56 notation: set number_format=1.234,56", None)),
            ("1,23", ("looks like 1.234,56 notation: set number_format=1.234,56", None)),
            (
                "1.234",
                (
                    "USD allows at most 2 decimal places "
                    "(if . separates thousands in this file, set number_format=1.234,56)",
                    None,
                ),
            ),
            ("12,34,567", ("not an amount in 1,234.56 notation (number_format)", None)),
            # One, or a thousand written in another notation: never guessed, never rounded.
            *[
                (
                    cell,
                    (
                        "3 digits after the . may be thousands: write USD amounts with at "
                        "most 2 decimal places "
                        "(if . separates thousands in this file, set number_format=1.234,56)",
                        None,
                    ),
                )
                for cell in ("1.000", "$2.500", "-1.000", "(12.000)", "999.000 USD")
            ],
            ("0.500", (ok, Decimal("0.50"))),  # no thousands group starts with 0
            ("1000.000", (ok, Decimal("1000.00"))),  # nor has 4 digits
            ("1,000.000", (ok, Decimal("1000.00"))),  # grouped: the notation is plain
            ("1.000.000", ("looks like 1.234,56 notation: set number_format=1.234,56", None)),
            ("$$5", (checks.NOT_AN_AMOUNT, None)),
            ("(5", (checks.NOT_AN_AMOUNT, None)),
            ("-(5)", (checks.NOT_AN_AMOUNT, None)),
            ("5 abc", (checks.NOT_AN_AMOUNT, None)),
            ("1e3", (checks.NOT_AN_AMOUNT, None)),
            ("", ("required", None)),
        ]:
            assert _sql_written_amount(conn, text) == expected, text
        # A fund in EUR takes €, EUR and the other formats; "$" is not its currency.
        for text, number_format, expected in [
            ("€ 1.234,56", NumberFormat.point_comma, (ok, Decimal("1234.56"))),
            ("1.234.567 EUR", NumberFormat.point_comma, (ok, Decimal("1234567.00"))),
            ("1234,5", NumberFormat.point_comma, (ok, Decimal("1234.50"))),
            ("1 234,56 €", NumberFormat.space_comma, (ok, Decimal("1234.56"))),
            ("1\u00a0234\u00a0567,8", NumberFormat.space_comma, (ok, Decimal("1234567.80"))),
            ("1\u202f234,56", NumberFormat.space_comma, (ok, Decimal("1234.56"))),
            ("(1.234,56)", NumberFormat.point_comma, ("must be zero or positive", None)),
            (
                "1,234.56",
                NumberFormat.point_comma,
                ("looks like 1,234.56 notation: set number_format=1,234.56", None),
            ),
            ("$5", NumberFormat.point_comma, ("$ is not this fund's currency (EUR)", None)),
            (
                "1,000",
                NumberFormat.point_comma,
                (
                    "3 digits after the , may be thousands: write EUR amounts with at most "
                    "2 decimal places "
                    "(if , separates thousands in this file, set number_format=1,234.56)",
                    None,
                ),
            ),
            ("1.000", NumberFormat.point_comma, (ok, Decimal("1000.00"))),
            (
                "1234.5",
                NumberFormat.point_comma,
                ("looks like 1,234.56 notation: set number_format=1,234.56", None),
            ),
        ]:
            got = _sql_written_amount(conn, text, currency="EUR", number_format=number_format)
            assert got == expected, (text, number_format)
        # Commitments refuse zero and negatives: the parentheses are a minus.
        assert _sql_written_amount(conn, "(1,234.56)", allow_zero=False) == (
            "must be positive",
            None,
        )
        # JPY has no decimals: "1.234" is refused, with the hint.
        assert _sql_written_amount(conn, "¥1,234", currency="JPY") == (ok, Decimal("1234"))
        assert _sql_written_amount(conn, "1.234", currency="JPY")[0] == (
            "JPY allows at most 0 decimal places "
            "(if . separates thousands in this file, set number_format=1.234,56)"
        )
        assert _sql_written_amount(conn, "1.000", currency="JPY")[0] == (
            "3 digits after the . may be thousands: write JPY amounts with at most "
            "0 decimal places "
            "(if . separates thousands in this file, set number_format=1.234,56)"
        )
        # A currency of 3 decimals writes them: "1.000" is one dinar.
        assert _sql_written_amount(conn, "1.000", currency="BHD") == (ok, Decimal("1.000"))


def _sql_written_date(
    conn: psycopg.Connection[tuple[object, ...]], text: str, date_format: DateFormat | None
) -> tuple[str | None, dt.date | None]:
    match = checks.date_match("c", date_format=date_format)
    reading = checks.date_reading("c", date_format=date_format)
    problem = checks.date_problem("date_text", note="date_note", read_as=date_format)
    row = conn.execute(
        f"SELECT problem, CASE WHEN problem IS NULL THEN date_text::date END FROM ("
        f"  SELECT date_text, {problem} AS problem FROM ("
        f"    SELECT m.*, {reading} FROM ("
        f"      SELECT c, {match} FROM (SELECT %(c)s::text AS c) cell) m) r) checked",
        {"c": text},
    ).fetchone()
    assert row is not None
    problem_text, date = row
    assert isinstance(problem_text, str | None)
    assert isinstance(date, dt.date | None)
    return problem_text, date


def test_dates_as_people_write_them(database: TestDatabase) -> None:
    march_15 = (None, dt.date(2025, 3, 15))
    no_option = (
        "not a date: write YYYY-MM-DD, or set date_format= to the file's notation "
        "(MM/DD/YYYY, DD/MM/YYYY, DD.MM.YYYY, YYYY/MM/DD, DD-MM-YYYY, MM-DD-YYYY)"
    )
    no_date_as_mdy = "no such date in MM/DD/YYYY notation (date_format)"
    with psycopg.connect(database.owner_url) as conn:
        for text, date_format, expected in [
            ("2025-03-15", None, march_15),
            ("2025-03-15", DateFormat.dmy_slash, march_15),  # ISO, whatever the option
            # Never guessed, even where only one reading exists (there is no 15th month).
            ("03/15/2025", None, (no_option, None)),
            ("03/15/2025", DateFormat.mdy_slash, march_15),
            ("3/15/2025", DateFormat.mdy_slash, march_15),
            ("15/03/2025", DateFormat.dmy_slash, march_15),
            ("15.03.2025", DateFormat.dmy_dot, march_15),
            ("2025/03/15", DateFormat.ymd_slash, march_15),
            ("15-03-2025", DateFormat.dmy_dash, march_15),
            ("03-15-2025", DateFormat.mdy_dash, march_15),
            # Month 15 as MM/DD/YYYY: the option is named, it may be what is wrong.
            ("15/03/2025", DateFormat.mdy_slash, (no_date_as_mdy, None)),
            ("02/29/2023", DateFormat.mdy_slash, (no_date_as_mdy, None)),
            ("2025-02-30", DateFormat.mdy_slash, ("no such date", None)),  # ISO: no option
            ("2025-02-30", None, ("no such date", None)),
            (
                "15.03.2025",
                DateFormat.mdy_slash,
                ("not a date: write MM/DD/YYYY (date_format) or YYYY-MM-DD", None),
            ),
            (
                "03/15/25",
                DateFormat.mdy_slash,
                ("not a date: write MM/DD/YYYY (date_format) or YYYY-MM-DD", None),
            ),
            ("", DateFormat.mdy_slash, ("required", None)),
            ("2025-3-15", None, (no_option, None)),
        ]:
            assert _sql_written_date(conn, text, date_format) == expected, (text, date_format)


def test_countries_by_code_or_name() -> None:
    names = checks.country_names()
    for written in ["us", "usa", "united states", "united states of america", "america"]:
        assert names[written] == "US", written
    for written in ["gb", "gbr", "united kingdom", "uk"]:
        assert names[written] == "GB", written
    assert names["cote d'ivoire"] == names["côte d'ivoire"] == "CI"  # accents or none
    assert names["in"] == "IN"  # a code, India
    # Names in use that ISO writes otherwise, and the short forms of its long names.
    for written, code in [
        ("turkey", "TR"),
        ("türkiye", "TR"),
        ("uae", "AE"),
        ("cape verde", "CV"),
        ("brunei", "BN"),
        ("holy see", "VA"),
        ("vatican city", "VA"),
        ("palestine", "PS"),
        ("bolivia", "BO"),
        ("taiwan", "TW"),
        ("congo", "CG"),  # ISO's name of CG; "Congo, The Democratic Republic of the" is CD
    ]:
        assert names[written] == code, written
    # Never guessed between two countries.
    for ambiguous in ["korea", "virgin islands"]:
        assert ambiguous not in names, ambiguous
