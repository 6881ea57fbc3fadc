"""The payments board shows credit, reversals (a Reverse button for managers) and closing."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.api.test_console_funds import a_fund_with_a_call, cells
from tests.fund_support import FundApi
from tests.sign_in_support import hidden_token, person, sign_in


def _key(html: str, suffix: str) -> str:
    found = re.search(rf'name="idempotency_key" value="([^"]+{suffix})"', html)
    assert found, suffix
    return found.group(1)


async def test_the_board_shows_credit_and_reverses_a_payment_once(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """LP 0's line is 600.00 (60 % of 1,000.00); 700.00 received → 600.00 paid, 100.00 kept."""
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api, paid=False)
    paid = await api.pay(fund_id, call["id"], investors[0], "700.00")
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    page = await client.get(board)
    table = cells(page.text)
    row = table.index("LP 0")
    # Investor, fee, total, credit applied, paid, outstanding, kept as credit.
    assert table[row : row + 7] == ["LP 0", "600.00", "600.00", "0.00", "600.00", "0.00", "100.00"]
    assert "Payments received" in page.text
    assert ">Reverse</button>" in page.text
    reverse = f"{board}/payments/{paid['payment']['id']}/reverse"
    form = {
        "csrf_token": hidden_token(page.text),
        "idempotency_key": _key(page.text, "-r1"),
        "reversed_on": "2026-03-25",
        "reason": "",
    }
    blank = await client.post(reverse, data=form)
    assert blank.status_code == 422
    assert "Reason: say why the payment is reversed" in blank.text
    done = await client.post(reverse, data={**form, "reason": "returned R01"})
    assert done.status_code == 303
    view = await api.request("GET", f"/funds/{fund_id}/capital-calls/{call['id']}")
    line = next(x for x in view["lines"] if x["investor_id"] == investors[0])
    assert (line["paid"], line["outstanding"], line["credit_kept"]) == ("0.00", "600.00", "0.00")
    again = await client.post(
        reverse, data={**form, "reason": "again", "idempotency_key": str(uuid.uuid4())}
    )
    assert again.status_code == 422
    assert "reversed on 2026-03-25 already" in again.text
    assert "Reversed on 2026-03-25: returned R01" in again.text


async def test_the_board_closes_a_partly_paid_call(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Lines 600.00 and 400.00; LP 1 pays 200.00 (half); closing releases 600.00 + 200.00."""
    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(api, paid=False)
    await api.pay(fund_id, call["id"], investors[1], "200.00")
    _, manager = await person(sessions, org, Role.manager)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    await sign_in(client, manager)
    page = await client.get(board)
    assert "Close the call" in page.text
    form = {
        "csrf_token": hidden_token(page.text),
        "idempotency_key": _key(page.text, "-close"),
        "closed_on": "2026-01-01",
    }
    early = await client.post(f"{board}/close", data=form)
    assert early.status_code == 422
    assert "must be on or after the call" in early.text
    form = {**form, "closed_on": "2026-04-30", "idempotency_key": str(uuid.uuid4())}
    assert (await client.post(f"{board}/close", data=form)).status_code == 303
    closed = await client.get(board)
    table = cells(closed.text)
    row = table.index("LP 1")
    # Investor, fee, total, paid, released, outstanding.
    assert table[row : row + 6] == ["LP 1", "400.00", "400.00", "200.00", "200.00", "0.00"]
    assert "Closed on 2026-04-30" in closed.text
    assert "Close the call" not in closed.text
    assert "Record a payment" not in closed.text


async def test_the_board_declares_a_default_and_shows_its_badge_and_interest(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Lines 600.00 and 400.00 due 2026-03-16, 10 grace days: a default from 2026-03-31. LP 1
    declared in default on 2026-04-30 (2026-03-30 refused) → its row says "In default since
    2026-04-30" and shows its default interest due (12 % × 400.00 × days since 2026-03-16 /
    365, to today: computed here the same way)."""
    import datetime as dt
    from decimal import Decimal

    api = FundApi(client, org.api_key)
    fund_id, investors, call = await a_fund_with_a_call(
        api, paid=False, default_interest_rate="0.12"
    )
    _, manager = await person(sessions, org, Role.manager)
    await sign_in(client, manager)
    board = f"/funds/{fund_id}/calls/{call['id']}"
    page = await client.get(board)
    assert ">Declare default</button>" in page.text
    action = f"{board}/lines/{investors[1]}/default"
    form = {
        "csrf_token": hidden_token(page.text),
        "idempotency_key": _key(page.text, "-d2"),
        "declared_on": "2026-03-30",
    }
    early = await client.post(action, data=form)
    assert early.status_code == 422
    assert "2026-03-31 or later" in early.text
    done = await client.post(
        action, data={**form, "declared_on": "2026-04-30", "idempotency_key": str(uuid.uuid4())}
    )
    assert done.status_code == 303
    page = await client.get(board)
    assert "In default since 2026-04-30" in page.text
    days = (dt.date.today() - dt.date(2026, 3, 16)).days
    due = (Decimal("400.00") * Decimal("0.12") * days / 365).quantize(Decimal("0.01"))
    table = cells(page.text)
    row = next(i for i, x in enumerate(table) if x.startswith("LP 1"))
    # Investor, fee, total, paid, outstanding, default interest due.
    assert table[row + 1 : row + 6] == ["400.00", "400.00", "0.00", "400.00", f"{due:,}"]
    assert page.text.count(">Declare default</button>") == 1  # LP 0's only
