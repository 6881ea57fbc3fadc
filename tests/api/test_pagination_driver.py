"""Keyset pages of selects of columns run through the driver (`pagination._fetch`): the same
pages as through the session, in the tenant of the transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http import pagination
from prorata.http.pagination import AnySelect, KeyColumn, PageParams, keyset
from prorata.investors.models import Investor, InvestorKind
from prorata.orgs.service import NewOrg
from prorata.platform import db

_INVESTORS = Investor.__table__.c
# `kind` is an enum column: its values go through a result processor on the driver path too.
_LISTED = sa.select(_INVESTORS.id, _INVESTORS.name, _INVESTORS.kind, _INVESTORS.created_at)
_NAMES = ("Ada", "Bea", "Cy", "Dee", "Eve", "Fay", "Gus")


async def _every_page(
    session: AsyncSession,
    statement: AnySelect,
    *,
    key: list[KeyColumn],
    limit: int,
    descending: bool,
) -> list[tuple[list[tuple[Any, ...]], str | None]]:
    pages = []
    params = PageParams(limit=limit, cursor=None)
    while True:
        page = await keyset(
            session, statement, key=key, params=params, item=tuple, descending=descending
        )
        pages.append((page.items, page.next_cursor))
        if page.next_cursor is None:
            return pages
        params = PageParams(limit=limit, cursor=page.next_cursor)


async def _declined(*_: Any) -> None:
    return None


async def _add_investors(sessions: async_sessionmaker[AsyncSession], org: NewOrg) -> None:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        for name in _NAMES:
            session.add(Investor(org_id=org.org_id, name=name, kind=InvestorKind.entity))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_the_driver_pages_equal_the_sessions(
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    monkeypatch: pytest.MonkeyPatch,
    descending: bool,
    limit: int,
) -> None:
    await _add_investors(sessions, org)
    statements = {
        "all": _LISTED,
        "filtered": _LISTED.where(_INVESTORS.name != "Cy"),
        # An IN list is expanded when executed: such a statement goes through the session.
        "expanding": _LISTED.where(_INVESTORS.name.in_(["Ada", "Dee", "Gus"])),
    }
    key: list[KeyColumn] = [_INVESTORS.name, _INVESTORS.id]
    for label, statement in statements.items():
        async with db.tenant_transaction(sessions, org.org_id) as session:
            driven = await _every_page(
                session, statement, key=key, limit=limit, descending=descending
            )
        with monkeypatch.context() as patched:
            patched.setattr(pagination, "_fetch", _declined)
            async with db.tenant_transaction(sessions, org.org_id) as session:
                through_session = await _every_page(
                    session, statement, key=key, limit=limit, descending=descending
                )
        assert driven == through_session, label
        names = [row[1] for items, _ in driven for row in items]
        assert names == sorted(names, reverse=descending), label
        assert all(row[2] is InvestorKind.entity for items, _ in driven for row in items)


async def test_a_select_of_columns_takes_the_driver_path(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    await _add_investors(sessions, org)
    pagination._shapes.clear()
    async with db.tenant_transaction(sessions, org.org_id) as session:
        page = await keyset(
            session,
            _LISTED,
            key=[_INVESTORS.id],
            params=PageParams(limit=2, cursor=None),
            item=tuple,
        )
    assert len(page.items) == 2
    assert [shape for shape in pagination._shapes.values() if shape is not None]


async def test_the_driver_path_shows_only_the_tenants_rows(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg
) -> None:
    await _add_investors(sessions, org)
    await _add_investors(sessions, other_org)
    for tenant in (org, other_org):
        async with db.tenant_transaction(sessions, tenant.org_id) as session:
            pages = await _every_page(
                session,
                sa.select(_INVESTORS.id, _INVESTORS.org_id),
                key=[_INVESTORS.id],
                limit=2,
                descending=False,
            )
        orgs = {row[1] for items, _ in pages for row in items}
        assert orgs == {tenant.org_id}


async def test_pending_changes_are_flushed_before_the_driver_reads(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        session.add(Investor(org_id=org.org_id, name="Unflushed", kind=InvestorKind.entity))
        page = await keyset(
            session,
            _LISTED,
            key=[_INVESTORS.id],
            params=PageParams(limit=5, cursor=None),
            item=tuple,
        )
    assert [row[1] for row in page.items] == ["Unflushed"]
