"""Rules of deals (and their SQL: small enough to live here)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.deals.models import Deal
from prorata.deals.schemas import DealCreate, DealUpdate
from prorata.funds import service as fund_service
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, columns_of, keyset
from prorata.http.tenancy import Principal
from prorata.platform import audit, errors

_FIELDS = ["name", "company", "instrument", "invested_amount", "invested_on", "status"]


async def get(session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID) -> Deal:
    deal = (
        await session.scalars(sa.select(Deal).where(Deal.fund_id == fund_id, Deal.id == deal_id))
    ).one_or_none()
    if deal is None:
        raise errors.NotFound("no such deal in this fund")
    return deal


_DEALS = Deal.__table__.c


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[sa.Row[Any]]:
    """A fund's deals as rows of their columns (read by attribute like `Deal` objects); 404
    when there is no such fund."""
    return await keyset(
        session,
        columns_of(Deal).where(_DEALS.fund_id == fund_id),
        key=[_DEALS.id],
        params=params,
        item=lambda d: d,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )


async def create(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: DealCreate
) -> Deal:
    fund = await fund_service.get(session, fund_id=fund_id)
    values = data.model_dump()
    if data.invested_amount is not None:
        values["invested_amount"] = validation.amount(
            data.invested_amount, fund.currency, field="invested_amount", allow_zero=True
        )
    deal = Deal(org_id=actor.org_id, fund_id=fund_id, **values)
    session.add(deal)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="deal.create",
        entity="deal",
        entity_id=deal.id,
        after=audit.snapshot(deal, _FIELDS),
    )
    return deal


async def update(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    data: DealUpdate,
) -> Deal:
    fund = await fund_service.get(session, fund_id=fund_id)
    deal = await get(session, fund_id=fund_id, deal_id=deal_id)
    before = audit.snapshot(deal, _FIELDS)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("invested_amount") is not None:
        changes["invested_amount"] = validation.amount(
            changes["invested_amount"], fund.currency, field="invested_amount", allow_zero=True
        )
    validation.apply_changes(deal, changes)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="deal.update",
        entity="deal",
        entity_id=deal.id,
        before=before,
        after=audit.snapshot(deal, _FIELDS),
    )
    return deal
