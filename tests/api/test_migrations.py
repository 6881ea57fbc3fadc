"""The ORM models and the migrations describe the same schema (no drift either way)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import prorata.models
import prorata.orgs.models
import prorata.platform.audit
from prorata.config import Settings
from prorata.platform import db
from prorata.runtime import migrate
from tests.support import TestDatabase


def test_models_match_the_migrated_schema(database: TestDatabase) -> None:
    engine = db.sync_engine(database.owner_url)
    models = {t for t in db.Base.metadata.tables}
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_name": lambda name, type_, parent: type_ != "table" or name in models,
                },
            )
            diff = compare_metadata(context, db.Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
    assert prorata.platform.audit.AuditEntry.__tablename__ in models


def _schema_state(connection: sa.Connection) -> tuple[list[str], list[str], list[str]]:
    """The allocations' foreign keys, the tenant policies' conditions, documents' run column."""
    keys = connection.execute(
        sa.text(
            "SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'allocations'::regclass AND contype = 'f' ORDER BY 1"
        )
    )
    policies = connection.execute(
        sa.text("SELECT DISTINCT with_check FROM pg_policies WHERE policyname = 'tenant_isolation'")
    )
    run_column = connection.execute(
        sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'documents' AND column_name = 'run_id'"
        )
    )
    return list(keys.scalars()), sorted(policies.scalars()), list(run_column.scalars())


def test_the_latest_migrations_go_down_and_up_again(database: TestDatabase) -> None:
    engine = db.sync_engine(database.owner_url)
    config = migrate.alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            config.attributes["app_role"] = Settings().db_app_role
            head = _schema_state(connection)
            command.downgrade(config, "0008")
            keys, policies, run_column = _schema_state(connection)
            command.upgrade(config, "head")
            assert _schema_state(connection) == head
            connection.rollback()
    finally:
        engine.dispose()
    # Before 0009: the foreign keys, and the tenant read for every row checked.
    assert len(keys) == 2
    assert len(policies) == 2  # org_id, and orgs.id
    assert all("SELECT" not in policy for policy in policies)
    assert head[0] == []
    assert all("SELECT" in policy for policy in head[1])
    # Before 0010: no statement runs.
    assert run_column == []
    assert head[2] == ["run_id"]
