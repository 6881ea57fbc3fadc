"""The CSV formats of imports: which columns each kind has, and the header check.

Shared by the web process (which refuses a file with a bad header before storing it) and the
worker (which maps the file's column order onto its staging table). Rows are never parsed here.

- investors:   name, email, kind, country[, external_ref]
- commitments: investor_email, amount, committed_on
- allocations: investor_email | investor_id, deal_name | deal_id, amount

A header row is required; column order is free; the file is UTF-8, with or without a byte order
mark. A header cell is read by `normalise`: case, spaces, underscores and punctuation do not
count (`External Ref`, `external-ref`, `EXTERNAL_REF` and `External Ref.` all name
external_ref), then by the kind's few ALIASES (`e-mail` is email). A column mapping (file header
→ our column, or null to leave a column out), sent with the upload or saved for the organisation,
is matched the same way and takes precedence over names and aliases.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import re
from collections.abc import Mapping

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


# The fields of a dry run's preview rows, in reading order (JSONB keeps keys in its own order;
# the worker's `ingest._PREVIEW_ROWS` selects exactly these).
PREVIEW_FIELDS: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.investors: (
        "line",
        "outcome",
        "investor_id",
        "name",
        "email",
        "kind",
        "country",
        "external_ref",
    ),
    ImportKind.commitments: (
        "line",
        "outcome",
        "investor_id",
        "investor_name",
        "amount",
        "committed_on",
    ),
    ImportKind.allocations: (
        "line",
        "outcome",
        "investor_id",
        "investor_name",
        "deal_id",
        "deal_name",
        "amount",
    ),
}

# Other names people's exports give a column, after `normalise` (short on purpose: a name
# that could mean two things is not here). Listed in the upload route's description.
ALIASES: dict[ImportKind, dict[str, str]] = {
    ImportKind.investors: {
        "e_mail": "email",
        "email_address": "email",
        "investor_name": "name",
        "investor_type": "kind",
        "external_id": "external_ref",
    },
    ImportKind.commitments: {
        "email": "investor_email",
        "e_mail": "investor_email",
        "investor_e_mail": "investor_email",
        "commitment": "amount",
        "commitment_amount": "amount",
        "commitment_date": "committed_on",
    },
    ImportKind.allocations: {
        "email": "investor_email",
        "e_mail": "investor_email",
        "investor_e_mail": "investor_email",
        "deal": "deal_name",
        "allocation": "amount",
        "allocation_amount": "amount",
    },
}

# A mapping is a few header names: its bounds (the upload's `mapping` parameter, a saved one).
MAX_MAPPING_ENTRIES = 50
MAX_HEADER_NAME = 200
# The staging column of a header the mapping leaves out (null): loaded, never read.
_IGNORED = "ignored_{position}"

ColumnMapping = Mapping[str, str | None]


def column_or_none(name: str) -> str | None:
    """A name `read_header` gives, as a mapping keeps it: None for a column left out."""
    return None if name.startswith(_IGNORED.split("{", 1)[0]) else name


def normalise(header: str) -> str:
    """A header cell as compared: lower case, every run of spaces, underscores and punctuation
    one underscore, none at either end (`External Ref.` → external_ref)."""
    return re.sub(r"[\W_]+", "_", header.casefold()).strip("_")


def checked_mapping(kind: ImportKind, mapping: ColumnMapping) -> dict[str, str | None]:
    """The mapping, keyed by normalised header, once every target is a column of `kind`
    (or null: leave the column out); anything else is a 422 naming what is wrong."""
    spec = FORMATS[kind]
    if len(mapping) > MAX_MAPPING_ENTRIES:
        raise errors.RuleViolation(
            f"a mapping has at most {MAX_MAPPING_ENTRIES} entries", title="Invalid column mapping"
        )
    unknown = sorted(
        {str(target) for target in mapping.values() if target not in (*spec.known, None)}
    )
    if unknown:
        raise errors.RuleViolation(
            f"unknown target column {', '.join(map(repr, unknown))}: the columns of {kind} are "
            f"{', '.join(spec.known)} (or null to leave a column out)",
            title="Invalid column mapping",
        )
    by_key: dict[str, str | None] = {}
    for header, target in mapping.items():
        key = normalise(header)
        if not key or len(header) > MAX_HEADER_NAME:
            raise errors.RuleViolation(
                f"the header {header[:MAX_HEADER_NAME]!r} is not a name of up to "
                f"{MAX_HEADER_NAME} characters",
                title="Invalid column mapping",
            )
        if key in by_key and by_key[key] != target:
            raise errors.RuleViolation(
                f"the mapping names the header {header!r} twice, for different columns",
                title="Invalid column mapping",
            )
        by_key[key] = target
    return by_key


def header_columns(
    kind: ImportKind, first_line: bytes, *, mapping: ColumnMapping | None = None
) -> list[str]:
    """Our column names in file order (a column the mapping leaves out gets a name no check
    reads), checked against the kind's format."""
    return list(read_header(kind, first_line, mapping=mapping).values())


def read_header(
    kind: ImportKind, first_line: bytes, *, mapping: ColumnMapping | None = None
) -> dict[str, str]:
    """The file's header cells (as written) → our column names, in file order.

    Anything but a UTF-8 header naming each needed column once (and nothing else) is a 422
    that says what was expected, naming the file's own header text.
    """
    return read_cells(kind, _named(_names(first_line.removeprefix(BOM))), mapping=mapping)


def unnamed_columns(first_line: bytes) -> int:
    """How many empty cells end the header line (`name,email,`: Excel writes a column once
    used as one of empty cells): columns `read_header` leaves out, whose cells must be empty."""
    cells = _names(first_line.removeprefix(BOM))
    return len(cells) - len(_named(cells))


def _named(cells: list[str]) -> list[str]:
    """A header's cells without the empty ones at its end (as a sheet's header ends at its
    last cell with text)."""
    while cells and not cells[-1]:
        cells = cells[:-1]
    return cells


def read_cells(
    kind: ImportKind, cells: list[str], *, mapping: ColumnMapping | None = None
) -> dict[str, str]:
    """A header's cells (trimmed, as written: a CSV line or a sheet's first row) → our column
    names, in file order, checked against the kind's format (see `read_header`)."""
    spec = FORMATS[kind]
    if not cells:
        raise _refused("the file is empty: the first line must name the columns", spec)
    long = next((cell for cell in cells if len(cell) > MAX_HEADER_NAME), None)
    if long is not None:
        raise _refused(f"the header cell {long[:40]!r}… is over {MAX_HEADER_NAME} characters", spec)
    if len(set(cells)) < len(cells):
        repeated = sorted({cell for cell in cells if cells.count(cell) > 1})
        raise _refused(f"column {repeated[0]!r} appears more than once", spec)
    mapped = checked_mapping(kind, mapping or {})
    aliases = ALIASES[kind]
    read: dict[str, str] = {}
    for position, cell in enumerate(cells):
        key = normalise(cell)
        name = mapped[key] if key in mapped else aliases.get(key, key)
        if name is None:
            read[cell] = _IGNORED.format(position=position)
        elif name not in spec.known:
            raise _refused(f"unknown column {cell!r}", spec)
        elif name in read.values():
            first = next(header for header, known in read.items() if known == name)
            raise _refused(f"the columns {first!r} and {cell!r} both give {name}", spec)
        else:
            read[cell] = name
    names = list(read.values())
    missing = [name for name in spec.required if name not in names]
    if missing:
        raise _refused(f"missing column {missing[0]!r}", spec)
    for group in spec.one_of:
        present = [name for name in group if name in names]
        if len(present) != 1:
            raise _refused(f"give exactly one of the columns {' or '.join(group)}", spec)
    return read


def _names(line: bytes) -> list[str]:
    # The header ends at the first line break, whichever the file uses (CR LF, LF or CR),
    # and is cut there before decoding: what follows a CR may end inside a character (a file
    # of CR line ends comes whole, to the bytes read). Measured in bytes before decoding: the
    # web process reads at most this much (plus one byte) of the file to check it, so a
    # longer header would be checked on its first part only, and could be cut inside a
    # character.
    line = re.split(rb"[\r\n]", line, maxsplit=1)[0]
    if len(line) > MAX_HEADER_BYTES:
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
    try:
        cells = next(csv.reader([text], delimiter=values.delimiter_of(text)), [])
    except csv.Error:
        raise errors.RuleViolation(
            "the header is not a CSV line", title="Unreadable file"
        ) from None
    if cells in ([], [""]):
        return []
    return [cell.strip() for cell in cells]


def _refused(reason: str, spec: Format) -> errors.RuleViolation:
    return errors.RuleViolation(
        f"{reason}; the header must name the columns {spec.describe()} (any order; or send a "
        "column mapping)",
        title="Unexpected CSV header",
    )
