"""The GP journey in a real browser against a real `prorata up`, checked by content and by
axe-core (no serious or critical violation on any page of it):

sign in → create a fund → import investors and commitments (dry run, then apply) → add and
allocate a deal → call wizard with a fee item → preview → issue → a second admin approves the
notices → the notices are there → payments (one partial) → distribution wizard → the exports
download and open (CSV parsed, XLSX opened with openpyxl).

Each main page is saved as a PNG under $PRORATA_SCREENSHOTS (`make screenshots` points it at
docs/screenshots), else beside the test's files.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import psycopg
import pytest
from playwright.async_api import Browser, FilePayload, Page, Route, async_playwright, expect

from prorata.runtime import demo
from tests import servers
from tests.browser_support import chromium_path
from tests.sign_in_support import PASSWORD
from tests.support import REPO_ROOT, wait_until

pytestmark = pytest.mark.browser

AXE = REPO_ROOT / "tests" / "assets" / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"
INVESTORS = (
    "name,email,kind,country\n"
    "Alpine Pension Fund,ops@alpine.example,entity,CH\n"
    "Baltic Family Office,cfo@baltic.example,entity,EE\n"
    "Coral Endowment,treasury@coral.example,entity,US\n"
)
# As a European spreadsheet exports it: semicolons, the team's own headers, amounts written
# 1.234,56 and dates DD.MM.YYYY — read with the form's options (chosen in the journey).
COMMITMENTS = (
    "E-mail;Amount;Committed On\n"
    "ops@alpine.example;5.000.000,00;15.01.2026\n"
    "cfo@baltic.example;3.000.000,00;15.01.2026\n"
    "treasury@coral.example;2.000.000,00;15.01.2026\n"
)
COMMITMENT_OPTIONS = {"Amounts": "1.234,56", "Dates": "DD.MM.YYYY"}


async def accessible(page: Page, what: str) -> None:
    """axe-core, injected into the page: no serious or critical violation."""
    await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate("axe.run()")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{what}: {bad}"


class Journey:
    def __init__(self, base: str, shots: Path) -> None:
        self.base = base
        self.shots = shots

    async def visit(self, page: Page, name: str) -> None:
        """Check the page as it is now, and keep a picture of it."""
        await expect(page.locator("main h1")).to_be_visible()
        await accessible(page, name)
        await page.screenshot(path=self.shots / f"{name}.png", full_page=True)

    async def sign_in(self, page: Page, email_address: str, password: str) -> None:
        await page.goto(f"{self.base}/login")
        await page.get_by_label("Email address").fill(email_address)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{self.base}/")

    async def upload(
        self,
        page: Page,
        fund_url: str,
        kind: str,
        content: str,
        options: dict[str, str] | None = None,
    ) -> None:
        """Dry run, then apply, from the import page (`options`: label → option to choose)."""
        await page.goto(f"{fund_url}/imports/new")
        await page.get_by_label("What the rows are").select_option(kind)
        for label, value in (options or {}).items():
            await page.get_by_label(label, exact=True).select_option(value)
        if options:
            await self.visit(page, f"import-{kind}-form")
        payload: FilePayload = {
            "name": f"{kind}.csv",
            "mimeType": "text/csv",
            "buffer": content.encode(),
        }
        await page.get_by_label("File (or drop it here)").set_input_files(files=[payload])
        await page.get_by_role("button", name="Upload").click()
        await expect(page.get_by_role("button", name="Apply the import")).to_be_visible(
            timeout=30_000
        )
        await self.visit(page, f"import-{kind}-dry-run")
        await page.get_by_role("button", name="Apply the import").click()
        await expect(page.get_by_text("Applied.")).to_be_visible(timeout=30_000)


def _invitation_link(mail_dir: Path, recipient: str) -> str:
    def found() -> str | None:
        for path in sorted(mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == recipient:
                body = message.get_body(("plain",))
                assert body is not None
                link = re.search(r"https?://\S+", body.get_content())
                assert link
                return link.group(0)
        return None

    wait_until(lambda: found() is not None, timeout=60, what=f"the invitation to {recipient}")
    link = found()
    assert link is not None
    return link


def _payment_event(stack: servers.Stack, call_url: str) -> None:
    """A `payment.recorded` event about the call, as booking a payment queues one."""
    fund_id, call_id = re.findall(r"/(?:funds|calls)/([0-9a-f-]{36})", call_url)
    with psycopg.connect(stack.database().url(), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO fund_events (org_id, fund_id, kind, data)"
            " SELECT org_id, id, 'payment.recorded', jsonb_build_object('call_id', %s::text)"
            " FROM funds WHERE id = %s",
            (call_id, fund_id),
        )


async def follow_a_link_as_an_event_arrives(
    page: Page, stack: servers.Stack, call_url: str, fund_url: str
) -> None:
    """A link followed on a live page just as an event comes in lands where it leads: the
    page's reload for the event waits (the fund's page is slowed so that the event arrives
    while the navigation is under way; a reload then would cancel it)."""

    async def slowly(route: Route) -> None:
        await asyncio.sleep(3)
        await route.continue_()

    await page.goto(call_url)
    await page.wait_for_timeout(500)  # the page's event stream is open
    await page.route(fund_url, slowly)
    await page.locator(".crumbs").get_by_role("link").nth(1).click(no_wait_after=True)
    await asyncio.to_thread(_payment_event, stack, call_url)
    await page.wait_for_url(fund_url, timeout=10_000)
    await expect(page.get_by_role("heading", name="Capital calls")).to_be_visible()
    await page.unroute(fund_url)


async def nothing_typed_or_sent_is_lost_to_an_event(
    journey: Journey, page: Page, stack: servers.Stack, call_url: str
) -> None:
    """On a live page with a form typed into, or answering a form, an event does not reload
    the page (that would put back the amount due over a half-typed one, or send the form
    again): the page says that it is out of date, with a link to it as it is now."""
    out_of_date = page.get_by_role("status").filter(has_text="has changed since it was shown")
    # A form left as it was rendered is no edit: the page reloads (a list with no option
    # marked selected shows its first one, as rendered).
    await page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<form><label>Probe "
        "<select><option>a</option><option>b</option></select></label></form>')"
    )
    async with page.expect_navigation():
        await asyncio.to_thread(_payment_event, stack, call_url)
    half_typed = page.get_by_label("Amount from Baltic Family Office")
    await half_typed.fill("12345.67")
    await asyncio.to_thread(_payment_event, stack, call_url)
    await expect(out_of_date).to_be_visible()
    await expect(half_typed).to_have_value("12345.67")
    await journey.visit(page, "call-out-of-date")

    await page.goto(call_url)
    await page.get_by_label("Amount from Alpine Pension Fund").fill("abc")
    alpine = page.get_by_role("row").filter(has_text="Alpine Pension Fund")
    await alpine.get_by_role("button", name="Record").click()
    await expect(page.get_by_text("must be a number")).to_be_visible()
    await page.evaluate("window.notReloaded = true")
    await page.wait_for_timeout(500)  # the page's event stream is open
    await asyncio.to_thread(_payment_event, stack, call_url)
    await expect(out_of_date).to_be_visible()
    assert await page.evaluate("window.notReloaded === true")
    await out_of_date.get_by_role("link").click()
    await page.wait_for_url(call_url)
    await expect(page.get_by_label("Amount from Alpine Pension Fund")).not_to_have_value("abc")


async def second_admin(browser: Browser, stack: servers.Stack) -> Page:
    """An admin invited by the owner (API), who joins from the mailed link."""
    invited = httpx.post(
        f"{stack.base}/api/v1/invitations",
        json={"email": "controller@demo.prorata.invalid", "role": "admin"},
        headers={"Authorization": f"Bearer {stack.api_key}"},
    )
    assert invited.status_code == 201, invited.text
    link = _invitation_link(stack.data_dir / "mail", "controller@demo.prorata.invalid")
    page = await (await browser.new_context()).new_page()
    await page.goto(link)
    await page.get_by_label("Your name").fill("Casey Controller")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Join and sign in").click()
    await expect(page).to_have_url(f"{stack.base}/")
    return page


async def test_a_gp_runs_a_fund_from_the_console(tmp_path: Path) -> None:
    executable = chromium_path()
    shots = Path(os.environ.get("PRORATA_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with servers.up(tmp_path, PRORATA_DEMO_DATA="false") as stack:
        password = (stack.data_dir / "demo-password").read_text().strip()
        journey = Journey(stack.base, shots)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            try:
                context = await browser.new_context(
                    accept_downloads=True, viewport={"width": 1280, "height": 900}
                )
                page = await context.new_page()
                await journey.sign_in(page, demo.DEMO_OWNER_EMAIL, password)

                # A fund.
                await page.get_by_role("link", name="New fund").click()
                await journey.visit(page, "fund-new")
                await page.get_by_label("Name").fill("Journey Fund I")
                await page.get_by_label("Currency (ISO 4217)").fill("USD")
                await page.get_by_role("button", name="Create the fund").click()
                await expect(page.locator("main h1")).to_have_text("Journey Fund I")
                fund_url = page.url

                # Investors and commitments, each a dry run first.
                await journey.upload(page, fund_url, "investors", INVESTORS)
                await journey.upload(page, fund_url, "commitments", COMMITMENTS, COMMITMENT_OPTIONS)
                await page.goto(fund_url)
                await expect(
                    page.get_by_role("rowheader", name="Alpine Pension Fund")
                ).to_be_visible()
                await expect(page.get_by_text("10,000,000.00").first).to_be_visible()

                # A deal, allocated pro rata.
                await page.get_by_label("New deal's name").fill("Nordic Solar")
                await page.get_by_role("button", name="Add the deal").click()
                await page.get_by_label("Amount to allocate to Nordic Solar").fill("1000000.00")
                await page.get_by_role("button", name="Allocate").click()
                await expect(page.get_by_role("cell", name="1,000,000.00").first).to_be_visible()
                await journey.visit(page, "fund-setup")

                # The grid: one cell edited in place (htmx), refused in the API's words, then
                # saved; the page never reloads (the marker set below survives).
                await page.get_by_role("link", name="Allocations by deal and investor").click()
                await page.evaluate("window.notReloaded = true")
                cell = page.get_by_label("Nordic Solar: allocation of Alpine Pension Fund (USD)")
                await expect(cell).to_have_value("500,000.00")
                await cell.fill("500000.001")
                await cell.press("Tab")
                await expect(page.get_by_role("alert")).to_contain_text("decimal")
                await journey.visit(page, "allocations-grid")
                cell = page.get_by_label("Nordic Solar: allocation of Alpine Pension Fund (USD)")
                await cell.fill("500000")
                await cell.press("Tab")
                await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
                assert await page.evaluate("window.notReloaded === true")
                await page.goto(fund_url)

                # The call wizard: a fee and an investment → preview → issue.
                await page.get_by_role("link", name="New capital call").click()
                await page.get_by_label("Notice date").fill("2026-02-02")
                await page.get_by_label("Purpose of item 1").select_option("management_fee")
                await page.get_by_label("Amount of item 1").fill("50000.00")
                await page.get_by_label("Purpose of item 2").select_option("investment")
                await page.get_by_label("Deal of item 2").select_option(label="Nordic Solar")
                await page.get_by_label("Amount of item 2").fill("1000000.00")
                await journey.visit(page, "call-wizard")
                await page.get_by_role("button", name="Preview the call").click()
                await expect(page.get_by_text("A draft: step 2 of 2")).to_be_visible()
                alpine = page.get_by_role("row").filter(has_text="Alpine Pension Fund")
                await expect(alpine).to_contain_text("525,000.00")  # 1/2 of 1,050,000
                await expect(alpine).to_contain_text("10.50 %")
                await journey.visit(page, "call-preview")
                await page.get_by_role("button", name="Issue the call").click()
                await expect(page.get_by_text("Awaiting approval.")).to_be_visible()
                await expect(page.get_by_text("another admin approves its notices")).to_be_visible()
                call_url = page.url

                # Four eyes: a second admin approves, after reading the notices.
                controller = await second_admin(browser, stack)
                await controller.goto(call_url)
                await expect(controller.get_by_role("link", name="PDF").first).to_be_visible(
                    timeout=60_000
                )
                await controller.get_by_role("button", name="Approve and mail the notices").click()
                await expect(controller.get_by_text("mailed to every investor")).to_be_visible()

                # The GP's page, left open on the call, follows by itself: it reloads on each
                # of the approval's events, until every notice is mailed. (Navigating to it
                # here raced those reloads: "interrupted by another navigation".)
                await expect(page.get_by_text("every notice mailed by")).to_be_visible(
                    timeout=60_000
                )

                # Payments: Coral's arrives by the API while the board is open (it updates
                # live), then Alpine in full and Baltic in part from the board.
                await expect(page.get_by_role("link", name="PDF")).to_have_count(3)
                coral = page.get_by_role("row").filter(has_text="Coral Endowment")
                await expect(coral).to_contain_text("210,000.00")
                await page.wait_for_timeout(500)  # the page's event stream is open
                call_path = call_url.removeprefix(stack.base).replace("/calls/", "/capital-calls/")
                paid = httpx.post(
                    f"{stack.base}/api/v1{call_path}/payments",
                    json={
                        "investor_id": await coral.get_by_role("textbox").first.evaluate(
                            "e => e.form.investor_id.value"
                        ),
                        "amount": "210000.00",
                        "received_on": "2026-02-10",
                    },
                    headers={
                        "Authorization": f"Bearer {stack.api_key}",
                        "Idempotency-Key": "coral-1",
                    },
                )
                assert paid.status_code == 200, paid.text
                await expect(coral.get_by_text("Paid", exact=True)).to_be_visible(timeout=10_000)
                await nothing_typed_or_sent_is_lost_to_an_event(journey, page, stack, call_url)
                await page.get_by_label("Amount from Baltic Family Office").fill("100000.00")
                await (
                    page.get_by_role("row")
                    .filter(has_text="Baltic Family Office")
                    .get_by_role("button", name="Record")
                    .click()
                )
                await (
                    page.get_by_role("row")
                    .filter(has_text="Alpine Pension Fund")
                    .get_by_role("button", name="Record")
                    .click()
                )
                await expect(page.get_by_text("partially paid").first).to_be_visible()
                # The board's row (the payments received list Baltic's payment too).
                board = page.locator("table.board")
                baltic = board.get_by_role("row").filter(has_text="Baltic Family Office")
                await expect(baltic).to_contain_text("215,000.00")  # 315,000 − 100,000
                await expect(page.locator("tfoot tr")).to_contain_text("835,000.00")
                await journey.visit(page, "payments-board")
                await follow_a_link_as_an_event_arrives(page, stack, call_url, fund_url)
                await page.goto(call_url)

                # The exports open.
                async with page.expect_download() as lines:
                    await page.get_by_role("link", name="Excel").click()
                saved = Path(await (await lines.value).path())
                book = openpyxl.load_workbook(io.BytesIO(saved.read_bytes())).active
                assert book is not None
                header = [c.value for c in book[1]]
                rows = [
                    dict(zip(header, [c.value for c in r], strict=True))
                    for r in book.iter_rows(min_row=2)
                ]
                by_name = {r["investor"]: r for r in rows}
                assert by_name["Alpine Pension Fund"]["paid"] == 525000.0
                assert by_name["Baltic Family Office"]["outstanding"] == 215000.0
                assert by_name["Coral Endowment"]["paid"] == 210000.0

                # The notices: one previewed in the page, all of them in one zip.
                async with page.expect_download() as notices:
                    await page.get_by_role("link", name="every notice (zip)").click()
                saved = Path(await (await notices.value).path())
                with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
                    names = archive.namelist()
                    assert len(names) == 3
                    assert archive.testzip() is None  # every file's CRC checks
                    assert all(archive.read(n).startswith(b"%PDF-") for n in names)
                await (
                    page.get_by_role("row")
                    .filter(has_text="Alpine Pension Fund")
                    .get_by_role("link", name="PDF")
                    .click()
                )
                await expect(page.locator("iframe.pdf")).to_be_visible()
                await journey.visit(page, "notice-preview")
                await page.get_by_role("link", name="Documents", exact=True).click()
                await expect(
                    page.get_by_role("rowheader").filter(has_text="call-notice")
                ).to_have_count(3)
                await journey.visit(page, "documents")

                # A partial exit of the deal from its row: 150,000 of its cost sold for 350,000.
                # Only Coral had paid by then (its 200,000 of the investment: 1/5 of 1,000,000,
                # on the due date); Alpine's and Baltic's payments count from today, so the exit
                # may realise at most 200,000 of cost on 2026-06-15.
                await page.goto(fund_url)
                deal_row = page.get_by_role("row").filter(
                    has_text="Record a realisation of Nordic Solar"
                )
                await deal_row.get_by_text("Record a realisation of Nordic Solar").click()
                await deal_row.get_by_label("Date", exact=True).fill("2026-06-15")
                await deal_row.get_by_label("Proceeds (USD; 0 for a write-down)").fill("350000.00")
                await deal_row.get_by_label("Cost realised (USD)").fill("150000.00")
                await journey.visit(page, "deal-realisation")
                await deal_row.get_by_role("button", name="Record the realisation").click()
                sold = page.get_by_role("row").filter(has_text="2026-06-15")
                await expect(sold).to_contain_text("200,000.00")  # the gain: 350,000 − 150,000

                # A distribution through the waterfall, of the exit's proceeds.
                await page.get_by_role("link", name="New distribution").click()
                await page.get_by_label("Date paid").fill("2026-06-30")
                await page.get_by_label("Amount (USD)").fill("200000.00")
                await page.get_by_label("Proceeds of a realisation", exact=False).select_option(
                    label="Nordic Solar, 2026-06-15: 350,000.00 USD undistributed"
                )
                await page.get_by_role("button", name="Preview the split").click()
                await expect(page.get_by_text("Step 2 of 2: a preview.")).to_be_visible()
                await journey.visit(page, "distribution-preview")
                await page.get_by_role("button", name="Confirm the distribution").click()
                await expect(page.get_by_role("rowheader", name="2026-06-30")).to_be_visible()
                # 200,000 of its 350,000 distributed: 150,000 left to distribute.
                await expect(page.get_by_role("row").filter(has_text="2026-06-15")).to_contain_text(
                    "150,000.00"
                )
                await journey.visit(page, "fund-overview")

                async with page.expect_download() as table:
                    investors = page.locator("p.downloads").filter(has_text="every investor")
                    await investors.get_by_role("link", name="CSV").click()
                path = await (await table.value).path()
                commitments = list(csv.DictReader(io.StringIO(Path(path).read_text())))
                assert sorted(r["commitment"] for r in commitments) == [
                    "2000000.00",
                    "3000000.00",
                    "5000000.00",
                ]
                await page.goto(f"{stack.base}/")
                await expect(page.get_by_role("rowheader", name="Journey Fund I")).to_be_visible()
                await journey.visit(page, "home")
                await page.goto(f"{stack.base}/account")
                await journey.visit(page, "account")

                # The fund's other pages, and the settings: content and accessibility.
                await page.goto(fund_url)
                await page.get_by_role("link", name="Alpine Pension Fund").click()
                await expect(page.get_by_role("rowheader", name="Contributions")).to_be_visible()
                await journey.visit(page, "investor")
                for link, name in (
                    ("Management fees", "fees"),
                    ("Terms", "terms"),
                    ("Activity", "activity"),
                ):
                    await page.goto(fund_url)
                    await page.get_by_role("link", name=link, exact=True).click()
                    await journey.visit(page, name)
                await expect(page.get_by_text("capital call: issue").first).to_be_visible()
                await page.get_by_role("link", name="Settings").click()
                await expect(
                    page.get_by_role("cell", name="controller@demo.prorata.invalid", exact=True)
                ).to_be_visible()
                await journey.visit(page, "settings")

                # Baltic's unpaid rest declared in default from the board (the grace days are
                # long over), then a later investor's close brings it level with the others.
                await page.goto(call_url)
                board = page.locator("table.board")
                baltic = board.get_by_role("row").filter(has_text="Baltic Family Office")
                await baltic.get_by_role("button", name="Declare default").click()
                await expect(
                    board.get_by_role("row").filter(has_text="Baltic Family Office")
                ).to_contain_text("In default since")
                await journey.visit(page, "payments-board-default")
                api = {"Authorization": f"Bearer {stack.api_key}"}
                late = httpx.post(
                    f"{stack.base}/api/v1/investors",
                    json={"name": "Delta Foundation", "kind": "entity"},
                    headers=api,
                )
                assert late.status_code == 201, late.text
                fund_path = fund_url.removeprefix(stack.base)
                committed = httpx.post(
                    f"{stack.base}/api/v1{fund_path}/commitments",
                    json={
                        "investor_id": late.json()["id"],
                        "amount": "1000000.00",
                        "committed_on": "2026-09-01",
                    },
                    headers=api,
                )
                assert committed.status_code == 201, committed.text
                await page.goto(fund_url)
                await page.get_by_label("Closing date").fill("2026-09-30")
                await page.get_by_role("button", name="Draft the closing").click()
                await page.get_by_role("button", name="Issue the closing").click()
                closes = page.locator("section").filter(
                    has=page.get_by_role("heading", name="Subsequent closes")
                )
                await expect(closes.get_by_role("row").nth(1)).to_contain_text("issued")
                await journey.visit(page, "fund-closings")

                # On a tablet (portrait): the pages fit; only wide tables scroll, in their
                # own labelled region.
                await page.set_viewport_size({"width": 768, "height": 1024})
                for url in (f"{stack.base}/", fund_url, call_url):
                    await page.goto(url)
                    await expect(page.locator("main h1")).to_be_visible()
                    overflow = await page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth"
                    )
                    wide = await page.evaluate(
                        "Array.from(document.querySelectorAll('body *')).filter(e => "
                        "e.getBoundingClientRect().right > window.innerWidth + 1 && "
                        "!e.closest('.scroll')).slice(0, 8).map(e => e.tagName + '.' + "
                        "e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
                    )
                    assert overflow <= 0, (url, overflow, wide)
                await page.screenshot(path=shots / "tablet-payments-board.png", full_page=True)
            finally:
                await browser.close()
