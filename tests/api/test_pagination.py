"""Keyset pages of one-column selects: rows, read by attribute like any other."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.pagination import PageParams, keyset
from prorata.investors.models import Investor, InvestorKind
from prorata.orgs.service import NewOrg
from prorata.platform import db


async def test_a_one_column_select_pages_by_its_key(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        for name in ("A", "B", "C"):
            session.add(Investor(org_id=org.org_id, name=name, kind=InvestorKind.entity))
        await session.flush()
        seen = []
        params = PageParams(limit=2, cursor=None)
        while True:
            page = await keyset(
                session,
                sa.select(Investor.id),
                key=[Investor.id],
                params=params,
                item=lambda r: r.id,
            )
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            params = PageParams(limit=2, cursor=page.next_cursor)
        everyone = list(await session.scalars(sa.select(Investor.id).order_by(Investor.id)))
    assert seen == everyone
    assert len(seen) == 3
