"""Object storage on S3, against a real S3 server (SeaweedFS) on loopback, which checks signatures
as AWS does; the sweep of unreferenced objects, and the worker process that runs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import obstore.exceptions
import psycopg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.app import create_app
from prorata.config import Settings
from prorata.orgs.service import NewOrg
from prorata.platform import db, storage
from tests import seaweed
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.import_support import upload
from tests.storage_support import MiB, round_trip
from tests.support import TestDatabase, wait_until


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweed.S3Server]:
    with seaweed.running(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def s3_settings(
    s3: seaweed.S3Server, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Production-style configuration: a blob URL plus the standard AWS variables."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return settings_with(settings, blob_url=f"s3://{s3.bucket}/tenant-files", aws_allow_http=True)


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for n in range(count):
        yield bytes([n % 256]) * size


async def test_s3_put_get_and_stream(s3: seaweed.S3Server, s3_settings: Settings) -> None:
    store = storage.open_store(s3_settings)
    assert store.signs_urls
    await round_trip(store, "org/imports/small.csv", b"a,b\n1,2\n")
    data = os.urandom(2 * MiB + 5)
    await store.put("org/imports/medium.bin", data, content_type="application/octet-stream")
    chunks = [chunk async for chunk in store.stream("org/imports/medium.bin", chunk_size=MiB)]
    assert b"".join(chunks) == data
    assert len(chunks) >= 2
    # The prefix of the blob URL is honoured: the object sits under it in the bucket.
    listed = obstore.list(seaweed.store(s3)).collect()
    assert "tenant-files/org/imports/small.csv" in {meta["path"] for meta in listed}
    await store.delete("org/imports/small.csv")
    with pytest.raises(storage.BlobNotFound):
        await store.read("org/imports/small.csv")


async def test_s3_large_objects_go_up_in_parts(s3: seaweed.S3Server, s3_settings: Settings) -> None:
    store = storage.open_store(s3_settings)
    size = 3 * storage.PART_SIZE + 123
    expected = hashlib.sha256()
    async for chunk in _chunks(size // MiB, MiB):
        expected.update(chunk)
    stored = await store.put(
        "org/big.bin", _chunks(size // MiB, MiB), content_type="application/octet-stream"
    )
    assert stored.sha256 == expected.hexdigest()
    meta = await obstore.head_async(seaweed.store(s3), "tenant-files/org/big.bin")
    # A multipart object's ETag is "<md5 of the part md5s>-<number of parts>".
    assert str(meta["e_tag"]).strip('"').endswith(f"-{-(-stored.size // storage.PART_SIZE)}")
    streamed = hashlib.sha256()
    async for chunk in store.stream("org/big.bin", chunk_size=4 * MiB):
        assert len(chunk) <= 8 * MiB  # bounded pieces, never the whole object
        streamed.update(chunk)
    assert streamed.hexdigest() == stored.sha256


async def test_s3_refuses_a_wrong_secret(
    s3: seaweed.S3Server, s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + "x" * 20)
    store = storage.open_store(s3_settings)
    with pytest.raises(storage.StoreRefused) as refused:
        await store.put("org/intruder.csv", b"a,b\n", content_type="text/csv")
    assert isinstance(refused.value.__cause__, obstore.exceptions.PermissionDeniedError)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    with pytest.raises(storage.BlobNotFound):
        await storage.open_store(s3_settings).read("org/intruder.csv")


async def test_an_upload_to_s3_with_a_wrong_secret_is_a_clear_503_and_records_nothing(
    s3_settings: Settings,
    org: NewOrg,
    database: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + "x" * 20)
    app = create_app(s3_settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://prorata.test") as client:
            fund_id = await FundApi(client, org.api_key).fund()
            response = await upload(
                client,
                org.api_key,
                fund_id,
                "investors",
                b"name,email,kind,country\nAda,ada@example.com,individual,GB\n",
            )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "object store refused the server's credentials" in response.json()["detail"]
    assert any("SignatureDoesNotMatch" in str(r.__dict__.get("error")) for r in caplog.records)
    with psycopg.connect(database.owner_url) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM imports), (SELECT count(*) FROM blobs)")
        assert counts.fetchone() == (0, 0)


async def test_s3_presigned_urls_download_without_credentials_and_expire(
    s3_settings: Settings,
) -> None:
    store = storage.open_store(s3_settings)
    await store.put("org/notice.pdf", b"%PDF-1.7 notice", content_type="application/pdf")
    url = await store.presigned_url("org/notice.pdf", expires_in=dt.timedelta(minutes=5))
    assert url is not None
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
        assert fetched.status_code == 200
        assert fetched.content == b"%PDF-1.7 notice"
        assert fetched.headers["content-type"] == "application/pdf"
        tampered = await http.get(url.replace("notice.pdf", "other.pdf"))
        assert tampered.status_code == 403
        unsigned = await http.get(url.split("?")[0])
        assert unsigned.status_code == 403
    expired = await store.presigned_url("org/notice.pdf", expires_in=dt.timedelta(seconds=1))
    assert expired is not None
    await asyncio.sleep(2.5)
    async with httpx.AsyncClient() as http:
        assert (await http.get(expired)).status_code == 403


async def _orphans_and_survivors(
    store: storage.BlobStore,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
) -> tuple[str, list[str]]:
    """An object no row names (an upload whose transaction rolled back), and those that must
    stay: recorded ones of two organisations, and a key that is not ours."""
    survivors = []
    for owner in (org, other_org):
        async with db.tenant_transaction(sessions, owner.org_id) as session:
            blob = await storage.save(
                session,
                store,
                org_id=owner.org_id,
                purpose="imports",
                source=b"kept",
                content_type="text/csv",
            )
        survivors.append(blob.key)
    foreign = "shared-bucket/readme.txt"
    await store.put(foreign, b"someone else's", content_type="text/plain")
    orphan = storage.new_key(org_id=org.org_id, purpose="imports")
    await store.put(orphan, b"orphan", content_type="text/csv")
    return orphan, [*survivors, foreign]


@pytest.mark.parametrize("backend", ["local", "s3"])
async def test_the_sweep_deletes_only_old_objects_that_no_blob_row_names(
    backend: str,
    request: pytest.FixtureRequest,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    if backend == "s3":  # a prefix of its own: other tests' objects share the bucket
        s3_settings: Settings = request.getfixturevalue("s3_settings")
        configured = settings_with(s3_settings, blob_url=f"{s3_settings.blob_url}-{tmp_path.name}")
    else:
        configured = settings
    store = storage.open_store(configured)
    orphan, survivors = await _orphans_and_survivors(store, sessions, org, other_org)

    # Everything was written just now: an upload's transaction may still be committing.
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert await storage.sweep_unreferenced(store, sessions, written_before=an_hour_ago) == (
        storage.Swept()
    )
    assert await store.read(orphan) == b"orphan"

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    swept = await storage.sweep_unreferenced(store, sessions, written_before=later)
    assert swept == storage.Swept(objects=1, bytes=len(b"orphan"))
    with pytest.raises(storage.BlobNotFound):
        await store.read(orphan)
    for key in survivors:  # the other organisation's row is found under its own tenant
        await store.size(key)


async def test_the_worker_sweeps_unreferenced_blobs_a_day_after_they_were_written(
    database: TestDatabase,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    tmp_path: Path,
) -> None:
    from prorata import jobs, wiring
    from prorata.jobs import housekeeping

    wiring.connect()
    from tests import servers

    data_dir = tmp_path / "worker" / "var"
    store = storage.open_store(settings_with(settings, data_dir=data_dir))
    orphan, survivors = await _orphans_and_survivors(store, sessions, org, other_org)
    young = storage.new_key(org_id=org.org_id, purpose="reports")
    await store.put(young, b"still being recorded", content_type="application/pdf")
    two_days_ago = (dt.datetime.now() - dt.timedelta(days=2)).timestamp()
    for key in (orphan, *survivors):
        os.utime(data_dir / "blobs" / key, (two_days_ago, two_days_ago))
    assert housekeeping.sweep_unreferenced_blobs.name == "housekeeping.sweep_unreferenced_blobs"
    assert any(
        periodic.task.name == housekeeping.sweep_unreferenced_blobs.name
        for periodic in jobs.app.periodic_registry.periodic_tasks.values()
    )
    # Two sweeps due at once (the hourly one may fire during this test, or two workers each
    # take one): they run one after the other, and the orphan is deleted and counted once.
    now = int(dt.datetime.now().timestamp())
    async with sessions() as session, session.begin():
        job_ids = [
            await jobs.defer(session, housekeeping.sweep_unreferenced_blobs, timestamp=now + n)
            for n in range(2)
        ]
    log = tmp_path / "worker" / "worker.log"
    with servers.worker(database, log, PRORATA_LOG_LEVEL="INFO"):
        wait_until(
            lambda: all(
                _job_status(database.owner_url, job_id) not in {"todo", "doing"}
                for job_id in job_ids
            ),
            timeout=60,
            what="the sweeps to run",
        )
    assert [_job_status(database.owner_url, job_id) for job_id in job_ids] == ["succeeded"] * 2
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    reported = [line for line in lines if line["event"] == "unreferenced blobs deleted"]
    assert [(r["objects"], r["bytes"]) for r in reported] == [(1, len(b"orphan"))]
    assert not (data_dir / "blobs" / orphan).exists()
    assert (data_dir / "blobs" / young).exists()
    assert all((data_dir / "blobs" / key).exists() for key in survivors)


def _job_status(owner_url: str, job_id: int) -> str:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,))
        return str(row.fetchone()[0])  # type: ignore[index]
