"""What the benchmarks share: a migrated database (embedded, or PRORATA_BENCH_DATABASE_URL)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from prorata.config import Settings
from prorata.platform import db
from prorata.runtime import migrate
from prorata.runtime.embedded import EmbeddedPostgres


@contextlib.contextmanager
def bench_database() -> Iterator[Settings]:
    """A fresh, migrated database; dropped afterwards. Settings point at it."""
    external = os.environ.get("PRORATA_BENCH_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if external:
            server = external
        else:
            embedded = EmbeddedPostgres(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            embedded.start()
            stack.callback(embedded.stop)
            server = embedded.url("postgres")
        name = f"prorata_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        stack.callback(_drop, server, name)
        url = db.libpq_url(make_url(server).set(database=name))
        settings = Settings(env="test", database_url=url)  # type: ignore[arg-type]
        migrate.run(settings)
        yield settings


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class Timer:
    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
