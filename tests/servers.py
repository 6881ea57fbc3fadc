"""Real servers on loopback for tests: worker and web processes, a whole `prorata up`, a webhook
receiver, an SMTP server, a Redis server."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

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
