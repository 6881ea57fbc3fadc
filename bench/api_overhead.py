"""Benchmark: the framework's share of a request — Prorata beside a bare ASGI route, one run.

Loads `--rows` allocations (1,000,000 by default) as `bench.list_allocations` does, starts
`prorata web` and `bench.bare_api` (the same uvicorn, uvloop and httptools; the same database,
tenant setting, page query and JSON shape, no authentication, no ORM, no DI), each pinned to the
same CPU, and the client on the other CPU. Then:

1. **List page latency**: rounds of `--requests` sequential keep-alive requests, interleaved
   (Prorata, bare, Prorata, bare, …) so a change in the machine's load touches both alike, for
   page 1 and a deep page (by cursor). Prints p50/p99 of each and the ratios (target: p99
   ≤ 1.5 × the bare route).
2. **Other list routes**: p99 of each of the fund's other list routes beside the allocations
   page in the same interleaved rounds (target: within 1.2 ×).
3. **Telemetry**: a second `prorata web` exporting every request's spans (and metrics) over
   OTLP to a receiver (`oteltap`, on the client's CPU), page 1 in the same interleaved rounds
   (target: p99 ≤ 1.1 × the same server without an exporter).
4. **Health throughput**: `wrk -t1 -c20` against both health routes, interleaved, best of
   `--wrk-runs` (target: Prorata ≥ 0.8 × the bare FastAPI route). Needs `wrk` (Debian: apt-get
   install wrk); skipped, and said so, without it.

    .venv/bin/python -m bench.api_overhead [--rows 1000000] [--rounds 10] [--requests 100]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.list_allocations import PAGE, cursor_of_page, load_allocations
from bench.support import Timer, bench_database, percentile
from prorata.config import Settings
from prorata.platform import db

ROOT = Path(__file__).parent.parent
SERVER_CPU, CLIENT_CPU = 0, 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    """A server process pinned to SERVER_CPU, up when its health route answers."""
    pinned = ["taskset", "-c", str(SERVER_CPU), *command] if shutil.which("taskset") else command
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(pinned, env=env, stdout=log, stderr=log, cwd=ROOT)
        try:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/api/system/health").status_code == 200:
                        break
                time.sleep(0.1)
            else:
                log.seek(0)
                raise RuntimeError(f"{command} did not start: {log.read().decode()[-2000:]}")
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


@contextlib.contextmanager
def _receiver(port: int, out: Any = subprocess.DEVNULL) -> Iterator[None]:
    """An OTLP/HTTP receiver (oteltap) on the client's CPU, its NDJSON written to `out`
    (discarded unless given)."""
    command = [sys.executable, "-m", "oteltap", "--port", str(port)]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(CLIENT_CPU), *command]
    if shutil.which("chrt"):  # it stands for a collector on another machine: it must not
        command = ["chrt", "--idle", "0", *command]  # delay the client it shares a CPU with
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the OTLP receiver did not start")
        yield
    finally:
        process.terminate()
        process.wait(10)


def _timed_gets(port: int, path: str, headers: dict[str, str], count: int) -> list[float]:
    """`count` sequential GETs on one keep-alive connection (`http.client`: the lightest client,
    so the figures are the server's), timed to the body's last byte; bodies checked after."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    timings, bodies = [], []
    try:
        for _ in range(count):
            with Timer() as t:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            timings.append(t.seconds)
            bodies.append((response.status, body))
    finally:
        connection.close()
    for status, body in bodies:
        assert status == 200, body[:500]
    return timings


def _org_of(settings: Settings, fund_id: str) -> str:
    with psycopg.connect(db.owner_url(settings)) as conn:
        row = conn.execute("SELECT org_id FROM funds WHERE id = %s", (fund_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _other_lists(fund_id: str) -> dict[str, str]:
    """The fund's other list routes, by label (each must answer 200 with a page)."""
    base = f"/api/v1/funds/{fund_id}"
    return {
        "deals": f"{base}/deals?limit={PAGE}",
        "commitments": f"{base}/commitments?limit={PAGE}",
        "capital calls": f"{base}/capital-calls?limit={PAGE}",
        "distributions": f"{base}/distributions?limit={PAGE}",
        "investors": f"/api/v1/investors?limit={PAGE}",
        "funds": f"/api/v1/funds?limit={PAGE}",
    }


Target = tuple[int, str, dict[str, str]]  # port, path, headers


def _latencies(args: argparse.Namespace, targets: dict[str, Target]) -> dict[str, list[float]]:
    """Interleaved rounds: every target gets `args.requests` requests per round, in turn."""
    samples: dict[str, list[float]] = {label: [] for label in targets}
    for port, path, headers in targets.values():  # warm up each (connections, caches, plans)
        _timed_gets(port, path, headers, 50)
    for _ in range(args.rounds):
        for label, (port, path, headers) in targets.items():
            samples[label] += _timed_gets(port, path, headers, args.requests)
    return samples


def _p(samples: list[float], q: float) -> float:
    return percentile(samples, q) * 1000


_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")


def _wrk(port: int, seconds: int) -> float:
    command = ["wrk", "-t1", "-c20", f"-d{seconds}s", f"http://127.0.0.1:{port}/api/system/health"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(CLIENT_CPU), *command]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = _WRK_RATE.search(out)
    assert found is not None, out
    if "Non-2xx" in out:
        raise RuntimeError(f"health answered errors under load:\n{out}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--wrk-runs", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {CLIENT_CPU})
    with bench_database() as settings:
        api_key, fund_id, _ = load_allocations(settings, args.rows)
        org_id = _org_of(settings, fund_id)
        ours, bare, traced, otlp = _free_port(), _free_port(), _free_port(), _free_port()
        env = {
            **os.environ,
            "PRORATA_APP_DATABASE_URL": db.app_url(settings),
            "PRORATA_PORT": str(ours),
            "PRORATA_LOG_LEVEL": "WARNING",
            "PRORATA_RATE_LIMIT_API": "100000000/minute",
            "PRORATA_RATE_LIMIT_PUBLIC": "100000000/minute",
            "BARE_DATABASE_URL": db.app_url(settings),
            "BARE_ORG_ID": org_id,
        }
        env.pop("DATABASE_URL", None)
        deep = min(10_000, args.rows // 10 // PAGE)
        cursor = cursor_of_page(settings, fund_id, deep)
        page_1 = f"/api/v1/funds/{fund_id}/allocations?limit={PAGE}"
        page_n = f"{page_1}&cursor={cursor}"
        auth = {"Authorization": f"Bearer {api_key}"}
        exporting = {
            **env,
            "PRORATA_PORT": str(traced),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp}",
        }
        with (
            _server([sys.executable, "-m", "prorata", "web"], env, ours),
            _server([sys.executable, "-m", "bench.bare_api", "--port", str(bare)], env, bare),
            _receiver(otlp),
            _server([sys.executable, "-m", "prorata", "web"], exporting, traced),
        ):
            others = _other_lists(fund_id).items()
            targets: dict[str, Target] = {
                "prorata page 1": (ours, page_1, auth),
                "bare page 1": (bare, page_1, {}),
                f"prorata page {deep}": (ours, page_n, auth),
                f"bare page {deep}": (bare, page_n, {}),
                "prorata+otlp page 1": (traced, page_1, auth),
                **{f"prorata {label}": (ours, path, auth) for label, path in others},
            }
            samples = _latencies(args, targets)
            rates: dict[str, list[float]] = {"prorata": [], "bare": []}
            if shutil.which("wrk"):
                for _ in range(args.wrk_runs):
                    rates["prorata"].append(_wrk(ours, args.wrk_seconds))
                    rates["bare"].append(_wrk(bare, args.wrk_seconds))
        _report(args, samples, rates, deep)


def _report(
    args: argparse.Namespace,
    samples: dict[str, list[float]],
    rates: dict[str, list[float]],
    deep: int,
) -> None:
    load = os.getloadavg()[0]
    print(
        f"{args.rows:,} allocations; {args.rounds} interleaved rounds × {args.requests} "
        f"requests each; load average {load:.2f}"
    )
    for label, timings in samples.items():
        print(f"{label:28s} p50 {_p(timings, 0.5):6.2f} ms   p99 {_p(timings, 0.99):6.2f} ms")
    for page in ("page 1", f"page {deep}"):
        ours, bare = samples[f"prorata {page}"], samples[f"bare {page}"]
        print(
            f"{page}: prorata / bare  p50 {_p(ours, 0.5) / _p(bare, 0.5):5.2f} x   "
            f"p99 {_p(ours, 0.99) / _p(bare, 0.99):5.2f} x   (target p99 <= 1.5)"
        )
    reference = _p(samples["prorata page 1"], 0.99)
    exported = _p(samples["prorata+otlp page 1"], 0.99)
    print(
        f"page 1 with spans exported over OTLP / without: p99 {exported / reference:5.2f} x   "
        "(target <= 1.1)"
    )
    for label, timings in samples.items():
        if label.startswith("prorata ") and "page" not in label:
            ratio = _p(timings, 0.99) / reference
            print(f"{label[8:]:16s} p99 / allocations page 1 p99  {ratio:5.2f} x   (target <= 1.2)")
    if rates["bare"]:
        best_ours, best_bare = max(rates["prorata"]), max(rates["bare"])
        print(
            f"health, wrk -t1 -c20: prorata {best_ours:,.0f} req/s, bare FastAPI "
            f"{best_bare:,.0f} req/s: {best_ours / best_bare:4.2f} x   (target >= 0.8)"
        )
    else:
        print("health throughput: skipped (no wrk on PATH: apt-get install wrk)")


if __name__ == "__main__":
    main()
