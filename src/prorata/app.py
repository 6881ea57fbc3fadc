"""The web application: routers, middleware, error handlers and the database lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from prorata import db, errors
from prorata.config import Settings
from prorata.middleware import RequestContextMiddleware
from prorata.orgs import router as orgs_router
from prorata.system import router as system_router

API_PREFIX = "/api/v1"
# The old system served its routes at bare /api; every route answers there too (same handlers).
API_ALIAS = "/api"


def api_router() -> APIRouter:
    """Every authenticated route of the API, mounted under both prefixes."""
    router = APIRouter()
    router.include_router(orgs_router.router)
    return router


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(db.app_url(settings), pool_size=settings.db_pool_size)
        app.state.sessions = db.sessionmaker(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Prorata API",
        version="1",
        summary="Fund administration: funds, investors, capital calls, distributions.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(RequestContextMiddleware)

    # Public: liveness and readiness only (plus the OpenAPI document and docs above).
    app.include_router(system_router.router, prefix=f"{API_ALIAS}/system")
    app.include_router(system_router.router, prefix=f"{API_PREFIX}/system", include_in_schema=False)

    api = api_router()
    app.include_router(api, prefix=API_PREFIX)
    app.include_router(api, prefix=API_ALIAS, include_in_schema=False)
    return app
