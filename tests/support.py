"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # not a test class, despite the name

    name: str
    owner_url: str
    app_url: str


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def prorata_process(
    *args: str, env: dict[str, str], output: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `python -m prorata ARGS` with a clean, explicit environment.

    Long-running processes log to `output` (a file: a pipe nobody reads would fill and block
    them); short ones use pipes, read with `communicate()`.
    """
    if output is None:
        return subprocess.Popen(
            [sys.executable, "-m", "prorata", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    with output.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "prorata", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def stop(*processes: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM each process still running, wait for them, kill what does not stop in time."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# A killed worker's jobs go back to the queue once its heartbeat is this old. A live worker
# beats every third of it; 2 s was too short on a loaded CI machine (a live worker's heartbeat
# fell behind and its running job was started a second time).
QUICK_STALL = {"PRORATA_WORKER_STALLED_AFTER_SECONDS": "5"}


def process_env(**values: str) -> dict[str, str]:
    """The environment for a prorata subprocess: PATH and friends, no PRORATA_/DATABASE_ vars
    from the developer's shell, tests importable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PRORATA_", "DATABASE_URL", "OTEL_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(values)
    return env


def run_cli(*args: str, env: dict[str, str]) -> str:
    """Run a one-shot `prorata` command to completion; return its stdout, fail on non-zero."""
    result = subprocess.run(
        [sys.executable, "-m", "prorata", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"prorata {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def scrape(url: str) -> list[Sample]:
    """Every sample of a Prometheus text page, read with the Prometheus client's own parser."""
    text = httpx.get(url, timeout=5).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric_value(url: str, name: str, **labels: str) -> float | None:
    """The value of the series `name{labels…}` (other labels ignored); None if absent."""
    for sample in scrape(url):
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, every: float = 0.2
) -> None:
    """Await `check()` until it is true (the async `wait_until`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def sse_frames(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Parse `id:`/`event:`/`data:` frames (comments and `retry:` are skipped)."""
    kind: str | None = None
    number: int | None = None
    async for line in lines:
        if line.startswith("id: "):
            number = int(line.removeprefix("id: "))
        elif line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind is not None:
            data = json.loads(line.removeprefix("data: "))
            yield {"id": number, "kind": kind, "data": data}
            kind, number = None, None


@contextlib.asynccontextmanager
async def served(
    app: FastAPI, *, raise_app_exceptions: bool = True, base_url: str = "http://t"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` served in-process, with its lifespan (database engine, live-event
    hub) running: for tests that need an app of their own settings or routes."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@dataclasses.dataclass(frozen=True)
class Migrations:
    """The test database's schema, to take down to a revision and back up (`migrations`)."""

    connection: sa.Connection  # in the transaction `migrations` rolls back
    config: Config

    def down(self, revision: str) -> None:
        command.downgrade(self.config, revision)

    def up(self) -> None:
        command.upgrade(self.config, "head")


@contextlib.contextmanager
def migrations(owner_url: str) -> Iterator[Migrations]:
    """Migrations run down and up on the test database in one transaction, rolled back after:
    the database is at head again whatever the test did."""
    from prorata.config import Settings
    from prorata.platform import db
    from prorata.runtime import migrate

    engine = db.sync_engine(owner_url)
    config = migrate.alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            config.attributes["app_role"] = Settings().db_app_role
            yield Migrations(connection, config)
            connection.rollback()
    finally:
        engine.dispose()
