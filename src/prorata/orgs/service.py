"""Rules of the identity domain: creating organisations and issuing API keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http import auth
from prorata.http.tenancy import ROLE_RANK, Principal, Role
from prorata.investors.models import Investor
from prorata.orgs import repository as org_repository
from prorata.orgs.models import ApiKey, InvestorLink, Membership, Org, User
from prorata.platform import audit, db, errors
from prorata.platform.ids import new_id

API_KEY_PREFIX = "prk_"
# The organisation's profile, printed on its documents (null clears a field).
PROFILE_FIELDS = ("legal_name", "address", "signature_block")
# How its letters are set and its statements sent (never null).
SETTING_FIELDS = ("paper_size", "date_format", "statement_delivery")


@dataclasses.dataclass(frozen=True)
class NewOrg:
    org_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str


def _generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def issue_api_key(
    session: AsyncSession, *, org_id: uuid.UUID, user_id: uuid.UUID, name: str
) -> tuple[ApiKey, str]:
    """Create a key for a user; return it with the plaintext, never stored or shown again."""
    api_key = _generate_api_key()
    key = ApiKey(
        org_id=org_id,
        user_id=user_id,
        name=name,
        prefix=api_key[: len(API_KEY_PREFIX) + 6],
        key_hash=auth.hash_token(api_key),
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
    return key, api_key


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
    _, api_key = await issue_api_key(session, org_id=org_id, user_id=user.id, name="owner")
    return NewOrg(org_id=org_id, user_id=user.id, api_key=api_key)


async def _member_view(session: AsyncSession, user: User, membership: Membership) -> dict[str, Any]:
    investor = membership.investor_id
    links = await org_repository.investor_links(session, user_ids=[user.id])
    return {
        "email": user.email,
        "name": user.name,
        "role": str(membership.role),
        "investor_id": str(investor) if investor else None,
        "investor_ids": [str(linked) for linked in links[user.id]],
    }


async def _link_investors(
    session: AsyncSession, membership: Membership, investor_ids: list[uuid.UUID]
) -> None:
    """The member's linked investors become exactly `investor_ids`, each checked like the
    default one (an `investor` member's, existing here); links kept keep their age."""
    for investor_id in investor_ids:
        await check_investor_link(session, role=membership.role, investor_id=investor_id)
    current = await org_repository.investor_links(session, user_ids=[membership.user_id])
    kept = set(current[membership.user_id])
    wanted = list(dict.fromkeys(investor_ids))
    await session.execute(
        sa.delete(InvestorLink).where(
            InvestorLink.user_id == membership.user_id,
            InvestorLink.investor_id.not_in(wanted),
        )
    )
    session.add_all(
        InvestorLink(org_id=membership.org_id, user_id=membership.user_id, investor_id=linked)
        for linked in wanted
        if linked not in kept
    )
    await session.flush()


def _chosen_links(
    membership: Membership, changes: dict[str, Any]
) -> tuple[uuid.UUID | None, list[uuid.UUID]] | None:
    """(default investor, linked investors) a change asks for, or None if it asks for none.
    `investor_ids` sets the links (the default stays if still linked, else the first);
    `investor_id` alone links that one investor only, as before links were several."""
    if "investor_ids" in changes:
        linked = list(dict.fromkeys(changes["investor_ids"] or ()))
        default = changes.get("investor_id", membership.investor_id)
        if "investor_id" in changes and default is not None and default not in linked:
            raise errors.RuleViolation("investor_id must be one of investor_ids")
        if default not in linked:
            default = linked[0] if linked else None
        return default, linked
    if "investor_id" in changes:
        default = changes["investor_id"]
        return default, [default] if default is not None else []
    return None


async def check_investor_link(
    session: AsyncSession, *, role: Role, investor_id: uuid.UUID | None, required: bool = False
) -> None:
    """Only an `investor` member is linked to an investor, and the investor must exist here;
    with `required` (an invitation), an `investor` member must be linked to one."""
    if investor_id is None:
        if required and role is Role.investor:
            raise errors.RuleViolation("investor_id is required for the investor role")
        return
    if role is not Role.investor:
        raise errors.RuleViolation("investor_id is for members with the investor role only")
    if await session.get(Investor, investor_id) is None:
        raise errors.RuleViolation("investor_id names no investor of this organisation")


async def _check_investor_link(session: AsyncSession, membership: Membership) -> None:
    await check_investor_link(session, role=membership.role, investor_id=membership.investor_id)


def _may_manage(actor: Principal, role: Role) -> bool:
    """Nobody grants, holds power over, or creates a role above their own."""
    return ROLE_RANK[actor.role] >= ROLE_RANK[role]


def check_grant(actor: Principal, role: Role) -> None:
    if not _may_manage(actor, role):
        raise errors.Forbidden(f"{errors.a(actor.role)} cannot grant the role {role}")


async def create_member(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    email: str,
    name: str | None,
    role: Role,
    investor_id: uuid.UUID | None,
    investor_ids: list[uuid.UUID] | None = None,
) -> tuple[User, Membership]:
    """A user and its membership (the caller checked who may grant what), linked to
    `investor_ids` (default: `investor_id`); 409 for an address already taken, even by a
    concurrent request."""
    taken = errors.Conflict(f"a user with the email {email!r} already exists")
    if await org_repository.email_taken(session, email=email):
        raise taken
    user = User(org_id=org_id, email=email, name=name)
    session.add(user)
    try:
        await session.flush()
    except sa.exc.IntegrityError:  # a concurrent request won the race for the same email
        raise taken from None
    membership = Membership(org_id=org_id, user_id=user.id, role=role, investor_id=None)
    changes: dict[str, Any] = {"investor_id": investor_id}
    if investor_ids is not None:
        changes["investor_ids"] = investor_ids
    membership.investor_id, linked = _chosen_links(membership, changes) or (None, [])
    await _check_investor_link(session, membership)
    session.add(membership)
    await session.flush()
    await _link_investors(session, membership, linked)
    return user, membership


async def add_user(
    session: AsyncSession,
    *,
    actor: Principal,
    email: str,
    name: str | None,
    role: Role,
    investor_id: uuid.UUID | None = None,
    investor_ids: list[uuid.UUID] | None = None,
) -> tuple[User, Membership]:
    check_grant(actor, role)
    user, membership = await create_member(
        session,
        org_id=actor.org_id,
        email=email,
        name=name,
        role=role,
        investor_id=investor_id,
        investor_ids=investor_ids,
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="user.create",
        entity="user",
        entity_id=user.id,
        after=await _member_view(session, user, membership),
    )
    return user, membership


async def _managed_member(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID
) -> tuple[User, Membership]:
    found = await org_repository.get_member(session, user_id=user_id)
    if found is None:
        raise errors.NotFound("no such user")
    user, membership = found
    if not _may_manage(actor, membership.role):
        raise errors.Forbidden(f"{errors.a(actor.role)} cannot change {errors.a(membership.role)}")
    return user, membership


async def _keep_an_owner(session: AsyncSession, membership: Membership) -> None:
    if membership.role is Role.owner and await org_repository.count_owners(session) <= 1:
        raise errors.Conflict("an organisation must keep at least one owner")


async def update_user(
    session: AsyncSession,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    changes: dict[str, Any],
) -> tuple[User, Membership]:
    """Apply the fields sent (`name`, `role`, `investor_id`, `investor_ids`), null clearing what
    may be empty (as on every PATCH); a role other than `investor` drops the investor links."""
    user, membership = await _managed_member(session, actor=actor, user_id=user_id)
    before = await _member_view(session, user, membership)
    if "role" in changes and changes["role"] is None:
        raise errors.RuleViolation("role cannot be null")
    if "name" in changes:
        user.name = changes["name"]
    role = changes.get("role")
    if role is not None and role is not membership.role:
        check_grant(actor, role)
        await _keep_an_owner(session, membership)
        membership.role = role
        if role is not Role.investor and not changes.keys() & {"investor_id", "investor_ids"}:
            changes = {**changes, "investor_ids": []}
    links = _chosen_links(membership, changes)
    if links is not None:
        membership.investor_id, linked = links
    await _check_investor_link(session, membership)
    await session.flush()
    if links is not None:
        await _link_investors(session, membership, linked)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="user.update",
        entity="user",
        entity_id=user.id,
        before=before,
        after=await _member_view(session, user, membership),
    )
    return user, membership


async def link_investor(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, investor_id: uuid.UUID
) -> None:
    """The `investor` member sees `investor_id` too (its default stays)."""
    links = await org_repository.investor_links(session, user_ids=[user_id])
    if investor_id not in links[user_id]:
        changes = {"investor_ids": [*links[user_id], investor_id]}
        await update_user(session, actor=actor, user_id=user_id, changes=changes)


async def unlink_investor(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, investor_id: uuid.UUID
) -> None:
    """The member no longer sees `investor_id`; its last investor is not taken away (it would
    see nothing: remove the member instead)."""
    links = (await org_repository.investor_links(session, user_ids=[user_id]))[user_id]
    if investor_id not in links:
        raise errors.NotFound("the member does not see this investor")
    if links == [investor_id]:
        raise errors.Conflict("this is the member's only investor: remove the member instead")
    changes = {"investor_ids": [linked for linked in links if linked != investor_id]}
    await update_user(session, actor=actor, user_id=user_id, changes=changes)


async def members_of_investor(
    session: AsyncSession, *, investor_id: uuid.UUID
) -> list[tuple[User, bool]]:
    """Every `investor` member, and whether it sees `investor_id` (for granting access)."""
    rows = await session.execute(
        sa.select(User, InvestorLink.investor_id.is_not(None))
        .join(Membership, Membership.user_id == User.id)
        .outerjoin(
            InvestorLink,
            (InvestorLink.user_id == User.id) & (InvestorLink.investor_id == investor_id),
        )
        .where(Membership.role == Role.investor)
        .order_by(sa.func.lower(User.email))
    )
    return [(user, bool(linked)) for user, linked in rows.all()]


async def remove_user(session: AsyncSession, *, actor: Principal, user_id: uuid.UUID) -> None:
    """Delete the user, its membership and its keys (history stays in the audit log)."""
    user, membership = await _managed_member(session, actor=actor, user_id=user_id)
    await _keep_an_owner(session, membership)
    before = await _member_view(session, user, membership)
    await session.delete(user)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="user.delete",
        entity="user",
        entity_id=user_id,
        before=before,
    )


async def revoke_api_key(session: AsyncSession, *, actor: Principal, key_id: uuid.UUID) -> None:
    """Revoke one of the caller's keys; an admin or owner may revoke the key of any member it
    may manage (nobody holds power over a role above their own: an admin, an owner's key).

    Revoking twice is not an error: the key is revoked either way."""
    key = await org_repository.get_key(session, key_id=key_id)
    if key is None or (
        key.user_id != actor.user_id and ROLE_RANK[actor.role] < ROLE_RANK[Role.admin]
    ):
        raise errors.NotFound("no such API key")
    if key.user_id != actor.user_id:
        await _managed_member(session, actor=actor, user_id=key.user_id)
    if key.revoked_at is not None:
        return
    key.revoked_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="api_key.revoke",
        entity="api_key",
        entity_id=key.id,
        after={"prefix": key.prefix},
    )


async def issue_api_key_for(
    session: AsyncSession, *, actor: Principal, user_id: uuid.UUID, name: str
) -> tuple[ApiKey, str]:
    """An admin's key for a member it may manage (a service user, say): never for a role above
    the admin's own, so no key carries more power than whoever made it."""
    await _managed_member(session, actor=actor, user_id=user_id)
    key, plaintext = await issue_api_key(session, org_id=actor.org_id, user_id=user_id, name=name)
    return key, plaintext


async def update_org(session: AsyncSession, *, actor: Principal, changes: dict[str, Any]) -> Org:
    org = await org_repository.get_org(session, org_id=actor.org_id)
    if org is None:
        raise errors.NotFound("no such organisation")
    fields = ["name", "require_two_factor", *PROFILE_FIELDS, *SETTING_FIELDS]
    before = audit.snapshot(org, fields)
    for field in ("name", "require_two_factor", *SETTING_FIELDS):
        if field in changes and changes[field] is None:
            raise errors.RuleViolation(f"{field} cannot be null")
    for field, value in changes.items():
        if field in fields:
            setattr(org, field, value)
    await session.flush()
    await audit.record(
        session,
        org_id=org.id,
        actor_user_id=actor.user_id,
        action="org.update",
        entity="org",
        entity_id=org.id,
        before=before,
        after=audit.snapshot(org, fields),
    )
    return org
