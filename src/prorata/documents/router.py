"""Routes of documents and reports.

An `investor` member sees its own investor's documents only (notices and statements addressed
to it), and notices once released; any other document, fund reports included, is to it not
there (404).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse

from prorata.documents import service as document_service
from prorata.documents.models import DocumentKind
from prorata.documents.schemas import DocumentOut, ReportCreate
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import Principal, Role, check_investor_scope, scoped_investor
from prorata.platform import errors, storage
from prorata.platform.storage import BlobStore
from prorata.tenant_jobs.schemas import JobOut

router = APIRouter(route_class=ApiRoute, tags=["documents"])
PRESIGNED_FOR = dt.timedelta(minutes=5)
MISSING = "the document's file is missing from the object store"


def _lp(principal: Principal) -> bool:
    """An LP sees its notices once released (`document_service.released`)."""
    return principal.role is Role.investor


async def _opened(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The stream with its first chunk already read: a missing object is a 404 problem now,
    not a response cut short after its headers."""
    try:
        first = await anext(chunks)
    except storage.BlobNotFound:
        raise errors.NotFound(MISSING) from None
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()


@router.post(
    "/funds/{fund_id}/reports",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Render a report (a job: follow it at /jobs/{id}, or on the fund's event stream)",
)
async def request_report(
    fund_id: uuid.UUID,
    body: ReportCreate,
    response: Response,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> JobOut:
    job = await document_service.request_report(
        session, actor=principal, fund_id=fund_id, data=body
    )
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.model_validate(job)


@router.get("/documents", summary="Documents: notices, statements, reports")
async def list_documents(
    principal: CurrentPrincipal,
    session: TenantSession,
    page: PageQuery,
    fund_id: Annotated[uuid.UUID | None, Query()] = None,
    call_id: Annotated[uuid.UUID | None, Query()] = None,
    distribution_id: Annotated[uuid.UUID | None, Query()] = None,
    investor_id: Annotated[uuid.UUID | None, Query()] = None,
    kind: Annotated[DocumentKind | None, Query()] = None,
    as_of: Annotated[
        dt.date | None, Query(description="A notice's date, a statement's period end.")
    ] = None,
) -> Page[DocumentOut]:
    return await document_service.page(
        session,
        params=page,
        fund_id=fund_id,
        call_id=call_id,
        distribution_id=distribution_id,
        investor_id=scoped_investor(principal, investor_id),
        kind=kind,
        as_of=as_of,
        released_only=_lp(principal),
    )


@router.get("/documents/{document_id}", summary="A document's metadata (kind, size, SHA-256)")
async def get_document(
    document_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> DocumentOut:
    document, blob = await document_service.get(
        session, document_id=document_id, released_only=_lp(principal)
    )
    check_investor_scope(principal, document.investor_id)
    return document_service.view(document, blob)


@router.get(
    "/documents/{document_id}/content",
    summary="The PDF (streamed, or a redirect to a short-lived signed URL on S3)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        307: {"description": "A signed URL valid for a few minutes (object storage on S3)"},
    },
)
async def document_content(
    document_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: TenantSession,
    inline: Annotated[
        bool, Query(description="Shown in the browser (a preview) instead of downloaded.")
    ] = False,
) -> Response:
    document, maybe_blob = await document_service.get(
        session, document_id=document_id, released_only=_lp(principal)
    )
    # Scope first: to an LP, another investor's document is not there, whatever its status.
    check_investor_scope(principal, document.investor_id)
    blob = document_service.ready(document, maybe_blob)
    store: BlobStore = request.app.state.blobs
    url = await store.presigned_url(blob.key, expires_in=PRESIGNED_FOR)
    if url is not None:
        try:  # a missing object is a 404 problem here, not the store's XML error after the hop
            await store.size(blob.key)
        except storage.BlobNotFound:
            raise errors.NotFound(MISSING) from None
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    return StreamingResponse(
        await _opened(store.stream(blob.key)),
        media_type=blob.content_type,
        headers={
            "Content-Length": str(blob.size),
            "Content-Disposition": storage.content_disposition(document.filename, inline=inline),
            "ETag": f'"{blob.sha256}"',
        },
    )
