"""A fund's activity over the API: the audit log's entries about the fund and what belongs to
it, newest first, paged by cursor, for admins only, and as a file."""

from __future__ import annotations

import csv
import io
import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import add_member
from tests.fund_support import FundApi
from tests.support import bearer


async def test_a_funds_activity_pages_newest_first_and_only_its_own(
    client: AsyncClient, org: NewOrg, sessions: async_sessionmaker[AsyncSession]
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    await api.investors_with(fund, ["600.00", "400.00"])
    deal = await api.deal(fund, "Acme")
    await api.call_and_issue(fund, [{"purpose": "management_fee", "amount": "10.00"}])
    other = await api.fund()
    await api.deal(other, "Elsewhere")

    seen, cursor = [], ""
    while True:
        page = await api.request("GET", f"/funds/{fund}/activity?limit=2{cursor}")
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(ids, reverse=True)  # newest first, no entry twice
    assert len(set(ids)) == len(ids)
    actions = [entry["action"] for entry in seen]
    assert actions[-1] == "fund.create"
    assert actions.count("commitment.create") == 2
    assert {"deal.create", "capital_call.create", "capital_call.issue"} <= set(actions)
    assert all(entry["entity_id"] != other for entry in seen)
    assert any(entry["entity_id"] == deal for entry in seen)
    assert seen[0]["actor_email"] is not None

    exported = await client.get(
        f"/api/v1/funds/{fund}/activity?format=csv", headers=bearer(org.api_key)
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(row["id"]) for row in rows] == ids

    manager = await add_member(sessions, org, Role.manager)
    refused = await client.get(f"/api/v1/funds/{fund}/activity", headers=bearer(manager))
    assert refused.status_code == 403
    await api.request("GET", f"/funds/{uuid.uuid4()}/activity", expect=404)
