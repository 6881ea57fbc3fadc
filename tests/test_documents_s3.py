"""On S3, a document's content is a redirect to a short-lived presigned URL (SeaweedFS on
loopback checks the signature as AWS does)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import db, storage
from prorata.app import create_app
from prorata.config import Settings
from prorata.documents.models import Document, DocumentKind, DocumentStatus
from prorata.orgs.service import NewOrg
from tests import seaweed
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.support import bearer


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweed.S3Server]:
    with seaweed.running(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
async def s3_client(
    s3: seaweed.S3Server, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncClient, FastAPI]]:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    app = create_app(settings_with(settings, blob_url=f"s3://{s3.bucket}/documents"))
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
