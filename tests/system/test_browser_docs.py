"""The API docs render in a real browser that can reach nothing but Prorata (no CDN)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Route, async_playwright, expect

from tests import servers
from tests.browser_support import chromium_path
from tests.support import TestDatabase

pytestmark = pytest.mark.browser


async def test_swagger_ui_and_redoc_render_with_no_internet(
    database: TestDatabase, tmp_path: Path
) -> None:
    executable = chromium_path()
    elsewhere: list[str] = []

    async def only_loopback(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            await route.continue_()
        else:  # what a machine with no internet would do to it
            elsewhere.append(route.request.url)
            await route.abort()

    with servers.web(database, tmp_path / "web.log") as base:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            try:
                page = await browser.new_page()
                await page.route("**/*", only_loopback)
                await page.goto(f"{base}/api/v1/docs")
                await expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
                assert await page.locator(".opblock").count() > 50
                await page.screenshot(path=tmp_path / "swagger-ui.png")
                await page.goto(f"{base}/api/v1/redoc")
                await expect(page.get_by_role("heading", name="Prorata API")).to_be_visible(
                    timeout=20_000
                )
                await expect(
                    page.get_by_text("Create an API key for the caller").first
                ).to_be_attached()
                await page.screenshot(path=tmp_path / "redoc.png")
            finally:
                await browser.close()
    assert elsewhere == []
