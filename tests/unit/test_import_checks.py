"""The import's header check: columns in any order and case, CSV text only, 4096 bytes at most."""

from __future__ import annotations

import pytest

from prorata.imports import formats
from prorata.imports.formats import ImportKind
from prorata.platform import errors


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


def test_a_header_is_at_most_4096_bytes_whatever_the_line_breaks() -> None:
    columns = ["name", "email", "kind", "country"]
    for newline in (b"\n", b"\r\n", b"\r"):  # the rest of the file may follow
        line = b"name,email,kind,country" + newline + b"x" * 5000
        assert formats.header_columns(ImportKind.investors, line) == columns
    # What follows the header is not read: bytes cut inside a character, a NUL of a later
    # row (the worker reports that one, on its line).
    for rest in (b"Zo\xc3", b"Ada,\x00,entity,US"):
        for newline in (b"\n", b"\r"):
            line = b"name,email,kind,country" + newline + rest
            assert formats.header_columns(ImportKind.investors, line) == columns
    padded = b"name,email,kind," + b" " * 4096 + b"country\n"
    with pytest.raises(errors.RuleViolation, match="longer than 4096 bytes"):
        formats.header_columns(ImportKind.investors, padded)


def test_a_header_cell_is_at_most_200_characters() -> None:
    """A sheet's header has no byte bound: each cell has one (`_` runs normalise away)."""
    cells = ["name", "email", "kind", "country"]
    assert formats.read_cells(ImportKind.investors, [*cells[:3], "country" + "_" * 193])
    with pytest.raises(errors.RuleViolation, match="over 200 characters"):
        formats.read_cells(ImportKind.investors, [*cells[:3], "country" + "_" * 194])


def test_a_refused_header_says_what_is_expected() -> None:
    with pytest.raises(errors.RuleViolation) as refused:
        formats.header_columns(ImportKind.commitments, b"email,amount,date\n")
    assert refused.value.status == 422
    assert "investor_email, amount, committed_on" in refused.value.detail


@pytest.mark.parametrize(
    ("header", "normalised"),
    [
        ("External Ref", "external_ref"),
        ("external-ref", "external_ref"),
        ("EXTERNAL_REF", "external_ref"),
        ("External Ref.", "external_ref"),
        ("  E-mail  ", "e_mail"),
        ("Montant (€)", "montant"),
        ("Pays d'origine", "pays_d_origine"),
        ("...", ""),
    ],
)
def test_a_header_is_normalised_without_case_spaces_underscores_or_punctuation(
    header: str, normalised: str
) -> None:
    assert formats.normalise(header) == normalised


def test_a_mapping_renames_the_headers_it_names_and_leaves_out_nulls() -> None:
    line = b"Investor Name,E-mail,kind,Country,Notes\n"  # `E-mail` by alias, `kind` by name
    mapping = {"investor  name": "name", "NOTES": None}
    assert formats.read_header(ImportKind.investors, line, mapping=mapping) == {
        "Investor Name": "name",
        "E-mail": "email",
        "kind": "kind",
        "Country": "country",
        "Notes": "ignored_4",  # loaded into a column no check reads
    }
    assert formats.column_or_none("ignored_4") is None
    assert formats.column_or_none("name") == "name"


def test_a_mapping_naming_one_header_twice_for_two_columns_is_refused() -> None:
    with pytest.raises(errors.RuleViolation, match="names the header 'Name' twice"):
        formats.checked_mapping(ImportKind.investors, {"name": "email", "Name": "name"})
    # The same header twice for the same column is no contradiction.
    assert formats.checked_mapping(ImportKind.investors, {"A b": "name", "a-b": "name"}) == {
        "a_b": "name"
    }
