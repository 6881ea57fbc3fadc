"""Bank details in pages: the GP's investor page (masked; revealed once to an admin; set by a
manager; an LP's change approved or rejected by an admin) and the LP portal (masked; a change
with the authenticator's code, held for the GP's approval)."""

from __future__ import annotations

import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.config import Settings
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.api.test_bank_account import (
    ACCOUNT,
    CHANGED,
    IBAN_COMPACT,
    audit_entries,
    code,
    enable_authenticator,
    outbox,
)
from tests.fund_support import FundApi
from tests.sign_in_support import give_password, hidden_token, person, sign_in
from tests.support import TestDatabase

OWNER = "owner@a.example"


async def _fund_and_investor(api: FundApi) -> tuple[str, str]:
    fund = await api.fund()
    investor = await api.request(
        "POST",
        "/investors",
        json={"name": "Alpine Pension Fund", "kind": "entity", "email": "main@alpine.example"},
        expect=201,
    )
    await api.commit(fund, investor["id"], "1000000.00")
    return fund, str(investor["id"])


async def test_the_gp_sets_and_reveals_an_investors_bank_account_on_its_page(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    fund, investor = await _fund_and_investor(api)
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page_url = f"/funds/{fund}/investors/{investor}"
    page = await client.get(page_url)
    assert "No bank account on file" in page.text
    assert 'id="bank-details"' not in page.text
    token = hidden_token(page.text)

    bad = await client.post(
        f"{page_url}/bank-account",
        data={**ACCOUNT, "account_number": "DE89 3704 0044 0532 0130 01", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert 'id="account_number-error"' in bad.text
    assert "this IBAN is not valid" in bad.text.replace("This", "this")
    assert 'value="Commerzbank"' in bad.text  # what was typed stays
    saved = await client.post(f"{page_url}/bank-account", data={**ACCOUNT, "csrf_token": token})
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("#bank-account")
    page = await client.get(page_url)
    assert "•••• 3000" in page.text
    assert IBAN_COMPACT not in page.text
    assert "Reveal the full details" in page.text
    assert len(outbox(database)) == 1  # the investor's own address (no contacts)

    revealed = await client.post(f"{page_url}/bank-account/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200
    assert revealed.headers["cache-control"] == "no-store"
    assert IBAN_COMPACT in revealed.text
    assert "COBADEFFXXX" in revealed.text
    assert [a for a, _ in audit_entries(database, "bank_account.reveal")] == ["bank_account.reveal"]
    assert IBAN_COMPACT not in (await client.get(page_url)).text


async def test_a_viewer_sees_it_masked_without_the_forms(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund, investor = await _fund_and_investor(api)
    await api.request("PUT", f"/investors/{investor}/bank-account", json=ACCOUNT)
    _, viewer = await person(sessions, org, Role.viewer)
    await sign_in(client, viewer)
    page_url = f"/funds/{fund}/investors/{investor}"
    page = await client.get(page_url)
    assert "•••• 3000" in page.text
    assert "Reveal the full details" not in page.text
    assert "Save the bank account" not in page.text
    token = hidden_token(page.text)
    refused = await client.post(f"{page_url}/bank-account/reveal", data={"csrf_token": token})
    assert refused.status_code == 403
    assert IBAN_COMPACT not in refused.text


async def test_an_lp_asks_for_a_change_in_the_portal_and_a_gp_admin_approves_it(
    client: AsyncClient,
    org: NewOrg,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    database: TestDatabase,
) -> None:
    api = FundApi(client, org.api_key)
    fund, investor = await _fund_and_investor(api)
    await api.request(
        "POST",
        f"/investors/{investor}/contacts",
        json={"name": "Treasury", "email": "treasury@alpine.example", "distributions": False},
        expect=201,
    )
    await api.request("PUT", f"/investors/{investor}/bank-account", json=ACCOUNT)
    lp_user, lp = await person(sessions, org, Role.investor, investor_id=uuid.UUID(investor))
    await sign_in(client, lp)
    page = await client.get("/portal/bank-account")
    assert page.status_code == 200
    assert 'href="/portal/bank-account" aria-current="page"' in page.text
    assert "•••• 3000" in page.text
    assert IBAN_COMPACT not in page.text
    assert 'id="two-factor-needed"' in page.text
    assert 'name="totp_code"' not in page.text
    token = hidden_token(page.text)
    without = await client.post(
        "/portal/bank-account", data={**CHANGED, "totp_code": "123456", "csrf_token": token}
    )
    assert without.status_code == 403
    assert 'id="bank-error"' in without.text
    assert "turn on two-factor authentication first" in without.text

    secret = await enable_authenticator(sessions, settings, org.org_id, lp_user)
    page = await client.get("/portal/bank-account")
    assert '<label for="totp_code">Authenticator code</label>' in page.text
    wrong = f"{(int(code(secret)) + 500_000) % 1_000_000:06d}"
    refused = await client.post(
        "/portal/bank-account", data={**CHANGED, "totp_code": wrong, "csrf_token": token}
    )
    assert refused.status_code == 422
    assert 'id="totp_code-error"' in refused.text
    assert 'value="NatWest"' in refused.text
    asked = await client.post(
        "/portal/bank-account", data={**CHANGED, "totp_code": code(secret), "csrf_token": token}
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == "/portal/bank-account?held=1"
    held = await client.get(asked.headers["location"])
    assert "held until the fund manager approves it" in held.text
    assert 'id="bank-pending"' in held.text
    assert "•••• 5432" in held.text
    assert "•••• 3000" in held.text  # still the account in effect
    assert len(outbox(database)) == 2  # only the GP's first setting so far (2 addresses)

    client.cookies.clear()
    await give_password(sessions, org.org_id, org.user_id)
    await sign_in(client, OWNER)
    page_url = f"/funds/{fund}/investors/{investor}"
    page = await client.get(page_url)
    assert "Change waiting for approval" in page.text
    assert "Approve the change" in page.text
    [pending] = [
        c
        for c in await api.request("GET", f"/investors/{investor}/bank-account/changes")
        if c["status"] == "pending"
    ]
    approved = await client.post(
        f"{page_url}/bank-account/changes/{pending['id']}/approve",
        data={"csrf_token": hidden_token(page.text)},
    )
    assert approved.status_code == 303
    page = await client.get(page_url)
    assert "•••• 5432" in page.text
    assert "Change waiting for approval" not in page.text
    again = await client.post(
        f"{page_url}/bank-account/changes/{pending['id']}/reject",
        data={"csrf_token": hidden_token(page.text)},
    )
    assert again.status_code == 409
    assert 'id="bank-error"' in again.text
    recipients = sorted(r for r, _, body in outbox(database) if "NatWest" in body)
    assert recipients == ["main@alpine.example", "treasury@alpine.example"]
