"""A distribution's page (its figures, each investor's share and notice, the notices' release)
and the forms that release notices — a distribution's, and scheduling a call's — with the
service functions the API routes call: the rules (admin, four eyes, send_at) are the API's.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from prorata.capital_calls import service as call_service
from prorata.console import funds, render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.distributions import service as distribution_service
from prorata.documents.models import Document
from prorata.funds import service as fund_service
from prorata.http.tenancy import Role
from prorata.platform import errors, events

router = APIRouter(route_class=PageRoute)

DISTRIBUTION = "/funds/{fund_id}/distributions/{distribution_id}"
SEND_AT_FORMAT = "the time must be a day and an hour, e.g. 2027-01-04T09:00"


def send_at_of(text: str) -> dt.datetime:
    """The form's `datetime-local` value, read as UTC (as the label says)."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise errors.RuleViolation(SEND_AT_FORMAT) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def distribution_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    *,
    status: int = 200,
    approve_error: str | None = None,
    schedule_error: str | None = None,
    send_at: str = "",
) -> Response:
    live_after = await events.last_number(db, fund_id=fund_id)  # before the data it shows
    fund = await fund_service.get(db, fund_id=fund_id)
    distribution = await distribution_service.get(
        db, fund_id=fund_id, distribution_id=distribution_id
    )
    view = await distribution_service.view(db, distribution)
    documents = {
        d.investor_id: d
        for d in await db.scalars(
            sa.select(Document).where(Document.distribution_id == distribution_id)
        )
    }
    standing = distribution.cancelled_at is None
    return await render.page(
        request,
        "distribution.html",
        status=status,
        live_after=live_after,
        fund=fund,
        distribution=distribution,
        view=view,
        names=await funds.names_of(db, [line.investor_id for line in view.lines]),
        documents=documents,
        may_approve=standing
        and funds.may(page, Role.admin)
        and distribution.made_by != page.principal.user_id,
        made_by_me=distribution.made_by == page.principal.user_id,
        approve_error=approve_error,
        schedule_error=schedule_error,
        send_at=send_at,
        # Made, and the worker is still rendering its notices: the page refreshes itself.
        rendering=standing and len(documents) < len(view.lines),
    )


@router.get(DISTRIBUTION)
async def show_distribution(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> Response:
    return await distribution_page(request, db, page, fund_id, distribution_id)


@router.post(DISTRIBUTION + "/notices/approve")
async def approve_distribution_notices(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> Response:
    try:
        async with db.begin_nested():
            await distribution_service.approve_notices(
                db, actor=page.principal, fund_id=fund_id, distribution_id=distribution_id
            )
    except (errors.Forbidden, errors.Conflict) as refused:
        return await distribution_page(
            request,
            db,
            page,
            fund_id,
            distribution_id,
            status=refused.status,
            approve_error=refused.detail,
        )
    return see_other(f"/funds/{fund_id}/distributions/{distribution_id}#notices")


@router.post(DISTRIBUTION + "/notices/schedule")
async def schedule_distribution_notices(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> Response:
    typed = str((await request.form()).get("send_at", ""))
    try:
        async with db.begin_nested():
            await distribution_service.schedule_notices(
                db,
                actor=page.principal,
                fund_id=fund_id,
                distribution_id=distribution_id,
                send_at=send_at_of(typed),
            )
    except (errors.Forbidden, errors.Conflict, errors.RuleViolation) as refused:
        return await distribution_page(
            request,
            db,
            page,
            fund_id,
            distribution_id,
            status=refused.status,
            schedule_error=refused.detail,
            send_at=typed,
        )
    return see_other(f"/funds/{fund_id}/distributions/{distribution_id}#notices")


@router.post("/funds/{fund_id}/calls/{call_id}/notices/schedule")
async def schedule_call_notices(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, call_id: uuid.UUID
) -> Response:
    typed = str((await request.form()).get("send_at", ""))
    try:
        async with db.begin_nested():
            await call_service.schedule_notices(
                db,
                actor=page.principal,
                fund_id=fund_id,
                call_id=call_id,
                send_at=send_at_of(typed),
            )
    except (errors.Forbidden, errors.Conflict, errors.RuleViolation) as refused:
        return await funds.render_call_page(
            request,
            db,
            page,
            fund_id,
            call_id,
            status=refused.status,
            schedule_error=refused.detail,
            send_at=typed,
        )
    return see_other(f"/funds/{fund_id}/calls/{call_id}#notices")
