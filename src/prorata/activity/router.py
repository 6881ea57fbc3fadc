"""Route of a fund's activity (admins: it names people and addresses)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from prorata.activity import service as activity_service
from prorata.activity.schemas import ActivityOut
from prorata.http.auth import TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["activity"])


@router.get(
    "/funds/{fund_id}/activity",
    summary="Who did what to the fund and what belongs to it (the audit log), newest first",
)
async def fund_activity(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[ActivityOut]:
    return render(await activity_service.page(session, fund_id=fund_id, params=page), ActivityOut)
