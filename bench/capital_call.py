"""Benchmark: create and issue one capital call on a fund with 10,000 investors.

Prints the time of `create_draft` + `issue` (split, lines, ledger, audit; committed) beside the
time of a bare INSERT of 10,000 rows into a plain table on the same database in the same run.
Target: call ≤ 3 × bare insert.

    .venv/bin/python -m bench.capital_call [--investors 10000] [--repeat 3] [--no-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa

from bench.support import Timer, bench_database
from prorata.capital_calls import service as call_service
from prorata.capital_calls.schemas import CallCreate, ItemIn
from prorata.config import Settings
from prorata.http.tenancy import Principal, Role
from prorata.orgs import service as org_service
from prorata.platform import db
from prorata.platform.ids import new_id
from prorata.runtime import heap


async def _setup(
    sessions: db.async_sessionmaker[db.AsyncSession], investors: int
) -> tuple[Principal, uuid.UUID]:
    async with sessions() as session, session.begin():
        org = await org_service.create_org(session, name="Bench", owner_email="b@bench.example")
        principal = Principal(
            org_id=org.org_id, user_id=org.user_id, role=Role.owner, credential_id=org.org_id
        )
        fund_id = new_id()
        await session.execute(
            sa.text(
                "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
                "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
                "waterfall_style, day_count, notice_business_days) VALUES (:id, :org, 'Bench I', "
                "'USD', 'investing', 0.02, 'committed', 0.08, 1, 0.2, 'european', 'act/365', 10)"
            ),
            {"id": fund_id, "org": org.org_id},
        )
        await session.execute(
            sa.text(
                "INSERT INTO investors (id, org_id, name, kind) "
                "SELECT gen_random_uuid(), :org, 'LP ' || n, 'entity' FROM generate_series(1, :n) n"
            ),
            {"org": org.org_id, "n": investors},
        )
        await session.execute(
            sa.text(
                "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
                "SELECT gen_random_uuid(), org_id, :fund, id, "
                "(1000000 + (random() * 9000000)::int)::numeric, '2025-01-02' FROM investors"
            ),
            {"fund": fund_id},
        )
    return principal, fund_id


async def _call(
    sessions: db.async_sessionmaker[db.AsyncSession], principal: Principal, fund_id: uuid.UUID
) -> None:
    data = CallCreate(
        notice_date=dt.date(2026, 3, 2),
        items=[ItemIn(purpose="management_fee", amount=Decimal("1234567.89"))],  # type: ignore[arg-type]
    )
    async with sessions() as session, session.begin():
        await db.set_tenant(session, principal.org_id)
        call = await call_service.create_draft(session, actor=principal, fund_id=fund_id, data=data)
    async with sessions() as session, session.begin():
        await db.set_tenant(session, principal.org_id)
        await call_service.issue(session, actor=principal, fund_id=fund_id, call_id=call.id)


async def _bare_insert(sessions: db.async_sessionmaker[db.AsyncSession], rows: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            sa.text("CREATE TEMP TABLE IF NOT EXISTS bare (investor_id uuid, amount numeric)")
        )
        await session.execute(
            sa.text("INSERT INTO bare (investor_id, amount) VALUES (:investor_id, :amount)"),
            [{"investor_id": uuid.uuid4(), "amount": Decimal("123.45")} for _ in range(rows)],
        )


async def run(settings: Settings, investors: int, repeat: int, *, freeze: bool) -> None:
    engine = db.create_engine(db.app_url(settings), pool_size=2)
    sessions = db.sessionmaker(engine)
    try:
        principal, fund_id = await _setup(sessions, investors)
        if freeze:
            # What `prorata web` and `prorata worker` do before serving (prorata.runtime.heap).
            heap.freeze_startup_objects()
        calls, bares = [], []
        for _ in range(repeat):
            with Timer() as bare:
                await _bare_insert(sessions, investors)
            with Timer() as call:
                await _call(sessions, principal, fund_id)
            bares.append(bare.seconds)
            calls.append(call.seconds)
        best_call, best_bare = min(calls), min(bares)
        print(f"investors:             {investors}   (startup objects frozen: {freeze})")
        print(f"bare INSERT of {investors} rows: {best_bare * 1000:8.1f} ms (best of {repeat})")
        print(f"create + issue call:   {best_call * 1000:8.1f} ms (best of {repeat})")
        print(f"ratio:                 {best_call / best_bare:8.2f} x   (target <= 3)")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the startup objects in the garbage collector's full collections",
    )
    args = parser.parse_args()
    with bench_database() as settings:
        asyncio.run(run(settings, args.investors, args.repeat, freeze=not args.no_freeze))


if __name__ == "__main__":
    main()
