"""Routes of funds and their commitments."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.repository import CommitmentOrder
from prorata.funds.schemas import (
    CommitmentCreate,
    CommitmentOut,
    CommitmentTermsUpdate,
    FundCreate,
    FundOut,
    FundUpdate,
)
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.ledger import repository as ledger

router = APIRouter(route_class=ApiRoute)
CREATED = status.HTTP_201_CREATED


@router.post("/funds", status_code=CREATED, tags=["funds"], summary="Create a fund")
async def create_fund(
    body: FundCreate, principal: CurrentPrincipal, session: TenantSession
) -> FundOut:
    return FundOut.model_validate(await fund_service.create(session, actor=principal, data=body))


@router.get("/funds", tags=["funds"], summary="Funds")
async def list_funds(session: TenantSession, page: PageQuery) -> Page[FundOut]:
    funds = await fund_repository.page(session, params=page)
    return render(funds, FundOut)


@router.get("/funds/{fund_id}", tags=["funds"], summary="One fund")
async def get_fund(fund_id: uuid.UUID, session: TenantSession) -> FundOut:
    return FundOut.model_validate(await fund_service.get(session, fund_id=fund_id))


@router.patch("/funds/{fund_id}", tags=["funds"], summary="Change a fund")
async def update_fund(
    fund_id: uuid.UUID, body: FundUpdate, principal: CurrentPrincipal, session: TenantSession
) -> FundOut:
    fund = await fund_service.update(session, actor=principal, fund_id=fund_id, data=body)
    return FundOut.model_validate(fund)


@router.post(
    "/funds/{fund_id}/commitments",
    status_code=CREATED,
    tags=["funds"],
    summary="Record an investor's commitment",
)
async def create_commitment(
    fund_id: uuid.UUID, body: CommitmentCreate, principal: CurrentPrincipal, session: TenantSession
) -> CommitmentOut:
    commitment = await fund_service.add_commitment(
        session,
        actor=principal,
        fund_id=fund_id,
        investor_id=body.investor_id,
        amount=body.amount,
        committed_on=body.committed_on,
        general_partner=body.general_partner,
        management_fee_rate=body.management_fee_rate,
        carry_share=body.carry_share,
    )
    fund = await fund_service.get(session, fund_id=fund_id)
    return fund_service.commitment_view(commitment, ledger.Balance(), money.quantum(fund.currency))


@router.patch(
    "/funds/{fund_id}/commitments/{investor_id}",
    tags=["funds"],
    summary="Change a commitment's own terms (GP commitment, side letter)",
)
async def update_commitment_terms(
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    body: CommitmentTermsUpdate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> CommitmentOut:
    commitment = await fund_service.update_commitment_terms(
        session,
        actor=principal,
        fund_id=fund_id,
        investor_id=investor_id,
        changes=body.model_dump(exclude_unset=True),
    )
    fund = await fund_service.get(session, fund_id=fund_id)
    balances = await ledger.balances(session, fund_id=fund_id, investor_ids=[investor_id])
    balance = balances.get(investor_id, ledger.Balance())
    return fund_service.commitment_view(commitment, balance, money.quantum(fund.currency))


@router.get(
    "/funds/{fund_id}/commitments",
    tags=["funds"],
    summary="Commitments with contributed, distributed and unfunded",
)
async def list_commitments(
    fund_id: uuid.UUID,
    session: TenantSession,
    page: PageQuery,
    sort: Annotated[
        CommitmentOrder,
        Query(
            description="`made` (the order they were made), `name` of the investor, `amount`; "
            "`-name` and `-amount` reverse. The cursor belongs to its order."
        ),
    ] = CommitmentOrder.made,
) -> Page[CommitmentOut]:
    currency = await fund_service.currency_of(session, fund_id=fund_id)
    commitments = await fund_repository.commitment_page(
        session, fund_id=fund_id, params=page, order=sort
    )
    balances = await ledger.balances(
        session, fund_id=fund_id, investor_ids=[c.investor_id for c in commitments.items]
    )
    quantum = money.quantum(currency)
    return Page[CommitmentOut](
        items=[
            fund_service.commitment_view(c, balances.get(c.investor_id, ledger.Balance()), quantum)
            for c in commitments.items
        ],
        next_cursor=commitments.next_cursor,
    )
