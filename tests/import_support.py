"""Uploading CSV files and running their import jobs, for tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.imports import ingest
from prorata.platform import storage
from tests.support import bearer


def csv_bytes(*lines: str, newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode()


async def upload(
    client: httpx.AsyncClient,
    api_key: str,
    fund_id: str,
    kind: str,
    content: bytes,
    *,
    dry_run: bool = False,
    filename: str = "rows.csv",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    params: dict[str, Any] = {"kind": kind}
    if dry_run:
        params["dry_run"] = "true"
    return await client.post(
        f"/api/v1/funds/{fund_id}/imports",
        params=params,
        files={"file": (filename, content, "text/csv")},
        headers={**bearer(api_key), **(headers or {})},
    )


def queued_imports(owner_url: str) -> list[tuple[str, str]]:
    """(import_id, org_id) of every import job still waiting in the queue."""
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT args->>'import_id', args->>'org_id' FROM procrastinate_jobs "
            "WHERE task_name = 'imports.run' AND status = 'todo' ORDER BY id"
        ).fetchall()
    return [(str(import_id), str(org_id)) for import_id, org_id in rows]


async def run_jobs(
    owner_url: str, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Run the queued import jobs in this process: the same code the worker's task runs.
    (Tests of the worker process itself start a real worker.)"""
    blobs = storage.open_store(settings)
    for import_id, org_id in queued_imports(owner_url):
        await ingest.run(
            sessions=sessions, blobs=blobs, org_id=uuid.UUID(org_id), import_id=uuid.UUID(import_id)
        )
        with psycopg.connect(owner_url) as conn:
            conn.execute(
                "UPDATE procrastinate_jobs SET status = 'succeeded' "
                "WHERE task_name = 'imports.run' AND args->>'import_id' = %s",
                (import_id,),
            )
