"""Invitations and password resets: a single-use link by e-mail, its token hashed at rest.

An invitation creates nothing until it is accepted: the user and membership are made then,
with the password the invitee chose. A reset link sets a password (a user added with
`POST /users`, who never had one, gets in this way too) and ends every session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts import passwords, sessions
from prorata.accounts import service as account_service
from prorata.accounts.models import Invitation, InvitationStatus, PasswordReset
from prorata.config import Settings
from prorata.http import auth
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal, Role
from prorata.notifications import service as notifications
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import Org, User
from prorata.platform import audit, db, errors

INVITATION_LIFETIME = dt.timedelta(days=7)
RESET_LIFETIME = dt.timedelta(hours=1)
# A reset link is not sent again within this time (one click of "send" is enough).
RESET_RESEND_AFTER = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _view(invitation: Invitation) -> dict[str, object]:
    return {
        "email": invitation.email,
        "role": str(invitation.role),
        "investor_id": str(invitation.investor_id) if invitation.investor_id else None,
    }


async def _org_name(session: AsyncSession, org_id: uuid.UUID) -> str:
    org = await session.get(Org, org_id)
    return org.name if org else "your organisation"


async def invite(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    email: str,
    role: Role,
    investor_id: uuid.UUID | None,
) -> Invitation:
    """Invite someone; a pending invitation to the same address is replaced (sent again)."""
    org_service.check_grant(actor, role)
    await org_service.check_investor_link(
        session, role=role, investor_id=investor_id, required=True
    )
    if await org_repository.email_taken(session, email=email):
        raise errors.Conflict(f"{email} is already a member of this organisation")
    for earlier in await session.scalars(
        sa.select(Invitation).where(
            sa.func.lower(Invitation.email) == email.lower(),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    ):
        earlier.revoked_at = _now()
    token = sessions.new_token()
    invitation = Invitation(
        org_id=actor.org_id,
        email=email,
        role=role,
        investor_id=investor_id,
        token_hash=auth.hash_token(token),
        invited_by=actor.user_id,
        expires_at=_now() + INVITATION_LIFETIME,
    )
    session.add(invitation)
    await session.flush()
    org_name = await _org_name(session, actor.org_id)
    link = f"{settings.base_url}/invitations/{token}"
    await notifications.queue_email(
        session,
        org_id=actor.org_id,
        kind="invitation",
        recipient=email,
        subject=f"You are invited to {org_name} on Prorata",
        body=(
            f"You are invited to join {org_name} on Prorata as {errors.a(role)}.\n\n"
            f"Choose your password here (the link works once, for 7 days):\n{link}\n\n"
            "If you did not expect this invitation, ignore this message.\n"
        ),
        redact_after_send=True,
    )
    await _audit_invitation(session, actor.user_id, invitation, "invitation.send")
    return invitation


async def _audit_invitation(
    session: AsyncSession, actor_user_id: uuid.UUID | None, invitation: Invitation, action: str
) -> None:
    await audit.record(
        session,
        org_id=invitation.org_id,
        actor_user_id=actor_user_id,
        action=action,
        entity="invitation",
        entity_id=invitation.id,
        after=_view(invitation),
    )


async def list_invitations(session: AsyncSession, *, params: PageParams) -> Page[Invitation]:
    return await keyset(
        session, sa.select(Invitation), key=[Invitation.id], params=params, item=lambda i: i
    )


async def get(session: AsyncSession, *, invitation_id: uuid.UUID) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None:
        raise errors.NotFound("no such invitation")
    return invitation


async def revoke(session: AsyncSession, *, actor: Principal, invitation_id: uuid.UUID) -> None:
    """Revoke a pending invitation (its link stops working); revoking twice is no error."""
    invitation = await get(session, invitation_id=invitation_id)
    org_service.check_grant(actor, invitation.role)
    if invitation.accepted_at is not None:
        raise errors.Conflict("the invitation was accepted: remove the member instead")
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = _now()
    await session.flush()
    await _audit_invitation(session, actor.user_id, invitation, "invitation.revoke")


async def open_invitation(session: AsyncSession, *, token: str) -> Invitation | None:
    """The pending invitation of a link, with the transaction's tenant set to its org; None
    for a link that is unknown, used, revoked or expired (all look alike to the visitor)."""
    await session.execute(
        sa.text("SELECT set_config('app.invitation_hash', :h, true)"),
        {"h": auth.hash_token(token)},
    )
    try:
        invitation = await session.scalar(
            sa.select(Invitation).where(Invitation.token_hash == auth.hash_token(token))
        )
    finally:
        await session.execute(sa.text("SELECT set_config('app.invitation_hash', '', true)"))
    if invitation is None or invitation.status(_now()) is not InvitationStatus.pending:
        return None
    await db.set_tenant(session, invitation.org_id)
    return invitation


async def accept(
    session: AsyncSession,
    settings: Settings,
    *,
    invitation: Invitation,
    name: str | None,
    password: str,
    user_agent: str | None,
) -> sessions.NewSession:
    """The invitee joins: user, membership and password, then a session (signed in)."""
    passwords.check_strength(password, email=invitation.email, name=name or "")
    if await org_repository.email_taken(session, email=invitation.email):
        raise errors.Conflict(f"{invitation.email} is already a member of this organisation")
    user, _ = await org_service.create_member(
        session,
        org_id=invitation.org_id,
        email=invitation.email,
        name=name,
        role=invitation.role,
        investor_id=invitation.investor_id,
    )
    await account_service.set_password(session, user, password)
    invitation.accepted_at = _now()
    await session.flush()
    await _audit_invitation(session, user.id, invitation, "invitation.accept")
    return await sessions.start(
        session,
        settings,
        org_id=user.org_id,
        user_id=user.id,
        second_factor_pending=False,
        user_agent=user_agent,
    )


@dataclasses.dataclass(frozen=True)
class ResetRequest:
    sent: int  # how many mails were queued (never shown: the answer is the same either way)


async def request_reset(session: AsyncSession, settings: Settings, *, email: str) -> ResetRequest:
    """Send a reset link to each account with this address; nothing for an unknown one."""
    sent = 0
    for user in await account_service.accounts_of(session, email):
        await db.set_tenant(session, user.org_id)
        recent = await session.scalar(
            sa.select(PasswordReset.id).where(
                PasswordReset.user_id == user.id,
                PasswordReset.used_at.is_(None),
                PasswordReset.created_at > _now() - RESET_RESEND_AFTER,
            )
        )
        if recent is not None:
            continue
        await _send_reset(session, settings, user)
        sent += 1
    return ResetRequest(sent)


async def _send_reset(session: AsyncSession, settings: Settings, user: User) -> None:
    token = sessions.new_token()
    reset = PasswordReset(
        org_id=user.org_id,
        user_id=user.id,
        token_hash=auth.hash_token(token),
        expires_at=_now() + RESET_LIFETIME,
    )
    session.add(reset)
    await session.flush()
    org_name = await _org_name(session, user.org_id)
    await notifications.queue_email(
        session,
        org_id=user.org_id,
        kind="password_reset",
        recipient=user.email,
        subject="Reset your Prorata password",
        body=(
            f"Someone asked to reset the password of your {org_name} account on Prorata.\n\n"
            "Choose a new password here (the link works once, for one hour):\n"
            f"{settings.base_url}/password-reset/{token}\n\n"
            "If it was not you, ignore this message: your password stays as it is.\n"
        ),
        redact_after_send=True,
    )
    await audit.record(
        session,
        org_id=user.org_id,
        actor_user_id=None,
        action="password.reset_request",
        entity="user",
        entity_id=user.id,
        after={"email": user.email},
    )


async def open_reset(session: AsyncSession, *, token: str) -> PasswordReset | None:
    """The unused, unexpired reset of a link (tenant set), or None."""
    await session.execute(
        sa.text("SELECT set_config('app.reset_hash', :h, true)"), {"h": auth.hash_token(token)}
    )
    try:
        reset = await session.scalar(
            sa.select(PasswordReset).where(PasswordReset.token_hash == auth.hash_token(token))
        )
    finally:
        await session.execute(sa.text("SELECT set_config('app.reset_hash', '', true)"))
    if reset is None or reset.used_at is not None or reset.expires_at <= _now():
        return None
    await db.set_tenant(session, reset.org_id)
    return reset


async def complete_reset(session: AsyncSession, *, reset: PasswordReset, password: str) -> User:
    user = await session.get(User, reset.user_id)
    if user is None:
        raise errors.NotFound("no such user")
    passwords.check_strength(password, email=user.email, name=user.name or "")
    await account_service.set_password(session, user, password)
    reset.used_at = _now()
    await session.flush()
    await audit.record(
        session,
        org_id=user.org_id,
        actor_user_id=user.id,
        action="password.reset",
        entity="user",
        entity_id=user.id,
        after={"email": user.email},
    )
    return user
