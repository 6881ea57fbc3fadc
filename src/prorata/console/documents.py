"""A fund's documents and jobs: notices and reports (previewed in the page, downloaded one by
one or a call's notices as one zip), and the jobs that made them (progress, retry)."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from prorata.console import render
from prorata.console.funds import names_of
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.documents import service as document_service
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.funds import service as fund_service
from prorata.http.pagination import PageParams
from prorata.http.tenancy import ROLE_RANK, Role
from prorata.platform import errors, events, storage
from prorata.tenant_jobs import service as job_service

router = APIRouter(route_class=PageRoute)

LISTED = 100
ZIP_MAX_NOTICES = 20_000  # a call has one per investor


@router.get("/funds/{fund_id}/documents")
async def documents_page(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, cursor: str | None = None
) -> Response:
    live_after = await events.last_number(db, fund_id=fund_id)  # before the data it shows
    fund = await fund_service.get(db, fund_id=fund_id)
    found = await document_service.page(
        db,
        params=PageParams(limit=LISTED, cursor=cursor),
        fund_id=fund_id,
        call_id=None,
        investor_id=None,
    )
    names = await names_of(db, [d.investor_id for d in found.items if d.investor_id])
    jobs = await job_service.page(db, params=PageParams(limit=LISTED, cursor=None), fund_id=fund_id)
    return await render.page(
        request,
        "documents.html",
        live_after=live_after,
        fund=fund,
        documents=found.items,
        next_cursor=found.next_cursor,
        names=names,
        jobs=jobs.items,
        may_retry=ROLE_RANK[page.principal.role] >= ROLE_RANK[Role.admin],
    )


@router.get("/documents/{document_id}")
async def document_page(
    request: Request, db: PageDb, page: SignedIn, document_id: uuid.UUID
) -> Response:
    document, blob = await document_service.get(db, document_id=document_id)
    fund = await fund_service.get(db, fund_id=document.fund_id)
    names = await names_of(db, [document.investor_id] if document.investor_id else [])
    return await render.page(
        request,
        "document.html",
        fund=fund,
        document=document_service.view(document, blob),
        investor=names.get(document.investor_id) if document.investor_id else None,
    )


class _Chunks(io.RawIOBase):
    """Where the zip writer writes: taken a file at a time, never the whole archive."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken = b"".join(self.parts)
        self.parts.clear()
        return taken


async def _zipped(store: storage.BlobStore, files: list[tuple[str, str]]) -> AsyncIterator[bytes]:
    """A zip of the stored files, streamed a file at a time (a 10,000-investor call's notices
    are not held in memory at once); zipfile writes data descriptors to a stream it cannot
    seek."""
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for filename, key in files:
            archive.writestr(filename, await store.read(key))
            yield sink.take()
    yield sink.take()  # the central directory, written when the archive closed


@router.get("/funds/{fund_id}/calls/{call_id}/notices.zip")
async def notices_zip(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, call_id: uuid.UUID
) -> Response:
    """Every rendered notice of the call in one zip (stored, not compressed: PDFs are)."""
    rows = (
        await db.execute(
            sa.select(Document.filename, storage.Blob.key)
            .join(storage.Blob, storage.Blob.id == Document.blob_id)
            .where(
                Document.fund_id == fund_id,
                Document.call_id == call_id,
                Document.kind == DocumentKind.call_notice,
                Document.status == DocumentStatus.ready,
            )
            .order_by(Document.filename)
            .limit(ZIP_MAX_NOTICES)
        )
    ).all()
    if not rows:
        raise errors.NotFound("this call has no rendered notice yet")
    store: storage.BlobStore = request.app.state.blobs
    return StreamingResponse(
        _zipped(store, [(filename, key) for filename, key in rows]),
        media_type="application/zip",
        headers={"Content-Disposition": storage.content_disposition(f"notices-{call_id}.zip")},
    )


@router.post("/funds/{fund_id}/jobs/{job_id}/retry")
async def retry_job(db: PageDb, page: SignedIn, fund_id: uuid.UUID, job_id: uuid.UUID) -> Response:
    await job_service.retry(db, actor=page.principal, job_id=job_id)
    return see_other(f"/funds/{fund_id}/documents#jobs-heading")
