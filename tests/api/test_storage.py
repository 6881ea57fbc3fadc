"""Object storage: a local directory by default (S3 in production: tests/system/test_storage.py);
blob rows under RLS, never the content; no column that could hold a file."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from prorata.platform import db, storage
from tests.conftest import settings_with
from tests.storage_support import MiB, round_trip, sha256_hex
from tests.support import TestDatabase


async def test_the_default_store_is_a_local_directory_under_the_data_dir(
    settings: Settings,
) -> None:
    store = storage.open_store(settings)
    await round_trip(store, "org/imports/a.csv", b"name,email\nAda,ada@example.com\n")
    assert (settings.data_dir / "blobs" / "org" / "imports" / "a.csv").exists()
    assert not store.signs_urls
    url = await store.presigned_url("org/imports/a.csv", expires_in=dt.timedelta(minutes=5))
    assert url is None  # the caller streams local files itself


@pytest.mark.parametrize("kind", ["bytes", "path", "file", "iterator", "async iterator"])
async def test_put_accepts_every_kind_of_source_and_hashes_while_streaming(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    data = os.urandom(3 * MiB + 17)
    path = tmp_path / "source.bin"
    path.write_bytes(data)

    async def agen() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MiB):
            yield data[start : start + MiB]

    sources: dict[str, storage.Source] = {
        "bytes": data,
        "path": path,
        "file": io.BytesIO(data),
        "iterator": iter([data[:100], data[100:]]),
        "async iterator": agen(),
    }
    store = storage.open_store(settings)
    stored = await store.put(f"k/{kind}", sources[kind], content_type="application/octet-stream")
    assert (stored.size, stored.sha256) == (len(data), sha256_hex(data))
    chunks = [chunk async for chunk in store.stream(f"k/{kind}", chunk_size=MiB)]
    assert b"".join(chunks) == data
    assert len(chunks) >= 3  # streamed back in pieces, not as one buffer


async def test_a_failed_put_leaves_no_object(settings: Settings) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * MiB
        raise RuntimeError("the client went away")

    store = storage.open_store(settings)
    with pytest.raises(RuntimeError, match="went away"):
        await store.put("k/broken", broken(), content_type="text/csv")
    with pytest.raises(storage.BlobNotFound):
        await store.size("k/broken")
    await store.delete("k/broken")  # deleting what is not there is fine


async def test_save_records_the_blob_row_under_rls_without_content(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    other_org: NewOrg,
    database: TestDatabase,
) -> None:
    store = storage.open_store(settings)
    data = b"investor_email,amount,committed_on\nlp@example.com,100.00,2026-01-02\n"
    async with db.tenant_transaction(sessions, org.org_id) as session:
        blob = await storage.save(
            session,
            store,
            org_id=org.org_id,
            purpose="imports",
            source=data,
            content_type="text/csv",
        )
    assert blob.key.startswith(f"{org.org_id}/imports/")
    assert (blob.size, blob.sha256, blob.content_type) == (len(data), sha256_hex(data), "text/csv")
    assert await store.read(blob.key) == data
    async with db.tenant_transaction(sessions, other_org.org_id) as session:
        assert await storage.get(session, blob_id=blob.id) is None  # another tenant sees nothing
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute("SELECT * FROM blobs").fetchone()
    assert row is not None
    assert data.decode() not in " ".join(str(value) for value in row)


def test_no_database_column_can_hold_file_content(database: TestDatabase) -> None:
    """Files live in the object store: no bytea column anywhere, and unbounded text only where
    each is explained (none of them receives an upload)."""
    explained = {
        ("idempotency_keys", "body"): "stored JSON responses (bounded by the JSON body limit)",
        ("idempotency_keys", "headers"): "three replayed response headers",
        ("fund_events", "data"): "an event's ids and counts (a NOTIFY payload: < 8,000 bytes)",
        ("audit_log", "before"): "field snapshots",
        ("audit_log", "after"): "field snapshots",
        ("distribution_lines", "tiers"): "four tiers of two amounts, written by the service",
        ("clawbacks", "lines"): "a booked clawback's amounts per investor, written by the service",
        ("imports", "columns"): "the file's header cells read (bounded by MAX_HEADER_BYTES)",
        ("imports", "header"): "the same, or a sheet's header cells (formats.read_cells: "
        "MAX_HEADER_NAME characters each, each a column of the kind or a mapping's key)",
        ("imports", "preview"): "a dry run's first 20 rows, written by the worker",
        ("import_mappings", "columns"): "at most 50 header names of 200 characters (schema)",
    }
    with psycopg.connect(database.owner_url) as conn:
        columns = conn.execute(
            """
            SELECT table_name, column_name, data_type, character_maximum_length
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name NOT LIKE 'procrastinate%'
            """
        ).fetchall()
    assert columns
    for table, column, data_type, max_length in columns:
        where = f"{table}.{column}"
        assert data_type != "bytea", f"{where} is bytea"
        unbounded = data_type in {"text", "json", "jsonb"} or (
            data_type == "character varying" and max_length is None
        )
        if unbounded:
            assert (table, column) in explained, f"{where} is unbounded {data_type}"


# --- S3, against SeaweedFS ------------------------------------------------------------------


def test_a_blob_url_with_another_scheme_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="blob_url"):
        settings_with(settings, blob_url="ftp://files.example/x")


def test_the_s3_secret_is_masked_in_logs(settings: Settings) -> None:
    from prorata.observability.logs import Redactor

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    configured = settings_with(settings, aws_secret_access_key=secret)
    assert secret in configured.secret_values()
    scrubbed = Redactor(configured.secret_values()).scrub(f"s3 said: bad signature for {secret}")
    assert secret not in scrubbed
