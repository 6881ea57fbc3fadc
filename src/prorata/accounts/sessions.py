"""Browser sessions: started after a password (and code), found by the cookie, ended on purpose.

The cookie carries a 256-bit token; the database keeps its SHA-256 only. Each session has its
own CSRF token (a synchronizer token), which every state-changing request must send back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts.models import BrowserSession
from prorata.config import Settings
from prorata.http import auth
from prorata.http.tenancy import Principal, Role, check_investor_scope
from prorata.platform import audit, errors


@dataclasses.dataclass(frozen=True)
class NewSession:
    """What the browser is given: the token (for the cookie), never stored."""

    id: uuid.UUID
    token: str
    csrf_token: str
    second_factor_pending: bool


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def start(
    session: AsyncSession,
    settings: Settings,
    *,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    second_factor_pending: bool,
    user_agent: str | None,
) -> NewSession:
    token, csrf = new_token(), new_token()
    row = BrowserSession(
        org_id=org_id,
        user_id=user_id,
        token_hash=auth.hash_token(token),
        csrf_token=csrf,
        second_factor_pending=second_factor_pending,
        client_ip=audit.CLIENT_IP.get(),
        user_agent=(user_agent or "")[:300] or None,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.session_max_days),
    )
    session.add(row)
    await session.flush()
    return NewSession(row.id, token, csrf, second_factor_pending)


async def promote(session: AsyncSession, *, session_id: uuid.UUID) -> NewSession:
    """The second factor was given: the session is complete, under a new token (the one that
    only knew the password stops working — no session fixation across the step)."""
    row = await session.get(BrowserSession, session_id)
    if row is None:
        raise LookupError(session_id)
    token, csrf = new_token(), new_token()
    row.token_hash = auth.hash_token(token)
    row.csrf_token = csrf
    row.second_factor_pending = False
    await session.flush()
    return NewSession(row.id, token, csrf, False)


async def switch_investor(
    session: AsyncSession, *, principal: Principal, investor_id: uuid.UUID
) -> None:
    """The portal acts for another of the member's linked investors from now on (this browser
    session only); an investor not linked to the member is, to it, not there."""
    if not principal.via_session:
        raise errors.RuleViolation("only a browser session switches investors")
    check_investor_scope(principal, investor_id)
    if principal.role is not Role.investor:
        raise errors.NotFound("not found")
    await session.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.id == principal.credential_id)
        .values(investor_id=investor_id)
    )


async def end(session: AsyncSession, *, session_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.id == session_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=sa.func.now())
    )


async def end_all(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    """End every session of a user (a password changed or reset); return how many."""
    ended = await session.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=sa.func.now())
        .returning(BrowserSession.id)
    )
    return len(ended.all())


async def live(
    session: AsyncSession, settings: Settings, *, user_id: uuid.UUID
) -> list[BrowserSession]:
    """The user's sessions that still work, newest first (for "my account")."""
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    rows = await session.scalars(
        sa.select(BrowserSession)
        .where(
            BrowserSession.user_id == user_id,
            BrowserSession.ended_at.is_(None),
            BrowserSession.second_factor_pending.is_(False),
            BrowserSession.expires_at > sa.func.now(),
            BrowserSession.last_seen_at > sa.func.now() - idle,
        )
        .order_by(BrowserSession.last_seen_at.desc())
        .limit(50)
    )
    return list(rows.all())
