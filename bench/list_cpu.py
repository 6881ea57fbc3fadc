"""CPU per list request in-process: the app's ASGI callable driven directly (no server, no
client library), `time.process_time` over many requests, variants alternated in rounds.

    python -m bench.list_cpu --rows 20000 --requests 3000

Compares Prorata's allocations page (and the other list routes) with `bench.bare_api`'s
route on the same database; the database (embedded PostgreSQL) is another process, so what
is counted is the Python side of a request: the framework's share.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import bare_api
from bench.api_overhead import _org_of, _other_lists
from bench.list_allocations import PAGE, cursor_of_page, load_allocations
from bench.support import bench_database
from prorata.app import create_app
from prorata.config import Settings
from prorata.http import pagination
from prorata.platform import db

Asgi = Callable[..., Awaitable[None]]


async def _get(app: Asgi, path: str, headers: dict[str, str]) -> int:
    route, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _cpu_ms(app: Asgi, path: str, headers: dict[str, str], count: int) -> tuple[float, float]:
    """(CPU, wall time) per request, in ms."""
    started, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        status = await _get(app, path, headers)
        assert status == 200, (path, status)
    return (
        (time.process_time() - started) / count * 1000,
        (time.perf_counter() - wall) / count * 1000,
    )


async def _declined(*_: Any) -> None:
    return None


def _run(args: argparse.Namespace) -> None:
    with bench_database() as settings:
        api_key, fund_id, _ = load_allocations(settings, args.rows)
        asyncio.run(_measure(args, settings, api_key, fund_id))


async def _measure(
    args: argparse.Namespace, settings: Settings, api_key: str, fund_id: str
) -> None:
    org_id = _org_of(settings, fund_id)
    settings = settings.model_copy(
        update={"rate_limit_api": "100000000/minute", "log_level": "WARNING"}
    )
    ours = create_app(settings)
    bare = bare_api.create_app(db.app_url(settings), org_id)
    page_1 = f"/api/v1/funds/{fund_id}/allocations?limit={PAGE}"
    deep = cursor_of_page(settings, fund_id, min(100, args.rows // 10 // PAGE))
    auth = {"Authorization": f"Bearer {api_key}"}
    async with ours.router.lifespan_context(ours), bare.router.lifespan_context(bare):
        cache = ours.state.key_cache
        targets: dict[str, tuple[Asgi, str, dict[str, str]]] = {
            "bare page 1": (bare, page_1, {}),
            "prorata page 1": (ours, page_1, auth),
            "prorata deep page": (ours, f"{page_1}&cursor={deep}", auth),
            "bare deep page": (bare, f"{page_1}&cursor={deep}", {}),
        }
        if args.others:
            for label, path in _other_lists(fund_id).items():
                targets[f"prorata {label}"] = (ours, path, auth)
        variants = {"cache": cache, "no cache": None} if args.ab else {"": cache}
        if args.ab_driver:
            variants = {"driver": cache, "session": cache}
        driver_fetch = pagination._fetch
        results: dict[str, list[tuple[float, float]]] = {}
        for app, path, headers in targets.values():
            await _cpu_ms(app, path, headers, 200)  # warm up
        per_round = max(args.requests // args.rounds, 1)
        for _ in range(args.rounds):
            for variant, kept in variants.items():
                ours.state.key_cache = kept
                # The page query through the session instead of the driver (`keyset`'s path
                # before it had one): `_fetch` declining every statement.
                pagination._fetch = _declined if variant == "session" else driver_fetch  # type: ignore[assignment]
                for label, (app, path, headers) in targets.items():
                    if app is bare and variant != next(iter(variants)):
                        continue
                    name = f"{label} {variant}".strip() if app is ours else label
                    cpu = await _cpu_ms(app, path, headers, per_round)
                    results.setdefault(name, []).append(cpu)
        for name, rounds in results.items():
            cpu = sorted(c for c, _ in rounds)[len(rounds) // 2]
            wall = sorted(w for _, w in rounds)[len(rounds) // 2]
            print(f"{name:34} {cpu:.3f} ms CPU, {wall:.3f} ms wall per request (median round)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ab", action="store_true", help="alternate with the key cache off")
    parser.add_argument(
        "--ab-driver", action="store_true", help="alternate with the page query via the session"
    )
    parser.add_argument("--others", action="store_true", help="the other list routes too")
    _run(parser.parse_args())


if __name__ == "__main__":
    main()
