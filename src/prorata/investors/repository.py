"""SQL of investors."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.pagination import Page, PageParams, columns_of, keyset
from prorata.investors.models import Investor


async def get(session: AsyncSession, *, investor_id: uuid.UUID) -> Investor | None:
    return (
        await session.scalars(sa.select(Investor).where(Investor.id == investor_id))
    ).one_or_none()


async def page(session: AsyncSession, *, params: PageParams) -> Page[sa.Row[Any]]:
    """Investors as rows of their columns (read by attribute like `Investor` objects)."""
    return await keyset(
        session,
        columns_of(Investor),
        key=[Investor.__table__.c.id],
        params=params,
        item=lambda i: i,
    )
