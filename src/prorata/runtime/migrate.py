"""`prorata migrate`: make sure the app role exists, then apply every Alembic migration.

Runs as the owner role (DATABASE_URL). The app role is created NOSUPERUSER NOBYPASSRLS and owns
nothing; its password is (re)set from the settings on every run, so rotating it is one command.
"""

from __future__ import annotations

import logging
from importlib import resources

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from psycopg import sql

from prorata.config import Settings
from prorata.platform import db

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70726F72617461  # "prorata"


def ensure_app_role(conn: psycopg.Connection[tuple[object, ...]], role: str, password: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL(
            "{} ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD {}"
        ).format(sql.SQL(verb), sql.Identifier(role), sql.Literal(password))
    )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("prorata") / "migrations"))
    return config


def run(settings: Settings, *, url: str | None = None) -> None:
    """Apply migrations to the database at `url` (default: DATABASE_URL)."""
    owner_url = url or db.owner_url(settings)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ensure_app_role(conn, settings.db_app_role, settings.db_app_password.get_secret_value())
    engine = db.sync_engine(owner_url)
    try:
        with engine.begin() as connection:
            # One migrator at a time, however many replicas start together.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            config = alembic_config()
            config.attributes["connection"] = connection
            config.attributes["app_role"] = settings.db_app_role
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    log.info("migrations applied")
