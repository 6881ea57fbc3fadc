"""Uploading CSV files and running their import jobs, for tests."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.imports import ingest
from prorata.orgs.service import NewOrg
from prorata.platform import storage
from tests.fund_support import FundApi
from tests.support import TestDatabase, bearer


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
    options: dict[str, str] | None = None,
) -> httpx.Response:
    """`options`: more query parameters (number_format, date_format, sheet)."""
    params: dict[str, Any] = {"kind": kind, **(options or {})}
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


def seed_fund(
    owner_url: str, org_id: uuid.UUID, *, investors: int, deals: int, emails: bool = False
) -> dict[str, Any]:
    """A fund with `investors` committed investors (with e-mail addresses if `emails`) and `deals`
    deals, written in SQL as the owner (fast)."""
    with psycopg.connect(owner_url) as conn:
        fund = conn.execute(
            "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
            "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
            "waterfall_style, day_count, notice_business_days) VALUES (prorata_uuid7(), %s, "
            "'Seeded', 'USD', 'investing', 0.02, 'committed', 0.08, 1, 0.2, 'european', "
            "'act/365', 10) RETURNING id",
            (org_id,),
        ).fetchone()
        assert fund is not None
        fund_id = fund[0]
        investor_ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO investors (id, org_id, name, kind, email) SELECT prorata_uuid7(), "
                "%s, 'LP ' || n, 'entity', CASE WHEN %s THEN 'lp' || n || '@investor.example' END "
                "FROM generate_series(1, %s) n RETURNING id",
                (org_id, emails, investors),
            )
        ]
        conn.execute(
            "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
            "SELECT prorata_uuid7(), %s, %s, id, 1000000, '2025-01-02' FROM unnest(%s::uuid[]) id",
            (org_id, fund_id, investor_ids),
        )
        deal_ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO deals (id, org_id, fund_id, name, status) SELECT prorata_uuid7(), "
                "%s, %s, 'Deal ' || n, 'open' FROM generate_series(1, %s) n RETURNING id",
                (org_id, fund_id, deals),
            )
        ]
    return {"id": str(fund_id), "investors": investor_ids, "deals": deal_ids}


def allocation_file(fund: dict[str, Any]) -> tuple[bytes, Decimal]:
    lines = ["deal_id,investor_id,amount"]
    total = Decimal(0)
    for i, investor in enumerate(fund["investors"]):
        for d, deal in enumerate(fund["deals"]):
            amount = Decimal(1000 + (i * 7 + d * 13) % 5000) / 100
            total += amount
            lines.append(f"{deal},{investor},{amount}")
    return ("\n".join(lines) + "\n").encode(), total


class Imports:
    """Uploads files to one fund and runs their jobs, as the org's owner."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        org: NewOrg,
        database: TestDatabase,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.client, self.org, self.database = client, org, database
        self.sessions, self.settings = sessions, settings
        self.api = FundApi(client, org.api_key)

    async def run(self, fund_id: str, kind: str, content: bytes, **options: Any) -> dict[str, Any]:
        """Upload, run the job, return the finished import."""
        response = await upload(self.client, self.org.api_key, fund_id, kind, content, **options)
        assert response.status_code in {200, 202}, response.text
        await run_jobs(self.database.owner_url, self.sessions, self.settings)
        return await self.get(response.headers["location"])

    async def get(self, location: str) -> dict[str, Any]:
        response = await self.client.get(location, headers=bearer(self.org.api_key))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def messages(self, imported: dict[str, Any]) -> dict[tuple[str, str], str]:
        """errors.csv as (line, column) → message."""
        return {(e["line"], e["column"]): e["message"] for e in await self.errors(imported)}

    async def errors(self, imported: dict[str, Any]) -> list[dict[str, str]]:
        assert imported["errors_url"], imported
        response = await self.client.get(imported["errors_url"], headers=bearer(self.org.api_key))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(response.text)))
