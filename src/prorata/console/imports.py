"""Importing spreadsheets from the console: choose a file (a dry run first, by default), watch
it run, read its errors as a table, then apply it.

The upload itself goes to the API's import route from the page's script (streamed to storage,
bounded, idempotent — the one way files come in), with the session's CSRF token; the pages
here show the result and apply a dry run that passed, from the file already stored.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from prorata.console import render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.funds import service as fund_service
from prorata.http.pagination import PageParams
from prorata.imports import mappings as mapping_service
from prorata.imports import service as import_service
from prorata.imports.formats import FORMATS, PREVIEW_FIELDS, ImportKind
from prorata.imports.models import ImportRowError, ImportStatus
from prorata.imports.schemas import ImportOut
from prorata.imports.values import DateFormat, NumberFormat
from prorata.platform import errors, events

router = APIRouter(route_class=PageRoute)

ERRORS_SHOWN = 200  # the table shows this many; errors.csv has them all
IMPORTS_SHOWN = 20  # the latest imports listed under the form (the API pages through all)
MAPPINGS_SHOWN = 100  # saved mappings offered by the form (an organisation has a few)


@router.get("/funds/{fund_id}/imports/new")
async def new_import(request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    latest = await import_service.page(
        db, fund_id=fund_id, params=PageParams(limit=IMPORTS_SHOWN, cursor=None)
    )
    mappings = await mapping_service.page(db, params=PageParams(limit=MAPPINGS_SHOWN, cursor=None))
    return await render.page(
        request,
        "import_new.html",
        fund=fund,
        kinds=[(kind.value, FORMATS[kind].describe()) for kind in ImportKind],
        imports=[ImportOut.of(row) for row in latest.items],
        number_formats=[f.value for f in NumberFormat],
        date_formats=[f.value for f in DateFormat],
        mappings=sorted(mappings.items, key=lambda m: (m.kind, m.name)),
    )


@router.get("/funds/{fund_id}/imports/{import_id}")
async def import_page(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, import_id: uuid.UUID
) -> Response:
    live_after = await events.last_number(db, fund_id=fund_id)  # before the data it shows
    fund = await fund_service.get(db, fund_id=fund_id)
    row = await import_service.get(db, import_id=import_id)
    if row.fund_id != fund_id:
        raise errors.NotFound("no such import in this fund")
    problems = await db.execute(
        sa.select(
            ImportRowError.line,
            ImportRowError.column,
            ImportRowError.value,
            ImportRowError.message,
        )
        .where(ImportRowError.import_id == import_id)
        .order_by(ImportRowError.line.nulls_first(), ImportRowError.id)
        .limit(ERRORS_SHOWN)
    )
    running = row.status in (ImportStatus.queued, ImportStatus.running)
    return await render.page(
        request,
        "import.html",
        live_after=live_after,
        fund=fund,
        imported=ImportOut.of(row),
        problems=problems.all(),
        running=running,
        may_apply=row.dry_run and row.status is ImportStatus.succeeded,
        preview=row.preview or [],
        # Names, not ids, in the console's preview (the API's has both).
        preview_columns=[name for name in PREVIEW_FIELDS[row.kind] if name[-3:] != "_id"],
    )


@router.post("/funds/{fund_id}/imports/{import_id}/apply")
async def apply_import(
    db: PageDb, page: SignedIn, fund_id: uuid.UUID, import_id: uuid.UUID
) -> Response:
    row, _ = await import_service.apply(db, actor=page.principal, import_id=import_id)
    return see_other(f"/funds/{fund_id}/imports/{row.id}")
