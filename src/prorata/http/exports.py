"""Lists as spreadsheets: every list of the API (and every table of the console) downloads as
CSV or XLSX, by one mechanism.

A list route answers `?format=csv` or `?format=xlsx` (or `Accept: text/csv` / the XLSX type)
with the whole list — every page, read with the same keyset cursors — as a file. Columns are the
JSON fields: a nested object of a fixed shape (a sub-model of the list's item model) is spread
into columns of its own (`amounts.investment`); any other nested value — an object whose keys
are data (a file's header, an audit entry's snapshot), a list of objects — is one column of JSON
text, so every row has the same columns; a list of plain values is joined with `; `. In XLSX,
money and other decimal strings are numbers shown with their own decimals, dates are dates; in
both, a text cell a spreadsheet would read as a formula is neutralised (prefixed with a quote),
as in an import's errors.csv.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import xlsxwriter
from fastapi import Request, Response
from pydantic import BaseModel

from prorata.platform import errors

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": CSV, "xlsx": XLSX}
MAX_ROWS = 100_000  # a bigger export is a filtered list or a report, not a download
PAGE = 500  # the API's largest page

_DECIMAL = re.compile(r"^-?\d{1,15}(\.(\d{1,10}))?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): prefixed
# with a quote it is shown as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> str:
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(_FORMULA_START) else text


def requested(request: Request) -> str | None:
    """The file format the client asks for: `?format=`, else the Accept header; None: JSON."""
    chosen = request.query_params.get("format")
    if chosen is not None:
        if chosen not in MEDIA_TYPES:
            raise errors.BadRequest("format must be csv or xlsx")
        return chosen
    accept = request.headers.get("accept", "")
    for name, media_type in MEDIA_TYPES.items():
        if media_type in accept:
            return name
    return None


def spread_fields(model: type[BaseModel], prefix: str = "") -> frozenset[str]:
    """The dotted JSON names of `model`'s nested objects of a fixed shape (sub-models, optional
    or not): the ones an export spreads into columns of their own."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.serialization_alias or field.alias or name}"
        for sub in _models_in(field.annotation):
            names |= {key, *spread_fields(sub, f"{key}.")}
    return frozenset(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The sub-models an annotation may hold: itself, or the members of a union (`X | None`)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    return [annotation] if is_model else []


def _flatten(
    item: Mapping[str, Any], spread: Collection[str] | None, prefix: str = ""
) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and (spread is None or name in spread):
            flat.update(_flatten(value, spread, f"{name}."))
        elif isinstance(value, Mapping) or (
            isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value)
        ):
            flat[name] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, list):
            flat[name] = "; ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def table(
    items: Sequence[Mapping[str, Any]], *, spread: Collection[str] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Columns (in first-seen order across all rows: a nested mapping may differ) and rows.
    `spread`: the nested objects spread into columns (`spread_fields`), any other being JSON
    text; None (rows built by hand, of a fixed shape): every nested object is spread."""
    flat = [_flatten(item, spread) for item in items]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    names = list(columns)
    return names, [[row.get(name) for name in names] for row in flat]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or (isinstance(value, str) and _DECIMAL.match(value)):
        return str(value)  # a number (a negative amount is no formula)
    return spreadsheet_safe(value)


def to_csv(columns: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue().encode()


def to_xlsx(columns: list[str], rows: list[list[Any]], *, sheet: str) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
    bold = book.add_format({"bold": True})
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    decimals: dict[int, Any] = {}

    def number_format(places: int) -> Any:
        if places not in decimals:
            pattern = "#,##0" + ("." + "0" * places if places else "")
            decimals[places] = book.add_format({"num_format": pattern})
        return decimals[places]

    worksheet = book.add_worksheet(sheet[:31])
    worksheet.write_row(0, 0, columns, bold)
    worksheet.freeze_panes(1, 0)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                worksheet.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                worksheet.write_number(r, c, value)
            elif (found := _DECIMAL.match(str(value))) is not None:
                places = len(found.group(2) or "")
                worksheet.write_number(r, c, float(value), number_format(places))
            elif _DATE.match(str(value)):
                worksheet.write_datetime(r, c, dt.datetime.fromisoformat(str(value)), date)
            elif _DATETIME.match(str(value)):
                moment = dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
                worksheet.write_datetime(r, c, moment.replace(tzinfo=None), stamp)
            else:
                worksheet.write_string(r, c, spreadsheet_safe(value))
    book.close()
    return out.getvalue()


def response(
    items: Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    name: str,
    model: type[BaseModel] | None = None,
) -> Response:
    """The file of `items`; `model`, the item model they were dumped from, says which nested
    objects are spread into columns (`table`)."""
    columns, rows = table(items, spread=None if model is None else spread_fields(model))
    body = to_csv(columns, rows) if fmt == "csv" else to_xlsx(columns, rows, sheet=name)
    media_type = MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt == "csv" else "")
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


def too_many() -> errors.Problem:
    return errors.Unprocessable(
        f"an export holds at most {MAX_ROWS:,} rows: narrow the list with its filters"
    )
