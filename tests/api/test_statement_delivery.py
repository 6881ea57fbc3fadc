"""The organisation's `statement_delivery`: a link (the default) or the PDF attached, set by an
admin through the API or the settings page, audited, refused when it is neither."""

from __future__ import annotations

import psycopg
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.sign_in_support import csrf, person, sign_in
from tests.support import TestDatabase, bearer


async def test_an_admin_chooses_how_statements_reach_investors(
    client: AsyncClient, org: NewOrg, database: TestDatabase
) -> None:
    headers = bearer(org.api_key)
    assert (await client.get("/api/v1/org", headers=headers)).json()["statement_delivery"] == "link"
    changed = await client.patch(
        "/api/v1/org", json={"statement_delivery": "attachment"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["statement_delivery"] == "attachment"
    for wrong, why in (("fax", "statement_delivery"), (None, "statement_delivery cannot be null")):
        refused = await client.patch(
            "/api/v1/org", json={"statement_delivery": wrong}, headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert why in refused.text
    assert (await client.get("/api/v1/org", headers=headers)).json()[
        "statement_delivery"
    ] == "attachment"
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT before ->> 'statement_delivery', after ->> 'statement_delivery' "
            "FROM audit_log WHERE action = 'org.update'"
        ).fetchone()
    assert row == ("link", "attachment")


async def test_the_settings_page_sets_statement_delivery(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, admin = await person(sessions, org, Role.admin)
    await sign_in(client, admin)
    page = await client.get("/settings")
    assert '<label for="statement_delivery">' in page.text
    assert '<option value="link" selected>' in page.text
    token = await csrf(client)
    form = {"csrf_token": token, "name": "Org A", "statement_delivery": "attachment"}
    saved = await client.post("/settings/org", data=form)
    assert saved.status_code == 303
    org_now = (await client.get("/api/v1/org", headers=bearer(org.api_key))).json()
    assert org_now["statement_delivery"] == "attachment"
    assert '<option value="attachment" selected>' in (await client.get("/settings")).text
    refused = await client.post("/settings/org", data={**form, "statement_delivery": "fax"})
    assert refused.status_code == 422
    assert 'id="statement_delivery-error"' in refused.text
