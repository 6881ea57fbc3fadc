"""Routes of funds, commitments, investors and deals (the fund register)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.deals import service as deal_service
from prorata.deals.schemas import DealCreate, DealOut, DealUpdate
from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.schemas import CommitmentCreate, CommitmentOut, FundCreate, FundOut, FundUpdate
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.investors import repository as investor_repository
from prorata.investors import service as investor_service
from prorata.investors.schemas import InvestorCreate, InvestorOut, InvestorUpdate, mask
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
    )
    fund = await fund_service.get(session, fund_id=fund_id)
    return fund_service.commitment_view(commitment, ledger.Balance(), money.quantum(fund.currency))


@router.get(
    "/funds/{fund_id}/commitments",
    tags=["funds"],
    summary="Commitments with contributed, distributed and unfunded",
)
async def list_commitments(
    fund_id: uuid.UUID, session: TenantSession, page: PageQuery
) -> Page[CommitmentOut]:
    fund = await fund_service.get(session, fund_id=fund_id)
    commitments = await fund_repository.commitment_page(session, fund_id=fund_id, params=page)
    balances = await ledger.balances(
        session, fund_id=fund_id, investor_ids=[c.investor_id for c in commitments.items]
    )
    quantum = money.quantum(fund.currency)
    return Page[CommitmentOut](
        items=[
            fund_service.commitment_view(c, balances.get(c.investor_id, ledger.Balance()), quantum)
            for c in commitments.items
        ],
        next_cursor=commitments.next_cursor,
    )


@router.post("/investors", status_code=CREATED, tags=["investors"], summary="Create an investor")
async def create_investor(
    body: InvestorCreate, principal: CurrentPrincipal, session: TenantSession
) -> InvestorOut:
    return InvestorOut.model_validate(
        await investor_service.create(session, actor=principal, data=body)
    )


@router.get("/investors", tags=["investors"], summary="Investors (tax ids masked)")
async def list_investors(session: TenantSession, page: PageQuery) -> Page[InvestorOut]:
    investors = await investor_repository.page(session, params=page)
    items = [
        InvestorOut.model_validate(i).model_copy(update={"tax_id": mask(i.tax_id)})
        for i in investors.items
    ]
    return Page[InvestorOut](items=items, next_cursor=investors.next_cursor)


@router.get("/investors/{investor_id}", tags=["investors"], summary="One investor")
async def get_investor(investor_id: uuid.UUID, session: TenantSession) -> InvestorOut:
    return InvestorOut.model_validate(await investor_service.get(session, investor_id=investor_id))


@router.patch(
    "/investors/{investor_id}",
    tags=["investors"],
    summary="Change an investor",
)
async def update_investor(
    investor_id: uuid.UUID,
    body: InvestorUpdate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> InvestorOut:
    investor = await investor_service.update(
        session, actor=principal, investor_id=investor_id, data=body
    )
    return InvestorOut.model_validate(investor)


@router.post(
    "/funds/{fund_id}/deals",
    status_code=CREATED,
    tags=["deals"],
    summary="Create a deal",
)
async def create_deal(
    fund_id: uuid.UUID, body: DealCreate, principal: CurrentPrincipal, session: TenantSession
) -> DealOut:
    deal = await deal_service.create(session, actor=principal, fund_id=fund_id, data=body)
    return DealOut.model_validate(deal)


@router.get("/funds/{fund_id}/deals", tags=["deals"], summary="Deals of a fund")
async def list_deals(fund_id: uuid.UUID, session: TenantSession, page: PageQuery) -> Page[DealOut]:
    deals = await deal_service.page(session, fund_id=fund_id, params=page)
    return render(deals, DealOut)


@router.get("/funds/{fund_id}/deals/{deal_id}", tags=["deals"], summary="One deal")
async def get_deal(fund_id: uuid.UUID, deal_id: uuid.UUID, session: TenantSession) -> DealOut:
    return DealOut.model_validate(await deal_service.get(session, fund_id=fund_id, deal_id=deal_id))


@router.patch("/funds/{fund_id}/deals/{deal_id}", tags=["deals"], summary="Change a deal")
async def update_deal(
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    body: DealUpdate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> DealOut:
    deal = await deal_service.update(
        session, actor=principal, fund_id=fund_id, deal_id=deal_id, data=body
    )
    return DealOut.model_validate(deal)
