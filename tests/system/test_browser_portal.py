"""The LP portal in a real browser (Debian's chromium, driven by Playwright), as an LP would use
it: invited by e-mail → joins → its commitments → a fund's statement for a quarter (the API's
numbers) → its documents → its contacts → another investor's statement by URL (not there).
axe-core on every page; a screenshot of each (`make screenshots` keeps them in docs/)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests import servers
from tests.browser_support import chromium_path
from tests.sign_in_support import PASSWORD, code_after
from tests.support import wait_until
from tests.system.test_browser_console import Journey, _invitation_link, second_admin

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
    # The same family office's second entity: the LP will act for both.
    cedar = made("POST", "/investors", json={"name": "Alpine Holdings II", "kind": "entity"})
    made(
        "POST",
        f"/funds/{fund['id']}/commitments",
        json={"investor_id": cedar["id"], "amount": "2000000.00", "committed_on": "2026-03-02"},
    )
    return {"fund": fund, "alpine": alpine, "baltic": baltic, "cedar": cedar}


def _ready_documents(api: httpx.Client, investor_id: str) -> list[dict[str, Any]]:
    """The investor's documents once its call notice is rendered (the worker's job)."""

    def rendered() -> bool:
        found = api.get("/documents", params={"investor_id": investor_id}).json()["items"]
        return bool(found) and all(d["status"] == "ready" for d in found)

    wait_until(rendered, timeout=60, what="the call notices")
    items: list[dict[str, Any]] = api.get("/documents", params={"investor_id": investor_id}).json()[
        "items"
    ]
    return items


async def _turn_on_two_factor(page: Page) -> str:
    """Two-factor on, from "My account": the authenticator's key (read off the page)."""
    await page.get_by_role("link", name="My account").click()
    await page.get_by_role("link", name="Set up two-factor authentication").click()
    secret = await page.locator("#totp-secret").inner_text()
    await page.get_by_label("Code from the app").fill(code_after(secret))
    await page.get_by_role("button", name="Turn two-factor on").click()
    await expect(page.locator("main h1")).to_have_text("Two-factor authentication is on")
    await page.get_by_role("link", name="Done").click()
    return secret


async def _sign_in_again(page: Page, journey: Journey, secret: str) -> int:
    """Out and in again: the password, then the authenticator's code; the time step it used
    (a step's code is good once)."""
    await page.get_by_role("button", name="Sign out", exact=True).click()
    await page.goto(f"{journey.base}/login")
    await page.get_by_label("Email address").fill(LP_EMAIL)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Code").fill(code_after(secret, 1))
    await page.get_by_role("button", name="Continue").click()
    return _step() + 1


def _step() -> int:
    return int(time.time() // 30)


async def _fresh_code(secret: str, used: int) -> str:
    """A code of a step after `used` that the server still accepts (one step of drift): once
    the clock reaches `used`, the next step's."""
    while _step() < used:
        await asyncio.sleep(0.5)
    return code_after(secret, 1)


async def _bank_change_approved(
    page: Page,
    browser: Browser,
    stack: servers.Stack,
    journey: Journey,
    made: dict[str, Any],
    code: str,
) -> None:
    """The LP gives new bank details with its code; they wait for a GP admin, who approves
    them on the investor's page; every contact is e-mailed (the number masked)."""
    await page.get_by_role("navigation").get_by_role("link", name="Bank account").click()
    await page.get_by_label("Bank", exact=True).fill("Zürcher Kantonalbank")
    await page.get_by_label("Account name").fill("Alpine Pension Fund")
    await page.get_by_label("Account number or IBAN").fill("CH9300762011623852957")
    await page.get_by_label("Authenticator code").fill(code)
    await page.get_by_role("button", name="Ask for the change").click()
    await expect(page.locator("#bank-pending")).to_contain_text("•••• 2957")
    await journey.visit(page, "portal-bank")
    gp = await second_admin(browser, stack)
    fund, alpine = made["fund"]["id"], made["alpine"]["id"]
    await gp.goto(f"{stack.base}/funds/{fund}/investors/{alpine}#bank-account")
    await gp.get_by_role("button", name="Approve the change").click()
    await expect(gp.locator("#bank-account")).to_contain_text("Zürcher Kantonalbank")
    await page.reload()
    await expect(page.locator("#bank-details")).to_contain_text("•••• 2957")
    mailed = _mail_to(stack.data_dir / "mail", "finance@alpine.example", "bank account")
    assert "2957" in mailed
    assert "CH9300762011623852957" not in mailed


def _mail_to(mail_dir: Path, recipient: str, about: str) -> str:
    """The body of the message to `recipient` whose subject mentions `about`, once sent."""

    def found() -> str | None:
        for path in sorted(mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == recipient and about in str(message["Subject"]):
                body = message.get_body(("plain",))
                assert body is not None
                return str(body.get_content())
        return None

    wait_until(lambda: found() is not None, timeout=60, what=f"mail about {about}")
    body = found()
    assert body is not None
    return body


async def _download_the_notice(page: Page, api: httpx.Client, investor_id: str) -> None:
    """The call notice, once rendered, downloads as the PDF the API serves."""
    [notice] = _ready_documents(api, investor_id)
    await page.get_by_role("navigation").get_by_role("link", name="Documents").click()
    row = page.get_by_role("row").filter(has_text="Call notice")
    async with page.expect_download() as downloading:
        await row.get_by_role("link", name="Download").click()
    download = await downloading.value
    path = await download.path()
    assert path.read_bytes() == api.get(f"/documents/{notice['id']}/content").content


async def _switch_between_entities(
    page: Page, api: httpx.Client, made: dict[str, Any], journey: Journey
) -> None:
    """Linked to a second investor by the GP, the LP switches to it in the header and back."""
    [me] = [u for u in api.get("/users").json()["items"] if u["email"] == LP_EMAIL]
    linked = [made["alpine"]["id"], made["cedar"]["id"]]
    assert api.patch(f"/users/{me['id']}", json={"investor_ids": linked}).status_code == 200
    await page.goto(journey.base)
    await page.get_by_label("Acting for").select_option(label="Alpine Holdings II")
    await page.get_by_role("button", name="Switch").click()
    await expect(page.locator("main h1")).to_have_text("Alpine Holdings II")
    await expect(page.get_by_role("row").filter(has_text="Portal Fund I")).to_contain_text(
        "2,000,000.00"
    )
    await journey.visit(page, "portal-switched")
    await page.get_by_label("Acting for").select_option(label="Alpine Pension Fund")
    await page.get_by_role("button", name="Switch").click()
    await expect(page.locator("main h1")).to_have_text("Alpine Pension Fund")


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
                secret = await _turn_on_two_factor(page)
                used = await _sign_in_again(page, journey, secret)
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

                await _download_the_notice(page, api, alpine)
                await journey.visit(page, "portal-documents")
                await page.get_by_role("navigation").get_by_role("link", name="Contacts").click()
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
                [theirs] = _ready_documents(api, baltic)
                for url in (
                    f"{stack.base}/api/v1/investors/{baltic}/contacts",
                    f"{stack.base}/api/v1/documents/{theirs['id']}/content",
                    f"{stack.base}/api/v1/funds/{fund_id}/investors/{baltic}/capital-account",
                ):
                    response = await page.goto(url)
                    assert response is not None
                    assert response.status == 404, url

                await _switch_between_entities(page, api, made, journey)
                code = await _fresh_code(secret, used)
                await _bank_change_approved(page, browser, stack, journey, made, code)
            finally:
                await browser.close()
