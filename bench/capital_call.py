"""Benchmark: create and issue one capital call on a fund with 10,000 investors.

Prints the time of `create_draft` + `issue` (split, lines, ledger, audit; committed) beside the
time of a bare INSERT of 10,000 rows into a plain table on the same database in the same run.
Target: call ≤ 2 × bare insert.

With `--history-quarters N`, a second fund gets N quarters of history first (each quarter: a
call created and issued by the service, every line paid and a distribution to every investor,
one in four recallable, in the ledger), and each round measures a call on both funds: a fund
with ten years of history should cost what a new one costs.

    .venv/bin/python -m bench.capital_call [--investors 10000] [--repeat 3] [--no-freeze]
        [--history-quarters 40]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa

from bench.support import Timer, bench_database
from prorata import wiring
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
        await session.execute(
            sa.text(
                "INSERT INTO investors (id, org_id, name, kind) "
                "SELECT gen_random_uuid(), :org, 'LP ' || n, 'entity' FROM generate_series(1, :n) n"
            ),
            {"org": org.org_id, "n": investors},
        )
    return principal, await _fund(sessions, principal, "Bench I")


async def _fund(
    sessions: db.async_sessionmaker[db.AsyncSession], principal: Principal, name: str
) -> uuid.UUID:
    """A fund with a commitment from every investor of the organisation."""
    async with sessions() as session, session.begin():
        await db.set_tenant(session, principal.org_id)
        fund_id = new_id()
        await session.execute(
            sa.text(
                "INSERT INTO funds (id, org_id, name, currency, status, management_fee_rate, "
                "management_fee_basis, preferred_return_rate, catch_up_share, carry_share, "
                "waterfall_style, day_count, notice_business_days) VALUES (:id, :org, :name, "
                "'USD', 'investing', 0.02, 'committed', 0.08, 1, 0.2, 'european', 'act/365', 10)"
            ),
            {"id": fund_id, "org": principal.org_id, "name": name},
        )
        await session.execute(
            sa.text(
                "INSERT INTO commitments (id, org_id, fund_id, investor_id, amount, committed_on) "
                "SELECT gen_random_uuid(), org_id, :fund, id, "
                "(1000000 + (random() * 9000000)::int)::numeric, '2025-01-02' FROM investors"
            ),
            {"fund": fund_id},
        )
    return fund_id


# A quarter's cash in the ledger, in one statement each: every line of the call paid on its
# due date, then a distribution of 1 % of each commitment (recallable one quarter in four).
_PAID = """
INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, purpose, deal_id, amount,
                            effective_on, source_type, source_id)
SELECT org_id, fund_id, investor_id, 'payment', purpose, deal_id, amount, effective_on,
       'payment', gen_random_uuid()
FROM capital_ledger WHERE fund_id = :fund AND source_id = :call AND kind = 'contribution'
"""
_DISTRIBUTED = """
INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, amount, effective_on,
                            source_type, source_id)
SELECT org_id, fund_id, investor_id, :kind, round(amount / 100, 2), :day, 'distribution', :source
FROM commitments WHERE fund_id = :fund
"""


async def _history(
    sessions: db.async_sessionmaker[db.AsyncSession],
    principal: Principal,
    fund_id: uuid.UUID,
    quarters: int,
) -> None:
    start = dt.date(2016, 1, 4)
    for quarter in range(quarters):
        day = start + dt.timedelta(days=91 * quarter)
        call_id = await _call(sessions, principal, fund_id, day)
        async with sessions() as session, session.begin():
            await db.set_tenant(session, principal.org_id)
            await session.execute(sa.text(_PAID), {"fund": fund_id, "call": call_id})
            kind = "recallable_distribution" if quarter % 4 == 3 else "distribution"
            values = {"fund": fund_id, "kind": kind, "day": day + dt.timedelta(days=60)}
            await session.execute(sa.text(_DISTRIBUTED), {**values, "source": new_id()})


async def _call(
    sessions: db.async_sessionmaker[db.AsyncSession],
    principal: Principal,
    fund_id: uuid.UUID,
    notice: dt.date = dt.date(2026, 3, 2),
) -> uuid.UUID:
    data = CallCreate(
        notice_date=notice,
        items=[ItemIn(purpose="management_fee", amount=Decimal("1234567.89"))],  # type: ignore[arg-type]
    )
    async with sessions() as session, session.begin():
        await db.set_tenant(session, principal.org_id)
        call = await call_service.create_draft(session, actor=principal, fund_id=fund_id, data=data)
    async with sessions() as session, session.begin():
        await db.set_tenant(session, principal.org_id)
        await call_service.issue(session, actor=principal, fund_id=fund_id, call_id=call.id)
    return call.id


async def _bare_insert(sessions: db.async_sessionmaker[db.AsyncSession], rows: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            sa.text("CREATE TEMP TABLE IF NOT EXISTS bare (investor_id uuid, amount numeric)")
        )
        await session.execute(
            sa.text("INSERT INTO bare (investor_id, amount) VALUES (:investor_id, :amount)"),
            [{"investor_id": uuid.uuid4(), "amount": Decimal("123.45")} for _ in range(rows)],
        )


async def run(
    settings: Settings, investors: int, repeat: int, *, freeze: bool, quarters: int
) -> None:
    engine = db.create_engine(db.app_url(settings), pool_size=2)
    sessions = db.sessionmaker(engine)
    try:
        principal, fund_id = await _setup(sessions, investors)
        old_fund = None
        if quarters:
            old_fund = await _fund(sessions, principal, "Bench Old")
            with Timer() as built:
                await _history(sessions, principal, old_fund, quarters)
            print(f"history: {quarters} quarters built in {built.seconds:.0f} s")
        if freeze:
            # What `prorata web` and `prorata worker` do before serving (prorata.runtime.heap).
            heap.freeze_startup_objects()
        calls, olds, bares = [], [], []
        for _ in range(repeat):
            with Timer() as bare:
                await _bare_insert(sessions, investors)
            with Timer() as call:
                await _call(sessions, principal, fund_id)
            bares.append(bare.seconds)
            calls.append(call.seconds)
            if old_fund is not None:
                with Timer() as old:
                    await _call(sessions, principal, old_fund)
                olds.append(old.seconds)
        _report(investors, repeat, freeze, min(bares), min(calls), min(olds) if olds else None)
    finally:
        await engine.dispose()


def _report(
    investors: int, repeat: int, freeze: bool, bare: float, call: float, old: float | None
) -> None:
    print(f"investors:             {investors}   (startup objects frozen: {freeze})")
    print(f"bare INSERT of {investors} rows: {bare * 1000:8.1f} ms (best of {repeat})")
    print(f"create + issue call:   {call * 1000:8.1f} ms (best of {repeat}, new fund)")
    print(f"ratio:                 {call / bare:8.2f} x   (target <= 2)")
    if old is not None:
        print(f"create + issue call:   {old * 1000:8.1f} ms (best of {repeat}, fund with history)")
        print(f"ratio:                 {old / bare:8.2f} x   (old / new fund {old / call:.2f} x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the startup objects in the garbage collector's full collections",
    )
    parser.add_argument(
        "--history-quarters",
        type=int,
        default=0,
        help="also measure on a fund with this many quarters of calls, payments, distributions",
    )
    args = parser.parse_args()
    wiring.connect()  # the hooks between domains, as `prorata web` wires them
    with bench_database() as settings:
        asyncio.run(
            run(
                settings,
                args.investors,
                args.repeat,
                freeze=not args.no_freeze,
                quarters=args.history_quarters,
            )
        )


if __name__ == "__main__":
    main()
