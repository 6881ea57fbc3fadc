"""A fund's allocations as a grid: a row per investor (the commitments table's pages and
order), a column per deal, each cell an allocation a manager edits in place.

A cell is a small form: with htmx it posts on change and is swapped for the saved cell (or the
API's refusal beside it) without reloading the page; without JavaScript, Enter posts it and the
grid comes back at the same page. Either way it is `allocations.service.upsert`, as
`PUT /api/v1/funds/{f}/deals/{d}/allocations/{i}` calls it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.allocations import service as allocation_service
from prorata.allocations.models import Allocation
from prorata.console import forms, render
from prorata.console.funds import PAGE_SIZE, deal_rows, names_of, order_of
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.deals import service as deal_service
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.repository import CommitmentOrder
from prorata.http.pagination import PageParams
from prorata.http.tenancy import ROLE_RANK, Role
from prorata.platform import errors

router = APIRouter(route_class=PageRoute)
FormText = Annotated[str, Form()]


async def _amounts(
    db: AsyncSession, fund_id: uuid.UUID, investor_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], Decimal]:
    """The page's investors' allocations, by (investor, deal): one read of the primary key."""
    rows = await db.execute(
        sa.select(Allocation.investor_id, Allocation.deal_id, Allocation.amount).where(
            Allocation.fund_id == fund_id, Allocation.investor_id.in_(investor_ids)
        )
    )
    return {(investor, deal): amount for investor, deal, amount in rows.all()}


@router.get("/funds/{fund_id}/allocations")
async def allocations_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    cursor: str | None = None,
    q: str = "",
    sort: str = "",
) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    search = q.strip()[:100] or None
    order = order_of(sort)
    commitments = await fund_repository.commitment_page(
        db,
        fund_id=fund_id,
        params=PageParams(limit=PAGE_SIZE, cursor=cursor),
        search=search,
        order=order,
    )
    ids = [c.investor_id for c in commitments.items]
    names = await names_of(db, ids)
    return await render.page(
        request,
        "allocations.html",
        fund=fund,
        deals=await deal_rows(db, fund_id),
        rows=[(c, names.get(c.investor_id, "—")) for c in commitments.items],
        amounts=await _amounts(db, fund_id, ids),
        next_cursor=commitments.next_cursor,
        here=_here(cursor, search, order),
        search=search or "",
        may_edit=ROLE_RANK[page.principal.role] >= ROLE_RANK[Role.manager],
    )


def _here(cursor: str | None, search: str | None, order: CommitmentOrder) -> str:
    """The grid's query string at this page, for a cell posted without JavaScript to come
    back to."""
    query = {
        "cursor": cursor,
        "q": search,
        "sort": None if order is CommitmentOrder.made else order,
    }
    return urlencode({k: v for k, v in query.items() if v})


@router.post("/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}")
async def set_allocation(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    investor_id: uuid.UUID,
    amount: FormText = "",
    here: FormText = "",
) -> Response:
    fund = await fund_service.get(db, fund_id=fund_id)
    deal = await deal_service.get(db, fund_id=fund_id, deal_id=deal_id)
    value = forms.money(amount)
    error: str | None = None
    try:
        if value is None:
            raise errors.RuleViolation("the amount must be a number, e.g. 250000.00")
        async with db.begin_nested():
            saved = await allocation_service.upsert(
                db,
                actor=page.principal,
                fund_id=fund_id,
                deal_id=deal_id,
                investor_id=investor_id,
                amount=value,
            )
        value = saved.amount
    except errors.RuleViolation as refused:
        error = refused.detail
    if request.headers.get("hx-request") != "true":
        if error is not None:
            raise errors.RuleViolation(error)  # the problem page, in the API's words
        back = f"/funds/{fund_id}/allocations?{here}" if here else f"/funds/{fund_id}/allocations"
        return see_other(f"{back}#investor-{investor_id}")
    names = await names_of(db, [investor_id])
    cell: dict[str, Any] = {
        "fund": fund,
        "deal": deal,
        "investor_id": investor_id,
        "investor": names.get(investor_id, "—"),
        "value": amount if error else value,
        "error": error,
        "saved": error is None,
        "here": here,
    }
    return await render.page(
        request, "allocation_cell.html", status=422 if error else 200, viewer=None, **cell
    )
