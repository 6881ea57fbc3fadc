"""Real servers on loopback for tests: worker and web processes, a whole `prorata up`, a webhook
receiver, an SMTP server, a Redis server, a PgBouncer."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from prorata.platform import db
from prorata.runtime.embedded import EmbeddedPostgres
from tests.support import TestDatabase, free_port, process_env, prorata_process, stop, wait_until


@contextlib.contextmanager
def worker(
    database: TestDatabase, log: Path | None = None, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A `prorata worker` process on the test database, stopped (SIGTERM) on exit. Its data
    directory (object store, mail files) is beside its log unless the caller names one."""
    values = {
        "PRORATA_DATA_DIR": str((log.parent if log else Path(tempfile.mkdtemp())) / "var"),
        "PRORATA_APP_DATABASE_URL": database.app_url,
        "PRORATA_JOB_MODULES": "tests.job_tasks",
        "PRORATA_LOG_LEVEL": "WARNING",
        **env,
    }
    process = prorata_process("worker", env=process_env(**values), output=log)
    try:
        yield process
    finally:
        stop(process, timeout=40)


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST; answers from `statuses` in turn (the
    last one repeats), with a Location header on redirects."""

    def __init__(self, statuses: list[int] | None = None, location: str = "") -> None:
        self.requests: list[Received] = []
        self.statuses = list(statuses or [200])
        self.location = location
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/prorata"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd's handler: keeps every message accepted; refuses (550) the recipients in
    `unknown`, as a server does a mailbox that does not exist."""

    def __init__(self, unknown: frozenset[str] = frozenset()) -> None:
        self.messages: list[Envelope] = []
        self.unknown = unknown

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_server(unknown: frozenset[str] = frozenset()) -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields its port and mailbox."""
    mailbox = Mailbox(unknown)
    port = free_port()
    with smtp_server_on(port, mailbox):
        yield port, mailbox


@contextlib.contextmanager
def smtp_server_on(port: int, mailbox: Mailbox) -> Iterator[None]:
    """An SMTP server on 127.0.0.1:`port` delivering into `mailbox` (a test may start one
    where a server was down)."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@contextlib.contextmanager
def web(database: TestDatabase, log: Path, **env: str) -> Iterator[str]:
    """A `prorata web` process over real HTTP (streaming responses need a real server);
    yields its base URL. A PRORATA_PORT among `env` is the port (links made with it in mind)."""
    port = int(env.get("PRORATA_PORT") or free_port())
    values = {
        "PRORATA_APP_DATABASE_URL": database.app_url,
        "PRORATA_PORT": str(port),
        "PRORATA_LOG_LEVEL": "WARNING",
        **env,
    }
    process = prorata_process("web", env=process_env(**values), output=log)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/api/system/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, what="the web process")
        yield base
    finally:
        stop(process)


@dataclasses.dataclass
class Stack:
    """A `prorata up` (embedded PostgreSQL, web, worker) on a data directory of its own."""

    base: str
    api_key: str
    data_dir: Path
    launcher: subprocess.Popen[bytes]

    def child(self, name: str) -> psutil.Process | None:
        """The running child `name` ("web", "worker"); a dead one not yet reaped is not it."""
        return running_child(self.launcher, name)

    def database(self) -> EmbeddedPostgres:
        """The stack's PostgreSQL, borrowed: `url()` is a superuser URL, `stop()` stops it."""
        server = EmbeddedPostgres(self.data_dir)
        server.start()
        return server


def processes_mentioning(text: str) -> list[psutil.Process]:
    """The processes whose command line contains `text` (a data directory, say)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline:
            found.append(process)
    return found


def running_child(launcher: subprocess.Popen[bytes], name: str) -> psutil.Process | None:
    for child in psutil.Process(launcher.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and name in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


@contextlib.contextmanager
def up(directory: Path, **env: str) -> Iterator[Stack]:
    """`prorata up` in `directory`, ready (database and a worker heartbeat); stopped on exit."""
    port = free_port()
    data_dir = directory / "var"
    values = {"PRORATA_DATA_DIR": str(data_dir), "PRORATA_PORT": str(port), **env}
    launcher = prorata_process("up", env=process_env(**values), output=directory / "up.log")
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert launcher.poll() is None, (directory / "up.log").read_text()[-3000:]
        try:
            return httpx.get(f"{base}/api/system/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=120, what="prorata up to be ready")
        api_key = (data_dir / "demo-api-key").read_text().strip()
        yield Stack(base=base, api_key=api_key, data_dir=data_dir, launcher=launcher)
    finally:
        stop(launcher, timeout=90)
    # Its PostgreSQL too, even one a test stopped and started again (`Stack.database`).
    pgdata = str((data_dir / "postgres").resolve())
    wait_until(
        lambda: not processes_mentioning(pgdata),
        timeout=30,
        what="no postgres to outlive `prorata up`",
    )


REDIS_MISSING = (
    "no redis-server here: the shared rate limit tests need Debian's redis-server "
    "(`apt-get install redis-server`, as .ci/run does) or PRORATA_REDIS_SERVER=/path/to/it"
)


@contextlib.contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A Redis server of the test's own on 127.0.0.1 (never the machine's 6379), nothing
    persisted; yields its URL. Skipped, saying how to get one, where the binary is missing."""
    binary = os.environ.get("PRORATA_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        pytest.skip(REDIS_MISSING)
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (directory / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            [binary, *arguments, "--dir", str(directory)], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        assert process.poll() is None, (directory / "redis.log").read_text()[-2000:]
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    try:
        wait_until(answers, timeout=20, what="redis-server")
        yield url
    finally:
        stop(process)


PGBOUNCER_ADMIN = "pgbouncer"  # the user of its admin console (SHOW SERVERS, …)
PGBOUNCER_MISSING = (
    "no pgbouncer here: these tests need Debian's pgbouncer "
    "(`apt-get install pgbouncer`, as .ci/run does)"
)


def pgbouncer_path() -> str | None:
    """PgBouncer's executable (Debian puts it in /usr/sbin, not on every PATH), or None."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return found if Path(found).exists() else None


@dataclasses.dataclass(frozen=True)
class Pooler:
    """A PgBouncer on 127.0.0.1:`port`; `admin_url` reaches its console (database `pgbouncer`)."""

    port: int
    log: Path

    def url(self, direct_url: str) -> str:
        """`direct_url` (user, password, database) through this PgBouncer."""
        return db.libpq_url(make_url(direct_url).set(host="127.0.0.1", port=self.port, query={}))

    @property
    def admin_url(self) -> str:
        return f"postgresql://{PGBOUNCER_ADMIN}@127.0.0.1:{self.port}/pgbouncer"

    def server_pids(self, database: str) -> list[int]:
        """The backend pids of the server connections PgBouncer holds to `database` (its
        console speaks the simple query protocol only: a client-side cursor)."""
        with psycopg.connect(
            self.admin_url, autocommit=True, cursor_factory=psycopg.ClientCursor
        ) as admin:
            cursor = admin.execute("SHOW SERVERS")
            names = [column.name for column in cursor.description or ()]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [int(row["remote_pid"]) for row in rows if row["database"] == database]


@contextlib.contextmanager
def pgbouncer(server_url: str, users: dict[str, str], *, pool_size: int = 20) -> Iterator[Pooler]:
    """Debian's PgBouncer in transaction mode on a free loopback port, in front of the server
    of `server_url` (TCP or a Unix socket: the embedded server's), every database by its own
    name; at most `pool_size` server connections per database and user.

    Clients are trusted on loopback (a test fixture); PgBouncer logs in to PostgreSQL as each
    user with the password `users` gives it. Stopped (SIGTERM) on exit.
    """
    binary = pgbouncer_path()
    if binary is None:
        raise RuntimeError(PGBOUNCER_MISSING)
    target = conninfo_to_dict(server_url)
    host = str(target.get("host") or "/var/run/postgresql")
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="prorata-pgbouncer-"))
    directory.chmod(0o755)
    auth_file = directory / "userlist.txt"
    entries = {PGBOUNCER_ADMIN: "", **users}
    auth_file.write_text("".join(f'"{user}" "{password}"\n' for user, password in entries.items()))
    settings = {
        "listen_addr": "127.0.0.1",
        "listen_port": port,
        "unix_socket_dir": "",
        "auth_type": "trust",
        "auth_file": auth_file,
        "admin_users": PGBOUNCER_ADMIN,
        "pool_mode": "transaction",
        "default_pool_size": pool_size,
        "min_pool_size": 0,
        "reserve_pool_size": 0,
        "max_client_conn": 1000,
        # Every test has a database of its own: forget a dropped one's pool soon.
        "autodb_idle_timeout": 10,
        # psycopg sends none of these, other clients (psql) may.
        "ignore_startup_parameters": "extra_float_digits",
        "log_connections": 0,
        "log_disconnections": 0,
    }
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={host} port={target.get('port') or 5432}\n"
        "[pgbouncer]\n" + "".join(f"{name} = {value}\n" for name, value in settings.items())
    )
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it becomes another user
        with config.open("a") as conf:
            conf.write(f"user = {_unprivileged_user(host)}\n")
    log = directory / "pgbouncer.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [binary, str(config)], stdout=sink, stderr=subprocess.STDOUT, cwd=directory
        )
    pooler = Pooler(port=port, log=log)

    def answers() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            psycopg.connect(pooler.admin_url, autocommit=True, connect_timeout=2).close()
        except psycopg.Error:
            return False
        return True

    try:
        wait_until(answers, timeout=30, what="pgbouncer")
        yield pooler
    finally:
        stop(process, timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def _unprivileged_user(socket_dir: str) -> str:
    """Who PgBouncer runs as when started by root: the owner of the server's socket directory
    (the embedded server's data directory is its own user's alone), else `nobody`."""
    directory = Path(socket_dir)
    if directory.is_dir():
        owner = pwd.getpwuid(directory.stat().st_uid).pw_name
        if owner != "root":
            return owner
    return "nobody"
