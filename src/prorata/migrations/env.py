"""Alembic environment: runs as the owner role, on the connection `runtime.migrate` hands in."""

from __future__ import annotations

from alembic import context

from prorata.platform.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=Base.metadata, transaction_per_migration=True
)
with context.begin_transaction():
    context.run_migrations()
