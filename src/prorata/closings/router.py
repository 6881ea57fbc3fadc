"""Routes of subsequent closes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.closings import service as closing_service
from prorata.closings.schemas import ClosingCreate, ClosingOut, ClosingSummary
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute

router = APIRouter(route_class=ApiRoute, tags=["closings"])
BASE = "/funds/{fund_id}/closings"


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    summary="Draft a subsequent close: the equalization of the commitments made since the last",
)
async def create_closing(
    fund_id: uuid.UUID, body: ClosingCreate, principal: CurrentPrincipal, session: TenantSession
) -> ClosingOut:
    closing = await closing_service.create_draft(
        session, actor=principal, fund_id=fund_id, data=body
    )
    return await closing_service.view(session, closing=closing)


@router.get(BASE, summary="Subsequent closes of a fund")
async def list_closings(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[ClosingSummary]:
    closings = await closing_service.page(session, fund_id=fund_id, params=page)
    return Page[ClosingSummary](
        items=[
            ClosingSummary(
                id=c.id,
                fund_id=c.fund_id,
                number=c.number,
                status=c.status,
                previous_closing_date=c.previous_date,
                closing_date=c.closing_date,
                due_date=c.due_date,
                call_id=c.call_id,
                created_at=c.created_at,
            )
            for c in closings.items
        ],
        next_cursor=closings.next_cursor,
    )


@router.get(BASE + "/{closing_id}", summary="One subsequent close with every investor's line")
async def get_closing(
    fund_id: uuid.UUID, closing_id: uuid.UUID, session: TenantSession
) -> ClosingOut:
    closing = await closing_service.get(session, fund_id=fund_id, closing_id=closing_id)
    return await closing_service.view(session, closing=closing)


@router.post(
    BASE + "/{closing_id}/issue",
    summary="Issue a closing: the new investors' call, the returns and interest to the ledger",
)
async def issue_closing(
    fund_id: uuid.UUID, closing_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> ClosingOut:
    closing = await closing_service.issue(
        session, actor=principal, fund_id=fund_id, closing_id=closing_id
    )
    return await closing_service.view(session, closing=closing)
