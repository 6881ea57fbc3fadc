"""A fund with investors and its documents through the API, for tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from httpx import AsyncClient

from prorata.finance import money
from prorata.fund_metrics.schemas import (
    ColumnOut,
    ColumnsOut,
    ContributionsOut,
    DistributionsOut,
    StatementOut,
)
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


def ilpa_statement(
    currency: str,
    *,
    beginning: Decimal,
    commitment: Decimal,
    as_of: dt.date = dt.date(2026, 12, 31),
) -> StatementOut:
    """A statement at `as_of` of an account that did not move since inception (`beginning`),
    for rendering tests."""
    zero = Decimal(0).quantize(money.quantum(currency))

    def column(start: dt.date | None) -> ColumnOut:
        contributions = dict.fromkeys(("investment", "management_fee", "fund_expenses"), zero)
        kinds = ("return_of_capital", "income", "gain", "recallable", "escrow_released")
        return ColumnOut(
            period_from=start,
            period_to=as_of,
            beginning_balance=beginning,
            contributions=ContributionsOut(**contributions, total=zero),
            distributions=DistributionsOut(**dict.fromkeys(kinds, zero), total=zero),
            management_fees=zero,
            expenses=zero,
            carried_interest=zero,
            allocated_gains_losses=zero,
            ending_balance=beginning,
        )

    return StatementOut(
        fund_id=uuid.uuid4(),
        investor_id=uuid.uuid4(),
        currency=currency,
        as_of=as_of,
        quarter=f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}",
        columns=ColumnsOut(
            qtd=column(dt.date(as_of.year, 10, 1)),
            ytd=column(dt.date(as_of.year, 1, 1)),
            itd=column(None),
        ),
        commitment=commitment,
        contributed=zero,
        unfunded=commitment,
        fund_commitment=commitment * 4,
        ownership=Decimal("0.25"),
        paid_in=zero,
        distributed=zero,
        nav=beginning,
        nav_as_of=None,
        dpi=None,
        tvpi=None,
        irr=None,
    )
