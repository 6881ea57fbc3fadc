"""The import's SQL checks say what the API's Python rules say, case for case: amounts
(`schemas.MONEY_PATTERN` + `money.check_amount` + sign) and ISO dates; and the header check."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prorata import errors, money
from prorata.imports import checks, formats
from prorata.imports.formats import ImportKind
from tests.support import TestDatabase

CURRENCIES = ["USD", "JPY", "BHD", "CLF"]
_API_AMOUNT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,6})?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def python_amount(text: str, currency: str, *, allow_zero: bool) -> Decimal | None:
    """What the API accepts for an amount (None: refused)."""
    if not _API_AMOUNT.fullmatch(text):
        return None
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


@pytest.mark.parametrize(
    ("kind", "line", "columns"),
    [
        (
            ImportKind.investors,
            b"\xef\xbb\xbfName,Email,KIND,country\r\n",
            ["name", "email", "kind", "country"],
        ),
        (
            ImportKind.investors,
            b"external_ref,name,email,kind,country\n",
            ["external_ref", "name", "email", "kind", "country"],
        ),
        (
            ImportKind.commitments,
            b" committed_on , amount,investor_email",
            ["committed_on", "amount", "investor_email"],
        ),
        (
            ImportKind.allocations,
            b'"amount","deal_name","investor_id"\n',
            ["amount", "deal_name", "investor_id"],
        ),
    ],
)
def test_headers_are_matched_in_any_order_and_case(
    kind: ImportKind, line: bytes, columns: list[str]
) -> None:
    assert formats.header_columns(kind, line) == columns


@pytest.mark.parametrize("line", [b'"name,"x', b"name\x00,email", b"\xff\xfe", b"", b"\n"])
def test_a_header_that_is_not_csv_text_is_a_422(line: bytes) -> None:
    with pytest.raises(errors.RuleViolation):
        formats.header_columns(ImportKind.investors, line)


def test_a_refused_header_says_what_is_expected() -> None:
    with pytest.raises(errors.RuleViolation) as refused:
        formats.header_columns(ImportKind.commitments, b"email,amount,date\n")
    assert refused.value.status == 422
    assert "investor_email, amount, committed_on" in refused.value.detail
