"""`prorata up`: embedded PostgreSQL, web and worker as separate processes, clean shutdown."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql

from prorata import embedded
from prorata.embedded import EmbeddedPostgres
from tests.support import TestDatabase, free_port, process_env, prorata_process, run_cli, wait_until


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if text in cmdline:
            found.append(process)
    return found


def _health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/system/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
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
        assert _processes_mentioning(pgdata), "embedded postgres should be running"

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
    assert _processes_mentioning(pgdata) == [], "no postgres process may outlive `prorata up`"


def test_up_shuts_down_when_a_child_dies(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    log = tmp_path / "up.log"
    launcher = prorata_process(
        "up", env=process_env(PRORATA_DATA_DIR=str(data_dir), PRORATA_PORT=str(port)), output=log
    )
    try:
        wait_until(lambda: _health(port), timeout=90, what="the web process to answer")
        worker = next(
            c for c in psutil.Process(launcher.pid).children() if "worker" in " ".join(c.cmdline())
        )
        worker.kill()
        launcher.wait(timeout=90)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(
        line["event"].startswith("child process exited") and line.get("child") == "worker"
        for line in lines
    )
    assert _processes_mentioning(str((data_dir / "postgres").resolve())) == []
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
    for _ in range(2):  # a first start (initdb) and a restart on the same data
        server = EmbeddedPostgres(tmp_path)
        server.start()
        try:
            with psycopg.connect(server.url("postgres")) as conn:
                for name, value in embedded.SETTINGS.items():
                    row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                    assert row == (value,)
        finally:
            server.stop()
    main = (tmp_path / "postgres" / "postgresql.conf").read_text()
    assert main.count(embedded.SETTINGS_FILE) == 1
