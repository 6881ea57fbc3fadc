"""In a real browser (chromium), against a real `prorata up`: the demo owner signs in with the
password from var/demo-password, turns on two-factor, signs out, and signs in again with a
code. Screenshots of each page are kept with the test's files."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from playwright.async_api import Page, async_playwright, expect

from prorata.runtime import demo
from tests import servers
from tests.browser_support import chromium_path
from tests.sign_in_support import code_after

pytestmark = pytest.mark.browser


async def _sign_in(page: Page, base: str, password: str) -> None:
    await page.goto(f"{base}/")
    await expect(page).to_have_url(f"{base}/login")
    await page.get_by_label("Email address").fill(demo.DEMO_OWNER_EMAIL)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_the_demo_owner_signs_in_turns_on_two_factor_and_signs_in_with_a_code(
    tmp_path: Path,
) -> None:
    executable = chromium_path()
    shots = tmp_path / "screenshots"
    with servers.up(tmp_path) as stack:
        password = (stack.data_dir / "demo-password").read_text().strip()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            page = await browser.new_page()
            try:
                await _sign_in(page, stack.base, password)
                await expect(page.get_by_role("heading", level=1)).to_have_text(demo.DEMO_ORG_NAME)
                await page.screenshot(path=shots / "home.png", full_page=True)

                await page.get_by_role("link", name="My account").first.click()
                await page.get_by_role("link", name="Set up two-factor authentication").click()
                await expect(page.locator("svg")).to_be_visible()  # the QR code
                secret = await page.locator("#totp-secret").inner_text()
                await page.screenshot(path=shots / "two-factor-setup.png", full_page=True)
                await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
                await page.get_by_role("button", name="Turn two-factor on").click()
                await expect(page.locator("#recovery-codes li")).to_have_count(10)
                await page.screenshot(path=shots / "recovery-codes.png", full_page=True)
                await page.get_by_role("link", name="Done").click()

                await page.get_by_role("button", name="Sign out").first.click()
                await expect(page.get_by_role("status")).to_have_text("You are signed out.")

                await _sign_in(page, stack.base, password)
                await expect(page).to_have_url(f"{stack.base}/login/two-factor?next=%2F")
                await page.screenshot(path=shots / "two-factor-step.png", full_page=True)
                # The next step's code: the one that turned two-factor on is spent.
                await page.get_by_label("Code").fill(code_after(secret, 1))
                await page.get_by_role("button", name="Continue").click()
                await expect(page).to_have_url(f"{stack.base}/")
                await expect(page.get_by_role("heading", level=1)).to_have_text(demo.DEMO_ORG_NAME)
            finally:
                await browser.close()
