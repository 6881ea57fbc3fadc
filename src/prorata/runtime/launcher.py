"""`prorata up`: everything on one machine, as two supervised processes.

Starts the embedded PostgreSQL when no DATABASE_URL is set, applies migrations, makes sure the
demo organisation exists, then runs `prorata web` and `prorata worker` as separate processes.
A child that exits unexpectedly is restarted, after 1 s, then 2, 4, … up to 30 s while it keeps
failing (each said in the log); only a crash loop — `CRASH_LOOP_RESTARTS` restarts of one child
within `CRASH_LOOP_WINDOW_SECONDS` — stops everything, naming the child and its exit code.
On SIGINT, SIGTERM or SIGHUP it stops web, then worker, then PostgreSQL, and leaves nothing behind.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from prorata.config import Settings
from prorata.platform import db
from prorata.runtime import demo, migrate
from prorata.runtime.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)

_STOP_TIMEOUT = {"web": 15.0, "worker": 40.0}
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_SECONDS = 60.0
# A child that ran this long before exiting was not crash-looping: its next restart is quick.
STABLE_AFTER_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1
LOCK_FILE = "up.lock"


class LauncherError(RuntimeError):
    """`prorata up` cannot start: said in one line on stderr, before anything is started."""


def _hold_data_dir(data_dir: Path) -> int:
    """One `prorata up` per data directory: a second one would borrow the first one's
    PostgreSQL and stop it on its way out. The lock goes with the process, even on kill -9."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LauncherError(
            f"another `prorata up` is already running on {data_dir.resolve()}"
        ) from None
    return fd


def _check_port(host: str, port: int) -> None:
    """Fail before starting anything when the web process could not listen (uvicorn would
    only say so after the banner, and the launcher would then stop everything)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise LauncherError(f"PRORATA_HOST {host!r} is not an address: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise LauncherError(
                f"cannot listen on {host}:{port}: {exc.strerror} "
                "(is Prorata already running? set PRORATA_PORT to a free port)"
            ) from None


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if the launcher vanishes (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", "prorata", command],
        env=env,
        # Own session: a terminal's Ctrl-C reaches only the launcher, which stops the children
        # in order (web first, so no request is accepted by a server whose worker is gone).
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )


class Child:
    """One supervised child process: restarted with backoff when it exits on its own."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.restarts: collections.deque[float] = collections.deque()
        self.delay = RESTART_FIRST_SECONDS
        self.restart_at: float | None = None
        self.started = time.monotonic()
        self.process: subprocess.Popen[bytes] | None = _spawn(name, env)

    def supervise(self) -> bool:
        """Restart the child if it is due; True when it is crash-looping (stop everything)."""
        now = time.monotonic()
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            if now - self.started >= STABLE_AFTER_SECONDS:
                self.delay = RESTART_FIRST_SECONDS
            while self.restarts and self.restarts[0] < now - CRASH_LOOP_WINDOW_SECONDS:
                self.restarts.popleft()
            if len(self.restarts) >= CRASH_LOOP_RESTARTS:
                log.error(
                    "child process keeps exiting; shutting down",
                    extra={
                        "child": self.name,
                        "exit_code": code,
                        "restarts": len(self.restarts),
                        "window_seconds": CRASH_LOOP_WINDOW_SECONDS,
                    },
                )
                return True
            log.warning(
                "child process exited; restarting it",
                extra={"child": self.name, "exit_code": code, "in_seconds": self.delay},
            )
            self.restart_at = now + self.delay
            self.delay = min(self.delay * 2, RESTART_MAX_SECONDS)
        if self.process is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts.append(now)
            self.restart_at = None
            self.started = now
            self.process = _spawn(self.name, self.env)
            log.info("child process restarted", extra={"child": self.name})
        return False

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT[self.name])
        except subprocess.TimeoutExpired:
            log.warning("child did not stop in time; killing it", extra={"child": self.name})
            process.kill()
            process.wait()


def _banner(settings: Settings, api_key: str) -> str:
    base = f"http://{settings.host}:{settings.port}"
    password_file = Path(settings.data_dir) / "demo-password"
    return (
        "\nProrata is running (web and worker are separate processes).\n"
        f"  Console: {base}/   (sign in as {demo.DEMO_OWNER_EMAIL}, password in {password_file})\n"
        f"  API:           {base}/api/v1   (alias: {base}/api)\n"
        f"  API docs:      {base}/api/v1/docs\n"
        f"  Health:        {base}/api/system/health\n"
        f"  Demo API key:  {api_key}   (owner of the demo organisation)\n"
        f'  Try:           curl -H "Authorization: Bearer {api_key}" {base}/api/v1/me\n'
        "Press Ctrl-C to stop.\n"
    )


def _child_env(settings: Settings, owner_url: str) -> dict[str, str]:
    env = dict(os.environ)
    # Children connect as the app role only; they never see the owner's credentials.
    env.pop("DATABASE_URL", None)
    env["PRORATA_APP_DATABASE_URL"] = db.app_url(settings, owner=owner_url)
    env["PRORATA_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    return env


def up(settings: Settings) -> int:
    try:
        lock = _hold_data_dir(Path(settings.data_dir))
        _check_port(settings.host, settings.port)
    except LauncherError as exc:
        print(f"prorata up: {exc}", file=sys.stderr)  # noqa: T201 - the user's terminal
        return 2  # cannot start (1 is for a child that died)
    try:
        return _run(settings)
    finally:
        os.close(lock)


def _run(settings: Settings) -> int:
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    # SIGHUP too: closing the terminal (or an SSH session) would otherwise kill the launcher
    # at once, and the embedded PostgreSQL (its own session, pg_ctl's) would run on, orphaned.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)

    embedded: EmbeddedPostgres | None = None
    children: dict[str, Child] = {}
    exit_code = 0
    try:
        if settings.embedded:
            embedded = EmbeddedPostgres(settings.data_dir)
            embedded.start()
            owner_url = embedded.ensure_database()
        else:
            owner_url = db.owner_url(settings)
        migrate.run(settings, url=owner_url)
        api_key = demo.ensure_demo_org(
            settings, app_url=db.app_url(settings, owner=owner_url)
        ).api_key
        env = _child_env(settings, owner_url)
        for name in ("web", "worker"):
            if not stop_requested.is_set():
                children[name] = Child(name, env)
        if not stop_requested.is_set():  # no banner when a stop was asked for while starting
            print(_banner(settings, api_key), flush=True)  # noqa: T201 - the user's instructions
        while not stop_requested.wait(0.2):
            if any(child.supervise() for child in children.values()):
                exit_code = 1
                break
    finally:
        for name in ("web", "worker"):
            if name in children:
                children[name].stop()
        if embedded is not None:
            embedded.stop()
        log.info("stopped")
    return exit_code
