"""Distribution notices follow the call notices' rule: held on a fund that needs approval until
an admin other than the maker approves or schedules them; idempotent, audited, announced; a
distribution cancelled before release is never released (mailing itself is tested with a
worker in tests/system/test_distribution_notices.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.distributions import tasks as distribution_tasks
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.support import TestDatabase, bearer


async def made_distribution(api: FundApi, **terms: Any) -> tuple[str, dict[str, Any]]:
    fund_id = await api.fund(**terms)
    await api.investors_with(fund_id, ["600000.00", "400000.00"])
    await api.call_and_pay(fund_id, [{"purpose": "management_fee", "amount": "1000.00"}])
    return fund_id, await api.distribute(fund_id, "500.00", "2026-06-30")


def notices_path(fund_id: str, distribution: dict[str, Any], action: str) -> str:
    return f"/api/v1/funds/{fund_id}/distributions/{distribution['id']}/notices/{action}"


def rows(database: TestDatabase, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database.owner_url) as conn:
        return conn.execute(sql, args).fetchall()


async def test_held_until_an_admin_other_than_the_maker_approves(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, distribution = await made_distribution(api, notices_need_approval=True)
    assert distribution["notices"] == "awaiting_approval"
    assert distribution["made_by"] == str(org.user_id)
    assert distribution["notices_send_at"] is None
    assert distribution["notices_sent_at"] is None
    approve = notices_path(fund_id, distribution, "approve")

    own = await client.post(approve, headers=bearer(org.api_key))
    assert own.status_code == 403
    assert "the person who made a distribution cannot approve" in own.json()["detail"]
    manager = await add_member(sessions, org, Role.manager)
    assert (await client.post(approve, headers=bearer(manager))).status_code == 403
    admin = await add_member(sessions, org, Role.admin)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    approved = await client.post(approve, headers={**bearer(admin), **key})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["notices"] == "released"
    assert body["notices_approved_by"] not in (None, str(org.user_id))
    replayed = await client.post(approve, headers={**bearer(admin), **key})
    assert replayed.json() == body
    again = await client.post(approve, headers=bearer(admin))  # idempotent: nothing more
    assert again.status_code == 200
    assert again.json()["notices_approved_at"] == body["notices_approved_at"]
    got = await api.request("GET", f"/funds/{fund_id}/distributions/{distribution['id']}")
    assert got["notices"] == "released"

    actions = rows(
        database,
        "SELECT action FROM audit_log WHERE entity_id = %s ORDER BY id",
        distribution["id"],
    )
    assert [a for (a,) in actions].count("distribution.notices_approve") == 1
    announced = rows(
        database,
        "SELECT data FROM fund_events WHERE kind = 'notices.approved' AND fund_id = %s",
        fund_id,
    )
    assert [data for (data,) in announced] == [
        {"distribution_id": distribution["id"], "send_at": None}
    ]


async def test_a_fund_without_approval_releases_at_once(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    admin = await add_member(sessions, org, Role.admin)
    fund_id, distribution = await made_distribution(api)  # the helper's funds need none
    assert distribution["notices"] == "not_required"
    refused = await client.post(
        notices_path(fund_id, distribution, "approve"), headers=bearer(admin)
    )
    assert refused.status_code == 409
    assert "this distribution's notices need no approval" in refused.json()["detail"]


async def test_scheduled_notices_are_released_by_the_job_at_their_time(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    admin = await add_member(sessions, org, Role.admin)
    fund_id, distribution = await made_distribution(api, notices_need_approval=True)
    schedule = notices_path(fund_id, distribution, "schedule")
    own = await client.post(
        schedule, json={"send_at": "2027-01-04T09:00:00Z"}, headers=bearer(org.api_key)
    )
    assert own.status_code == 403
    past = await client.post(
        schedule, json={"send_at": "2020-01-01T09:00:00Z"}, headers=bearer(admin)
    )
    assert past.status_code == 422
    assert "in the future" in past.json()["detail"]

    first = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    second = first + dt.timedelta(hours=3)
    for send_at in (first, second):  # a later schedule replaces the earlier one
        scheduled = await client.post(
            schedule, json={"send_at": send_at.isoformat()}, headers=bearer(admin)
        )
        assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["notices"] == "scheduled"
    assert dt.datetime.fromisoformat(scheduled.json()["notices_send_at"]) == second
    jobs = rows(
        database,
        "SELECT args->>'send_at', scheduled_at, args->>'distribution_id' FROM procrastinate_jobs "
        "WHERE task_name = 'distributions.release_scheduled_notices' ORDER BY id",
    )
    assert [(at, of) for _, at, of in jobs] == [
        (first, distribution["id"]),
        (second, distribution["id"]),
    ]

    async def run(send_at: str) -> bool:  # what the worker's task does at that time
        async with db.tenant_transaction(sessions, org.org_id) as session:
            return await distribution_tasks.release_scheduled(
                session, distribution_id=uuid.UUID(distribution["id"]), send_at=send_at
            )

    assert await run(jobs[0][0]) is False  # the replaced schedule does nothing
    assert await run(jobs[1][0]) is True
    assert await run(jobs[1][0]) is False  # released once
    got = await api.request("GET", f"/funds/{fund_id}/distributions/{distribution['id']}")
    assert got["notices"] == "released"
    late = await client.post(schedule, json={"send_at": second.isoformat()}, headers=bearer(admin))
    assert late.status_code == 409
    actions = rows(
        database,
        "SELECT action, actor_user_id FROM audit_log WHERE entity_id = %s ORDER BY id",
        distribution["id"],
    )
    assert [action for action, _ in actions if "notices" in action] == [
        "distribution.notices_schedule",
        "distribution.notices_schedule",
        "distribution.notices_release",
    ]
    assert actions[-1][1] is None  # released by the job, nobody's hand


async def test_a_distribution_cancelled_before_release_is_never_released(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    admin = await add_member(sessions, org, Role.admin)
    fund_id, distribution = await made_distribution(api, notices_need_approval=True)
    send_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    scheduled = await client.post(
        notices_path(fund_id, distribution, "schedule"),
        json={"send_at": send_at.isoformat()},
        headers=bearer(admin),
    )
    assert scheduled.status_code == 200, scheduled.text
    await api.request(
        "POST", f"/funds/{fund_id}/distributions/{distribution['id']}/cancel", money=True
    )
    async with db.tenant_transaction(sessions, org.org_id) as session:
        released = await distribution_tasks.release_scheduled(
            session, distribution_id=uuid.UUID(distribution["id"]), send_at=send_at.isoformat()
        )
    assert released is False
    refused = await client.post(
        notices_path(fund_id, distribution, "approve"), headers=bearer(admin)
    )
    assert refused.status_code == 409
    assert "a cancelled distribution's notices cannot be approved" in refused.json()["detail"]
    got = await api.request("GET", f"/funds/{fund_id}/distributions/{distribution['id']}")
    assert got["notices"] == "scheduled"
    assert got["notices_sent_at"] is None
    mailed = rows(
        database,
        "SELECT id FROM email_outbox WHERE kind = 'distribution_notice' AND org_id = %s",
        org.org_id,
    )
    assert mailed == []
