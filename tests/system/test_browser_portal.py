"""The LP portal in a real browser (Debian's chromium, driven by Playwright), as an LP would use
it: invited by e-mail → joins → its commitments → a fund's statement for a quarter (the API's
numbers) → its documents → its contacts → another investor's statement by URL (not there).
axe-core on every page; a screenshot of each (`make screenshots` keeps them in docs/)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests import servers
from tests.browser_support import chromium_path
from tests.sign_in_support import PASSWORD
from tests.system.test_browser_console import Journey, _invitation_link

pytestmark = pytest.mark.browser

LP_EMAIL = "treasury@alpine.example"


def _api(stack: servers.Stack) -> httpx.Client:
    return httpx.Client(
        base_url=f"{stack.base}/api/v1",
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=30,
    )


def _fund_with_an_lp(api: httpx.Client) -> dict[str, Any]:
    """A fund, two investors, a paid call and a valuation; the first investor's LP invited."""

    def made(method: str, path: str, **kwargs: Any) -> Any:
        response = api.request(method, path, **kwargs)
        assert response.status_code in {200, 201}, response.text
        return response.json()

    fund = made(
        "POST",
        "/funds",
        json={"name": "Portal Fund I", "currency": "USD", "notices_need_approval": False},
    )
    alpine = made("POST", "/investors", json={"name": "Alpine Pension Fund", "kind": "entity"})
    baltic = made("POST", "/investors", json={"name": "Baltic Family Office", "kind": "entity"})
    for investor, amount in ((alpine, "6000000.00"), (baltic, "4000000.00")):
        made(
            "POST",
            f"/funds/{fund['id']}/commitments",
            json={"investor_id": investor["id"], "amount": amount, "committed_on": "2026-01-02"},
        )
    money = {"Idempotency-Key": str(uuid.uuid4())}
    call = made(
        "POST",
        f"/funds/{fund['id']}/capital-calls",
        json={
            "notice_date": "2026-02-02",
            "items": [{"purpose": "management_fee", "amount": "100000.00"}],
        },
    )
    made("POST", f"/funds/{fund['id']}/capital-calls/{call['id']}/issue", headers=money)
    made(
        "POST",
        f"/funds/{fund['id']}/capital-calls/{call['id']}/payments",
        json={"investor_id": alpine["id"], "amount": "60000.00", "received_on": "2026-02-16"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    made(
        "POST", f"/funds/{fund['id']}/valuations", json={"as_of": "2026-03-31", "nav": "120000.00"}
    )
    made(
        "POST",
        "/invitations",
        json={"email": LP_EMAIL, "role": "investor", "investor_id": alpine["id"]},
    )
    return {"fund": fund, "alpine": alpine, "baltic": baltic}


async def test_an_lp_sees_its_own_numbers_and_nothing_else(tmp_path: Path) -> None:
    executable = chromium_path()
    shots = Path(os.environ.get("PRORATA_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with servers.up(tmp_path, PRORATA_DEMO_DATA="false") as stack, _api(stack) as api:
        made = _fund_with_an_lp(api)
        fund_id, alpine, baltic = made["fund"]["id"], made["alpine"]["id"], made["baltic"]["id"]
        link = _invitation_link(stack.data_dir / "mail", LP_EMAIL)
        journey = Journey(stack.base, shots)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            try:
                page: Page = await (
                    await browser.new_context(viewport={"width": 1280, "height": 900})
                ).new_page()
                await page.goto(link)
                await page.get_by_label("Your name").fill("Alex Treasury")
                await page.get_by_label("Password", exact=True).fill(PASSWORD)
                await page.get_by_role("button", name="Join and sign in").click()
                await expect(page.locator("main h1")).to_have_text("Alpine Pension Fund")
                await expect(page.get_by_role("rowheader", name="Portal Fund I")).to_be_visible()
                await journey.visit(page, "portal-home")

                await page.get_by_role("link", name="Portal Fund I").click()
                await page.get_by_label("From").fill("2026-01-01")
                await page.get_by_label("To").fill("2026-03-31")
                await page.get_by_role("button", name="Show").click()
                expected = api.get(
                    f"/funds/{fund_id}/investors/{alpine}/capital-account",
                    params={"from": "2026-01-01", "to": "2026-03-31"},
                ).json()
                ending = page.get_by_role("row").filter(has_text="Ending balance at 2026-03-31")
                await expect(ending).to_contain_text(f"{float(expected['ending_balance']):,.2f}")
                await journey.visit(page, "portal-fund")

                await page.get_by_role("link", name="Documents").click()
                await journey.visit(page, "portal-documents")
                await page.get_by_role("link", name="Contacts").click()
                await page.get_by_label("Name").fill("Finance team")
                await page.get_by_label("E-mail address").fill("finance@alpine.example")
                await page.get_by_role("button", name="Add the contact").click()
                await expect(page.get_by_role("rowheader", name="Finance team")).to_be_visible()
                await journey.visit(page, "portal-contacts")
                contacts = api.get(f"/investors/{alpine}/contacts").json()
                assert [c["email"] for c in contacts] == ["finance@alpine.example"]

                # Another investor's statement, by URL; the GP's fund page: not there.
                for url in (
                    f"{stack.base}/funds/{fund_id}",
                    f"{stack.base}/portal/funds/{uuid.uuid4()}",
                ):
                    response = await page.goto(url)
                    assert response is not None
                    assert response.status in {403, 404}, url
                response = await page.goto(f"{stack.base}/api/v1/investors/{baltic}/contacts")
                assert response is not None
                assert response.status == 404
            finally:
                await browser.close()
