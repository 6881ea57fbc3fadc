"""Production mode: `prorata migrate`, `web` and `worker` against DATABASE_URL, nothing embedded."""

from __future__ import annotations

import base64
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from prorata.platform import db
from tests.support import free_port, process_env, prorata_process, run_cli, wait_until


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    name = f"prorata_prod_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield db.libpq_url(make_url(server_url).set(database=name))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migrate_web_and_worker_run_against_an_external_database(
    empty_database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = process_env(
        PRORATA_ENV="production",
        DATABASE_URL=empty_database,
        PRORATA_DB_APP_PASSWORD="not-the-default-" + uuid.uuid4().hex,
        PRORATA_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        PRORATA_DATA_DIR=str(tmp_path / "var"),
        PRORATA_PORT=str(port),
    )
    run_cli("migrate", env=env)
    created = run_cli("orgs", "create", "Prod LP", "--owner-email", "o@p.example", env=env)
    api_key = json.loads(created)["api_key"]

    web = prorata_process("web", env=env, output=tmp_path / "web.log")
    worker = prorata_process("worker", env=env, output=tmp_path / "worker.log")
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/api/system/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, what="web to be ready with a worker heartbeat")
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {api_key}"})
        assert me.status_code == 200
        assert me.json()["org"]["name"] == "Prod LP"
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(60) for process in (web, worker)]
    # uvicorn re-raises the SIGTERM it handled after its graceful shutdown: -15 is a clean stop.
    assert codes[0] in {0, -signal.SIGTERM}
    assert codes[1] == 0
    assert "Application shutdown complete" in (tmp_path / "web.log").read_text()
    assert not (tmp_path / "var" / "postgres").exists()  # nothing embedded was started


def test_production_refuses_to_start_without_a_database_url(tmp_path: Path) -> None:
    process = prorata_process("web", env=process_env(PRORATA_ENV="production"))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert b"DATABASE_URL must be set explicitly" in stderr
