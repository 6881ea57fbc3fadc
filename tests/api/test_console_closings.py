"""The fund page lists a fund's subsequent closes, and a manager drafts and issues one there."""

from __future__ import annotations

import re

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.sign_in_support import hidden_token, person, sign_in


def _key(html: str, suffix: str) -> str:
    found = re.search(rf'name="idempotency_key" value="([^"]+{suffix})"', html)
    assert found, suffix
    return found.group(1)


async def test_a_manager_drafts_and_issues_a_closing_on_the_fund_page(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A 1,000.00 at the first close pays 100.00 of expenses; B's 1,000.00 on 2025-03-01
    closes on 2025-03-31 (due 10 business days later, 2025-04-14): B is asked 50.00 and its
    fee catch-up (the fund's default rate is 0 here)."""
    api = FundApi(client, org.api_key)
    fund = await api.fund(first_closing_date="2025-01-01", management_fee_rate="0")
    for name, on in (("A", "2025-01-01"), ("B", "2025-03-01")):
        investor = await api.investor(name)
        body = {"investor_id": investor, "amount": "1000.00", "committed_on": on}
        await api.request("POST", f"/funds/{fund}/commitments", json=body, expect=201)
        if name == "A":
            await api.call_and_issue(
                fund, [{"purpose": "fund_expenses", "amount": "100.00"}], notice="2025-02-03"
            )
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    page = await client.get(f"/funds/{fund}")
    assert "Subsequent closes" in page.text
    assert "No subsequent close yet." in page.text
    token = hidden_token(page.text)
    refused = await client.post(
        f"/funds/{fund}/closings", data={"csrf_token": token, "closing_date": "2024-12-31"}
    )
    assert refused.status_code == 422
    assert "before the previous closing (2025-01-01)" in refused.text
    drafted = await client.post(
        f"/funds/{fund}/closings", data={"csrf_token": token, "closing_date": "2025-03-31"}
    )
    assert drafted.status_code == 303
    page = await client.get(f"/funds/{fund}")
    assert "2025-04-14" in page.text
    assert "Issue the closing" in page.text
    [closing] = (await api.request("GET", f"/funds/{fund}/closings"))["items"]
    issued = await client.post(
        f"/funds/{fund}/closings/{closing['id']}/issue",
        data={"csrf_token": hidden_token(page.text), "idempotency_key": _key(page.text, "-1")},
    )
    assert issued.status_code == 303
    view = await api.request("GET", f"/funds/{fund}/closings/{closing['id']}")
    assert (view["status"], view["equalization"]) == ("issued", "50.00")
    page = await client.get(f"/funds/{fund}")
    assert "No. 1 · issued" in page.text
    assert f"/funds/{fund}/calls/{view['call_id']}" in page.text
