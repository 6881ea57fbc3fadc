"""Valuations: the fund's NAV as of a date, recorded by a person (unrealised gains and losses
reach capital accounts only on these dates)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.platform import audit, errors
from prorata.valuations.models import Valuation
from prorata.valuations.schemas import ValuationCreate


async def record(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: ValuationCreate
) -> Valuation:
    fund = await fund_service.get(session, fund_id=fund_id)
    nav = validation.amount(data.nav, fund.currency, field="nav", allow_zero=True)
    exists = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Valuation)
        .where(Valuation.fund_id == fund_id, Valuation.as_of == data.as_of)
    )
    taken = errors.Conflict(f"the fund already has a valuation as of {data.as_of}")
    if exists:
        raise taken
    valuation = Valuation(org_id=actor.org_id, fund_id=fund_id, as_of=data.as_of, nav=nav)
    session.add(valuation)
    try:
        await session.flush()
    except sa.exc.IntegrityError as exc:
        # A concurrent request recorded a valuation of the same date after the check above.
        if "uq_valuations_fund_id_as_of" not in str(exc.orig):
            raise
        raise taken from None
    await fund_repository.capital_changed.fire(
        session, fund_repository.CapitalChanged(actor.org_id, fund_id)
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="valuation.create",
        entity="valuation",
        entity_id=valuation.id,
        after={"as_of": data.as_of.isoformat(), "nav": str(nav)},
    )
    return valuation


async def page(session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams) -> Page[Valuation]:
    return await keyset(
        session,
        sa.select(Valuation).where(Valuation.fund_id == fund_id),
        key=[Valuation.id],
        params=params,
        item=lambda v: v,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )


async def latest(session: AsyncSession, fund_id: uuid.UUID, as_of: dt.date) -> Valuation | None:
    """The latest valuation on or before `as_of`, if any."""
    return (
        await session.scalars(
            sa.select(Valuation)
            .where(Valuation.fund_id == fund_id, Valuation.as_of <= as_of)
            .order_by(Valuation.as_of.desc())
            .limit(1)
        )
    ).one_or_none()
