"""API shapes of imports."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from prorata.imports.formats import MAX_MAPPING_ENTRIES, ImportKind
from prorata.imports.models import DataImport, ImportPhase, ImportStatus


class ImportProgress(BaseModel):
    phase: ImportPhase
    bytes_read: int = Field(description="Bytes of the file loaded so far.")
    bytes_total: int


class WouldCounts(BaseModel):
    inserted: int
    updated: int
    unchanged: int


class ImportOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    kind: ImportKind
    dry_run: bool = Field(description="Validated only: nothing is applied.")
    status: ImportStatus
    filename: str | None
    size: int = Field(description="Bytes.")
    sha256: str
    rows_total: int | None
    rows_valid: int | None
    rows_invalid: int | None
    inserted: int | None = Field(description="Rows added (null for a dry run: see `would`).")
    updated: int | None
    unchanged: int | None
    would: WouldCounts | None = Field(
        description="A dry run that passed: what applying it would do. Null otherwise."
    )
    columns: dict[str, str | None] | None = Field(
        description=(
            "The file's header cells and the column each was read as (null: left out). For an "
            ".xlsx workbook, null until the job has read the sheet's header."
        )
    )
    preview: list[dict[str, Any]] | None = Field(
        description=(
            "A dry run that passed: its first rows (at most 20) as they would be applied — "
            "the file's line, the outcome (insert, update, unchanged), normalised values, and "
            "the investors and deals they resolve to (ids and names)."
        )
    )
    progress: ImportProgress
    message: str | None = Field(description="Why the file as a whole was rejected or failed.")
    number_format: str = Field(description="How the file writes amounts (upload option).")
    date_format: str | None = Field(description="The file's date notation besides ISO.")
    sheet: str | None = Field(description=".xlsx: the sheet read (None: the first).")
    errors_url: str | None = Field(description="errors.csv: line, column, value, message.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, row: DataImport) -> ImportOut:
        values: dict[str, Any] = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in {"size", "progress", "errors_url", "would", "columns"}
        }
        would = None
        if row.would_insert is not None:
            would = WouldCounts(
                inserted=row.would_insert,
                updated=row.would_update or 0,
                unchanged=row.would_keep or 0,
            )
        return cls(
            **values,
            columns=row.header,  # as read (`columns` of the row is how to read it)
            would=would,
            size=row.bytes_total,
            progress=ImportProgress(
                phase=row.phase, bytes_read=row.bytes_read, bytes_total=row.bytes_total
            ),
            errors_url=f"/api/v1/imports/{row.id}/errors.csv" if row.errors_recorded else None,
        )


MappingName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
MAPPING_COLUMNS_DOC = (
    "The file's header text → our column (null: leave that column out). Headers are matched "
    "as the file's are: case, spaces, underscores and punctuation do not count."
)


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ImportKind
    name: MappingName
    # Header names are checked by the service (formats.checked_mapping, a 422 naming the bad
    # one): OpenAPI cannot bound an object's keys in a way every client generator honours.
    columns: dict[str, Annotated[str, StringConstraints(max_length=64)] | None] = Field(
        max_length=MAX_MAPPING_ENTRIES,
        description=MAPPING_COLUMNS_DOC,
        examples=[{"Investor Name": "name", "E-mail address": "email", "Notes": None}],
    )
    default: bool = Field(
        False,
        description=(
            "Used by uploads of this kind that send neither `mapping` nor `mapping_id` "
            "(one default per kind: setting it moves it here)."
        ),
    )


class MappingOut(BaseModel):
    id: uuid.UUID
    kind: ImportKind
    name: str
    columns: dict[str, str | None]
    default: bool = Field(validation_alias="is_default")
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(from_attributes=True)


# The request body of an upload, documented by hand: the route reads the stream itself.
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": (
                            "The CSV (UTF-8) or .xlsx file; a header row names the columns."
                        ),
                    }
                },
                "required": ["file"],
                "additionalProperties": False,
            }
        }
    },
}
