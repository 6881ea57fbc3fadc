"""Routes of capital calls."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from prorata.capital_calls import service as call_service
from prorata.capital_calls.schemas import (
    CallCloseIn,
    CallCreate,
    CallOut,
    CallSummary,
    CreditOut,
    CreditRefundIn,
    DefaultIn,
    PaymentIn,
    PaymentReverseIn,
    ShortfallIn,
)
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute
from prorata.notices.schemas import NoticeSchedule

router = APIRouter(route_class=ApiRoute, tags=["capital calls"])
BASE = "/funds/{fund_id}/capital-calls"


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft capital call",
)
async def create_call(
    fund_id: uuid.UUID, body: CallCreate, principal: CurrentPrincipal, session: TenantSession
) -> CallOut:
    call = await call_service.create_draft(session, actor=principal, fund_id=fund_id, data=body)
    return await call_service.view(session, call=call)


@router.get(BASE, summary="Capital calls of a fund")
async def list_calls(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[CallSummary]:
    calls = await call_service.page(session, fund_id=fund_id, params=page)
    return Page[CallSummary](
        items=[
            CallSummary(
                id=c.id,
                fund_id=c.fund_id,
                status=c.status,
                notice_date=c.notice_date,
                due_date=c.due_date,
                amount=c.amount,
                created_at=c.created_at,
            )
            for c in calls.items
        ],
        next_cursor=calls.next_cursor,
    )


@router.get(BASE + "/{call_id}", summary="One capital call with its lines")
async def get_call(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    session: TenantSession,
    as_of: Annotated[
        dt.date | None,
        Query(description="The date default interest is accrued to on lines in default (today)."),
    ] = None,
) -> CallOut:
    call = await call_service.get(session, fund_id=fund_id, call_id=call_id)
    return await call_service.view(session, call=call, as_of=as_of)


@router.post(
    BASE + "/{call_id}/issue",
    summary="Issue a draft: contributions go to the ledger",
)
async def issue_call(
    fund_id: uuid.UUID, call_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> CallOut:
    call = await call_service.issue(session, actor=principal, fund_id=fund_id, call_id=call_id)
    return await call_service.view(session, call=call)


@router.post(
    BASE + "/{call_id}/cancel",
    summary="Cancel a draft, or an issued call with no payment",
)
async def cancel_call(
    fund_id: uuid.UUID, call_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> CallOut:
    call = await call_service.cancel(session, actor=principal, fund_id=fund_id, call_id=call_id)
    return await call_service.view(session, call=call)


@router.post(
    BASE + "/{call_id}/notices/approve",
    summary="Approve the notices: they are mailed now (an admin who did not issue the call)",
)
async def approve_notices(
    fund_id: uuid.UUID, call_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> CallOut:
    call = await call_service.approve_notices(
        session, actor=principal, fund_id=fund_id, call_id=call_id
    )
    return await call_service.view(session, call=call)


@router.post(
    BASE + "/{call_id}/notices/schedule",
    summary="Approve the notices to be mailed at a given time (four eyes, as approving)",
)
async def schedule_notices(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    body: NoticeSchedule,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    call = await call_service.schedule_notices(
        session, actor=principal, fund_id=fund_id, call_id=call_id, send_at=body.send_at
    )
    return await call_service.view(session, call=call)


@router.post(BASE + "/{call_id}/payments", summary="Record a payment received")
async def record_payment(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    body: PaymentIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    recorded = await call_service.record_payment(
        session, actor=principal, fund_id=fund_id, call_id=call_id, data=body
    )
    return await call_service.view(session, call=recorded.call, payment=recorded.payment)


@router.post(
    BASE + "/{call_id}/payments/{payment_id}/reverse",
    summary="Reverse a bounced payment (reversal entries; once a payment)",
)
async def reverse_payment(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    payment_id: uuid.UUID,
    body: PaymentReverseIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    reversed_ = await call_service.reverse_payment(
        session,
        actor=principal,
        fund_id=fund_id,
        call_id=call_id,
        payment_id=payment_id,
        reversed_on=body.reversed_on,
        reason=body.reason,
    )
    return await call_service.view(session, call=reversed_.call, payment=reversed_.payment)


@router.post(
    BASE + "/{call_id}/close",
    summary="Close out a partly paid call: the unpaid rest of every line is released",
)
async def close_call(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    body: CallCloseIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    call = await call_service.close(
        session, actor=principal, fund_id=fund_id, call_id=call_id, closed_on=body.closed_on
    )
    return await call_service.view(session, call=call)


CREDIT = "/funds/{fund_id}/investors/{investor_id}/credit"


@router.get(CREDIT, summary="The investor's credit in the fund (overpayments kept)")
async def get_credit(
    fund_id: uuid.UUID, investor_id: uuid.UUID, session: TenantSession
) -> CreditOut:
    return await call_service.credit(session, fund_id=fund_id, investor_id=investor_id)


@router.post(CREDIT + "/refund", summary="Refund (part of) the investor's credit")
async def refund_credit(
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    body: CreditRefundIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CreditOut:
    return await call_service.refund_credit(
        session,
        actor=principal,
        fund_id=fund_id,
        investor_id=investor_id,
        amount=body.amount,
        refunded_on=body.refunded_on,
    )


@router.post(
    BASE + "/{call_id}/lines/{investor_id}/default",
    summary="Declare an investor's line in default (after the due date and the grace days)",
)
async def declare_default(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    investor_id: uuid.UUID,
    body: DefaultIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    call = await call_service.declare_default(
        session,
        actor=principal,
        fund_id=fund_id,
        call_id=call_id,
        investor_id=investor_id,
        declared_on=body.declared_on,
    )
    return await call_service.view(session, call=call)


@router.post(
    BASE + "/{call_id}/shortfall",
    status_code=status.HTTP_201_CREATED,
    summary="Draft a follow-up call for the defaulted amount, from the investors not in default",
)
async def shortfall(
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    body: ShortfallIn,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CallOut:
    call = await call_service.shortfall(
        session, actor=principal, fund_id=fund_id, call_id=call_id, data=body
    )
    return await call_service.view(session, call=call)
