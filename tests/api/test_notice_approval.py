"""Notices go out only when approved: the fund setting, four eyes, approving and scheduling,
idempotent and audited (mailing itself is tested with a worker in tests/system)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.capital_calls import tasks as call_tasks
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.support import TestDatabase, bearer


async def issued_call(api: FundApi, **terms: Any) -> tuple[str, dict[str, Any]]:
    fund_id = await api.fund(**terms)
    await api.investors_with(fund_id, ["600000.00", "400000.00"])
    call = await api.call_and_issue(fund_id, [{"purpose": "management_fee", "amount": "1000.00"}])
    return fund_id, call


def notices_path(fund_id: str, call: dict[str, Any], action: str) -> str:
    return f"/api/v1/funds/{fund_id}/capital-calls/{call['id']}/notices/{action}"


async def test_new_funds_hold_notices_until_a_second_admin_approves(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    made = await client.post(
        "/api/v1/funds", json={"name": "Gated", "currency": "USD"}, headers=bearer(org.api_key)
    )
    assert made.json()["notices_need_approval"] is True  # the API's default for a new fund
    api = FundApi(client, org.api_key)
    fund_id, call = await issued_call(api, notices_need_approval=True)
    assert call["notices"] == "awaiting_approval"
    assert call["issued_by"] == str(org.user_id)
    approve = notices_path(fund_id, call, "approve")

    own = await client.post(approve, headers=bearer(org.api_key))
    assert own.status_code == 403
    assert "four eyes" in own.json()["detail"]
    manager = await add_member(sessions, org, Role.manager)
    assert (await client.post(approve, headers=bearer(manager))).status_code == 403
    admin = await add_member(sessions, org, Role.admin)
    approved = await client.post(approve, headers=bearer(admin))
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["notices"] == "released"
    assert body["notices_approved_by"] is not None
    assert body["notices_approved_by"] != str(org.user_id)
    again = await client.post(approve, headers=bearer(admin))  # idempotent: nothing more
    assert again.status_code == 200
    assert again.json()["notices_approved_at"] == body["notices_approved_at"]
    with psycopg.connect(database.owner_url) as conn:
        actions = [
            row[0]
            for row in conn.execute(
                "SELECT action FROM audit_log WHERE entity_id = %s ORDER BY id", (call["id"],)
            )
        ]
    assert actions.count("capital_call.notices_approve") == 1


async def test_funds_that_need_no_approval_and_calls_not_issued_refuse_approval(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    admin = await add_member(sessions, org, Role.admin)
    fund_id, call = await issued_call(api)  # the test helper's funds need no approval
    assert call["notices"] == "not_required"
    refused = await client.post(notices_path(fund_id, call, "approve"), headers=bearer(admin))
    assert refused.status_code == 409
    assert "need no approval" in refused.json()["detail"]

    gated = await api.fund(notices_need_approval=True)
    await api.investors_with(gated, ["100.00"])
    draft = await api.draft(gated, [{"purpose": "management_fee", "amount": "10.00"}])
    assert draft["notices"] is None
    early = await client.post(notices_path(gated, draft, "approve"), headers=bearer(admin))
    assert early.status_code == 409
    assert "this call is draft" in early.json()["detail"]


async def test_notices_can_be_scheduled_and_the_worker_releases_them_then(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    admin = await add_member(sessions, org, Role.admin)
    fund_id, call = await issued_call(api, notices_need_approval=True)
    schedule = notices_path(fund_id, call, "schedule")
    for wrong, reason in (
        ("2020-01-01T09:00:00Z", "in the future"),
        ("2099-01-01T09:00:00Z", "at most a year ahead"),
    ):
        response = await client.post(schedule, json={"send_at": wrong}, headers=bearer(admin))
        assert response.status_code == 422
        assert reason in response.json()["detail"]
    naive = await client.post(
        schedule, json={"send_at": "2027-01-04T09:00:00"}, headers=bearer(admin)
    )
    assert naive.status_code == 422

    first = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    second = first + dt.timedelta(hours=3)
    for send_at in (first, second):  # a later schedule replaces the earlier one
        scheduled = await client.post(
            schedule, json={"send_at": send_at.isoformat()}, headers=bearer(admin)
        )
        assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["notices"] == "scheduled"
    assert dt.datetime.fromisoformat(scheduled.json()["notices_send_at"]) == second
    with psycopg.connect(database.owner_url) as conn:
        jobs = conn.execute(
            "SELECT args->>'send_at', scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = 'capital_calls.release_scheduled_notices' ORDER BY id"
        ).fetchall()
    assert [at for _, at in jobs] == [first, second]

    async def run(send_at: str) -> bool:  # what the worker's task does at that time
        async with db.tenant_transaction(sessions, org.org_id) as session:
            return await call_tasks.release_scheduled(
                session, call_id=uuid.UUID(call["id"]), send_at=send_at
            )

    assert await run(jobs[0][0]) is False  # the replaced schedule does nothing
    assert await run(jobs[1][0]) is True
    assert await run(jobs[1][0]) is False  # released once
    got = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call['id']}")
    assert got["notices"] == "released"
    late = await client.post(schedule, json={"send_at": second.isoformat()}, headers=bearer(admin))
    assert late.status_code == 409
