"""Signing in: the password, the second factor, the lockout, and changing either.

A person may have accounts in several organisations under one address (one user row each):
signing in tries the password against each (at most `MAX_ACCOUNTS_PER_ADDRESS`, oldest first)
and opens the first that matches.

Throttling, two ways, neither locking the real user out for long: per client address, failures
are counted by the `auth_failures` rate limit (past it, 429); per account, five failures in a
row lock it for 1 minute, doubling with each further failure up to 15 minutes. A password reset
lifts the lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import secrets
import uuid

import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts import passwords, sessions
from prorata.accounts.models import BrowserSession, RecoveryCode
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.orgs.models import Membership, Org, User
from prorata.platform import audit, crypto, db, errors

MAX_ACCOUNTS_PER_ADDRESS = 5
FREE_FAILURES = 5
MAX_LOCK = dt.timedelta(minutes=15)
RECOVERY_CODES = 10
TOTP_ISSUER = "Prorata"
# Two-factor is required of these roles when the organisation says so.
TWO_FACTOR_ROLES = frozenset({Role.owner, Role.admin, Role.manager})


class Outcome(enum.Enum):
    signed_in = "signed_in"
    second_factor = "second_factor"  # the password was right: the code comes next
    refused = "refused"
    locked = "locked"


@dataclasses.dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    started: sessions.NewSession | None = None
    locked_until: dt.datetime | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _audit(session: AsyncSession, user: User, action: str, **after: object) -> None:
    """An entry about the user's own access (the client's address is added by `audit`)."""
    await audit.record(
        session,
        org_id=user.org_id,
        actor_user_id=user.id,
        action=action,
        entity="user",
        entity_id=user.id,
        after={"email": user.email, **after},
    )


async def accounts_of(session: AsyncSession, email: str) -> list[User]:
    """Every user with this address, across organisations (the `login_lookup` policy), oldest
    first. The tenant is not set: each row is to be used under its own organisation."""
    await session.execute(
        sa.text("SELECT set_config('app.login_email', :email, true)"), {"email": email.lower()}
    )
    try:
        rows = await session.scalars(
            sa.select(User)
            .where(sa.func.lower(User.email) == email.lower())
            .order_by(User.created_at)
            .limit(MAX_ACCOUNTS_PER_ADDRESS)
        )
        return list(rows.all())
    finally:
        await session.execute(sa.text("SELECT set_config('app.login_email', '', true)"))


async def _count_failure(session: AsyncSession, user: User, action: str) -> None:
    user.failed_sign_ins += 1
    beyond = user.failed_sign_ins - FREE_FAILURES
    if beyond >= 0:
        user.locked_until = _now() + min(dt.timedelta(minutes=2**beyond), MAX_LOCK)
    await session.flush()
    await _audit(session, user, action, failures=user.failed_sign_ins)


def _locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > _now()


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    user_agent: str | None,
) -> SignIn:
    accounts = await accounts_of(session, email)
    if not any(user.password_hash for user in accounts):
        await passwords.verify_password(None, password)  # as slow as a real check
        return SignIn(Outcome.refused)
    locked_until: dt.datetime | None = None
    for user in accounts:
        await db.set_tenant(session, user.org_id)
        if _locked(user):
            locked_until = user.locked_until
            continue
        if user.password_hash and await passwords.verify_password(user.password_hash, password):
            return await _open(session, settings, user, password, user_agent)
    for user in accounts:
        if user.password_hash and not _locked(user):
            await db.set_tenant(session, user.org_id)
            await _count_failure(session, user, "sign_in.failure")
            if _locked(user):
                locked_until = user.locked_until
    if locked_until is not None:
        return SignIn(Outcome.locked, locked_until=locked_until)
    return SignIn(Outcome.refused)


async def _open(
    session: AsyncSession, settings: Settings, user: User, password: str, user_agent: str | None
) -> SignIn:
    user.failed_sign_ins = 0
    user.locked_until = None
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
    pending = user.totp_enabled_at is not None
    started = await sessions.start(
        session,
        settings,
        org_id=user.org_id,
        user_id=user.id,
        second_factor_pending=pending,
        user_agent=user_agent,
    )
    if pending:
        await _audit(session, user, "sign_in.password")
        return SignIn(Outcome.second_factor, started)
    await _audit(session, user, "sign_in.success", method="password")
    return SignIn(Outcome.signed_in, started)


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise errors.NotFound("no such user")
    return user


def _totp_context(user: User) -> str:
    return f"totp:{user.id}"


def _totp(settings: Settings, user: User) -> pyotp.TOTP:
    assert user.totp_secret_sealed is not None
    secret = crypto.Sealer.from_settings(settings).open(
        user.totp_secret_sealed, context=_totp_context(user)
    )
    return pyotp.TOTP(secret)


def _accept_totp(settings: Settings, user: User, code: str) -> bool:
    """A 6-digit code of this step or the one either side (clock drift), never one already
    used: a code seen over a shoulder is worth nothing after it was typed."""
    if not (len(code) == 6 and code.isdigit()) or user.totp_secret_sealed is None:
        return False
    totp = _totp(settings, user)
    now = _now()
    for drift in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * drift)
        step = totp.timecode(at)
        if secrets.compare_digest(totp.at(at), code) and step > (user.totp_last_step or -1):
            user.totp_last_step = step
            return True
    return False


async def confirm_with_code(
    session: AsyncSession, settings: Settings, *, user_id: uuid.UUID, code: str | None, purpose: str
) -> None:
    """A change that needs the person's second factor (an LP's bank details): the current code
    of their authenticator, good once like at sign-in. Refused without two-factor on (nothing
    else proves it is them), or with a wrong or reused code."""
    user = await _user(session, user_id)
    if user.totp_enabled_at is None:
        raise errors.Forbidden(
            f"to {purpose}, turn on two-factor authentication first (My account)"
        )
    if not code:
        raise errors.RuleViolation(f"to {purpose}, give the 6-digit code of your authenticator")
    if not _accept_totp(settings, user, code.strip().replace(" ", "")):
        raise errors.RuleViolation("the authenticator code is not right (or was used already)")
    await session.flush()


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


async def _use_recovery_code(session: AsyncSession, user: User, code: str) -> bool:
    used = await session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(code.strip()),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=sa.func.now())
        .returning(RecoveryCode.id)
    )
    return used.first() is not None


async def second_factor(
    session: AsyncSession,
    settings: Settings,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    code: str,
) -> sessions.NewSession | None:
    """Finish signing in with a TOTP code or a recovery code; None when it is wrong (counted
    like a wrong password: the same lockout ends the half-open session too)."""
    user = await _user(session, user_id)
    code = code.strip().replace(" ", "")[:64]
    if _locked(user):
        await sessions.end(session, session_id=session_id)
        return None
    method = "totp" if _accept_totp(settings, user, code) else None
    if method is None and await _use_recovery_code(session, user, code):
        method = "recovery_code"
    if method is None:
        await _count_failure(session, user, "sign_in.failure")
        if _locked(user):
            await sessions.end(session, session_id=session_id)
        return None
    user.failed_sign_ins = 0
    promoted = await sessions.promote(session, session_id=session_id)
    await _audit(session, user, "sign_in.success", method=method)
    return promoted


async def sign_out(session: AsyncSession, *, principal: Principal) -> None:
    await sessions.end(session, session_id=principal.credential_id)
    user = await _user(session, principal.user_id)
    await _audit(session, user, "sign_out")


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    """A new password (already checked): hashed, the lockout lifted, every session ended."""
    user.password_hash = await passwords.hash_password(password)
    user.password_changed_at = _now()
    user.failed_sign_ins = 0
    user.locked_until = None
    await session.flush()
    await sessions.end_all(session, user_id=user.id)


async def change_password(
    session: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    current: str,
    new: str,
    user_agent: str | None,
) -> sessions.NewSession:
    """Change one's own password: every session ends, and this browser gets a new one."""
    user = await _user(session, principal.user_id)
    if not await passwords.verify_password(user.password_hash, current):
        raise errors.RuleViolation("the current password is not right")
    passwords.check_strength(new, email=user.email, name=user.name or "")
    await set_password(session, user, new)
    await _audit(session, user, "password.change")
    return await sessions.start(
        session,
        settings,
        org_id=user.org_id,
        user_id=user.id,
        second_factor_pending=False,
        user_agent=user_agent,
    )


@dataclasses.dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth://… for the QR code


async def begin_two_factor(
    session: AsyncSession, settings: Settings, *, principal: Principal
) -> Enrolment:
    """A new secret, kept sealed until a first code confirms it (a secret shown again while
    not yet confirmed: reloading the page keeps the one already scanned)."""
    user = await _user(session, principal.user_id)
    if user.totp_enabled_at is not None:
        raise errors.Conflict("two-factor authentication is already on")
    sealer = crypto.Sealer.from_settings(settings)
    if user.totp_secret_sealed is None:
        user.totp_secret_sealed = sealer.seal(pyotp.random_base32(), context=_totp_context(user))
        await session.flush()
    secret = sealer.open(user.totp_secret_sealed, context=_totp_context(user))
    org = await session.get(Org, user.org_id)
    label = f"{user.email} ({org.name})" if org else user.email
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=TOTP_ISSUER)
    return Enrolment(secret, uri)


async def reseal_totp_secrets(session: AsyncSession, settings: Settings) -> int:
    """Seal the TOTP secrets of the session's organisation again under the current key (after a
    key rotation, before the old key is dropped); how many were."""
    sealer = crypto.Sealer.from_settings(settings)
    count = 0
    for user in await session.scalars(
        sa.select(User).where(User.totp_secret_sealed.is_not(None)).with_for_update()
    ):
        assert user.totp_secret_sealed is not None
        if crypto.key_id_of(user.totp_secret_sealed) == sealer.current_key_id:
            continue
        context = _totp_context(user)
        user.totp_secret_sealed = sealer.seal(
            sealer.open(user.totp_secret_sealed, context=context), context=context
        )
        count += 1
    await session.flush()
    return count


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each; ten of them, each good once
    return f"{raw[:5]}-{raw[5:]}"


async def confirm_two_factor(
    session: AsyncSession, settings: Settings, *, principal: Principal, code: str
) -> list[str]:
    """Turn two-factor on with a first code; return the recovery codes (shown once)."""
    user = await _user(session, principal.user_id)
    if user.totp_enabled_at is not None:
        raise errors.Conflict("two-factor authentication is already on")
    if user.totp_secret_sealed is None:
        raise errors.Conflict("start setting up two-factor authentication first")
    if not _accept_totp(settings, user, code.strip().replace(" ", "")):
        raise errors.RuleViolation("the code is not right: check the time on your device")
    user.totp_enabled_at = _now()
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(
        RecoveryCode(org_id=user.org_id, user_id=user.id, code_hash=_hash_code(code))
        for code in codes
    )
    await session.flush()
    await _audit(session, user, "two_factor.enable")
    return codes


async def _requires_two_factor(session: AsyncSession, user: User) -> bool:
    org = await session.get(Org, user.org_id)
    membership = await session.get(Membership, (user.org_id, user.id))
    return bool(
        org and org.require_two_factor and membership and membership.role in TWO_FACTOR_ROLES
    )


async def disable_two_factor(session: AsyncSession, *, principal: Principal, password: str) -> None:
    user = await _user(session, principal.user_id)
    if user.totp_enabled_at is None:
        raise errors.Conflict("two-factor authentication is not on")
    if not await passwords.verify_password(user.password_hash, password):
        raise errors.RuleViolation("the password is not right")
    if await _requires_two_factor(session, user):
        raise errors.Conflict("your organisation requires two-factor authentication for your role")
    user.totp_secret_sealed = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await session.flush()
    await _audit(session, user, "two_factor.disable")


async def recovery_codes_left(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


async def end_own_session(
    session: AsyncSession, *, principal: Principal, session_id: uuid.UUID
) -> None:
    """End one of one's own sessions (signed in elsewhere, a lost laptop)."""
    row = await session.get(BrowserSession, session_id)
    if row is None or row.user_id != principal.user_id:
        raise errors.NotFound("no such session")
    await sessions.end(session, session_id=session_id)
    user = await _user(session, principal.user_id)
    await _audit(session, user, "session.end", session_id=str(session_id))
