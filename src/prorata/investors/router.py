"""Routes of investors (the organisation's register of LPs)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery
from prorata.http.routing import ApiRoute
from prorata.investors import contacts as investor_contacts
from prorata.investors import repository as investor_repository
from prorata.investors import service as investor_service
from prorata.investors.schemas import (
    ContactCreate,
    ContactOut,
    ContactUpdate,
    InvestorCreate,
    InvestorOut,
    InvestorUpdate,
    mask,
)

router = APIRouter(route_class=ApiRoute)
CREATED = status.HTTP_201_CREATED


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


CONTACTS = "/investors/{investor_id}/contacts"


@router.get(CONTACTS, tags=["investors"], summary="The investor's contacts and what each receives")
async def list_contacts(
    investor_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> list[ContactOut]:
    found = await investor_contacts.listed(session, actor=principal, investor_id=investor_id)
    return [ContactOut.model_validate(c) for c in found]


@router.post(CONTACTS, status_code=CREATED, tags=["investors"], summary="Add a contact")
async def create_contact(
    investor_id: uuid.UUID,
    body: ContactCreate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> ContactOut:
    contact = await investor_contacts.create(
        session, actor=principal, investor_id=investor_id, data=body
    )
    return ContactOut.model_validate(contact)


@router.patch(CONTACTS + "/{contact_id}", tags=["investors"], summary="Change a contact")
async def update_contact(
    investor_id: uuid.UUID,
    contact_id: uuid.UUID,
    body: ContactUpdate,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> ContactOut:
    contact = await investor_contacts.update(
        session, actor=principal, investor_id=investor_id, contact_id=contact_id, data=body
    )
    return ContactOut.model_validate(contact)


@router.delete(
    CONTACTS + "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["investors"],
    summary="Remove a contact",
)
async def delete_contact(
    investor_id: uuid.UUID,
    contact_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> None:
    await investor_contacts.delete(
        session, actor=principal, investor_id=investor_id, contact_id=contact_id
    )
