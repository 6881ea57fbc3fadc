"""The lists whose pages take the quick paths (columns through the driver, `columns_of`)
answer the same bytes as through the ORM session: the same JSON, money as decimal strings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import AsyncClient

from prorata.capital_calls import service as call_service
from prorata.deals import service as deal_service
from prorata.funds import repository as fund_repository
from prorata.http import pagination
from prorata.investors import repository as investor_repository
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi


async def _declined(*_: Any) -> None:
    return None


def _entities(entity: type[Any]) -> Any:
    return sa.select(entity)


async def _bodies(client: AsyncClient, api: FundApi, paths: list[str]) -> list[bytes]:
    bodies = []
    for path in paths:
        response = await client.get(f"/api/v1{path}", headers=api.headers)
        assert response.status_code == 200, response.text
        bodies.append(response.content)
    return bodies


async def test_list_bodies_equal_the_orm_paths(
    client: AsyncClient, org: NewOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = FundApi(client, org.api_key)
    fund = await api.fund()
    await api.fund("EUR")
    investors = await api.investors_with(fund, ["10.00", "2500000.50", "0.01"])
    await api.request(
        "PATCH", f"/investors/{investors[0]}", json={"tax_id": "123-45-6789", "name": "Ünïcode"}
    )
    deal = await api.deal(fund)
    await api.request(
        "POST",
        f"/funds/{fund}/deals",
        json={"name": "Held", "invested_amount": "1234567.89", "invested_on": "2026-02-01"},
        expect=201,
    )
    await api.allocate(fund, deal, {investor: f"{n}1.25" for n, investor in enumerate(investors)})
    await api.call_and_pay(fund, [{"purpose": "management_fee", "amount": "1000.00"}])
    await api.draft(fund, [{"purpose": "management_fee", "amount": "10.50"}])
    await api.distribute(fund, "100.00", "2026-06-30", kind="return_of_capital")
    first = await api.request("GET", f"/funds/{fund}/allocations?limit=1")
    paths = [
        f"/funds/{fund}/allocations",
        f"/funds/{fund}/allocations?limit=1&cursor={first['next_cursor']}",
        f"/allocations?investor_id={investors[1]}",
        "/investors",
        "/investors?limit=2",
        "/funds",
        "/funds?limit=1",
        f"/funds/{fund}/capital-calls",
        f"/funds/{fund}/capital-calls?limit=1",
        f"/funds/{fund}/deals",
        f"/funds/{fund}/deals?limit=1",
        f"/funds/{fund}/distributions",
    ]
    quick = await _bodies(client, api, paths)
    monkeypatch.setattr(pagination, "_fetch", _declined)
    monkeypatch.setattr(investor_repository, "columns_of", _entities)
    monkeypatch.setattr(fund_repository, "columns_of", _entities)
    monkeypatch.setattr(call_service, "columns_of", _entities)
    monkeypatch.setattr(deal_service, "columns_of", _entities)
    through_orm = await _bodies(client, api, paths)
    assert quick == through_orm
    assert b"6789" in quick[3]
    assert b"123-45-6789" not in quick[3]  # masked in lists
    assert b'"amount":"11.25"' in quick[0]
    assert quick[-1].count(b'"kind":"return_of_capital"') == 1
    assert quick[-5].count(b'"status":') == 2
    assert b'"invested_amount":"1234567.89"' in quick[-3]


async def test_a_listed_distribution_is_its_own_summary(client: AsyncClient, org: NewOrg) -> None:
    """The list reads the fund's currency by a join (no query for the fund): each item is what
    the distribution's own route says of it, and a missing fund is still a 404."""
    api = FundApi(client, org.api_key)
    fund = await api.fund("JPY")
    investors = await api.investors_with(fund, ["1000", "3000"])
    assert investors
    await api.call_and_pay(fund, [{"purpose": "management_fee", "amount": "1000"}])
    made = await api.distribute(fund, "101", "2026-06-30", kind="return_of_capital")
    (listed,) = (await api.request("GET", f"/funds/{fund}/distributions"))["items"]
    own = await api.request("GET", f"/funds/{fund}/distributions/{made['id']}")
    assert listed == {name: own[name] for name in listed}
    assert listed["currency"] == "JPY"
    await api.request("GET", f"/funds/{uuid.uuid4()}/distributions", expect=404)
