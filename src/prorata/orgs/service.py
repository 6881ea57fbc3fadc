"""Rules of the identity domain: creating organisations and issuing API keys."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prorata import audit, db
from prorata.ids import new_id
from prorata.orgs.models import ApiKey, Membership, Org, Role, User

API_KEY_PREFIX = "prk_"


@dataclasses.dataclass(frozen=True)
class NewOrg:
    org_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str


def hash_api_key(api_key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def issue_api_key(
    session: AsyncSession, *, org_id: uuid.UUID, user_id: uuid.UUID, name: str
) -> str:
    """Create a key for a user; return the plaintext, which is never stored or shown again."""
    api_key = _generate_api_key()
    key = ApiKey(
        org_id=org_id,
        user_id=user_id,
        name=name,
        prefix=api_key[: len(API_KEY_PREFIX) + 6],
        key_hash=hash_api_key(api_key),
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        org_id=org_id,
        actor_user_id=user_id,
        action="api_key.create",
        entity="api_key",
        entity_id=key.id,
        after={"name": name, "prefix": key.prefix, "user_id": str(user_id)},
    )
    return api_key


async def create_org(session: AsyncSession, *, name: str, owner_email: str) -> NewOrg:
    """A new organisation with its owner and the owner's first API key.

    This is where a tenant is born, so it sets the transaction's tenant to the new id before
    the first insert (RLS checks every row against it).
    """
    org_id = new_id()
    await db.set_tenant(session, org_id)
    session.add(Org(id=org_id, name=name))
    await session.flush()
    user = User(org_id=org_id, email=owner_email)
    session.add(user)
    await session.flush()
    session.add(Membership(org_id=org_id, user_id=user.id, role=Role.owner))
    await session.flush()
    await audit.record(
        session,
        org_id=org_id,
        actor_user_id=None,
        action="org.create",
        entity="org",
        entity_id=org_id,
        after={"name": name, "owner_user_id": str(user.id)},
    )
    api_key = await issue_api_key(session, org_id=org_id, user_id=user.id, name="owner")
    return NewOrg(org_id=org_id, user_id=user.id, api_key=api_key)
