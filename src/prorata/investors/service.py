"""Rules of investors."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prorata import audit, errors, validation
from prorata.funds.service import snapshot
from prorata.investors import repository as investor_repository
from prorata.investors.models import Investor
from prorata.investors.schemas import InvestorCreate, InvestorUpdate, mask
from prorata.tenancy import Principal

_FIELDS = ["name", "kind", "email", "country"]


def _view(investor: Investor) -> dict[str, object]:
    # The audit log keeps the tax id masked: it is read by more people than investors are.
    return {**snapshot(investor, _FIELDS), "tax_id": mask(investor.tax_id)}


async def get(session: AsyncSession, *, investor_id: uuid.UUID) -> Investor:
    investor = await investor_repository.get(session, investor_id=investor_id)
    if investor is None:
        raise errors.NotFound("no such investor")
    return investor


async def create(session: AsyncSession, *, actor: Principal, data: InvestorCreate) -> Investor:
    investor = Investor(org_id=actor.org_id, **data.model_dump())
    session.add(investor)
    await session.flush()
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
    await session.flush()
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
