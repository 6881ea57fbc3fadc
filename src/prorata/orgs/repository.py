"""SQL of the identity domain."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Role
from prorata.orgs.models import ApiKey, InvestorLink, Membership, Org, User


async def find_active_key(session: AsyncSession, *, key_hash: str) -> ApiKey | None:
    """Resolve a key by its hash before any tenant is known.

    RLS lets a transaction see an `api_keys` row only for its own org or when it names the
    row's hash in `app.key_hash`: knowing the key is the only way to find its org.
    """
    await session.execute(
        sa.text("SELECT set_config('app.key_hash', :key_hash, true)"), {"key_hash": key_hash}
    )
    row = (
        await session.execute(
            sa.select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        )
    ).scalar_one_or_none()
    # Forget the hash at once: the rest of the transaction sees only its tenant's keys.
    await session.execute(sa.text("SELECT set_config('app.key_hash', '', true)"))
    return row


async def get_org(session: AsyncSession, *, org_id: uuid.UUID) -> Org | None:
    return await session.get(Org, org_id)


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_member(
    session: AsyncSession, *, user_id: uuid.UUID
) -> tuple[User, Membership] | None:
    row = (
        await session.execute(
            sa.select(User, Membership)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == user_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def email_taken(session: AsyncSession, *, email: str) -> bool:
    found = await session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(sa.func.lower(User.email) == email.lower())
    )
    return bool(found)


async def count_owners(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count()).select_from(Membership).where(Membership.role == Role.owner)
        )
        or 0
    )


async def list_users(session: AsyncSession, *, params: PageParams) -> Page[User]:
    return await keyset(session, sa.select(User), key=[User.id], params=params, item=lambda u: u)


async def memberships_of(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Membership]:
    rows = await session.scalars(sa.select(Membership).where(Membership.user_id.in_(user_ids)))
    return {membership.user_id: membership for membership in rows.all()}


async def investor_links(
    session: AsyncSession, *, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each member's linked investors, oldest link first (none for other roles)."""
    rows = await session.execute(
        sa.select(InvestorLink.user_id, InvestorLink.investor_id)
        .where(InvestorLink.user_id.in_(user_ids))
        .order_by(InvestorLink.created_at, InvestorLink.investor_id)
    )
    links: dict[uuid.UUID, list[uuid.UUID]] = {user_id: [] for user_id in user_ids}
    for user_id, investor_id in rows.all():
        links[user_id].append(investor_id)
    return links


async def list_keys(
    session: AsyncSession, *, user_id: uuid.UUID, params: PageParams
) -> Page[ApiKey]:
    return await keyset(
        session,
        sa.select(ApiKey).where(ApiKey.user_id == user_id),
        key=[ApiKey.id],
        params=params,
        item=lambda key: key,
    )


async def get_key(session: AsyncSession, *, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def list_orgs(session: AsyncSession) -> list[Org]:
    """All organisations: only the owner connection (operator commands) sees them all."""
    return list((await session.scalars(sa.select(Org).order_by(Org.created_at, Org.id))).all())
