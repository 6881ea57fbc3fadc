"""SQL of investors."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.pagination import Page, PageParams, keyset
from prorata.investors.models import Investor


async def get(session: AsyncSession, *, investor_id: uuid.UUID) -> Investor | None:
    return (
        await session.scalars(sa.select(Investor).where(Investor.id == investor_id))
    ).one_or_none()


async def page(session: AsyncSession, *, params: PageParams) -> Page[Investor]:
    return await keyset(
        session, sa.select(Investor), key=[Investor.id], params=params, item=lambda i: i
    )
