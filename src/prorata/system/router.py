"""Liveness and readiness: the only routes that answer without authentication."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.config import Settings
from prorata.http import problems
from prorata.http.routing import ApiRoute
from prorata.http.transaction import request_session
from prorata.jobs import stats
from prorata.platform import db, errors

router = APIRouter(route_class=ApiRoute, tags=["system"])


@router.get("/system/health", summary="Liveness: the process answers (no database, no auth)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/system/ready",
    summary="Readiness: the database answers and a worker sent a heartbeat recently",
    responses=problems.documented(503),
)
async def ready(
    request: Request, session: Annotated[AsyncSession, Depends(request_session)]
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    checks: dict[str, Any] = {}
    try:
        await session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
        age = await stats.last_worker_heartbeat_age(session)
        worker_ok = age is not None and age <= settings.ready_worker_heartbeat_seconds
        checks["worker"] = {"ok": worker_ok, "last_heartbeat_seconds_ago": age}
    except Exception as exc:  # a failing dependency is a 503 with details, never a 500
        checks.setdefault("database", {"ok": False, "error": type(exc).__name__})
        checks.setdefault("worker", {"ok": False, "last_heartbeat_seconds_ago": None})
    if not all(check["ok"] for check in checks.values()):
        failing = ", ".join(name for name, check in checks.items() if not check["ok"])
        raise errors.ServiceUnavailable(
            f"not ready: {failing}",
            extensions={"checks": checks},
            headers={"Retry-After": str(db.RETRY_AFTER_SECONDS)},
        )
    return {"status": "ready", "checks": checks}
