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
    # The exit: the first deal (cost 4,000,000.00, paid in full in the first quarter) sold in
    # full for 10,000,000.00 on 2026-11-16, a gain of 6,000,000.00, all of it distributed on
    # 2026-11-20 by the fund's one distribution, which names the realisation.
    [exited, *_] = (await api.request("GET", f"/funds/{fund_id}/deals"))["items"]
    assert (exited["name"], exited["status"], exited["realised_on"]) == (
        demo_fund.DEALS[0][0],
        "exited",
        "2026-11-16",
    )
    sold = await api.request("GET", f"/funds/{fund_id}/deals/{exited['id']}/realisations")
    assert (sold["cost"], sold["proceeds"], sold["realised_gain"], sold["undistributed"]) == (
        "4000000.00",
        "10000000.00",
        "6000000.00",
        "0.00",
    )
    [paid] = (await api.request("GET", f"/funds/{fund_id}/distributions"))["items"]
    assert (paid["date"], paid["amount"], paid["realisation_id"]) == (
        "2026-11-20",
        "10000000.00",
        sold["items"][0]["id"],
    )
    metrics = await api.request("GET", f"/funds/{fund_id}/metrics?as_of=2026-11-30")
    # Net: paid in = the four calls' 4 × 325,000 of fees + 6 × 4,000,000 of deals = 25,300,000
    # less what the October call still lacks; DPI = the 10,000,000 distributed / paid in,
    # TVPI = (10,000,000 + the 21,300,000 NAV of 2026-11-30) / paid in.
    lacking = sum((Decimal(line["outstanding"]) for line in last["lines"]), Decimal(0))
    paid_in = Decimal("25300000.00") - lacking
    assert Decimal(metrics["paid_in"]) == paid_in
    assert abs(Decimal(metrics["dpi"]) - Decimal("10000000") / paid_in) < Decimal("1e-9")
    net_tvpi = Decimal("31300000") / paid_in
    assert abs(Decimal(metrics["tvpi"]) - net_tvpi) < Decimal("1e-9")
    # Gross (fees left out): invested = Σ the deals' cost; proceeds the exit's 10,000,000;
    # unrealised = the cost still held, all but the exited deal's 4,000,000.
    deals = (await api.request("GET", f"/funds/{fund_id}/deals"))["items"]
    costs = [
        Decimal(
            (await api.request("GET", f"/funds/{fund_id}/deals/{d['id']}/realisations"))["cost"]
        )
        for d in deals
    ]
    invested = sum(costs, Decimal(0))
    gross = metrics["gross"]
    assert (gross["invested"], gross["proceeds"], gross["unrealised"]) == (
        str(invested),
        "10000000.00",
        str(invested - Decimal("4000000.00")),
    )
    gross_tvpi = (invested + Decimal("6000000.00")) / invested
    assert abs(Decimal(gross["tvpi"]) - gross_tvpi) < Decimal("1e-9")
    # Gross above net: the fees are in the investors' paid-in, not in the deals' invested.
    assert gross_tvpi > net_tvpi
    assert Decimal(gross["irr"]) > Decimal(metrics["irr"])


async def test_without_demo_data_the_demo_organisation_is_empty(
    settings: Settings, database: TestDatabase, client: AsyncClient
) -> None:
    empty = settings_with(settings, demo_data=False)
    made = await asyncio.to_thread(demo.ensure_demo_org, empty, app_url=database.app_url)
    assert (await FundApi(client, made.api_key).request("GET", "/funds"))["items"] == []
