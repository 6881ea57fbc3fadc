"""Capital account statements for every investor of a fund in one job: each statement of such a
run names it (`run_id`, the tenant job that renders them), so the job — and a retry of it after
a crash — finds the statements it still has to render.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("run_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_documents_run_id",
        "documents",
        ["run_id", "status"],
        postgresql_where=sa.text("run_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_documents_run_id", table_name="documents")
    op.drop_column("documents", "run_id")
