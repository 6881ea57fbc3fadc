"""`prorata up`: everything on one machine, as supervised processes.

Starts the embedded PostgreSQL when no DATABASE_URL is set, applies migrations, makes sure the
demo organisation exists, then runs N `prorata web` and M `prorata worker` processes (1 and 1
unless `--web`/`--workers` or PRORATA_WEB_PROCESSES/PRORATA_WORKER_PROCESSES say otherwise).
The launcher binds the listening socket itself and every web process inherits it: they all
accept on one port (the kernel hands each connection to one of them), a restarted web process
finds the socket open, and no connection is refused while one restarts (docs/architecture.md).
A child that exits unexpectedly is restarted, after 1 s, then 2, 4, … up to 30 s while it keeps
failing (each said in the log); only a crash loop — `CRASH_LOOP_RESTARTS` restarts of one child
in a row, none of which ran `STABLE_AFTER_SECONDS` — stops everything, naming the child and its
exit code.
On SIGINT, SIGTERM or SIGHUP it stops every web process, then every worker (each kind all at
once, within that kind's grace period), then PostgreSQL, and leaves nothing behind.
"""

from __future__ import annotations

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
# A child restarted this many times in a row, never running STABLE_AFTER_SECONDS, is crash-
# looping. (Counted in a row, not within a minute: a child that takes 7 s to start and fail
# — a loaded machine importing the worker — made 5 restarts last longer than a minute, and a
# loop of them went on for ever.)
CRASH_LOOP_RESTARTS = 5
# A child that ran this long before exiting was not crash-looping: its next restart is quick.
STABLE_AFTER_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1
LOCK_FILE = "up.lock"
LISTEN_BACKLOG = 2048  # uvicorn's own default


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


def _listen(host: str, port: int) -> socket.socket:
    """The web processes' listening socket, bound before anything starts: a taken port is
    said in one line (uvicorn would only say so after the banner). The web processes inherit
    it; the launcher keeps its own copy open, so restarting one of them refuses no one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise LauncherError(f"PRORATA_HOST {host!r} is not an address: {exc.strerror}") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        listener.bind(address)
        listener.listen(LISTEN_BACKLOG)
    except OSError as exc:
        listener.close()
        raise LauncherError(
            f"cannot listen on {host}:{port}: {exc.strerror} "
            "(is Prorata already running? set PRORATA_PORT to a free port)"
        ) from None
    return listener


def _check_shared_limits(settings: Settings) -> None:
    """Rate limits counted in memory are per process: N web processes would each allow the
    whole limit (N times the configured rate). Refused in production; said in development."""
    if settings.web_processes < 2:
        return
    if not settings.rate_limit_storage.get_secret_value().startswith("memory://"):
        return
    if settings.env == "production":
        raise LauncherError(
            f"refusing to start in production: {settings.web_processes} web processes with "
            "PRORATA_RATE_LIMIT_STORAGE=memory:// would each count their own rate limits "
            f"({settings.web_processes} times the configured rates): set "
            "PRORATA_RATE_LIMIT_STORAGE=redis://host:6379/0, or run one web process"
        )
    log.warning(
        "rate limits are counted per web process (PRORATA_RATE_LIMIT_STORAGE=memory://): "
        "each allows the whole limit; set a redis:// storage to share them",
        extra={"web_processes": settings.web_processes},
    )


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if the launcher vanishes (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(command: str, env: dict[str, str], fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", "prorata", command],
        env=env,
        pass_fds=fds,  # the listening socket, for a web process
        # Own session: a terminal's Ctrl-C reaches only the launcher, which stops the children
        # in order (web first, so no request is accepted by a server whose worker is gone).
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
    )


class Child:
    """One supervised child process: restarted with backoff when it exits on its own.
    `name` is its kind ("web", "worker"), `instance` its number among that kind (from 1)."""

    def __init__(
        self, name: str, env: dict[str, str], instance: int = 1, fds: tuple[int, ...] = ()
    ) -> None:
        self.name = name
        self.instance = instance
        self.env = env
        self.fds = fds
        self.restarts = 0  # in a row, none of them stable
        self.delay = RESTART_FIRST_SECONDS
        self.restart_at: float | None = None
        self.started = time.monotonic()
        self.process: subprocess.Popen[bytes] | None = _spawn(name, env, fds)

    def supervise(self) -> bool:
        """Restart the child if it is due; True when it is crash-looping (stop everything)."""
        now = time.monotonic()
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            if now - self.started >= STABLE_AFTER_SECONDS:
                self.delay = RESTART_FIRST_SECONDS
                self.restarts = 0
            if self.restarts >= CRASH_LOOP_RESTARTS:
                log.error(
                    "child process keeps exiting; shutting down",
                    extra={
                        "child": self.name,
                        "instance": self.instance,
                        "exit_code": code,
                        "restarts": self.restarts,
                        "stable_after_seconds": STABLE_AFTER_SECONDS,
                    },
                )
                return True
            log.warning(
                "child process exited; restarting it",
                extra={
                    "child": self.name,
                    "instance": self.instance,
                    "exit_code": code,
                    "in_seconds": self.delay,
                },
            )
            self.restart_at = now + self.delay
            self.delay = min(self.delay * 2, RESTART_MAX_SECONDS)
        if self.process is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.restart_at = None
            self.started = now
            self.process = _spawn(self.name, self.env, self.fds)
            log.info(
                "child process restarted", extra={"child": self.name, "instance": self.instance}
            )
        return False

    def terminate(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        """Wait for the child to stop until `deadline` (monotonic), then kill it."""
        process = self.process
        if process is None:
            return
        try:
            process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            log.warning(
                "child did not stop in time; killing it",
                extra={"child": self.name, "instance": self.instance},
            )
            process.kill()
            process.wait()


def _stop(children: list[Child]) -> None:
    """Every web process, then every worker: each kind asked at once, so N of them stop within
    one grace period, not N (no request is accepted by a web process whose workers are gone)."""
    for name in ("web", "worker"):
        group = [child for child in children if child.name == name]
        for child in group:
            child.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT[name]
        for child in group:
            child.wait(deadline)


def _banner(settings: Settings, api_key: str) -> str:
    base = f"http://{settings.host}:{settings.port}"
    password_file = Path(settings.data_dir) / "demo-password"
    web, workers = settings.web_processes, settings.worker_processes
    processes = (
        "web and worker are separate processes"
        if web == workers == 1
        else f"{web} web and {workers} worker processes, one port"
    )
    return (
        f"\nProrata is running ({processes}).\n"
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


def _children_envs(
    settings: Settings, env: dict[str, str], listener: socket.socket
) -> list[tuple[str, int, dict[str, str], tuple[int, ...]]]:
    """(kind, instance, environment, inherited fds) of every child, web processes first.
    A metrics port is one per process: the k-th of a kind serves on the configured port + k-1."""
    web = {**env, "PRORATA_LISTEN_FD": str(listener.fileno())}
    specs: list[tuple[str, int, dict[str, str], tuple[int, ...]]] = []
    for name, count, base_env, fds, metrics_variable, metrics_port in (
        ("web", settings.web_processes, web, (listener.fileno(),), "PRORATA_METRICS_PORT",
         settings.metrics_port),
        ("worker", settings.worker_processes, env, (), "PRORATA_WORKER_METRICS_PORT",
         settings.worker_metrics_port),
    ):  # fmt: skip
        for instance in range(1, count + 1):
            child_env = dict(base_env)
            if metrics_port is not None:
                child_env[metrics_variable] = str(metrics_port + instance - 1)
            specs.append((name, instance, child_env, fds))
    return specs


def up(settings: Settings) -> int:
    try:
        _check_shared_limits(settings)
        lock = _hold_data_dir(Path(settings.data_dir))
        try:
            listener = _listen(settings.host, settings.port)
        except LauncherError:
            os.close(lock)
            raise
    except LauncherError as exc:
        print(f"prorata up: {exc}", file=sys.stderr)  # noqa: T201 - the user's terminal
        return 2  # cannot start (1 is for a child that died)
    try:
        return _run(settings, listener)
    finally:
        listener.close()
        os.close(lock)


def _run(settings: Settings, listener: socket.socket) -> int:
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    # SIGHUP too: closing the terminal (or an SSH session) would otherwise kill the launcher
    # at once, and the embedded PostgreSQL (its own session, pg_ctl's) would run on, orphaned.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)

    embedded: EmbeddedPostgres | None = None
    children: list[Child] = []
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
        for name, instance, child_env, fds in _children_envs(settings, env, listener):
            if not stop_requested.is_set():
                children.append(Child(name, child_env, instance, fds))
        if not stop_requested.is_set():  # no banner when a stop was asked for while starting
            print(_banner(settings, api_key), flush=True)  # noqa: T201 - the user's instructions
        while not stop_requested.wait(0.2):
            if any(child.supervise() for child in children):
                exit_code = 1
                break
    finally:
        # New connections are refused from here on, not queued for web processes that stop.
        listener.close()
        _stop(children)
        if embedded is not None:
            embedded.stop()
        log.info("stopped")
    return exit_code
