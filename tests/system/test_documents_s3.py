"""On S3, a document's content is a redirect to a short-lived presigned URL (SeaweedFS on
loopback checks the signature as AWS does)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.orgs.service import NewOrg
from prorata.platform import db, storage
from tests import seaweed
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.servers import worker
from tests.support import TestDatabase, bearer, eventually


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweed.S3Server]:
    with seaweed.running(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def _blob_url(s3: seaweed.S3Server) -> str:
    return f"s3://{s3.bucket}/documents"


@pytest.fixture
async def s3_client(
    s3: seaweed.S3Server, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, FastAPI]]:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    app = create_app(settings_with(settings, blob_url=_blob_url(s3), aws_allow_http=True))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://prorata.test") as client:
            yield client, app


async def test_content_redirects_to_a_presigned_url_on_s3(
    s3_client: tuple[AsyncClient, FastAPI],
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    client, app = s3_client
    fund_id = await FundApi(client, org.api_key).fund()
    pdf = b"%PDF-1.4\n% a stand-in document\n%%EOF\n"
    async with db.tenant_transaction(sessions, org.org_id) as session:
        blob = await storage.save(
            session,
            app.state.blobs,
            org_id=org.org_id,
            purpose="documents",
            source=pdf,
            content_type="application/pdf",
            suffix=".pdf",
        )
        document = Document(
            org_id=org.org_id,
            fund_id=uuid.UUID(fund_id),
            kind=DocumentKind.allocations_report,
            status=DocumentStatus.ready,
            filename="allocations.pdf",
            blob_id=blob.id,
        )
        session.add(document)
    response = await client.get(
        f"/api/v1/documents/{document.id}/content", headers=bearer(org.api_key)
    )
    assert response.status_code == 307
    url = response.headers["location"]
    assert "X-Amz-Signature" in url
    assert "X-Amz-Expires=300" in url
    async with httpx.AsyncClient() as anonymous:  # no credentials: the URL is the permission
        downloaded = await anonymous.get(url)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == blob.sha256


async def test_a_document_whose_object_is_missing_is_a_404_problem_not_a_redirect(
    s3_client: tuple[AsyncClient, FastAPI],
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
) -> None:
    client, app = s3_client
    fund_id = await FundApi(client, org.api_key).fund()
    async with db.tenant_transaction(sessions, org.org_id) as session:
        blob = await storage.save(
            session,
            app.state.blobs,
            org_id=org.org_id,
            purpose="documents",
            source=b"%PDF-1.4\n%%EOF\n",
            content_type="application/pdf",
            suffix=".pdf",
        )
        document = Document(
            org_id=org.org_id,
            fund_id=uuid.UUID(fund_id),
            kind=DocumentKind.allocations_report,
            status=DocumentStatus.ready,
            filename="allocations.pdf",
            blob_id=blob.id,
        )
        session.add(document)
    await app.state.blobs.delete(blob.key)
    response = await client.get(
        f"/api/v1/documents/{document.id}/content", headers=bearer(org.api_key)
    )
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "missing from the object store" in response.json()["detail"]


async def test_a_rendered_report_downloads_from_s3_under_its_file_name(
    s3: seaweed.S3Server,
    s3_client: tuple[AsyncClient, FastAPI],
    database: TestDatabase,
    org: NewOrg,
    tmp_path: Path,
) -> None:
    """The presigned download is saved under the document's name, as the streamed one is,
    not under the object's key."""
    client, _ = s3_client
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    job = await api.request(
        "POST",
        f"/funds/{fund_id}/reports",
        json={"kind": "allocations", "as_of": "2026-06-30"},
        expect=202,
    )

    async def done() -> bool:
        return bool((await api.request("GET", f"/jobs/{job['id']}"))["status"] == "succeeded")

    env = {**s3.env(), "PRORATA_BLOB_URL": _blob_url(s3)}
    with worker(database, log=tmp_path / "worker.log", **env):
        await eventually(done, timeout=90, what="the report job")
    response = await client.get(
        f"/api/v1/documents/{job['document_id']}/content", headers=bearer(org.api_key)
    )
    assert response.status_code == 307
    async with httpx.AsyncClient() as anonymous:
        downloaded = await anonymous.get(response.headers["location"])
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.headers["content-disposition"] == (
        'attachment; filename="allocations-2026-06-30.pdf"'
    )
