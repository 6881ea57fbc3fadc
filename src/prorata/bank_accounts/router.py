"""Routes of an investor's bank account for distributions (masked, revealed, changed)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from prorata.bank_accounts import service as bank_service
from prorata.bank_accounts.models import BankAccountChange
from prorata.bank_accounts.schemas import BankAccountIn, BankAccountOut, ChangeOut, RevealOut
from prorata.config import Settings
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.ratelimit import RateLimiter
from prorata.http.routing import ApiRoute
from prorata.http.tenancy import Principal, Role

router = APIRouter(route_class=ApiRoute, tags=["investors"])

ACCOUNT = "/investors/{investor_id}/bank-account"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def count_second_factor_attempt(request: Request, principal: Principal) -> None:
    """An LP's change carries a 6-digit code: every attempt counts against the `auth_failures`
    limit of that person (429 beyond), so codes cannot be guessed at the API's pace."""
    if principal.role is Role.investor:
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.hit("auth_failures", f"second-factor:{principal.user_id}")


def change_out(change: BankAccountChange) -> ChangeOut:
    return ChangeOut(
        id=change.id,
        investor_id=change.investor_id,
        status=change.status,
        bank_name=change.bank_name,
        account_name=change.account_name,
        account_number_masked=bank_service.masked(change.last4),
        reference=change.reference,
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decided_by=change.decided_by,
        decided_at=change.decided_at,
    )


def account_out(found: bank_service.View) -> BankAccountOut:
    account = found.account
    return BankAccountOut(
        investor_id=found.investor_id,
        on_file=account is not None,
        bank_name=account.bank_name if account else None,
        account_name=account.account_name if account else None,
        account_number_masked=bank_service.masked(account.last4) if account else None,
        reference=account.reference if account else None,
        updated_at=account.updated_at if account else None,
        pending_change=change_out(found.pending) if found.pending else None,
    )


@router.get(ACCOUNT, summary="The investor's bank account for distributions (masked)")
async def get_bank_account(
    investor_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> BankAccountOut:
    return account_out(await bank_service.view(session, actor=principal, investor_id=investor_id))


@router.put(
    ACCOUNT,
    summary="Set the bank account: a GP manager's at once (200); an LP's with its "
    "authenticator code, held for a GP admin's approval (202)",
    responses={202: {"model": BankAccountOut, "description": "Held for approval"}},
)
async def put_bank_account(
    investor_id: uuid.UUID,
    body: BankAccountIn,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> BankAccountOut:
    await count_second_factor_attempt(request, principal)
    change = await bank_service.submit(
        session, _settings(request), actor=principal, investor_id=investor_id, data=body
    )
    await session.refresh(change, ["requested_at"])
    found = await bank_service.view(session, actor=principal, investor_id=investor_id)
    if found.account is not None:
        await session.refresh(found.account, ["updated_at"])
    if found.pending is not None and found.pending.id == change.id:
        response.status_code = status.HTTP_202_ACCEPTED
    return account_out(found)


@router.post(
    ACCOUNT + "/reveal",
    summary="The bank details in full (admins; audited, never stored for a replay)",
)
async def reveal_bank_account(
    investor_id: uuid.UUID, request: Request, principal: CurrentPrincipal, session: TenantSession
) -> RevealOut:
    details = await bank_service.reveal(
        session, _settings(request), actor=principal, investor_id=investor_id
    )
    return RevealOut(investor_id=investor_id, details=details)


@router.get(ACCOUNT + "/changes", summary="Changes of the bank account, newest first")
async def list_bank_account_changes(
    investor_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> list[ChangeOut]:
    found = await bank_service.changes(session, actor=principal, investor_id=investor_id)
    return [change_out(c) for c in found]


@router.post(
    ACCOUNT + "/changes/{change_id}/approve",
    summary="Approve an LP's change: it takes effect and the investor's contacts are mailed",
)
async def approve_bank_account_change(
    investor_id: uuid.UUID,
    change_id: uuid.UUID,
    request: Request,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> ChangeOut:
    change = await bank_service.approve(
        session, _settings(request), actor=principal, investor_id=investor_id, change_id=change_id
    )
    return change_out(change)


@router.post(ACCOUNT + "/changes/{change_id}/reject", summary="Reject an LP's change")
async def reject_bank_account_change(
    investor_id: uuid.UUID,
    change_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: TenantSession,
) -> ChangeOut:
    change = await bank_service.reject(
        session, actor=principal, investor_id=investor_id, change_id=change_id
    )
    return change_out(change)
