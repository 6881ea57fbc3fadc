"""The web application: routers, middleware, error handlers and the database lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from prorata import wiring
from prorata.accounts import router as accounts_router
from prorata.activity import router as activity_router
from prorata.allocations import router as allocations_router
from prorata.bank_accounts import router as bank_accounts_router
from prorata.calculations import router as calculations_router
from prorata.capital_accounts import router as capital_accounts_router
from prorata.capital_calls import router as calls_router
from prorata.carry import router as carry_router
from prorata.closings import router as closings_router
from prorata.config import Settings
from prorata.console import account as console_account
from prorata.console import allocations as console_allocations
from prorata.console import api_docs as console_api_docs
from prorata.console import assets as console_assets
from prorata.console import bank_pages as console_bank_pages
from prorata.console import documents as console_documents
from prorata.console import exits as console_exits
from prorata.console import funds as console_funds
from prorata.console import home as console_home
from prorata.console import imports as console_imports
from prorata.console import investor_access as console_investor_access
from prorata.console import notice_pages as console_notice_pages
from prorata.console import portal as console_portal
from prorata.console import render as console_render
from prorata.console import settings as console_settings
from prorata.console import sign_in as console_sign_in
from prorata.deals import router as deals_router
from prorata.distributions import router as distributions_router
from prorata.documents import router as documents_router
from prorata.fund_metrics import router as fund_metrics_router
from prorata.funds import router as funds_router
from prorata.http import policy, problems
from prorata.http.auth import KeyCache
from prorata.http.middleware import RequestContextMiddleware
from prorata.http.ratelimit import RateLimiter
from prorata.http.route_index import IndexedApp
from prorata.imports import router as imports_router
from prorata.investors import router as investors_router
from prorata.live import router as live_router
from prorata.live.hub import Hub
from prorata.management_fees import router as management_fees_router
from prorata.observability import instruments, setup
from prorata.orgs import router as orgs_router
from prorata.platform import db, replica, storage
from prorata.system import router as system_router
from prorata.tenant_jobs import router as jobs_router
from prorata.valuations import router as valuations_router
from prorata.webhooks import router as webhooks_router

API_PREFIX = "/api/v1"
# The old system served its routes at bare /api; every route answers there too (same handlers).
API_ALIAS = "/api"

DESCRIPTION = """
Fund administration: funds, investors, commitments, deals, capital calls, distributions.

## Authentication
Every operation except `/system/health` and `/system/ready` needs an API key
(`Authorization: Bearer prk_…`) or a browser session (the `prorata_session` cookie set by
signing in at `/login`; its POST, PUT, PATCH and DELETE requests must carry the session's CSRF
token in `X-CSRF-Token`). With an `Authorization` header the key alone decides. Each route has a
least role (`x-prorata-least-role`): owner > admin > manager > viewer; `investor` users see
only their own investor's data.

## Idempotency
Every POST, PUT, PATCH and DELETE honours an `Idempotency-Key` header (1–255 printable ASCII
characters; a UUID is a good choice). Money-moving operations require it. Keys are scoped to
your organisation and user and kept for **24 hours**. Within that time, repeating a request with
the same key returns the stored response (byte for byte, with `Idempotent-Replayed: true`)
instead of acting again; the same key with a different request is refused (422); a repeat
while the first is still running gets 409 with `Retry-After`. Requests that fail are not stored,
so a corrected retry with the same key works.

## Lists
Lists are keyset-paginated: `?limit=` (default 50, at most 500) and `?cursor=` (the previous
page's `next_cursor`). Every list answers `{"items": [...], "next_cursor": "..." | null}`.

## Limits
Every response carries `RateLimit-Policy` and `RateLimit` fields
(draft-ietf-httpapi-ratelimit-headers); over a limit the answer is 429 with `Retry-After`.
JSON bodies are limited in size (413 above). Money amounts are decimal strings, never numbers.

## Errors
Errors are `application/problem+json` (RFC 9457) with a `request_id` to quote.
"""


def api_router() -> APIRouter:
    """Every route of the API, mounted under both prefixes."""
    router = APIRouter()
    router.include_router(system_router.router)
    router.include_router(orgs_router.router)
    router.include_router(accounts_router.router)
    router.include_router(funds_router.router)
    router.include_router(investors_router.router)
    router.include_router(bank_accounts_router.router)
    router.include_router(deals_router.router)
    router.include_router(allocations_router.router)
    router.include_router(calls_router.router)
    router.include_router(closings_router.router)
    router.include_router(carry_router.router)
    router.include_router(distributions_router.router)
    router.include_router(valuations_router.router)
    router.include_router(fund_metrics_router.router)
    router.include_router(capital_accounts_router.router)
    router.include_router(management_fees_router.router)
    router.include_router(imports_router.router)
    router.include_router(calculations_router.router)
    router.include_router(jobs_router.router)
    router.include_router(documents_router.router)
    router.include_router(activity_router.router)
    router.include_router(webhooks_router.router)
    router.include_router(live_router.router)
    return router


def create_app(settings: Settings) -> FastAPI:
    wiring.connect()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.app_engine(settings, pool_size=settings.db_pool_size)
        app.state.sessions = db.sessionmaker(engine)
        app.state.replica = replica.open_replica(
            settings, primary=app.state.sessions, pool_size=settings.db_pool_size
        )
        app.state.rate_limiter = RateLimiter(settings)
        app.state.key_cache = KeyCache()
        app.state.blobs = storage.open_store(settings)
        # One LISTEN connection per web process, opened on the first live-event subscriber;
        # direct, past any transaction pooler (LISTEN belongs to a session).
        app.state.hub = Hub(
            db.worker_url(settings),
            max_streams=settings.events_max_streams,
            max_org_streams=settings.events_max_streams_per_org,
        )
        try:
            async with instruments.event_loop_lag():
                with instruments.pool_usage("web", lambda: db.pool_usage(engine)):
                    yield
        finally:
            await app.state.hub.close()
            if app.state.replica is not None:
                await app.state.replica.close()
            await engine.dispose()

    app = IndexedApp(
        title="Prorata API",
        version="1",
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served with local assets by console.api_docs
        redoc_url=None,
        lifespan=lifespan,
        telemetry=setup.fastapi_telemetry(),
    )
    app.state.settings = settings
    problems.install(app)
    bounds: dict[str, Any] = {
        "max_body_bytes": settings.max_json_body_bytes,
        "max_upload_bytes": settings.max_upload_bytes,
        "upload_routes": policy.upload_routes(),
    }
    app.add_middleware(RequestContextMiddleware, **bounds, own_span=not setup.spans_exported())
    # Liveness probes skip FastAPI's layers, not ours (system.router.FastHealth).
    for prefix in (API_PREFIX, API_ALIAS):
        health = system_router.FastHealth(f"{prefix}/system/health")
        app.fast_routes["GET", f"{prefix}/system/health"] = RequestContextMiddleware(
            health, **bounds
        )

    api = api_router()
    app.include_router(api, prefix=API_PREFIX)
    app.include_router(api, prefix=API_ALIAS, include_in_schema=False)
    # The console: pages for people, and their stylesheet (public, like any site's CSS).
    app.include_router(console_sign_in.router)
    app.include_router(console_home.router)
    app.include_router(console_portal.router)
    app.include_router(console_bank_pages.router)
    app.include_router(console_imports.router)
    app.include_router(console_investor_access.router)
    app.include_router(console_funds.router)
    app.include_router(console_exits.router)
    # After the fund pages: /distributions/new is theirs, not a distribution's id.
    app.include_router(console_notice_pages.router)
    app.include_router(console_allocations.router)
    app.include_router(console_documents.router)
    app.include_router(console_account.router)
    app.include_router(console_settings.router)
    app.include_router(console_api_docs.router(f"{API_PREFIX}/openapi.json", API_PREFIX))
    app.mount("/static", console_assets.Static(directory=console_render.STATIC), name="static")
    return app
