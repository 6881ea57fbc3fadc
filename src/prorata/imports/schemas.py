"""API shapes of imports."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from prorata.imports.formats import ImportKind
from prorata.imports.models import DataImport, ImportPhase, ImportStatus


class ImportProgress(BaseModel):
    phase: ImportPhase
    bytes_read: int = Field(description="Bytes of the file loaded so far.")
    bytes_total: int


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
    inserted: int | None = Field(description="Rows added (a dry run: rows it would add).")
    updated: int | None
    unchanged: int | None
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
            if name not in {"size", "progress", "errors_url"}
        }
        return cls(
            **values,
            size=row.bytes_total,
            progress=ImportProgress(
                phase=row.phase, bytes_read=row.bytes_read, bytes_total=row.bytes_total
            ),
            errors_url=f"/api/v1/imports/{row.id}/errors.csv" if row.errors_recorded else None,
        )


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
