"""A fund with many allocations, loaded in bulk as the owner (benchmarks only)."""

from __future__ import annotations

import uuid

import psycopg


def load_fund(owner_url: str, *, org_id: uuid.UUID, investors: int, deals: int) -> uuid.UUID:
    """One fund of `org_id` with `investors` × `deals` allocations; returns the fund id."""
    fund_id = uuid.uuid4()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
            "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
            "waterfall_style, day_count, notice_business_days) VALUES (%s, %s, "
            "'Bench Growth Fund I', 'USD', 'investing', 0.02, 'committed', 0.08, 1, 0.2, "
            "'european', 'act/365', 10)",
            (fund_id, org_id),
        )
        conn.execute(
            "CREATE TEMP TABLE bench_investors AS SELECT gen_random_uuid() AS id, n "
            "FROM generate_series(1, %s) n",
            (investors,),
        )
        conn.execute(
            "INSERT INTO investors (id, org_id, name, kind) SELECT id, %s, "
            "'Limited Partner ' || lpad(n::text, 7, '0') || ' Holdings LLC', 'entity' "
            "FROM bench_investors",
            (org_id,),
        )
        conn.execute(
            "INSERT INTO deals (id, org_id, fund_id, name, company, status) SELECT "
            "gen_random_uuid(), %s, %s, 'Series ' || chr(65 + n %% 6) || ' round ' || n, "
            "'Portfolio Company ' || n || ' Inc.', 'open' FROM generate_series(1, %s) n",
            (org_id, fund_id, deals),
        )
        conn.execute(
            "INSERT INTO allocations (fund_id, investor_id, deal_id, org_id, amount) "
            "SELECT %s, i.id, d.id, %s, round((random() * 1000000)::numeric, 2) "
            "FROM bench_investors i CROSS JOIN deals d WHERE d.fund_id = %s",
            (fund_id, org_id, fund_id),
        )
        conn.execute("ANALYZE allocations")
    return fund_id


def create_org(owner_url: str) -> uuid.UUID:
    org_id = uuid.uuid4()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO orgs (id, name) VALUES (%s, 'Bench')", (org_id,))
    return org_id
