"""The CSV formats of imports: which columns each kind has, and the header check.

Shared by the web process (which refuses a file with a bad header before storing it) and the
worker (which maps the file's column order onto its staging table). Rows are never parsed here.

- investors:   name, email, kind, country[, external_ref]
- commitments: investor_email, amount, committed_on
- allocations: investor_email | investor_id, deal_name | deal_id, amount

A header row is required; column order is free; names are matched without regard to case or
surrounding spaces; the file is UTF-8, with or without a byte order mark.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import re

from prorata.imports import values
from prorata.platform import errors

BOM = b"\xef\xbb\xbf"
# A header is a few short names: anything longer is not one of our files.
MAX_HEADER_BYTES = 4096


class ImportKind(enum.StrEnum):
    investors = "investors"
    commitments = "commitments"
    allocations = "allocations"


@dataclasses.dataclass(frozen=True)
class Format:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # Groups of interchangeable columns: exactly one of each group must be present.
    one_of: tuple[tuple[str, ...], ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.required, *self.optional, *(name for group in self.one_of for name in group))

    def describe(self) -> str:
        parts = [*self.required, *("|".join(group) for group in self.one_of)]
        parts += [f"[{name}]" for name in self.optional]
        return ", ".join(parts)


FORMATS: dict[ImportKind, Format] = {
    ImportKind.investors: Format(
        required=("name", "email", "kind", "country"), optional=("external_ref",)
    ),
    ImportKind.commitments: Format(required=("investor_email", "amount", "committed_on")),
    ImportKind.allocations: Format(
        required=("amount",), one_of=(("investor_email", "investor_id"), ("deal_name", "deal_id"))
    ),
}


def header_columns(kind: ImportKind, first_line: bytes) -> list[str]:
    """The file's column names in file order, checked against the kind's format.

    Anything but a UTF-8 header naming each needed column once (and nothing else) is a 422
    that says what was expected.
    """
    return checked_names(kind, _names(first_line.removeprefix(BOM)))


def checked_names(kind: ImportKind, names: list[str]) -> list[str]:
    """`names` (a header's cells, trimmed and in lower case: a CSV line or a sheet's first
    row) checked against the kind's format."""
    spec = FORMATS[kind]
    if not names:
        raise _refused("the file is empty: the first line must name the columns", spec)
    unknown = [name for name in names if name not in spec.known]
    if unknown:
        raise _refused(f"unknown column {unknown[0]!r}", spec)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _refused(f"column {repeated[0]!r} appears more than once", spec)
    missing = [name for name in spec.required if name not in names]
    if missing:
        raise _refused(f"missing column {missing[0]!r}", spec)
    for group in spec.one_of:
        present = [name for name in group if name in names]
        if len(present) != 1:
            raise _refused(f"give exactly one of the columns {' or '.join(group)}", spec)
    return names


def _names(line: bytes) -> list[str]:
    # Measured in bytes before decoding: the web process reads at most this much (plus one
    # byte) of the file to check it, so a longer header would be checked on its first part
    # only, and could be cut inside a character.
    if len(re.split(rb"[\r\n]", line, maxsplit=1)[0]) > MAX_HEADER_BYTES:
        raise errors.RuleViolation(
            f"the first line is longer than {MAX_HEADER_BYTES} bytes: it is not a header",
            title="Unexpected CSV header",
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.RuleViolation(
            "the file is not UTF-8 text: save it as CSV UTF-8", title="Unreadable file"
        ) from None
    if "\x00" in text:
        raise errors.RuleViolation(
            "a NUL byte (0x00) in the first line: the file is not CSV text (an .xls file? "
            "save it as .xlsx or CSV UTF-8)",
            title="Unreadable file",
        )
    # The header ends at the first line break, whichever the file uses (CR LF, LF or CR).
    header = text.split("\n", 1)[0].split("\r", 1)[0]
    try:
        cells = next(csv.reader([header], delimiter=values.delimiter_of(header)), [])
    except csv.Error:
        raise errors.RuleViolation(
            "the header is not a CSV line", title="Unreadable file"
        ) from None
    if cells in ([], [""]):
        return []
    return [cell.strip().lower() for cell in cells]


def _refused(reason: str, spec: Format) -> errors.RuleViolation:
    return errors.RuleViolation(
        f"{reason}; the header must name the columns {spec.describe()} (any order)",
        title="Unexpected CSV header",
    )
