"""The ORM models and the migrations describe the same schema (no drift either way)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import prorata.audit
import prorata.models
import prorata.orgs.models
from prorata import db
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
    assert prorata.audit.AuditEntry.__tablename__ in models
