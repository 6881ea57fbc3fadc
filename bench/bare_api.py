"""The least a Python HTTP API over PostgreSQL costs: the baseline of `bench.api_overhead`.

One FastAPI app with two routes and nothing else — no authentication, no ORM, no dependency
injection, no middleware of ours:
- `GET /api/system/health` → `{"status": "ok"}`, a plain FastAPI route (the health baseline);
- `GET /api/v1/funds/{fund_id}/allocations?limit=&cursor=` as a raw Starlette route: a
  connection from a psycopg pool, the tenant set for the transaction (as Prorata does, so RLS
  applies), the same keyset page query, the same JSON shape (`items`, `next_cursor`).

Served by the same uvicorn (uvloop, httptools) as `prorata web`:

    BARE_DATABASE_URL=postgresql://… BARE_ORG_ID=… python -m bench.bare_api --port 8766
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import Response

PAGE_QUERY = (
    "SELECT fund_id, deal_id, investor_id, amount, updated_at FROM allocations "
    "WHERE fund_id = %s{after} ORDER BY investor_id, deal_id LIMIT %s"
)


def create_app(database_url: str, org_id: str) -> FastAPI:
    pool = AsyncConnectionPool(database_url, min_size=4, max_size=4, open=False)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/system/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async def allocations(request: Request) -> Response:
        fund_id = uuid.UUID(request.path_params["fund_id"])
        limit = int(request.query_params.get("limit", "50"))
        params: list[Any] = [fund_id]
        after = ""
        cursor = request.query_params.get("cursor")
        if cursor:
            key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            after = " AND (investor_id, deal_id) > (%s, %s)"
            params += [uuid.UUID(key[1]), uuid.UUID(key[2])]
        async with pool.connection() as connection, connection.transaction():
            await connection.execute("SELECT set_config('app.org_id', %s, true)", (org_id,))
            cur = await connection.execute(
                PAGE_QUERY.replace("{after}", after), [*params, limit + 1]
            )
            rows = await cur.fetchall()
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            raw = json.dumps([str(last[0]), str(last[2]), str(last[1])], separators=(",", ":"))
            next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        items = [
            {
                "fund_id": str(fund),
                "deal_id": str(deal),
                "investor_id": str(investor),
                "amount": str(amount),
                "updated_at": updated.isoformat(),
            }
            for fund, deal, investor, amount, updated in rows
        ]
        body = json.dumps({"items": items, "next_cursor": next_cursor}, separators=(",", ":"))
        return Response(body, media_type="application/json")

    app.add_route("/api/v1/funds/{fund_id}/allocations", allocations, methods=["GET"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(os.environ["BARE_DATABASE_URL"], os.environ["BARE_ORG_ID"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
