"""The import formats in words, for the upload route's description (and the console): every
column with the values it takes and an example, the aliases of header names, the mapping rule.

Built from `formats` (columns, aliases, bounds) so the text cannot drift from what is read;
the value rules (`COLUMN_VALUES`) mirror the checks in `checks.py`.
"""

from __future__ import annotations

from prorata.imports.formats import ALIASES, FORMATS, MAX_MAPPING_ENTRIES, Format, ImportKind

_AMOUNT = (
    "a positive amount in the fund's currency, no more decimals than the currency has, "
    "written as the amount rule below allows — `15000000.00`, `$15,000,000.00`, `2500`"
)
_EMAIL = "an investor's email address, any case — `ada@lp.example`"

# Column → what it takes, with examples (the checks of `checks.py` in words).
COLUMN_VALUES: dict[ImportKind, dict[str, str]] = {
    ImportKind.investors: {
        "name": "the investor's name, up to 200 characters — `Ada Capital LP`",
        "email": "the investor's email address; an investor is matched by it (or by "
        "external_ref) and updated, else created — `ada@lp.example`",
        "kind": "`individual` or `entity`, any case — `Entity`",
        "country": "an ISO 3166-1 alpha-2 or alpha-3 code or the country's name, any case, or "
        "empty; stored as the alpha-2 code — `US`, `USA`, `United States`, `gb`",
        "external_ref": "your own reference for the investor (your CRM's id), up to 100 "
        "characters, or empty; matched before email — `CRM-1042`",
    },
    ImportKind.commitments: {
        "investor_email": _EMAIL,
        "amount": _AMOUNT,
        "committed_on": "a date, `YYYY-MM-DD`, or in the notation `date_format=` names "
        "— `2025-03-15`, `03/15/2025` with `date_format=MM/DD/YYYY`",
    },
    ImportKind.allocations: {
        "investor_email": _EMAIL + " (of an investor committed to the fund)",
        "investor_id": "an investor's id (committed to the fund) — `0193a1c2-…`",
        "deal_name": "the name of a deal of the fund — `Project Atlas`",
        "deal_id": "a deal's id — `0193a1c3-…`",
        "amount": _AMOUNT + "; an existing investor and deal pair is updated",
    },
}


def _kind(kind: ImportKind, spec: Format) -> str:
    lines = [f"**{kind}** — columns {spec.describe()}:"]
    groups = {name: group for group in spec.one_of for name in group}
    for name in spec.known:
        need = "optional column" if name in spec.optional else "required column"
        if name in groups:
            need = "one of " + " | ".join(groups[name])
        lines.append(f"- `{name}` ({need}): {COLUMN_VALUES[kind][name]}")
    aliases = ", ".join(f"`{alias}` → {name}" for alias, name in ALIASES[kind].items())
    lines.append(f"- header aliases: {aliases}")
    return "\n".join(lines)


UPLOAD = (
    "**File**: CSV — a header row naming the columns (any order), then one row per line; "
    "UTF-8, with or without a byte order mark; comma, semicolon or tab, told by the header "
    "line; blank rows at the end ignored — or an .xlsx workbook (its first sheet, or `sheet=`; "
    "its first row is the header; date and number cells are taken as such).\n\n"
    "**Header names**: case, spaces, underscores and punctuation do not count — "
    "`External Ref`, `external-ref`, `EXTERNAL_REF` and `External Ref.` all name "
    "external_ref — and each kind takes a few aliases (below).\n\n"
    + "\n\n".join(_kind(kind, spec) for kind, spec in FORMATS.items())
    + "\n\n**Column mapping**: for headers of your own, a JSON object of file header → column "
    '(null leaves a column out), such as `{"Investor Name": "name", "Commitment Amount": '
    f'"amount", "Notes": null}}` (at most {MAX_MAPPING_ENTRIES} entries; headers matched as '
    "above). The upload reads its header with the `mapping` it sends; else the saved mapping "
    "`mapping_id` names (`/import-mappings`); else the organisation's default mapping of the "
    "kind, if one is saved; else names and aliases only. A mapping renames only the headers it "
    "names. A target that is not a column of the kind is a 422 naming it. Errors name the "
    "file's line and the file's own header text."
)

MAPPINGS = (
    "A mapping of file headers to the columns of one import kind, such as "
    '`{"Investor Name": "name", "E-mail address": "email", "Notes": null}` (null leaves a '
    "column out). Headers are matched as uploads match them: case, spaces, underscores and "
    "punctuation do not count. Uploads of the kind use it when they name it (`mapping_id`) or, "
    "if it is the `default`, when they send no mapping. A target that is not a column of the "
    "kind is a 422 naming it; names are unique per kind."
)
