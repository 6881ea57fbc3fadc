"""SQL of funds and commitments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.funds.models import Commitment, Fund
from prorata.http.pagination import Page, PageParams, keyset


async def get(
    session: AsyncSession, *, fund_id: uuid.UUID, for_update: bool = False
) -> Fund | None:
    statement = sa.select(Fund).where(Fund.id == fund_id)
    if for_update:
        # Serialises money-moving work on one fund (issuing calls): two calls issued at once
        # cannot both draw the same unfunded commitment. FOR NO KEY UPDATE: inserts that merely
        # reference the fund (a new deal, an upload: foreign keys take KEY SHARE) go on.
        statement = statement.with_for_update(key_share=True)
    return (await session.scalars(statement)).one_or_none()


async def bump_capital_version(session: AsyncSession, *, fund_id: uuid.UUID) -> None:
    """Commitments or unfunded capital changed: drafts computed before must be recomputed.
    (An UPDATE: it waits for, and serialises with, an issue holding the fund row.)"""
    await session.execute(
        sa.update(Fund)
        .where(Fund.id == fund_id)
        .values(capital_version=Fund.capital_version + 1)
        .execution_options(synchronize_session=False)
    )


async def lock_for_bulk_write(session: AsyncSession, *, fund_id: uuid.UUID) -> Fund | None:
    """The fund, locked FOR NO KEY UPDATE: bulk writes to one fund (imports) run one at a time
    and wait for a call being issued (FOR UPDATE), while writes that merely reference the fund
    (a new deal, an upload: foreign-key checks take KEY SHARE) are not held up."""
    statement = sa.select(Fund).where(Fund.id == fund_id).with_for_update(key_share=True)
    return (await session.scalars(statement)).one_or_none()


async def page(session: AsyncSession, *, params: PageParams) -> Page[Fund]:
    return await keyset(session, sa.select(Fund), key=[Fund.id], params=params, item=lambda f: f)


async def commitments(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date | None = None
) -> dict[uuid.UUID, Decimal]:
    """Each investor's commitment to the fund (columns, not objects: funds have 10,000 LPs);
    with `as_of`, only those committed on or before that day."""
    statement = sa.select(Commitment.investor_id, Commitment.amount).where(
        Commitment.fund_id == fund_id
    )
    if as_of is not None:
        statement = statement.where(Commitment.committed_on <= as_of)
    result = await session.execute(statement.order_by(Commitment.investor_id))
    return {investor_id: amount for investor_id, amount in result.all()}


async def commitment_dates(
    session: AsyncSession, *, fund_id: uuid.UUID
) -> dict[uuid.UUID, dt.date]:
    """The day each investor committed to the fund."""
    result = await session.execute(
        sa.select(Commitment.investor_id, Commitment.committed_on).where(
            Commitment.fund_id == fund_id
        )
    )
    return {investor_id: day for investor_id, day in result.all()}


async def commitment_page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[Commitment]:
    return await keyset(
        session,
        sa.select(Commitment).where(Commitment.fund_id == fund_id),
        key=[Commitment.id],
        params=params,
        item=lambda c: c,
    )


async def commitment_exists(
    session: AsyncSession, *, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Commitment)
        .where(Commitment.fund_id == fund_id, Commitment.investor_id == investor_id)
    )
    return bool(found)
