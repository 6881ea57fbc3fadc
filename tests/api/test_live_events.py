"""Live events in process: a stream of another organisation's fund is not found; events are
numbered in commit order and purged after their retention. (The streams themselves need a real
HTTP server: tests/system/test_live_events.py.)"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.orgs.service import NewOrg
from prorata.platform import db, events
from tests.fund_support import FundApi
from tests.support import bearer


async def test_another_orgs_fund_stream_is_not_found(
    app: Any, org: NewOrg, other_org: NewOrg
) -> None:
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://prorata.test"
    ) as client:
        fund = await FundApi(client, org.api_key).fund()
        response = await client.get(
            f"/api/v1/funds/{fund}/events", headers=bearer(other_org.api_key)
        )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def _event(session: AsyncSession, org: NewOrg, fund_id: uuid.UUID, marker: str) -> None:
    await events.publish(
        session,
        org_id=org.org_id,
        fund_id=fund_id,
        kind=events.Progress.job_progress,
        data={"marker": marker},
    )


async def _numbers(sessions: async_sessionmaker[AsyncSession], org: NewOrg) -> dict[str, int]:
    async with db.tenant_transaction(sessions, org.org_id) as session:
        rows = await session.execute(sa.select(events.FundEvent.data, events.FundEvent.seq))
        return {data["marker"]: seq for data, seq in rows.all()}


async def test_a_funds_events_are_numbered_in_the_order_their_transactions_commit(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg
) -> None:
    fund_id = uuid.uuid4()
    async with db.tenant_transaction(sessions, org.org_id) as early:
        await _event(early, org, fund_id, "published first, committed last")
        async with db.tenant_transaction(sessions, org.org_id) as late:
            await _event(late, org, fund_id, "published last, committed first")
    numbers = await _numbers(sessions, org)
    # A client that saw the later number has seen every smaller one: numbered at commit.
    assert numbers == {"published last, committed first": 1, "published first, committed last": 2}


async def test_the_purge_deletes_every_organisations_old_events_and_keeps_recent_ones(
    sessions: async_sessionmaker[AsyncSession], org: NewOrg, other_org: NewOrg, database: Any
) -> None:
    for owner in (org, other_org):
        async with db.tenant_transaction(sessions, owner.org_id) as session:
            await _event(session, owner, uuid.uuid4(), "old")
            await _event(session, owner, uuid.uuid4(), "recent")
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE fund_events SET created_at = now() - interval '11 minutes' "
            "WHERE data->>'marker' = 'old'"
        )
    async with sessions() as session, session.begin():  # no tenant, as housekeeping runs it
        purged = await events.purge(session)
    assert purged == 2
    assert set(await _numbers(sessions, org)) == {"recent"}
    assert set(await _numbers(sessions, other_org)) == {"recent"}
