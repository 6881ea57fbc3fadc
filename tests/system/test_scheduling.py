"""The web process asks Linux for a short scheduling slice, so a request arriving while the
worker's backends keep the CPUs busy preempts them at once (EEVDF, Linux 6.12+)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx

from prorata.runtime import scheduling
from tests.support import TestDatabase, free_port, process_env, prorata_process, stop, wait_until


def _slice(pid: int) -> int | None:
    """The slice Linux gives `pid`'s main thread, in ns (None: no EEVDF slices here)."""
    found = re.search(r"^se\.slice\s*:\s*(\d+)", Path(f"/proc/{pid}/sched").read_text(), re.M)
    return int(found.group(1)) if found else None


def _custom_slices() -> bool:
    """Linux takes a task's own slice from 6.12 on (earlier kernels ignore the request)."""
    release = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return release is not None and (int(release[1]), int(release[2])) >= (6, 12)


def test_the_web_process_runs_with_a_short_slice_the_rest_with_the_default(
    database: TestDatabase, tmp_path: Path
) -> None:
    port = free_port()
    env = process_env(
        PRORATA_APP_DATABASE_URL=database.app_url,
        PRORATA_PORT=str(port),
        PRORATA_LOG_LEVEL="WARNING",
    )
    process = prorata_process("web", env=env, output=tmp_path / "web.log")

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/system/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, what="the web process")
        if _custom_slices():
            assert _slice(process.pid) == scheduling.SHORT_SLICE_NS
            assert _slice(os.getpid()) != scheduling.SHORT_SLICE_NS  # not asked: default
        else:
            assert up()  # the request is accepted and ignored, or refused: the web runs
    finally:
        stop(process)
