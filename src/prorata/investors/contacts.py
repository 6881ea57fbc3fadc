"""Investor contacts: who receives an investor's mail, by kind.

Every mail of a kind (call notices, statements, distribution notices) goes to the investor's
contacts who receive that kind; an investor with no such contact is sent it at its own e-mail
address, the default contact.

A GP member (manager or above) edits any investor's contacts; an `investor` member edits its own
investor's, and to it any other investor's are not there (404). Viewers read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http import validation
from prorata.http.tenancy import ROLE_RANK, Principal, Role, check_investor_scope
from prorata.investors import service as investor_service
from prorata.investors.models import Investor, InvestorContact, MailKind
from prorata.investors.schemas import ContactCreate, ContactUpdate
from prorata.platform import audit, errors

_FIELDS = ["name", "email", "notices", "statements", "distributions"]
_TAKEN = "uq_investor_contacts_investor_id_email"


async def _investor(session: AsyncSession, actor: Principal, investor_id: uuid.UUID) -> Investor:
    check_investor_scope(actor, investor_id)
    return await investor_service.get(session, investor_id=investor_id)


def _check_may_edit(actor: Principal) -> None:
    if actor.role is not Role.investor and ROLE_RANK[actor.role] < ROLE_RANK[Role.manager]:
        raise errors.Forbidden("a viewer cannot change contacts")


async def _flush_unique(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except sa.exc.IntegrityError as exc:
        if _TAKEN not in str(exc.orig):
            raise
        raise errors.Conflict("this investor already has a contact with this e-mail") from None


async def listed(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID
) -> list[InvestorContact]:
    await _investor(session, actor, investor_id)
    rows = await session.scalars(
        sa.select(InvestorContact)
        .where(InvestorContact.investor_id == investor_id)
        .order_by(InvestorContact.created_at, InvestorContact.id)
    )
    return list(rows)


async def _contact(
    session: AsyncSession, actor: Principal, investor_id: uuid.UUID, contact_id: uuid.UUID
) -> InvestorContact:
    await _investor(session, actor, investor_id)
    contact = await session.get(InvestorContact, contact_id)
    if contact is None or contact.investor_id != investor_id:
        raise errors.NotFound("no such contact of this investor")
    return contact


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    contact: InvestorContact,
    before: dict[str, object] | None,
    after: dict[str, object] | None,
) -> None:
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity="investor",
        entity_id=contact.investor_id,
        before=before and {"contact_id": str(contact.id), **before},
        after=after and {"contact_id": str(contact.id), **after},
    )


async def create(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID, data: ContactCreate
) -> InvestorContact:
    _check_may_edit(actor)
    investor = await _investor(session, actor, investor_id)
    contact = InvestorContact(org_id=investor.org_id, investor_id=investor.id, **data.model_dump())
    session.add(contact)
    await _flush_unique(session)
    await _audit(session, actor, "contact.create", contact, None, audit.snapshot(contact, _FIELDS))
    return contact


async def update(
    session: AsyncSession,
    *,
    actor: Principal,
    investor_id: uuid.UUID,
    contact_id: uuid.UUID,
    data: ContactUpdate,
) -> InvestorContact:
    _check_may_edit(actor)
    contact = await _contact(session, actor, investor_id, contact_id)
    before = audit.snapshot(contact, _FIELDS)
    validation.apply_changes(contact, data.model_dump(exclude_unset=True))
    await _flush_unique(session)
    await _audit(
        session, actor, "contact.update", contact, before, audit.snapshot(contact, _FIELDS)
    )
    return contact


async def delete(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    _check_may_edit(actor)
    contact = await _contact(session, actor, investor_id, contact_id)
    before = audit.snapshot(contact, _FIELDS)
    await session.delete(contact)
    await session.flush()
    await _audit(session, actor, "contact.delete", contact, before, None)


async def recipients(
    session: AsyncSession, *, investor_ids: list[uuid.UUID], kind: MailKind
) -> dict[uuid.UUID, list[str]]:
    """Where each investor's mail of `kind` goes: its contacts who receive it, else its own
    e-mail address (none: the investor has neither). Two statements for any number of
    investors."""
    contacts = await session.execute(
        sa.select(InvestorContact.investor_id, InvestorContact.email)
        .where(
            InvestorContact.investor_id.in_(investor_ids),
            getattr(InvestorContact, kind.value).is_(True),
        )
        .order_by(InvestorContact.investor_id, InvestorContact.created_at, InvestorContact.id)
    )
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    for investor_id, email in contacts.all():
        found[investor_id].append(email)
    missing = [i for i in investor_ids if i not in found]
    if missing:
        defaults = await session.execute(
            sa.select(Investor.id, Investor.email).where(
                Investor.id.in_(missing), Investor.email.is_not(None)
            )
        )
        for investor_id, default in defaults.all():
            if default:
                found[investor_id].append(default)
    return dict(found)
