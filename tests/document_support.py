"""A fund with investors and its documents through the API, for tests."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.fund_support import FundApi
from tests.support import bearer

WIRE = "Bank of Example, IBAN GB00 EXAM 0000 0000 0000 00, ref. as below"


async def list_documents(client: AsyncClient, api_key: str, query: str) -> list[Any]:
    response = await client.get(f"/api/v1/documents?{query}", headers=bearer(api_key))
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def document_content(client: AsyncClient, api_key: str, document: Any) -> bytes:
    response = await client.get(
        f"/api/v1/documents/{document['id']}/content", headers=bearer(api_key)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["etag"] == f'"{document["sha256"]}"'
    return response.content


async def fund_with_investors(client: AsyncClient, api_key: str) -> tuple[FundApi, str, list[str]]:
    api = FundApi(client, api_key)
    fund_id = await api.fund(wire_instructions=WIRE)
    investors = []
    for name, mail, amount in (
        ("Alpha Pension", "ops@alpha.example", "1000000.00"),
        ("Beta Endowment", "treasury@beta.example", "3000000.00"),
        ("Gamma Family Office", None, "1000000.00"),
    ):
        body: dict[str, Any] = {"name": name, "kind": "entity"}
        if mail:
            body["email"] = mail
        investor = await api.request("POST", "/investors", json=body, expect=201)
        await api.commit(fund_id, investor["id"], amount)
        investors.append(str(investor["id"]))
    return api, fund_id, investors
