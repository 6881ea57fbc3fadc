"""The demo organisation's key and password files (what `prorata up` writes): private whatever
mode they had, kept while they work, and the password signs the demo owner in."""

from __future__ import annotations

import asyncio
import stat
from decimal import Decimal
from pathlib import Path

from httpx import AsyncClient

from prorata.config import Settings
from prorata.runtime import demo, demo_fund
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.support import TestDatabase


def test_the_demo_files_are_private_whatever_mode_they_had(
    settings: Settings, database: TestDatabase
) -> None:
    key_file = Path(settings.data_dir) / "demo-api-key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("prk_not_a_key_of_this_database\n")
    key_file.chmod(0o644)
    first = demo.ensure_demo_org(settings, app_url=database.app_url)  # a new key, same file
    assert key_file.read_text().strip() == first.api_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    password = first.password_file.read_text().strip()
    assert len(password) >= 20
    assert stat.S_IMODE(first.password_file.stat().st_mode) == 0o600
    key_file.chmod(0o644)
    first.password_file.chmod(0o644)
    again = demo.ensure_demo_org(settings, app_url=database.app_url)  # both still valid
    assert again.api_key == first.api_key
    assert again.password_file.read_text().strip() == password
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(again.password_file.stat().st_mode) == 0o600


async def test_the_demo_owner_signs_in_with_the_saved_password(
    settings: Settings, database: TestDatabase, client: AsyncClient
) -> None:
    made = await asyncio.to_thread(demo.ensure_demo_org, settings, app_url=database.app_url)
    login = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": demo.DEMO_OWNER_EMAIL,
            "password": made.password_file.read_text().strip(),
            "csrf_token": login.cookies["prorata_form"],
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    home = await client.get("/")
    assert home.status_code == 200
    assert demo.DEMO_ORG_NAME in home.text


async def test_the_demo_organisation_gets_a_living_fund_unless_told_not_to(
    settings: Settings, database: TestDatabase, client: AsyncClient
) -> None:
    made = await asyncio.to_thread(demo.ensure_demo_org, settings, app_url=database.app_url)
    api = FundApi(client, made.api_key)
    [fund] = (await api.request("GET", "/funds"))["items"]
    assert fund["name"] == demo_fund.FUND_NAME
    assert fund["notices_need_approval"] is True  # the user's own calls wait for approval
    fund_id = fund["id"]
    commitments = (await api.request("GET", f"/funds/{fund_id}/commitments?limit=500"))["items"]
    assert len(commitments) == demo_fund.INVESTORS
    calls = (await api.request("GET", f"/funds/{fund_id}/capital-calls"))["items"]
    assert len(calls) == 4
    assert sorted(c["status"] for c in calls).count("paid") == 3
    last = await api.request("GET", f"/funds/{fund_id}/capital-calls/{calls[-1]['id']}")
    outstanding = [line for line in last["lines"] if line["outstanding"] != "0.00"]
    assert len(outstanding) == 3  # one paid half, two not yet
    valuations = (await api.request("GET", f"/funds/{fund_id}/valuations"))["items"]
    assert len(valuations) == 4
    assert len((await api.request("GET", f"/funds/{fund_id}/distributions"))["items"]) == 1
    metrics = await api.request("GET", f"/funds/{fund_id}/metrics?as_of=2026-11-30")
    assert Decimal(metrics["dpi"]) > 0
    assert Decimal(metrics["tvpi"]) > 1


async def test_without_demo_data_the_demo_organisation_is_empty(
    settings: Settings, database: TestDatabase, client: AsyncClient
) -> None:
    empty = settings_with(settings, demo_data=False)
    made = await asyncio.to_thread(demo.ensure_demo_org, empty, app_url=database.app_url)
    assert (await FundApi(client, made.api_key).request("GET", "/funds"))["items"] == []
