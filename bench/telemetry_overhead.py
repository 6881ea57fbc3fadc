"""Benchmark: what exporting spans over OTLP costs the allocations page, A/B in one run.

Loads `--rows` allocations as `bench.list_allocations` does and starts `prorata web` without an
exporter plus one `prorata web` per variant exporting every span over OTLP/HTTP to its own
receiver (`oteltap`, on the client's CPU, its output counted), all servers pinned to the same
CPU. Then rounds of `--requests` sequential keep-alive requests to page 1, interleaved across the
servers (the order alternates each round) so the machine's load touches all alike. Prints p50,
p99 and max of each and the p99 ratio to the server without an exporter (issue 21's target:
≤ 1.1), and the spans each receiver got per request.

A variant is `label` or `label:NAME=VALUE,NAME=VALUE` (environment of that server), e.g.
`--variant default --variant batch512:OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512`.

    .venv/bin/python -m bench.telemetry_overhead [--rows 100000] [--rounds 20] [--requests 100]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.api_overhead import CLIENT_CPU, _free_port, _p, _receiver, _server, _timed_gets
from bench.list_allocations import PAGE, load_allocations
from bench.support import bench_database
from prorata.platform import db


def _spans(path: Path) -> int:
    """Spans in oteltap's NDJSON (one span a line; metrics lines carry no span id)."""
    count = 0
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and ("spanId" in record or "span_id" in record):
                count += 1
    return count


def _variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, settings = text.partition(":")
    env = dict(pair.split("=", 1) for pair in settings.split(",") if pair)
    return label, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--variant", action="append", default=[])
    args = parser.parse_args()
    variants = [_variant(v) for v in args.variant or ["default"]]
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {CLIENT_CPU})
    with bench_database() as settings, tempfile.TemporaryDirectory() as scratch:
        api_key, fund_id, _ = load_allocations(settings, args.rows)
        base = {
            **os.environ,
            "PRORATA_APP_DATABASE_URL": db.app_url(settings),
            "PRORATA_LOG_LEVEL": "WARNING",
            "PRORATA_RATE_LIMIT_API": "100000000/minute",
            "PRORATA_RATE_LIMIT_PUBLIC": "100000000/minute",
        }
        base.pop("DATABASE_URL", None)
        page_1 = f"/api/v1/funds/{fund_id}/allocations?limit={PAGE}"
        auth = {"Authorization": f"Bearer {api_key}"}
        with contextlib.ExitStack() as stack:
            ports = {"no exporter": _free_port()}
            stack.enter_context(
                _server(
                    [sys.executable, "-m", "prorata", "web"],
                    {**base, "PRORATA_PORT": str(ports["no exporter"])},
                    ports["no exporter"],
                )
            )
            outputs: dict[str, Path] = {}
            for label, extra in variants:
                port, otlp = _free_port(), _free_port()
                outputs[label] = Path(scratch) / f"{label}.ndjson"
                out = stack.enter_context(outputs[label].open("wb"))
                stack.enter_context(_receiver(otlp, out))
                env = {
                    **base,
                    **extra,
                    "PRORATA_PORT": str(port),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp}",
                }
                stack.enter_context(_server([sys.executable, "-m", "prorata", "web"], env, port))
                ports[label] = port
            for port in ports.values():
                _timed_gets(port, page_1, auth, 50)
            samples: dict[str, list[float]] = {label: [] for label in ports}
            order = list(ports)
            for round_ in range(args.rounds):
                for label in order if round_ % 2 == 0 else reversed(order):
                    samples[label] += _timed_gets(ports[label], page_1, auth, args.requests)
            time.sleep(6)  # the last batches leave (schedule delay 5 s) before the receivers stop
        load = os.getloadavg()[0]
        requests = 50 + args.rounds * args.requests + 1  # warm-up, rounds, the health probe
        print(
            f"{args.rows:,} allocations; {args.rounds} alternating rounds × {args.requests} "
            f"requests each; load average {load:.2f}"
        )
        reference = _p(samples["no exporter"], 0.99)
        for label, timings in samples.items():
            line = (
                f"{label:24s} p50 {_p(timings, 0.5):6.2f} ms   p99 {_p(timings, 0.99):6.2f} ms"
                f"   max {max(timings) * 1000:6.1f} ms   p99 ratio "
                f"{_p(timings, 0.99) / reference:5.2f} x"
            )
            if label in outputs:
                line += f"   spans/request {_spans(outputs[label]) / requests:4.1f}"
            print(line)


if __name__ == "__main__":
    main()
