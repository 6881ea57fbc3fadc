"""Running balances per commitment (issue 21, migration 0040): after any sequence of calls,
payments, distributions (recallable ones too), recalls and cancellations they equal the ledger
summed from scratch; two transactions posting to one commitment lose neither update; the
dropped foreign keys' guarantees still hold; `prorata check` reports a difference."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from prorata.config import Settings
from prorata.orgs.service import NewOrg
from tests.fund_support import FundApi
from tests.support import TestDatabase, served

CENT = Decimal("0.01")
START = dt.date(2026, 1, 5)

STEP = st.one_of(
    st.tuples(st.just("call"), st.decimals("1000.00", "90000.00", places=2)),
    st.tuples(st.just("pay"), st.integers(0, 2), st.sampled_from(["0.5", "1"])),
    st.tuples(st.just("distribute"), st.sampled_from(["gain", "recallable"]), st.integers(1, 9)),
    st.tuples(st.just("recall"), st.decimals("500.00", "20000.00", places=2)),
    st.tuples(st.just("cancel_call")),
    st.tuples(st.just("cancel_distribution")),
)

# The balances summed from the commitments and the whole ledger, in SQL (not through the
# application), by the definitions of `prorata.ledger.repository.Balance`.
RECOMPUTED = """
SELECT fund_id, investor_id, sum(commitment), sum(called), sum(contributed), sum(distributed),
       sum(recallable), sum(credit), sum(commitment) - sum(called) + sum(recallable)
FROM (
    SELECT fund_id, investor_id, amount AS commitment, 0 AS called, 0 AS contributed,
           0 AS distributed, 0 AS recallable, 0 AS credit
    FROM commitments
    UNION ALL
    SELECT fund_id, investor_id, 0,
           coalesce(sum(amount) FILTER (WHERE kind = 'contribution'), 0),
           coalesce(sum(amount) FILTER (WHERE kind = 'payment'), 0),
           coalesce(sum(amount) FILTER (WHERE kind IN ('distribution',
                                                        'recallable_distribution')), 0),
           coalesce(sum(amount) FILTER (WHERE kind = 'recallable_distribution'), 0),
           coalesce(sum(amount) FILTER (WHERE kind = 'credit'), 0)
    FROM capital_ledger GROUP BY fund_id, investor_id
) flows
GROUP BY fund_id, investor_id ORDER BY fund_id, investor_id
"""
KEPT = """
SELECT fund_id, investor_id, commitment, called, contributed, distributed, recallable, credit,
       unfunded
FROM commitment_balances ORDER BY fund_id, investor_id
"""


@pytest.fixture
def api(client: httpx.AsyncClient, org: NewOrg) -> FundApi:
    return FundApi(client, org.api_key)


def _both(owner_url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with psycopg.connect(owner_url) as conn:
        return conn.execute(RECOMPUTED).fetchall(), conn.execute(KEPT).fetchall()


async def _walk(
    settings: Settings, org: NewOrg, database: TestDatabase, steps: list[tuple[Any, ...]]
) -> None:
    from prorata.app import create_app

    async with served(create_app(settings)) as client:
        api = FundApi(client, org.api_key)
        fund = await api.fund(management_fee_rate="0")
        investors = await api.investors_with(fund, ["500000.00", "250000.37", "100000.00"])
        deal = await api.deal(fund)
        state: dict[str, list[str]] = {"calls": [], "distributions": []}
        for n, step in enumerate(steps):
            day = START + dt.timedelta(days=30 * n)
            await _step(api, fund, deal, investors, state, day, step)
    recomputed, kept = _both(database.owner_url)
    assert kept == recomputed


async def _step(
    api: FundApi,
    fund: str,
    deal: str,
    investors: list[str],
    state: dict[str, list[str]],
    day: dt.date,
    step: tuple[Any, ...],
) -> None:
    kind, calls, distributions = step[0], state["calls"], state["distributions"]
    if kind in ("call", "recall"):
        # A recall: a call after recallable distributions draws on the capital they returned.
        item = {"purpose": "investment", "amount": str(step[1]), "deal_id": deal}
        draft = await api.draft(fund, [item], notice=day.isoformat(), expect=201)
        issued = await api.client.post(
            f"/api/v1/funds/{fund}/capital-calls/{draft['id']}/issue",
            headers={**api.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert issued.status_code in (200, 422), issued.text  # 422: beyond the unfunded
        if issued.status_code == 200:
            calls.append(issued.json()["id"])
    elif kind == "pay" and calls:
        call = await api.request("GET", f"/funds/{fund}/capital-calls/{calls[-1]}")
        line = next((x for x in call["lines"] if x["investor_id"] == investors[step[1]]), None)
        if line is None or call["status"] in ("closed", "cancelled"):
            return
        amount = (Decimal(line["outstanding"]) * Decimal(step[2])).quantize(CENT, ROUND_DOWN)
        if amount > 0:
            await api.pay(fund, call["id"], line["investor_id"], str(amount), received_on=str(day))
    elif kind == "distribute":
        response = await api.client.post(
            f"/api/v1/funds/{fund}/distributions",
            json={"date": day.isoformat(), "amount": f"{step[2]}000.00", "kind": step[1]},
            headers={**api.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code in (201, 422), response.text  # 422: nothing contributed
        if response.status_code == 201:
            distributions.append(response.json()["id"])
    elif kind == "cancel_call" and calls:
        response = await api.client.post(
            f"/api/v1/funds/{fund}/capital-calls/{calls[-1]}/cancel",
            headers={**api.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code in (200, 409), response.text  # 409: paid already
    elif kind == "cancel_distribution" and distributions:
        response = await api.client.post(
            f"/api/v1/funds/{fund}/distributions/{distributions.pop()}/cancel",
            headers={**api.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code in (200, 409, 422), response.text


def test_balances_equal_the_ledger_whatever_happened(
    settings: Settings, org: NewOrg, database: TestDatabase
) -> None:
    @given(steps=st.lists(STEP, min_size=3, max_size=10))
    @example(
        steps=[
            ("call", Decimal("80000.00")),
            ("pay", 0, "1"),
            ("pay", 1, "0.5"),
            ("pay", 2, "1"),
            ("distribute", "recallable", 9),
            ("recall", Decimal("5000.00")),
            ("cancel_call",),
            ("distribute", "gain", 3),
            ("cancel_distribution",),
        ]
    )
    @hypothesis_settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def walk(steps: list[tuple[Any, ...]]) -> None:
        asyncio.run(_walk(settings, org, database, steps))

    walk()
    recomputed, _ = _both(database.owner_url)
    # The walks did move every balance (not only commitments).
    assert any(row[3] for row in recomputed)
    assert any(row[4] for row in recomputed)
    assert any(row[6] for row in recomputed)


def _post_contribution(app_url: str, org: NewOrg, ids: tuple[str, str], amount: str) -> None:
    """One ledger entry, through the app role with the tenant set, like the services."""
    fund, investor = ids
    with psycopg.connect(app_url) as conn:
        conn.execute("SELECT set_config('app.org_id', %s, true)", (str(org.org_id),))
        conn.execute(
            "INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount,"
            " effective_on, source_type, source_id) VALUES (%s, %s, %s, 'contribution', %s,"
            " '2026-03-02', 'test', gen_random_uuid())",
            (org.org_id, fund, investor, amount),
        )


async def test_two_transactions_posting_to_one_commitment_lose_no_update(
    api: FundApi, org: NewOrg, database: TestDatabase
) -> None:
    """The first transaction holds the balance row (uncommitted) while the second posts to
    it: the second waits for the first's commit and adds to its result."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    first = psycopg.connect(database.app_url)
    try:
        first.execute("SELECT set_config('app.org_id', %s, true)", (str(org.org_id),))
        first.execute(
            "INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount,"
            " effective_on, source_type, source_id) VALUES (%s, %s, %s, 'contribution', 100,"
            " '2026-03-02', 'test', gen_random_uuid())",
            (org.org_id, fund, investor),
        )
        second = threading.Thread(
            target=_post_contribution, args=(database.app_url, org, (fund, investor), "7")
        )
        second.start()
        # The second connection is waiting on the row lock the first holds. (Autocommit: a
        # transaction sees pg_stat_activity as of its first look, and would never see it wait.)
        with psycopg.connect(database.owner_url, autocommit=True) as watcher:
            for _ in range(1200):
                waiting = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                await asyncio.sleep(0.05)
            assert waiting is not None
            assert waiting[0] == 1
        first.commit()
        second.join(timeout=30)
        assert not second.is_alive()
    finally:
        first.close()
    row = (await api.commitments(fund))[investor]
    assert (row["called"], row["unfunded"]) == ("107.00", "893.00")
    recomputed, kept = _both(database.owner_url)
    assert kept == recomputed


async def test_the_app_role_cannot_write_balances(
    api: FundApi, org: NewOrg, database: TestDatabase
) -> None:
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    for statement in (
        "UPDATE commitment_balances SET called = 5",
        "DELETE FROM commitment_balances",
        "INSERT INTO commitment_balances (fund_id, investor_id, org_id) "
        f"VALUES ('{fund}', '{investor}', '{org.org_id}')",
    ):
        with psycopg.connect(database.app_url) as conn:
            conn.execute("SELECT set_config('app.org_id', %s, true)", (str(org.org_id),))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        # A ledger row naming another organisation's fund, or no investor: refused.
        (
            "INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount, effective_on,"
            " source_type, source_id) VALUES (%(org)s, %(other_fund)s, %(investor)s, 'fee', 1,"
            " '2026-01-01', 'test', gen_random_uuid())",
            psycopg.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount, effective_on,"
            " source_type, source_id) VALUES (%(org)s, %(fund)s, gen_random_uuid(), 'fee', 1,"
            " '2026-01-01', 'test', gen_random_uuid())",
            psycopg.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO capital_call_lines (fund_id, call_id, item_id, investor_id, org_id,"
            " purpose, amount) VALUES (%(fund)s, gen_random_uuid(), gen_random_uuid(),"
            " %(investor)s, %(org)s, 'investment', 1)",
            psycopg.errors.ForeignKeyViolation,
        ),
        (
            "INSERT INTO capital_call_lines (fund_id, call_id, item_id, investor_id, org_id,"
            " purpose, amount) SELECT fund_id, id, gen_random_uuid(), gen_random_uuid(),"
            " %(org)s, 'investment', 1 FROM capital_calls",
            psycopg.errors.ForeignKeyViolation,
        ),
        ("DELETE FROM funds", psycopg.errors.RestrictViolation),
        ("UPDATE funds SET id = gen_random_uuid()", psycopg.errors.RestrictViolation),
        ("DELETE FROM capital_calls", psycopg.errors.RestrictViolation),
        ("UPDATE capital_calls SET id = gen_random_uuid()", psycopg.errors.RestrictViolation),
        ("UPDATE capital_call_lines SET call_id = call_id", psycopg.errors.RestrictViolation),
    ],
)
async def test_what_the_dropped_foreign_keys_guaranteed_holds(
    api: FundApi,
    org: NewOrg,
    other_org: NewOrg,
    client: httpx.AsyncClient,
    database: TestDatabase,
    statement: str,
    error: type[Exception],
) -> None:
    """Refused for the owner too (who bypasses RLS here): the checks are the database's."""
    fund = await api.fund()
    [investor] = await api.investors_with(fund, ["1000.00"])
    await api.call_and_issue(fund, [{"purpose": "management_fee", "amount": "10.00"}])
    other_fund = await FundApi(client, other_org.api_key).fund()
    values = {"org": org.org_id, "fund": fund, "investor": investor, "other_fund": other_fund}
    with psycopg.connect(database.owner_url) as conn, pytest.raises(error):
        conn.execute(statement, values)


def _check(database: TestDatabase, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRORATA_ENV": "test",
        "DATABASE_URL": database.owner_url,
        "PRORATA_DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "prorata", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_prorata_check_reports_a_balance_that_differs_from_the_ledger(
    api: FundApi, org: NewOrg, other_org: NewOrg, database: TestDatabase, tmp_path: Path
) -> None:
    fund = await api.fund()
    investors = await api.investors_with(fund, ["1000.00", "3000.00"])
    call = await api.call_and_issue(fund, [{"purpose": "management_fee", "amount": "40.00"}])
    await api.pay(fund, call["id"], investors[0], "10.00")
    agreed = _check(database, tmp_path)
    assert agreed.returncode == 0, agreed.stderr
    assert json.loads(agreed.stdout) == {"orgs": 2, "differences": []}

    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "UPDATE commitment_balances SET contributed = contributed + 1 WHERE investor_id = %s",
            (investors[1],),
        )
    differs = _check(database, tmp_path)
    assert differs.returncode == 1, differs.stderr
    reported = json.loads(differs.stdout)
    assert reported["differences"] == [
        {
            "org_id": str(org.org_id),
            "fund_id": fund,
            "investor_id": investors[1],
            "balances": {
                "commitment": "3000.00",
                "called": "30.00",
                "contributed": "1",
                "distributed": "0",
                "recallable": "0",
                "credit": "0",
                "unfunded": "2970.00",
            },
            "ledger": {
                "commitment": "3000.00",
                "called": "30.00",
                "contributed": "0",
                "distributed": "0",
                "recallable": "0",
                "credit": "0",
                "unfunded": "2970.00",
            },
        }
    ]
