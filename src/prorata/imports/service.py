"""Imports as the web process sees them: receive a file, record the import and enqueue its job
(one transaction), read its status and its errors. The ingest itself runs in the worker
(`imports.tasks`, whose task body alone loads the ingest code).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.funds import service as fund_service
from prorata.http import exports
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.imports import formats, values
from prorata.imports import tasks as import_tasks
from prorata.imports.formats import ColumnMapping, ImportKind
from prorata.imports.models import DataImport, ImportPhase, ImportRowError, ImportStatus
from prorata.imports.upload import FileUpload
from prorata.platform import audit, errors, storage

CSV_TYPE = "text/csv"


@dataclasses.dataclass(frozen=True)
class Received:
    stored: storage.Stored
    filename: str | None
    # How the worker is to read the header: for CSV, the file's header cells → our columns
    # (None: left out by the mapping); for .xlsx, the mapping.
    columns: dict[str, str | None]
    # The file's header cells → our columns, as read; None for .xlsx (the worker reads it).
    header: dict[str, str | None] | None


@dataclasses.dataclass(frozen=True)
class ValueOptions:
    """How the file writes its values (`imports.values`), as the upload's query says."""

    number_format: values.NumberFormat = values.NumberFormat.comma_point
    date_format: values.DateFormat | None = None
    sheet: str | None = None


async def receive(
    request: Request,
    *,
    blobs: storage.BlobStore,
    org_id: uuid.UUID,
    kind: ImportKind,
    mapping: ColumnMapping | None = None,
    options: ValueOptions | None = None,
) -> Received:
    """Check the file's header (read with `mapping`), then stream the file into the object
    store, hashing it. An .xlsx workbook (told by its first bytes) is a zip archive whose header
    row can only be read once the whole file is there: the worker checks it (with the mapping
    kept as `columns`), with the same messages."""
    upload = FileUpload(request)
    first = await upload.first_line(limit=len(formats.BOM) + formats.MAX_HEADER_BYTES)
    if values.is_xlsx(first):
        suffix, content_type = ".xlsx", values.XLSX_TYPE
        columns, header = dict(mapping or {}), None
        formats.checked_mapping(kind, columns)  # a bad mapping is refused now, not by the worker
    else:
        if options is not None and options.sheet is not None:
            raise errors.RuleViolation(
                "sheet= is for .xlsx workbooks; this file is CSV", title="Unexpected option"
            )
        read = formats.read_header(kind, first, mapping=mapping)
        columns = {cell: formats.column_or_none(name) for cell, name in read.items()}
        header = columns
        suffix, content_type = ".csv", CSV_TYPE
    key = storage.new_key(org_id=org_id, purpose="imports", suffix=suffix)
    stored = await blobs.put(key, upload.chunks(), content_type=content_type)
    return Received(stored=stored, filename=upload.filename, columns=columns, header=header)


async def create(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    kind: ImportKind,
    dry_run: bool,
    received: Received,
    options: ValueOptions | None = None,
) -> tuple[DataImport, bool]:
    """The import of this file, and whether it is new. The same file (SHA-256) for the same
    fund and kind, read the same way, returns the earlier import instead of importing twice
    (unless that one failed or was rejected: it applied nothing). A dry run is always new: it
    applies nothing, and checks the file against the data as it is now, which an earlier dry
    run did not see. A new import is recorded with its job, in the caller's transaction."""
    sha256 = received.stored.sha256
    read_as = {**_option_columns(options or ValueOptions()), "columns": received.columns}
    if not dry_run:
        existing = await _same_file(
            session, fund_id=fund_id, kind=kind, sha256=sha256, options=read_as
        )
        if existing is not None:
            return existing, False
    blob = await storage.record(session, org_id=actor.org_id, stored=received.stored)
    row = DataImport(
        org_id=actor.org_id,
        fund_id=fund_id,
        blob_id=blob.id,
        kind=kind,
        dry_run=dry_run,
        status=ImportStatus.queued,
        phase=ImportPhase.queued,
        sha256=sha256,
        filename=received.filename,
        created_by=actor.user_id,
        bytes_total=received.stored.size,
        header=received.header,
        **read_as,
    )
    return await _queue(session, actor, row)


# How a file is read: the same bytes read otherwise are another import (the unique index).
OPTION_COLUMNS = ("number_format", "date_format", "sheet", "columns")


def _option_columns(options: ValueOptions) -> dict[str, str | None]:
    return {
        "number_format": options.number_format.value,
        "date_format": options.date_format.value if options.date_format else None,
        "sheet": options.sheet,
    }


async def apply(
    session: AsyncSession, *, actor: Principal, import_id: uuid.UUID
) -> tuple[DataImport, bool]:
    """Import for real the file of a dry run that passed (the same stored file: nothing is
    uploaded again), and whether that import is new."""
    dry = await get(session, import_id=import_id)
    if not dry.dry_run or dry.status is not ImportStatus.succeeded:
        raise errors.Conflict("only a dry run that passed can be applied")
    existing = await _same_file(
        session,
        fund_id=dry.fund_id,
        kind=dry.kind,
        sha256=dry.sha256,
        options={name: getattr(dry, name) for name in OPTION_COLUMNS},
    )
    if existing is not None:
        return existing, False
    row = DataImport(
        org_id=actor.org_id,
        fund_id=dry.fund_id,
        blob_id=dry.blob_id,
        kind=dry.kind,
        dry_run=False,
        status=ImportStatus.queued,
        phase=ImportPhase.queued,
        sha256=dry.sha256,
        filename=dry.filename,
        created_by=actor.user_id,
        bytes_total=dry.bytes_total,
        header=dry.header,  # the same file read the same way: the same header
        **{name: getattr(dry, name) for name in OPTION_COLUMNS},
    )
    return await _queue(session, actor, row)


async def _queue(
    session: AsyncSession, actor: Principal, row: DataImport
) -> tuple[DataImport, bool]:
    """Record the import with its job (or find the one a concurrent request recorded)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except sa.exc.IntegrityError:
        # The same file, imported at the same moment by another request, won the race.
        raced = await _same_file(
            session,
            fund_id=row.fund_id,
            kind=row.kind,
            sha256=row.sha256,
            options={name: getattr(row, name) for name in OPTION_COLUMNS},
        )
        if raced is None:
            raise
        return raced, False
    await jobs.defer(
        session, import_tasks.run_import, import_id=str(row.id), org_id=str(actor.org_id)
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="import.create",
        entity="import",
        entity_id=row.id,
        after={
            "fund_id": str(row.fund_id),
            "kind": str(row.kind),
            "dry_run": row.dry_run,
            "sha256": row.sha256,
            **{name: getattr(row, name) for name in OPTION_COLUMNS},
        },
    )
    return row, True


async def _same_file(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    kind: ImportKind,
    sha256: str,
    options: dict[str, Any],
) -> DataImport | None:
    """The earlier real import of these bytes, read with the same options (the unique index:
    dry runs are not in it)."""
    return (
        await session.scalars(
            sa.select(DataImport).where(
                DataImport.fund_id == fund_id,
                DataImport.kind == kind,
                DataImport.dry_run.is_(False),
                DataImport.sha256 == sha256,
                *(
                    getattr(DataImport, name).is_not_distinct_from(value)
                    for name, value in options.items()
                ),
                DataImport.status.not_in([ImportStatus.failed, ImportStatus.rejected]),
            )
        )
    ).one_or_none()


async def get(session: AsyncSession, *, import_id: uuid.UUID) -> DataImport:
    row = await session.get(DataImport, import_id, populate_existing=True)
    if row is None:
        raise errors.NotFound("no such import")
    return row


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[DataImport]:
    """A page of the fund's imports, newest first (ids are time-ordered); 404 for no such
    fund."""
    await fund_service.get(session, fund_id=fund_id)
    return await keyset(
        session,
        sa.select(DataImport).where(DataImport.fund_id == fund_id),
        key=[DataImport.id],
        params=params,
        item=lambda row: row,
        descending=True,
    )


async def errors_csv(session: AsyncSession, *, import_id: uuid.UUID) -> str:
    """errors.csv: one line per refused cell (line 1 is the header, so the first row is 2)."""
    await get(session, import_id=import_id)
    rows = await session.execute(
        sa.select(
            ImportRowError.line, ImportRowError.column, ImportRowError.value, ImportRowError.message
        )
        .where(ImportRowError.import_id == import_id)
        .order_by(ImportRowError.line.nulls_first(), ImportRowError.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["line", "column", "value", "message"])
    for row in rows:
        writer.writerow([exports.spreadsheet_safe(cell) for cell in row])
    return out.getvalue()
