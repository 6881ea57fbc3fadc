"""Route of the management fee calculation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, status

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageParams, PageQuery, page_params, render
from prorata.http.routing import ApiRoute
from prorata.http.schemas import ResponseModel
from prorata.management_fees import calls, offsets
from prorata.management_fees import service as fee_service
from prorata.management_fees.models import FeeIncome, FeeWaiver
from prorata.management_fees.schemas import (
    CalledFeeOut,
    FeeCallCreate,
    FeeCallDetailOut,
    FeeCallLineOut,
    FeeCallOut,
    FeeCancel,
    FeeCancellationOut,
    FeeIncomeCreate,
    FeeIncomeOut,
    FeeLineOut,
    FeePartOut,
    FeeReductionOut,
    FeeWaiverCreate,
    FeeWaiverOut,
    ManagementFeeOut,
)

router = APIRouter(route_class=ApiRoute, tags=["management fees"])

FeeCallPage = Annotated[PageParams, Depends(page_params(len(calls.KEY)))]


@router.get(
    "/funds/{fund_id}/management-fees",
    summary="The management fee of a period (rate × basis × fraction), split by commitment",
    description="Recomputed on every request from the fund's terms and records; the fee "
    "calls that cover the period are shown beside it (`called`, with the figures they were "
    "called at and whether the recomputation `differs`). The period lies between 1 January "
    "of the fund's vintage year (and at most 60 years ago) and 31 December ten years from "
    "now (422 naming the bounds).",
)
async def management_fee(
    fund_id: uuid.UUID,
    session: TenantSession,
    start: Annotated[dt.date, Query(alias="from", description="First day of the period.")],
    end: Annotated[dt.date, Query(alias="to", description="Last day of the period (included).")],
) -> ManagementFeeOut:
    fee = await fee_service.calculate(session, fund_id=fund_id, start=start, end=end)
    standing = await calls.standing(session, fund_id=fund_id, first=start, last=end)
    return ManagementFeeOut(
        fund_id=fund_id,
        currency=fee.fund.currency,
        period_from=start,
        period_to=end,
        day_count=fee.fund.day_count,
        amount=fee.amount,
        parts=[
            FeePartOut(
                period_from=p.first,
                period_to=p.last,
                basis=p.basis,
                basis_amount=p.basis_amount,
                rate=p.rate,
                fraction=fee_service.fraction_text(p.fraction),
                amount=p.amount,
            )
            for p in fee.parts
        ],
        reduction=FeeReductionOut(
            fee_offset_rate=fee.fund.fee_offset_rate,
            fee_income=fee.fee_income,
            carried_in=fee.reduction.carried_in,
            credit=fee.reduction.credit,
            waived=fee.reduction.waived,
            offset=fee.reduction.offset,
            carried_forward=fee.reduction.carried_out,
        ),
        net_amount=fee.net_amount,
        lines=[
            FeeLineOut(
                investor_id=i,
                amount=a,
                offset=fee.reductions[i][0],
                waived=fee.reductions[i][1],
                net=fee.net_line(i),
            )
            for i, a in fee.lines.items()
        ],
        called=[_detail(c, CalledFeeOut, differs=calls.differs(c, fee)) for c in standing],
    )


Detail = TypeVar("Detail", bound=FeeCallDetailOut)


def _detail(called: calls.Called, model: type[Detail], **extra: object) -> Detail:
    """A fee call read back (its row, its investors' lines), as `model`."""
    return model.model_validate(
        {
            **FeeCallOut.model_validate(called.row).model_dump(),
            "lines": [FeeCallLineOut(investor_id=i, net=a) for i, a in called.lines.items()],
            **extra,
        }
    )


@router.post(
    "/funds/{fund_id}/management-fees/calls",
    status_code=status.HTTP_201_CREATED,
    summary="Call a period's management fee net of offsets and waivers (a capital call)",
    description="Computes the period's fee as GET …/management-fees does and issues at once a "
    "capital call with one management_fee item whose lines are each investor's net fee (they "
    "add up to the net total); nothing is called when the net is zero, but the period is "
    "recorded as called. A period lies within one calendar quarter and is called once (409 "
    "while a fee call of an overlapping period counts; cancelling its capital call frees it).",
)
async def call_management_fee(
    fund_id: uuid.UUID, body: FeeCallCreate, principal: CurrentPrincipal, session: TenantSession
) -> FeeCallOut:
    fee_call = await calls.call_fee(
        session,
        actor=principal,
        fund_id=fund_id,
        period_start=body.period_start,
        period_end=body.period_end,
        notice_date=body.notice_date,
        due_date=body.due_date,
    )
    return FeeCallOut.model_validate(fee_call)


@router.get(
    "/funds/{fund_id}/management-fees/calls",
    summary="A fund's fee calls, newest period first (cancelled ones too)",
    description="Each with the figures it was called at (`amount`, `waived`, `offset`, "
    "`net_amount`, `carried_forward`), its `call_id` and whether it was `cancelled` (it, or its "
    "capital call: it no longer counts). Each investor's line: `GET …/calls/{id}`.",
)
async def list_fee_calls(
    fund_id: uuid.UUID, session: TenantSession, page: FeeCallPage
) -> Page[FeeCallOut]:
    return render(await calls.page(session, fund_id=fund_id, params=page), FeeCallOut)


@router.get(
    "/funds/{fund_id}/management-fees/calls/{fee_call_id}",
    summary="A fee call, with each investor's net fee as called",
)
async def get_fee_call(
    fund_id: uuid.UUID, fee_call_id: uuid.UUID, session: TenantSession
) -> FeeCallDetailOut:
    called = await calls.get(session, fund_id=fund_id, fee_call_id=fee_call_id)
    return _detail(called, FeeCallDetailOut)


@router.post(
    "/funds/{fund_id}/management-fees/calls/{fee_call_id}/cancel",
    status_code=status.HTTP_201_CREATED,
    summary="Cancel a fee call made by mistake, with its capital call",
    description="Appends a cancellation; its capital call is cancelled with it (409 once "
    "paid, or when the fee call is already cancelled); the period can then be called again.",
)
async def cancel_fee_call(
    fund_id: uuid.UUID,
    fee_call_id: uuid.UUID,
    body: FeeCancel,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> FeeCancellationOut:
    cancellation = await calls.cancel_fee_call(
        session, actor=principal, fund_id=fund_id, fee_call_id=fee_call_id, reason=body.reason
    )
    return FeeCancellationOut.model_validate(cancellation)


def _records(
    path: str,
    kind: type[FeeIncome] | type[FeeWaiver],
    create: type[FeeIncomeCreate] | type[FeeWaiverCreate],
    out: type[ResponseModel],
    noun: str,
    summary: str,
) -> None:
    """The routes of fee income or of fee waivers — record, list, cancel: one set of
    functions for both."""

    @router.post(
        f"/funds/{{fund_id}}/{path}",
        status_code=status.HTTP_201_CREATED,
        summary=summary,
        response_model=out,
    )
    async def recording(
        fund_id: uuid.UUID,
        body: FeeIncomeCreate | FeeWaiverCreate,
        principal: CurrentPrincipal,
        session: TenantSession,
    ) -> Any:
        row = await offsets.record(session, actor=principal, fund_id=fund_id, data=body)
        return out.model_validate(row)

    # The body is this kind's model (FastAPI reads the annotation when the route is added).
    recording.__annotations__["body"] = create

    listed = Page[out]  # type: ignore[valid-type]

    @router.get(f"/funds/{{fund_id}}/{path}", summary=f"{noun} of a fund", response_model=listed)
    async def listing(fund_id: uuid.UUID, session: TenantSession, page: PageQuery) -> Any:
        return render(await offsets.page(session, kind, fund_id=fund_id, params=page), out)

    @router.post(
        f"/funds/{{fund_id}}/{path}/{{record_id}}/cancel",
        status_code=status.HTTP_201_CREATED,
        summary=f"Cancel one of the {noun.lower()} recorded by mistake",
        description="Appends a cancellation (the record stays, it no longer counts); 409 when "
        "it is already cancelled, or while an issued fee call relies on it (cancel that fee "
        "call first).",
        response_model=FeeCancellationOut,
    )
    async def cancelling(
        fund_id: uuid.UUID,
        record_id: uuid.UUID,
        body: FeeCancel,
        principal: CurrentPrincipal,
        session: TenantSession,
    ) -> Any:
        cancellation = await offsets.cancel(
            session,
            kind,
            actor=principal,
            fund_id=fund_id,
            item_id=record_id,
            reason=body.reason,
        )
        return FeeCancellationOut.model_validate(cancellation)


_records(
    "fee-income",
    FeeIncome,
    FeeIncomeCreate,
    FeeIncomeOut,
    "Fee income",
    "Record a fee a portfolio company paid the GP (it offsets the management fee)",
)
_records(
    "fee-waivers",
    FeeWaiver,
    FeeWaiverCreate,
    FeeWaiverOut,
    "Fee waivers",
    "Record part of a period's management fee the GP forgoes",
)
