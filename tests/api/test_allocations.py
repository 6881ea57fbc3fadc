"""Allocations: one service, upserts on (fund, investor, deal), partitions pruned by fund."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata.allocations import service as allocation_service
from prorata.orgs.service import NewOrg
from prorata.platform import db
from tests.fund_support import FundApi
from tests.support import TestDatabase

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
        audited = conn.execute(
            "SELECT before ->> 'amount', after ->> 'amount' FROM audit_log "
            "WHERE action = 'allocation.upsert'"
        ).fetchall()
    assert len(rows) == 1
    assert Decimal(rows[0][0]) in {Decimal(n) for n in range(1, 21)}
    # The entries chain: one created the row, each other replaced what another wrote, and
    # the last one written is what the table holds.
    befores = [before for before, _ in audited]
    afters = {after for _, after in audited}
    assert befores.count(None) == 1
    assert sorted(b for b in befores if b is not None) == sorted(afters - {str(rows[0][0])})


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
    other = await api.deal(fund, "Not allocated yet")
    totals = await api.request("GET", f"/funds/{fund}/allocations/totals")
    assert totals == [{"deal_id": deal, "allocated": "5000000.00", "investors": 3}]
    assert other not in str(totals)
    await api.request("GET", f"/funds/{uuid.uuid4()}/allocations/totals", expect=404)


async def test_the_audit_log_keeps_the_allocations_a_prorata_split_replaced(
    api: FundApi, org: NewOrg, database: TestDatabase
) -> None:
    """A split overwrites hand-set amounts: the audit entry must say what each one was."""
    fund = await api.fund()
    investors = await api.investors_with(fund, ["100.00", "300.00"])
    deal = await api.deal(fund)
    await api.request(
        "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investors[0]}", json={"amount": "7.50"}
    )
    await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/allocations/prorata", json={"amount": "40.00"}
    )
    with psycopg.connect(database.owner_url) as conn:
        [(actor, entity_id, before, after)] = conn.execute(
            "SELECT actor_user_id, entity_id, before, after FROM audit_log "
            "WHERE action = 'allocation.replace_prorata'"
        ).fetchall()
    assert (actor, entity_id) == (org.user_id, deal)
    assert before == {"total": "7.50", "amounts": {investors[0]: "7.50"}}
    assert after == {
        "total": "40.00",
        "amounts": {investors[0]: "10.00", investors[1]: "30.00"},
    }


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


async def test_a_cursor_of_one_funds_list_is_refused_by_anothers(api: FundApi) -> None:
    """The fund list keeps only the cursor's (investor, deal): read as a position in another
    fund's list, it would silently skip that fund's rows before it."""
    funds = [await api.fund(), await api.fund()]
    for fund in funds:
        for investor in await api.investors_with(fund, ["10.00"] * 3):
            deal = await api.deal(fund, name=f"Deal {investor}")
            await api.request(
                "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investor}", json={"amount": "1"}
            )
    cursor = (await api.request("GET", f"/funds/{funds[0]}/allocations?limit=1"))["next_cursor"]
    await api.request("GET", f"/funds/{funds[1]}/allocations?cursor={cursor}", expect=400)
    # The same cursor still pages its own fund's list, and the organisation's.
    own = await api.request("GET", f"/funds/{funds[0]}/allocations?cursor={cursor}")
    assert len(own["items"]) == 2
    await api.request("GET", f"/allocations?fund_id={funds[0]}&cursor={cursor}")
    await api.request("GET", f"/allocations?cursor={cursor}")


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


# --- bulk writes: the rules in the writing statement, no foreign keys ------------------------


async def _bulk(
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    fund: str,
    rows: list[tuple[str, str, str]],
    *,
    all_new: bool = False,
) -> int:
    """apply_rows with `rows` (investor_id, deal_id, amount) given as a VALUES list."""
    given = sa.values(
        sa.column("investor_id", sa.Uuid),
        sa.column("deal_id", sa.Uuid),
        sa.column("amount", sa.Numeric),
        name="given_rows",
    ).data([(uuid.UUID(i), uuid.UUID(d), Decimal(a)) for i, d, a in rows])
    async with db.tenant_transaction(sessions, org.org_id) as session:
        return await allocation_service.apply_rows(
            session,
            org_id=org.org_id,
            actor_user_id=None,
            fund_id=uuid.UUID(fund),
            rows=sa.select(given),
            source="test",
            all_new=all_new,
        )


def _stored(owner_url: str, fund: str) -> dict[tuple[str, str], str]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute(
            "SELECT investor_id, deal_id, amount FROM allocations WHERE fund_id = %s", (fund,)
        ).fetchall()
    return {(str(i), str(d)): str(a) for i, d, a in rows}


@pytest.mark.parametrize("all_new", [False, True], ids=["upsert", "all-new"])
async def test_a_bulk_write_breaking_any_rule_writes_nothing(
    api: FundApi,
    sessions: async_sessionmaker[AsyncSession],
    org: NewOrg,
    database: TestDatabase,
    all_new: bool,
) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["1000.00", "1000.00"])
    outsider = await api.investor("No commitment")
    deal = await api.deal(fund)
    other_fund = await api.fund()
    other_deal = await api.deal(other_fund)
    fine = [(investors[0], deal, "10.00"), (investors[1], deal, "0")]
    broken = {
        "an investor without a commitment to this fund": (outsider, deal, "1.00"),
        "a deal that is not this fund's": (investors[1], other_deal, "1.00"),
        "an amount below zero": (investors[1], deal, "-1.00"),
        "finer than the currency's minor unit": (investors[1], deal, "1.005"),
    }
    for why, row in broken.items():
        with pytest.raises(allocation_service.SetRefused, match=why):
            await _bulk(sessions, org, fund, [fine[0], row], all_new=all_new)
        assert _stored(database.owner_url, fund) == {}
    assert await _bulk(sessions, org, fund, fine, all_new=all_new) == 2
    assert _stored(database.owner_url, fund) == {
        (investors[0], deal): "10.00",
        (investors[1], deal): "0",
    }


async def test_an_all_new_bulk_write_refuses_a_pair_that_exists_or_repeats(
    api: FundApi, sessions: async_sessionmaker[AsyncSession], org: NewOrg, database: TestDatabase
) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["1000.00", "1000.00"])
    deal = await api.deal(fund)
    await _bulk(sessions, org, fund, [(investors[0], deal, "5.00")], all_new=True)
    for rows in (
        [(investors[1], deal, "1.00"), (investors[0], deal, "7.00")],  # exists
        [(investors[1], deal, "1.00"), (investors[1], deal, "2.00")],  # repeats
    ):
        with pytest.raises(allocation_service.SetRefused, match="exists already or repeats"):
            await _bulk(sessions, org, fund, rows, all_new=True)
    assert _stored(database.owner_url, fund) == {(investors[0], deal): "5.00"}
    # The upsert takes the same set: it updates the pair that exists.
    rows = [(investors[1], deal, "1.00"), (investors[0], deal, "7.00")]
    assert await _bulk(sessions, org, fund, rows) == 2
    assert _stored(database.owner_url, fund)[(investors[0], deal)] == "7.00"


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM deals",
        "TRUNCATE deals CASCADE",
        "UPDATE deals SET id = gen_random_uuid()",
        "UPDATE deals SET fund_id = gen_random_uuid()",
        "DELETE FROM investors",
        "UPDATE investors SET id = gen_random_uuid()",
        "UPDATE investors SET org_id = gen_random_uuid()",
    ],
)
async def test_deals_and_investors_allocations_refer_to_are_kept(
    api: FundApi, database: TestDatabase, statement: str
) -> None:
    """What the dropped foreign keys also guaranteed: a referenced row cannot vanish or change
    its key — refused for every role, the owner included."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    deal = await api.deal(fund)
    await api.request(
        "PUT", f"/funds/{fund}/deals/{deal}/allocations/{investor}", json={"amount": "1.00"}
    )
    with (
        psycopg.connect(database.owner_url) as conn,
        pytest.raises(psycopg.errors.RestrictViolation),
    ):
        conn.execute(statement)
    # Everything else about them can change.
    await api.request("PATCH", f"/funds/{fund}/deals/{deal}", json={"name": "Renamed"})
    await api.request("PATCH", f"/investors/{investor}", json={"name": "Renamed"})


async def test_prorata_replacements_at_once_leave_one_of_them(
    api: FundApi, database: TestDatabase
) -> None:
    fund = await api.fund()
    await api.investors_with(fund, ["100.00", "200.00", "300.00"])
    deal = await api.deal(fund)
    path = f"/api/v1/funds/{fund}/deals/{deal}/allocations/prorata"
    responses = await asyncio.gather(
        *(
            api.client.post(path, json={"amount": f"{n}.00"}, headers=api.headers)
            for n in range(10, 20)
        )
    )
    assert {r.status_code for r in responses} == {200}
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute(DUPLICATES).fetchall() == []
        [(count, total)] = conn.execute("SELECT COUNT(*), SUM(amount) FROM allocations").fetchall()
    assert count == 3
    assert total in {Decimal(n) for n in range(10, 20)}


async def test_prorata_splits_over_more_investors_than_a_statement_has_parameters(
    api: FundApi, database: TestDatabase
) -> None:
    """14,000 investors: five values a row would be 70,000 bind parameters (at most 65,535)."""
    fund = await api.fund()
    await api.investors_with(fund, ["100.00"])
    deal = await api.deal(fund)
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "INSERT INTO investors (id, org_id, name, kind) "
            "SELECT gen_random_uuid(), org_id, 'LP ' || n, 'entity' "
            "FROM funds, generate_series(2, 14000) n WHERE funds.id = %s",
            (fund,),
        )
        conn.execute(
            "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
            "SELECT gen_random_uuid(), i.org_id, %s, i.id, 100, '2025-01-02' FROM investors i "
            "WHERE i.org_id = (SELECT org_id FROM funds WHERE id = %s) "
            "AND i.id NOT IN (SELECT investor_id FROM commitments)",
            (fund, fund),
        )
    rows = await api.request(
        "POST", f"/funds/{fund}/deals/{deal}/allocations/prorata", json={"amount": "140000.01"}
    )
    assert len(rows) == 14_000
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal("140000.01")
    assert sorted({row["amount"] for row in rows}) == ["10.00", "10.01"]
