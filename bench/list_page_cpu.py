"""CPU of the allocations page query alone (`allocations.service.page`: build the select, run
it, 51 rows), through the driver and through the session, alternated in rounds in one process.

    python -m bench.list_page_cpu --rows 20000 --requests 2000 --rounds 10

The request's other parts (authentication, routing, rendering) are `bench.list_cpu`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from bench.api_overhead import _org_of
from bench.list_allocations import PAGE, cursor_of_page, load_allocations
from bench.support import bench_database
from prorata.allocations import service as allocation_service
from prorata.config import Settings
from prorata.http import pagination
from prorata.http.pagination import PageParams
from prorata.platform import db


async def _declined(*_: Any) -> None:
    return None


async def _measure(args: argparse.Namespace, settings: Settings, fund_id: str) -> None:
    org_id = uuid.UUID(_org_of(settings, fund_id))
    deep = cursor_of_page(settings, fund_id, min(100, args.rows // 10 // PAGE))
    engine = db.app_engine(settings, pool_size=2)
    sessions = db.sessionmaker(engine)
    driver = pagination._fetch
    cases = {"page 1": None, "deep page": deep}
    results: dict[str, list[float]] = {}
    try:
        async with db.tenant_transaction(sessions, org_id) as session:
            for round_ in range(args.rounds + 1):  # the first round warms up
                for variant in ("driver", "session"):
                    pagination._fetch = driver if variant == "driver" else _declined  # type: ignore[assignment]
                    for label, cursor in cases.items():
                        params = PageParams(limit=PAGE, cursor=cursor)
                        started = time.process_time()
                        for _ in range(args.requests // args.rounds):
                            await allocation_service.page(
                                session, params=params, fund_id=uuid.UUID(fund_id)
                            )
                        spent = (time.process_time() - started) / (args.requests // args.rounds)
                        if round_:
                            results.setdefault(f"{label} {variant}", []).append(spent * 1000)
    finally:
        pagination._fetch = driver  # type: ignore[assignment]
        await engine.dispose()
    for name, rounds in results.items():
        print(f"{name:20} {sorted(rounds)[len(rounds) // 2]:.3f} ms CPU per page (median round)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with bench_database() as settings:
        _, fund_id, _ = load_allocations(settings, args.rows)
        asyncio.run(_measure(args, settings, fund_id))


if __name__ == "__main__":
    main()
