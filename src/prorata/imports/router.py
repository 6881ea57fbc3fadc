"""Routes of CSV and .xlsx imports: upload (202 + Location), status, errors.csv, a fund's
imports, and the organisation's saved column mappings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from prorata.funds import service as fund_service
from prorata.http import idempotency
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.imports import docs
from prorata.imports import mappings as mapping_service
from prorata.imports import service as import_service
from prorata.imports.formats import ImportKind
from prorata.imports.schemas import UPLOAD_BODY, ImportOut, MappingIn, MappingOut
from prorata.imports.values import MAX_SHEET_NAME, VALUES_DOC, DateFormat, NumberFormat
from prorata.platform import storage

router = APIRouter(route_class=ApiRoute, tags=["imports"])


@router.post(
    "/funds/{fund_id}/imports",
    status_code=202,
    response_model=ImportOut,
    summary="Import a CSV or .xlsx file (investors, commitments or allocations) into a fund",
    description=(
        "Streams the file to storage and queues its import; poll the `Location`. "
        "All or nothing: if any row is invalid, nothing is applied and the import ends "
        "`rejected` with an errors.csv. The same file (same SHA-256) for the same fund, kind, "
        "options and columns returns the earlier import (200) instead of importing it twice. "
        "A dry run is never answered by an earlier one: it checks the file against the data "
        "as it is now. A dry run that passes shows its first rows as they would be applied "
        "(`preview`) and what applying it would do (`would`).\n\n"
        f"{docs.UPLOAD}\n\n{VALUES_DOC}"
    ),
    responses={200: {"model": ImportOut, "description": "This file was imported before."}},
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload(
    fund_id: uuid.UUID,
    kind: Annotated[ImportKind, Query(description="What the rows are.")],
    request: Request,
    principal: CurrentPrincipal,
    session: TenantSession,
    dry_run: Annotated[bool, Query(description="Validate only; apply nothing.")] = False,
    mapping: Annotated[
        str | None,
        Query(
            max_length=mapping_service.MAX_MAPPING_PARAMETER,
            description='Column mapping, JSON: {"file header": "column" or null, …}.',
        ),
    ] = None,
    mapping_id: Annotated[
        uuid.UUID | None, Query(description="A saved mapping (`/import-mappings`) to read with.")
    ] = None,
    number_format: Annotated[
        NumberFormat, Query(description="How amounts are written: thousands, then decimal.")
    ] = NumberFormat.comma_point,
    date_format: Annotated[
        DateFormat | None, Query(description="The notation of dates that are not YYYY-MM-DD.")
    ] = None,
    sheet: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_SHEET_NAME,
            description=".xlsx: the sheet to read (case does not count).",
        ),
    ] = None,
) -> Response:
    await fund_service.get(session, fund_id=fund_id)  # 404 before reading a byte of the file
    columns = await mapping_service.for_upload(
        session, kind=kind, mapping=mapping, mapping_id=mapping_id
    )
    blobs: storage.BlobStore = request.app.state.blobs
    options = import_service.ValueOptions(number_format, date_format, sheet)
    received = await import_service.receive(
        request,
        blobs=blobs,
        org_id=principal.org_id,
        kind=kind,
        mapping=columns,
        options=options,
    )
    try:
        await idempotency.settle(request, body_digest=received.stored.sha256)
        row, created = await import_service.create(
            session,
            actor=principal,
            fund_id=fund_id,
            kind=kind,
            dry_run=dry_run,
            received=received,
            options=options,
        )
    except BaseException:
        await blobs.delete(received.stored.key)
        raise
    if not created:
        await blobs.delete(received.stored.key)  # the earlier import keeps its own copy
    return JSONResponse(
        ImportOut.of(row).model_dump(mode="json"),
        status_code=202 if created else 200,
        headers={"Location": f"/api/v1/imports/{row.id}"},
    )


@router.get(
    "/funds/{fund_id}/imports",
    summary="A fund's imports (dry runs too), newest first",
)
async def list_imports(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[ImportOut]:
    imports = await import_service.page(session, fund_id=fund_id, params=page)
    return Page[ImportOut](
        items=[ImportOut.of(row) for row in imports.items], next_cursor=imports.next_cursor
    )


@router.get("/imports/{import_id}", summary="An import: status, counts, progress")
async def get_import(import_id: uuid.UUID, session: TenantSession) -> ImportOut:
    return ImportOut.of(await import_service.get(session, import_id=import_id))


@router.get(
    "/imports/{import_id}/errors.csv",
    summary="The refused rows of an import, as CSV (line, column, value, message)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_errors(import_id: uuid.UUID, session: TenantSession) -> Response:
    body = await import_service.errors_csv(session, import_id=import_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )


@router.post(
    "/import-mappings",
    status_code=status.HTTP_201_CREATED,
    summary="Save a column mapping for one import kind (a team's usual export)",
    description=docs.MAPPINGS,
)
async def create_mapping(
    body: MappingIn, principal: CurrentPrincipal, session: TenantSession
) -> MappingOut:
    row = await mapping_service.create(session, actor=principal, data=body)
    return MappingOut.model_validate(row)


@router.get("/import-mappings", summary="The organisation's saved column mappings")
async def list_mappings(session: TenantSession, page: PageQuery) -> Page[MappingOut]:
    return render(await mapping_service.page(session, params=page), MappingOut)


@router.get("/import-mappings/{mapping_id}", summary="A saved column mapping")
async def get_mapping(mapping_id: uuid.UUID, session: TenantSession) -> MappingOut:
    return MappingOut.model_validate(await mapping_service.get(session, mapping_id=mapping_id))


@router.put(
    "/import-mappings/{mapping_id}",
    summary="Replace a saved column mapping",
    description=docs.MAPPINGS,
)
async def put_mapping(
    mapping_id: uuid.UUID, body: MappingIn, principal: CurrentPrincipal, session: TenantSession
) -> MappingOut:
    row = await mapping_service.update(session, actor=principal, mapping_id=mapping_id, data=body)
    return MappingOut.model_validate(row)


@router.delete(
    "/import-mappings/{mapping_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a saved column mapping (imports already read with it keep their columns)",
)
async def delete_mapping(
    mapping_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    await mapping_service.delete(session, actor=principal, mapping_id=mapping_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
