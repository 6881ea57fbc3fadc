"""The multi-tenant load bench runs end to end in its smallest configuration: two tenants, one
web process, one worker, a few seconds. Its figures are not checked (timings belong in bench/,
never in tests): that it prints every route class, finishes its jobs and counts no error is."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.support import REPO_ROOT, process_env

CLASSES = (
    "list",
    "metrics",
    "capital account",
    "page",
    "allocation put",
    "payment",
    "import",
    "statement run",
)


def test_the_load_bench_prints_every_route_class_and_no_error(server_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "--orgs=2",
            "--duration=3",
            "--configs=1x1",
            "--users=4",
            "--drain=120",
        ],
        env=process_env(PRORATA_BENCH_DATABASE_URL=server_url),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "== 1 web x 1 worker:" in out, out
    total = re.search(r": ([\d,]+) requests in [\d.]+ s = [\d,]+ req/s; errors 0;", out)
    assert total, out
    assert int(total.group(1).replace(",", "")) > 0
    # A row per class, with its count, rate, p50 and p99 ("-" for a class a short run did not
    # reach) and no error.
    for kind in CLASSES:
        figure = r"(?:[\d.]+|-)"
        row = rf"^{kind} +\d+ +[\d.]+ +{figure} +{figure} +0$"
        assert re.search(row, out, re.MULTILINE), f"no figures for {kind!r}:\n{out}"
    assert "ERROR" not in out, out
    assert re.search(r"\(0 not succeeded\)", out), out
    assert re.search(r"web [\d.]+ s \([\d.]+ ms/request\)", out), out
