"""Live events in process: a stream of another organisation's fund is not found. (The streams
themselves need a real HTTP server: tests/system/test_live_events.py.)"""

from __future__ import annotations

from typing import Any

from httpx import ASGITransport, AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import bearer


async def test_another_orgs_fund_stream_is_not_found(
    app: Any, org: NewOrg, other_org: NewOrg
) -> None:
    async with AsyncClient(
        transport=ASGITransport(app=app), base_url="http://prorata.test"
    ) as client:
        fund = await FundApi(client, org.api_key).fund()
        response = await client.get(
            f"/api/v1/funds/{fund}/events", headers=bearer(other_org.api_key)
        )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
