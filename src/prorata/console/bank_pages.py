"""Pages of an investor's bank account: on the GP's investor page (set it, reveal it once,
approve or reject an LP's change) and in the LP portal (see it masked, ask for a change with the
authenticator's code). Each form calls the service its API route calls: the rules are the API's.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from prorata.bank_accounts import router as bank_router
from prorata.bank_accounts import service as bank_service
from prorata.bank_accounts.schemas import BankAccountIn
from prorata.config import Settings
from prorata.console import bank_forms, funds, portal, render
from prorata.console.routing import PageDb, PageRoute, SignedIn, see_other
from prorata.orgs.models import Org, User

router = APIRouter(route_class=PageRoute)

GP_PAGE = "/funds/{fund_id}/investors/{investor_id}"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _back(fund_id: uuid.UUID, investor_id: uuid.UUID) -> Response:
    return see_other(f"/funds/{fund_id}/investors/{investor_id}#bank-account")


async def _investor_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    outcome: bank_forms.Outcome,
    typed: dict[str, str] | None = None,
) -> Response:
    return await funds.investor_page(
        request,
        db,
        page,
        fund_id,
        investor_id,
        status=outcome.status,
        bank_errors=outcome.errors,
        bank_typed=typed,
    )


@router.post(GP_PAGE + "/bank-account")
async def set_account(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    form = dict((await request.form()).items())

    async def submit(data: BankAccountIn) -> object:
        return await bank_service.submit(
            db, _settings(request), actor=page.principal, investor_id=investor_id, data=data
        )

    outcome = await bank_forms.attempt(db, form, with_code=False, submit=submit)
    if outcome.done:
        return _back(fund_id, investor_id)
    typed = bank_forms.typed(form)
    return await _investor_page(request, db, page, fund_id, investor_id, outcome, typed)


@router.post(GP_PAGE + "/bank-account/reveal")
async def reveal(
    request: Request, db: PageDb, page: SignedIn, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> Response:
    """The details in full, in this answer only (no-store; audited by the service)."""
    details = await bank_service.reveal(
        db, _settings(request), actor=page.principal, investor_id=investor_id
    )
    return await funds.investor_page(request, db, page, fund_id, investor_id, revealed=details)


@router.post(GP_PAGE + "/bank-account/changes/{change_id}/approve")
async def approve(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    change_id: uuid.UUID,
) -> Response:
    outcome = await bank_forms.run(
        db,
        lambda: bank_service.approve(
            db,
            _settings(request),
            actor=page.principal,
            investor_id=investor_id,
            change_id=change_id,
        ),
    )
    if outcome.done:
        return _back(fund_id, investor_id)
    return await _investor_page(request, db, page, fund_id, investor_id, outcome)


@router.post(GP_PAGE + "/bank-account/changes/{change_id}/reject")
async def reject(
    request: Request,
    db: PageDb,
    page: SignedIn,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    change_id: uuid.UUID,
) -> Response:
    outcome = await bank_forms.run(
        db,
        lambda: bank_service.reject(
            db, actor=page.principal, investor_id=investor_id, change_id=change_id
        ),
    )
    if outcome.done:
        return _back(fund_id, investor_id)
    return await _investor_page(request, db, page, fund_id, investor_id, outcome)


PORTAL = "/portal/bank-account"


async def _portal_page(
    request: Request,
    db: PageDb,
    page: SignedIn,
    *,
    outcome: bank_forms.Outcome | None = None,
    typed: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    investor_id = portal._investor_of(page)  # the portal's own rule: its member's investor
    user = await db.get(User, page.principal.user_id)
    org = await db.get(Org, page.principal.org_id)
    return await render.page(
        request,
        "portal_bank.html",
        status=outcome.status if outcome else 200,
        bank=await bank_forms.section(db, actor=page.principal, investor_id=investor_id),
        bank_fields_list=bank_forms.FIELDS,
        bank_optional=bank_forms.OPTIONAL,
        bank_typed=typed,
        two_factor_on=bool(user and user.totp_enabled_at),
        manager=org.name if org else "the fund manager",
        errors=outcome.errors if outcome else {},
        notice=notice,
    )


@router.get(PORTAL)
async def portal_account(
    request: Request, db: PageDb, page: SignedIn, held: bool = False
) -> Response:
    notice = (
        "Your change is held until the fund manager approves it: until then distributions go "
        "to the account on file. Everyone on your contacts list is e-mailed when it changes."
        if held
        else None
    )
    return await _portal_page(request, db, page, notice=notice)


@router.post(PORTAL)
async def portal_change(request: Request, db: PageDb, page: SignedIn) -> Response:
    investor_id = portal._investor_of(page)  # the portal's own rule: its member's investor
    await bank_router.count_second_factor_attempt(request, page.principal)
    form = dict((await request.form()).items())

    async def submit(data: BankAccountIn) -> object:
        return await bank_service.submit(
            db, _settings(request), actor=page.principal, investor_id=investor_id, data=data
        )

    outcome = await bank_forms.attempt(db, form, with_code=True, submit=submit)
    if outcome.done:
        return see_other(PORTAL + "?held=1")
    return await _portal_page(request, db, page, outcome=outcome, typed=bank_forms.typed(form))
