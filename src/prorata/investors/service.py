"""Rules of investors."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http import validation
from prorata.http.tenancy import Principal
from prorata.investors import repository as investor_repository
from prorata.investors.models import Investor
from prorata.investors.schemas import InvestorCreate, InvestorUpdate, mask
from prorata.platform import audit, db, errors

_FIELDS = ["name", "kind", "email", "country", "external_ref", "address", "attention"]


def _view(investor: Investor) -> dict[str, object]:
    # The audit log keeps the tax id masked: it is read by more people than investors are.
    return {**audit.snapshot(investor, _FIELDS), "tax_id": mask(investor.tax_id)}


async def _flush_unique(session: AsyncSession) -> None:
    """Flush, answering a taken external_ref (the one unique field) with 409, not a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except sa.exc.IntegrityError as exc:
        if "uq_investors_org_id_external_ref" not in str(exc.orig):
            raise
        raise errors.Conflict("another investor already has this external_ref") from None


async def get(session: AsyncSession, *, investor_id: uuid.UUID) -> Investor:
    investor = await investor_repository.get(session, investor_id=investor_id)
    if investor is None:
        raise errors.NotFound("no such investor")
    return investor


async def create(session: AsyncSession, *, actor: Principal, data: InvestorCreate) -> Investor:
    investor = Investor(org_id=actor.org_id, **data.model_dump())
    session.add(investor)
    await _flush_unique(session)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="investor.create",
        entity="investor",
        entity_id=investor.id,
        after=_view(investor),
    )
    return investor


async def update(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID, data: InvestorUpdate
) -> Investor:
    investor = await get(session, investor_id=investor_id)
    before = _view(investor)
    validation.apply_changes(investor, data.model_dump(exclude_unset=True))
    await _flush_unique(session)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="investor.update",
        entity="investor",
        entity_id=investor.id,
        before=before,
        after=_view(investor),
    )
    return investor


async def lock_bulk_writes(session: AsyncSession, *, org_id: uuid.UUID) -> None:
    """Serialise bulk writes of one organisation's investors until the transaction ends.

    An import matches its rows to investors (by email, by external_ref) before it writes: two
    imports matching at once would both find a new email new and both create its investor.
    So the lock is taken before the match, and the match (a later statement, a later snapshot)
    sees what the import before it committed.
    """
    await db.hold_lock(session, f"investors:{org_id}")


async def apply_rows(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor_user_id: uuid.UUID | None,
    rows: sa.Select[Any],
    source: str,
) -> tuple[int, int]:
    """Create and update many investors in ONE statement (CSV imports); return (inserted,
    updated). `rows` selects (investor_id, name, email, kind, country, external_ref): rows
    without an investor_id are new; '' means "none" for country and "keep" for external_ref.

    Bulk writes of one organisation's investors are serialised (`lock_bulk_writes`); the
    caller takes the lock before it matches its rows to investors, or the match is stale.
    """
    await lock_bulk_writes(session, org_id=org_id)
    given = rows.subquery("given")
    country = sa.func.nullif(given.c.country, "")
    external_ref = sa.func.nullif(given.c.external_ref, "")
    updated = (
        sa.update(Investor)
        .where(Investor.id == given.c.investor_id)
        .values(
            name=given.c.name,
            email=given.c.email,
            kind=given.c.kind,
            country=country,
            external_ref=sa.func.coalesce(external_ref, Investor.external_ref),
        )
        .returning(Investor.id)
        .cte("updated")
    )
    inserted = (
        insert(Investor)
        .from_select(
            ["id", "org_id", "name", "kind", "email", "country", "external_ref"],
            sa.select(
                sa.func.prorata_uuid7(),
                sa.literal(org_id, sa.Uuid),
                given.c.name,
                given.c.kind,
                given.c.email,
                country,
                external_ref,
            ).where(given.c.investor_id.is_(None)),
        )
        .returning(Investor.id)
        .cte("inserted")
    )
    counted = await session.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(inserted).scalar_subquery(),
            sa.select(sa.func.count()).select_from(updated).scalar_subquery(),
        )
    )
    n_inserted, n_updated = counted.one()
    await audit.record(
        session,
        org_id=org_id,
        actor_user_id=actor_user_id,
        action="investor.bulk_write",
        entity="import",
        entity_id=source,
        after={"inserted": n_inserted, "updated": n_updated},
    )
    return int(n_inserted), int(n_updated)
