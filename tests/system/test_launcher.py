"""`prorata up`: embedded PostgreSQL, web and worker as separate processes, clean shutdown."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from prorata import jobs
from prorata.runtime import embedded
from prorata.runtime.embedded import EmbeddedPostgres
from tests import job_tasks
from tests.job_support import queue_job_status
from tests.servers import processes_mentioning, running_child
from tests.support import TestDatabase, free_port, process_env, prorata_process, run_cli, wait_until


def _health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/system/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_up_runs_web_and_worker_and_stops_everything(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    log = tmp_path / "up.log"
    launcher = prorata_process(
        "up", env=process_env(PRORATA_DATA_DIR=str(data_dir), PRORATA_PORT=str(port)), output=log
    )
    try:
        wait_until(lambda: _health(port), timeout=90, what="the web process to answer")
        children = psutil.Process(launcher.pid).children()
        titles = sorted(" ".join(child.cmdline()).strip() for child in children)
        assert titles == ["prorata: web", "prorata: worker"]
        assert len({child.pid for child in children}) == 2
        pgdata = str((data_dir / "postgres").resolve())
        assert processes_mentioning(pgdata), "embedded postgres should be running"

        api_key = (data_dir / "demo-api-key").read_text().strip()
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {api_key}"}
        )
        assert me.status_code == 200
        assert me.json()["role"] == "owner"
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/system/ready").status_code == 200,
            timeout=30,
            what="readiness (database and a worker heartbeat)",
        )

        launcher.send_signal(stop_signal)
        launcher.wait(timeout=90)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0
    assert api_key in log.read_text()  # the banner shows the demo key
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert processes_mentioning(pgdata) == [], "no postgres process may outlive `prorata up`"


def _log_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_up_restarts_a_child_that_dies(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    log = tmp_path / "up.log"
    launcher = prorata_process(
        "up", env=process_env(PRORATA_DATA_DIR=str(data_dir), PRORATA_PORT=str(port)), output=log
    )
    try:
        wait_until(lambda: _health(port), timeout=90, what="the web process to answer")
        worker = running_child(launcher, "worker")
        assert worker is not None
        worker.kill()
        wait_until(
            lambda: (
                (found := running_child(launcher, "worker")) is not None and found.pid != worker.pid
            ),
            timeout=30,
            what="a new worker",
        )
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/system/ready").status_code == 200,
            timeout=60,
            what="readiness with the new worker's heartbeat",
        )
        assert launcher.poll() is None  # the launcher stayed up
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=90)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0
    lines = _log_lines(log)
    assert any(
        line["event"] == "child process exited; restarting it"
        and line.get("child") == "worker"
        and line.get("exit_code") == -signal.SIGKILL
        for line in lines
    )
    assert any(line["event"] == "child process restarted" for line in lines)
    assert processes_mentioning(str((data_dir / "postgres").resolve())) == []


def test_up_stops_everything_when_a_child_crash_loops(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    log = tmp_path / "up.log"
    # A worker that cannot start, every time (its task module does not exist): exit 2, again
    # and again, restarted 1 s, 2 s, 4 s, 8 s, 16 s later; the sixth exit in a row ends it,
    # however long each takes to fail (~5 s here idle, longer on a loaded machine).
    env = process_env(
        PRORATA_DATA_DIR=str(data_dir),
        PRORATA_PORT=str(port),
        PRORATA_JOB_MODULES="prorata_no_such_module",
    )
    launcher = prorata_process("up", env=env, output=log)
    try:
        launcher.wait(timeout=150)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1
    lines = _log_lines(log)
    restarts = [line for line in lines if line["event"] == "child process restarted"]
    assert len(restarts) == 5
    [given_up] = [
        line for line in lines if line["event"] == "child process keeps exiting; shutting down"
    ]
    assert given_up["child"] == "worker"
    assert given_up["exit_code"] == 2
    assert processes_mentioning(str((data_dir / "postgres").resolve())) == []
    assert not _health(port)


def test_orgs_create_and_list_against_an_external_database(
    database: TestDatabase, tmp_path: Path
) -> None:
    env = process_env(DATABASE_URL=database.owner_url, PRORATA_DATA_DIR=str(tmp_path))
    org = json.loads(
        run_cli("orgs", "create", "Acme Ventures", "--owner-email", "gp@acme.example", env=env)
    )
    assert set(org) == {"org_id", "user_id", "api_key"}
    assert org["api_key"].startswith("prk_")
    orgs = json.loads(run_cli("orgs", "list", env=env))
    assert [(o["org_id"], o["name"]) for o in orgs] == [(org["org_id"], "Acme Ventures")]
    # nothing embedded was started for an external database
    assert not (tmp_path / "postgres").exists()


def test_the_embedded_server_runs_with_our_settings_once_included(tmp_path: Path) -> None:
    # A first start (initdb), then a restart on the same data with a setting of its own added
    # (as the test server's are) and one of ours changed.
    changed = {"synchronous_commit": "off", "wal_writer_delay": "20ms"}
    for extra in ({}, changed):
        server = EmbeddedPostgres(tmp_path, settings=extra)
        server.start()
        try:
            with psycopg.connect(server.url("postgres")) as conn:
                for name, value in {**embedded.SETTINGS, **extra}.items():
                    row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                    assert row == (value,)
        finally:
            server.stop()
    main = (tmp_path / "postgres" / "postgresql.conf").read_text()
    assert main.count(embedded.SETTINGS_FILE) == 1


def test_a_second_up_on_the_same_data_refuses_and_leaves_the_first_running(
    tmp_path: Path,
) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    env = process_env(PRORATA_DATA_DIR=str(data_dir), PRORATA_PORT=str(port))
    first = prorata_process("up", env=env, output=tmp_path / "first.log")
    try:
        wait_until(lambda: _health(port), timeout=90, what="the web process to answer")
        # even on another port: the data directory (and its PostgreSQL) is the first one's
        second = prorata_process("up", env={**env, "PRORATA_PORT": str(free_port())})
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 2
        assert b"already running" in stderr
        assert b"Traceback" not in stderr

        api_key = (data_dir / "demo-api-key").read_text().strip()
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {api_key}"}
        )
        assert me.status_code == 200, "the first one's database must still be running"
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=90)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0
    assert processes_mentioning(str((data_dir / "postgres").resolve())) == []


def test_up_says_when_its_port_is_taken_before_starting_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = prorata_process(
            "up", env=process_env(PRORATA_DATA_DIR=str(data_dir), PRORATA_PORT=str(port))
        )
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}".encode() in stderr
    assert b"PRORATA_PORT" in stderr
    assert b"Prorata is running" not in stdout
    assert not (data_dir / "postgres").exists()  # nothing was started


def _kill_9_the_postmaster(server: EmbeddedPostgres) -> Path:
    """Start `server` and kill -9 its postmaster; return the postmaster.pid it leaves behind."""
    server.start()
    postmaster = psutil.Process(server.pid())
    postmaster.kill()
    postmaster.wait(10)
    return server.pgdata / "postmaster.pid"


def test_a_stale_postmaster_pid_naming_a_live_process_does_not_stop_a_start(
    tmp_path: Path,
) -> None:
    pid_file = _kill_9_the_postmaster(EmbeddedPostgres(tmp_path))
    wait_until(
        lambda: not processes_mentioning(str((tmp_path / "postgres").resolve())),
        timeout=30,
        what="the backends to notice their postmaster died",
    )
    # After a restart (a container's), the old PID belongs to some other process.
    bystander = subprocess.Popen(["sleep", "120"])  # not a postgres process
    try:
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(bystander.pid), *lines[1:]]) + "\n")

        server = EmbeddedPostgres(tmp_path)
        server.start()
        try:
            assert server.owned
            with psycopg.connect(server.ensure_database()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()
        assert processes_mentioning(str((tmp_path / "postgres").resolve())) == []
        assert bystander.poll() is None, "stopping the server must not signal the PID's new owner"
    finally:
        bystander.kill()
        bystander.wait()


def test_stopping_after_the_postmaster_died_leaves_the_pid_s_new_owner_alone(
    tmp_path: Path,
) -> None:
    server = EmbeddedPostgres(tmp_path)
    pid_file = _kill_9_the_postmaster(server)  # under a running launcher
    bystander = subprocess.Popen(["sleep", "120"])  # the dead postmaster's PID, handed on
    try:
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(bystander.pid), *lines[1:]]) + "\n")
        server.stop()
        assert bystander.poll() is None, "stopping the server must not signal the PID's new owner"
    finally:
        bystander.kill()
        bystander.wait()


def test_orgs_commands_accept_a_heroku_style_postgres_url(
    database: TestDatabase, tmp_path: Path
) -> None:
    # Heroku-style platforms (the Procfile's) set DATABASE_URL=postgres://…
    url = database.owner_url.replace("postgresql://", "postgres://", 1)
    env = process_env(DATABASE_URL=url, PRORATA_DATA_DIR=str(tmp_path))
    run_cli("migrate", env=env)
    org = json.loads(
        run_cli("orgs", "create", "Heroku LP", "--owner-email", "h@p.example", env=env)
    )
    assert org["api_key"].startswith("prk_")


@pytest.mark.parametrize("command", [("migrate",), ("orgs", "list"), ("up",)])
def test_an_unreachable_database_is_one_line_not_a_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = process_env(
        DATABASE_URL=f"postgresql://owner:hunter2@127.0.0.1:{free_port()}/prorata",
        PRORATA_DATA_DIR=str(tmp_path),
        PRORATA_PORT=str(free_port()),
    )
    process = prorata_process(*command, env=env)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"prorata: database unavailable:" in stderr
    assert b"Traceback" not in stderr
    assert b"hunter2" not in stderr


@pytest.mark.parametrize("command", ["web", "worker"])
def test_web_and_worker_without_a_database_say_so_plainly(tmp_path: Path, command: str) -> None:
    process = prorata_process(command, env=process_env(PRORATA_DATA_DIR=str(tmp_path)))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"DATABASE_URL is not set" in stderr
    assert b"Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("", "--owner-email", "gp@acme.example"), b"NAME: "),
        (("   ", "--owner-email", "gp@acme.example"), b"NAME: "),
        (("A" * 201, "--owner-email", "gp@acme.example"), b"NAME: "),
        (("Acme", "--owner-email", "not-an-address"), b"--owner-email: is not an email address"),
    ],
)
def test_orgs_create_holds_its_arguments_to_the_api_rules(
    database: TestDatabase, tmp_path: Path, args: tuple[str, ...], said: bytes
) -> None:
    env = process_env(DATABASE_URL=database.owner_url, PRORATA_DATA_DIR=str(tmp_path))
    process = prorata_process("orgs", "create", *args, env=env)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert said in stderr
    assert b"Traceback" not in stderr
    assert json.loads(run_cli("orgs", "list", env=env)) == []


def _web_children(launcher: subprocess.Popen[bytes]) -> list[psutil.Process]:
    webs = []
    for child in psutil.Process(launcher.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "web" in " ".join(child.cmdline()):
                webs.append(child)
        except psutil.Error:
            continue
    return webs


def _workers_running(owner_url: str) -> int:
    """How many workers hold a job at once (procrastinate records the worker of each job)."""
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT worker_id) FROM procrastinate_jobs WHERE status = 'doing'"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_up_runs_two_web_and_two_worker_processes_and_stops_them_all(
    database: TestDatabase, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "up.log"
    env = process_env(
        DATABASE_URL=database.owner_url,
        PRORATA_DATA_DIR=str(tmp_path / "var"),
        PRORATA_PORT=str(port),
        PRORATA_DEMO_DATA="false",
        PRORATA_JOB_MODULES="tests.job_tasks",
        PRORATA_WORKER_CONCURRENCY="1",  # a worker holding a job takes no other
    )
    launcher = prorata_process("up", "--web", "2", "--workers", "2", env=env, output=log)
    try:
        wait_until(lambda: _health(port), timeout=90, what="the web processes to answer")

        def titles() -> list[str]:
            children = psutil.Process(launcher.pid).children()
            return sorted(" ".join(child.cmdline()).strip() for child in children)

        # One web process answering says nothing of the other, which may still be starting.
        expected = ["prorata: web"] * 2 + ["prorata: worker"] * 2
        wait_until(lambda: titles() == expected, timeout=90, what=f"the processes {expected}")
        children = psutil.Process(launcher.pid).children()
        webs = _web_children(launcher)

        # Each web process answers on the one port: with the other one stopped (SIGSTOP, it
        # cannot accept), every connection is the running one's.
        for answering, paused in (webs, webs[::-1]):
            paused.suspend()
            try:
                wait_until(
                    lambda: _health(port), timeout=60, what=f"web process {answering.pid} alone"
                )
            finally:
                paused.resume()

        # Each worker takes a job: two blocking jobs run at once, one per worker.
        async with sessions() as session, session.begin():
            ids = [
                await jobs.defer(session, job_tasks.wait_for_release, directory=str(tmp_path))
                for _ in range(2)
            ]
        starts = tmp_path / "starts"
        wait_until(
            lambda: starts.exists() and len(starts.read_text().splitlines()) == 2,
            timeout=60,
            what="both jobs to start",
        )
        assert _workers_running(database.owner_url) == 2
        (tmp_path / "release").write_text("go")
        wait_until(
            lambda: [queue_job_status(database.owner_url, i) for i in ids] == ["succeeded"] * 2,
            timeout=30,
            what="the jobs to finish",
        )

        # A web process that dies is restarted on the same socket; the other serves meanwhile.
        webs[0].kill()
        webs[0].wait(10)
        assert _health(port)
        wait_until(lambda: len(_web_children(launcher)) == 2, timeout=30, what="a new web process")
        [restarted] = [web for web in _web_children(launcher) if web.pid != webs[1].pid]
        webs[1].suspend()
        try:  # once it has started: until then connections wait in the socket's backlog
            wait_until(lambda: _health(port), timeout=60, what="the restarted web process")
        finally:
            webs[1].resume()

        launcher.send_signal(signal.SIGTERM)
        # Within the grace periods: web processes together (15 s), then workers (40 s).
        launcher.wait(timeout=60)
    finally:
        for child in psutil.Process(launcher.pid).children() if launcher.poll() is None else []:
            child.resume()
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0
    for child in [*children, restarted]:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert not _health(port)
    warnings = [line for line in _log_lines(log) if line["level"] == "warning"]
    assert any("rate limits are counted per web process" in str(w["event"]) for w in warnings)


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--web", "2"), {}), ((), {"PRORATA_WEB_PROCESSES": "2"})],
    ids=["option", "setting"],
)
def test_up_refuses_several_web_processes_counting_limits_in_memory_in_production(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    data_dir = tmp_path / "var"
    production = process_env(
        PRORATA_ENV="production",
        DATABASE_URL=f"postgresql://owner:pw@127.0.0.1:{free_port()}/prorata",
        PRORATA_DB_APP_PASSWORD="not-the-default-" + uuid.uuid4().hex,
        PRORATA_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        PRORATA_DATA_DIR=str(data_dir),
        PRORATA_PORT=str(free_port()),
        **env,
    )
    process = prorata_process("up", *args, env=production)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"refusing to start in production: 2 web processes" in stderr
    assert b"PRORATA_RATE_LIMIT_STORAGE=redis://" in stderr
    assert b"Traceback" not in stderr
    assert b"Prorata is running" not in stdout
    assert not data_dir.exists()  # nothing was started


@pytest.mark.parametrize("count", ["0", "65", "two"])
def test_up_says_which_process_counts_it_takes(tmp_path: Path, count: str) -> None:
    process = prorata_process(
        "up", "--workers", count, env=process_env(PRORATA_DATA_DIR=str(tmp_path / "var"))
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2  # argparse's
    assert b"is not a number of processes from 1 to 64" in stderr
    assert not (tmp_path / "var").exists()
