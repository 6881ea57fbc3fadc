"""Allocations: one service, upserts on (fund, investor, deal), partitions pruned by fund."""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from httpx import AsyncClient

from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import TestDatabase

SRC = Path(__file__).resolve().parent.parent / "src" / "prorata"
DUPLICATES = (
    "SELECT fund_id, investor_id, deal_id, COUNT(*) FROM allocations "
    "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1"
)


@pytest.fixture
def api(client: AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


async def test_put_upserts_one_amount(api: FundApi) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    path = f"/funds/{fund}/deals/{deal}/allocations/{investor}"
    first = await api.request("PUT", path, json={"amount": "100.00"})
    second = await api.request("PUT", path, json={"amount": "250.50"})
    assert (first["amount"], second["amount"]) == ("100.00", "250.50")
    listed = await api.request("GET", f"/funds/{fund}/allocations?deal_id={deal}")
    assert [row["amount"] for row in listed["items"]] == ["250.50"]
    await api.request("PUT", path, json={"amount": "1.001"}, expect=422)
    await api.request("PUT", path, json={"amount": 5}, expect=422)


async def test_twenty_concurrent_writers_leave_one_row(
    api: FundApi, database: TestDatabase
) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    path = f"/api/v1/funds/{fund}/deals/{deal}/allocations/{investor}"
    responses = await asyncio.gather(
        *(
            api.client.put(path, json={"amount": f"{n}.00"}, headers=api.headers)
            for n in range(1, 21)
        )
    )
    assert {r.status_code for r in responses} == {200}
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute(DUPLICATES).fetchall() == []
        rows = conn.execute("SELECT amount FROM allocations").fetchall()
    assert len(rows) == 1
    assert Decimal(rows[0][0]) in {Decimal(n) for n in range(1, 21)}


async def test_prorata_replaces_the_deals_allocations_by_commitment(api: FundApi) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["5000000", "7500000", "7500000"])
    deal = await api.deal(fund)
    await api.request(
        "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investors[0]}", json={"amount": "1.00"}
    )
    rows = await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/allocations/prorata", json={"amount": "5000000.00"}
    )
    amounts = {row["investor_id"]: row["amount"] for row in rows}
    assert amounts == dict(zip(investors, ["1250000.00", "1875000.00", "1875000.00"], strict=True))
    listed = await api.request("GET", f"/funds/{fund}/allocations?deal_id={deal}")
    assert sum(Decimal(r["amount"]) for r in listed["items"]) == Decimal("5000000.00")


async def test_the_old_allocations_route_resolves_under_both_prefixes(
    api: FundApi, client: AsyncClient
) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["10.00"])
    deal = await api.deal(fund)
    await api.request(
        "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investor}", json={"amount": "3.00"}
    )
    for prefix in ("/api", "/api/v1"):
        response = await client.get(f"{prefix}/allocations?fund_id={fund}", headers=api.headers)
        assert response.status_code == 200
        assert [r["amount"] for r in response.json()["items"]] == ["3.00"]


async def test_allocation_pages_follow_the_cursor(api: FundApi) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["10.00"] * 5)
    deal = await api.deal(fund)
    for investor in investors:
        await api.request(
            "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investor}", json={"amount": "1.00"}
        )
    seen, cursor = [], None
    while True:
        page = await api.request(
            "GET", f"/funds/{fund}/allocations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        seen += [row["investor_id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(investors)


async def test_a_funds_list_is_404_for_a_fund_that_is_not_there_or_not_ours(
    api: FundApi, client: AsyncClient, other_org: NewOrg
) -> None:
    """The fund is looked up only when its page is empty (a row proves the fund exists), so
    an empty fund, a missing one and another organisation's full one must still differ."""
    empty = await api.fund()
    listed = await api.request("GET", f"/funds/{empty}/allocations")
    assert listed == {"items": [], "next_cursor": None}
    await api.request("GET", f"/funds/{empty}/deals", expect=200)

    theirs = FundApi(client, other_org.api_key)
    fund = await theirs.fund()
    [investor] = await theirs.investors_with(fund, ["10.00"])
    deal = await theirs.deal(fund)
    path = f"/funds/{fund}/deals/{deal}/allocations/{investor}"
    await theirs.request("PUT", path, json={"amount": "3.00"})
    assert len((await theirs.request("GET", f"/funds/{fund}/allocations"))["items"]) == 1
    for missing in (fund, uuid.uuid4()):
        await api.request("GET", f"/funds/{missing}/allocations", expect=404)
        await api.request("GET", f"/funds/{missing}/allocations?deal_id={deal}", expect=404)
        await api.request("GET", f"/funds/{missing}/deals", expect=404)


async def test_a_query_for_one_fund_touches_one_partition(
    api: FundApi, database: TestDatabase
) -> None:
    fund = await api.fund()
    with psycopg.connect(database.owner_url) as conn:
        for table in ("allocations", "capital_call_lines", "capital_ledger"):
            explain = f"EXPLAIN SELECT * FROM {table} WHERE fund_id = %s"
            plan = "\n".join(row[0] for row in conn.execute(explain, (fund,)))
            scanned = set(re.findall(rf"\b{table}_p\d\d\b", plan))
            assert len(scanned) == 1, plan


def _writes_allocations(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name in {"insert", "update", "delete"} and any(
                isinstance(arg, ast.Name) and arg.id == "Allocation" for arg in node.args
            ):
                return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lower()
            if any(
                f"{verb} allocations" in text or f"{verb} into allocations" in text
                for verb in ("insert", "update", "delete from", "copy")
            ):
                return True
    return False


def test_only_the_allocation_service_writes_allocations() -> None:
    writers = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if _writes_allocations(ast.parse(path.read_text()))
    )
    assert writers == ["allocations/service.py"]
    services = [p for p in SRC.rglob("*.py") if "alloc" in p.name and "service" in p.name]
    services += [p for p in SRC.rglob("*service*.py") if "alloc" in str(p.parent.name)]
    assert {str(p.relative_to(SRC)) for p in services} == {"allocations/service.py"}
