"""The console releases notices as the API does: a distribution's page shows its notices'
state with Approve and Schedule for an admin who did not make it; a call's page schedules too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, hidden_token, person, sign_in

OWNER = "owner@a.example"


async def a_distribution(api: FundApi, **terms: Any) -> tuple[str, dict[str, Any]]:
    fund_id = await api.fund(**terms)
    await api.investors_with(fund_id, ["600000.00", "400000.00"])
    await api.call_and_pay(fund_id, [{"purpose": "management_fee", "amount": "1000.00"}])
    return fund_id, await api.distribute(fund_id, "500.00", "2026-06-30")


def later(days: int = 3) -> str:
    """A `datetime-local` value, days ahead (read as UTC)."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


async def test_a_distributions_notices_are_approved_from_its_page_by_a_second_admin(
    app: FastAPI, client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, distribution = await a_distribution(api, notices_need_approval=True)
    path = f"/funds/{fund_id}/distributions/{distribution['id']}"
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)  # the owner made the distribution (with its key)
    home = await client.get("/")
    assert "Distribution No. 1 notices awaiting approval" in home.text
    assert f'href="{path}"' in home.text
    fund_page = await client.get(f"/funds/{fund_id}")
    assert f'href="{path}"' in fund_page.text
    assert "notices awaiting approval" in fund_page.text
    own = await client.get(path)
    assert own.status_code == 200
    assert "Distribution No. 1 of 2026-06-30" in own.text
    assert "Awaiting approval" in own.text
    assert "another admin approves its notices (four eyes)" in own.text
    assert "Schedule the notices" not in own.text
    refused = await client.post(
        f"{path}/notices/approve", data={"csrf_token": hidden_token(own.text)}
    )
    assert refused.status_code == 403
    assert "four eyes" in refused.text

    _, admin = await person(sessions, org, Role.admin)
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://prorata.test"
    ) as second:
        await sign_in(second, admin)
        page = await second.get(path)
        assert "Approve and mail the notices" in page.text
        assert '<label for="send_at">' in page.text
        token = hidden_token(page.text)
        for typed, said in (
            ("next week", "The time must be a day and an hour"),
            ("2020-01-01T09:00", "Send_at must be in the future"),
        ):
            wrong = await second.post(
                f"{path}/notices/schedule", data={"csrf_token": token, "send_at": typed}
            )
            assert wrong.status_code == 422
            assert said in wrong.text
            assert 'id="send_at-error"' in wrong.text
            assert f'value="{typed}"' in wrong.text  # what was typed stays in the field
        approved = await second.post(f"{path}/notices/approve", data={"csrf_token": token})
        assert approved.status_code == 303
        assert "being mailed to every investor with an address" in (await second.get(path)).text
    view = await api.request("GET", f"/funds/{fund_id}/distributions/{distribution['id']}")
    assert view["notices"] == "released"


async def test_notices_are_scheduled_from_a_call_or_a_distribution_page(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, distribution = await a_distribution(api, notices_need_approval=True)
    [call] = (await api.request("GET", f"/funds/{fund_id}/capital-calls"))["items"]
    _, admin = await person(sessions, org, Role.admin)
    await sign_in(client, admin)
    for page_path, api_path in (
        (f"/funds/{fund_id}/calls/{call['id']}", f"/funds/{fund_id}/capital-calls/{call['id']}"),
        (
            f"/funds/{fund_id}/distributions/{distribution['id']}",
            f"/funds/{fund_id}/distributions/{distribution['id']}",
        ),
    ):
        page = await client.get(page_path)
        scheduled = await client.post(
            f"{page_path}/notices/schedule",
            data={"csrf_token": hidden_token(page.text), "send_at": later()},
        )
        assert scheduled.status_code == 303, scheduled.text
        assert "Approved, to be mailed at" in (await client.get(page_path)).text
        assert (await api.request("GET", api_path))["notices"] == "scheduled"


async def test_a_viewer_reads_a_distribution_page_and_a_cancelled_one_mails_nothing(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund_id, distribution = await a_distribution(api, notices_need_approval=True)
    path = f"/funds/{fund_id}/distributions/{distribution['id']}"
    await api.request("POST", f"{path}/cancel", money=True)
    _, viewer = await person(sessions, org, Role.viewer)
    await sign_in(client, viewer)
    page = await client.get(path)
    assert page.status_code == 200
    assert "Cancelled before its notices were released: none is mailed." in page.text
    assert "Approve and mail the notices" not in page.text
    refused = await client.post(
        f"{path}/notices/approve", data={"csrf_token": hidden_token(page.text)}
    )
    assert refused.status_code == 403

    plain_fund, plain = await a_distribution(api)
    shown = await client.get(f"/funds/{plain_fund}/distributions/{plain['id']}")
    assert "This fund mails notices as they are rendered (no approval step)" in shown.text
    assert (await client.get(f"/funds/{fund_id}/distributions/{fund_id}")).status_code == 404
