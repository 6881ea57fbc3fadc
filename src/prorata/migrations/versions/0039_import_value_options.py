"""How an import's file writes its values (issue 20): the upload's `number_format`,
`date_format` and `sheet` options, read by the worker's checks. They are part of what makes
an upload "the same file again" (the partial unique index), with the columns the header was
read as (0037's `columns`: another mapping): the same bytes read with another date_format or
another mapping are other rows.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


INDEX = "uq_imports_fund_id_kind_dry_run_sha256"
WHERE = "WHERE status NOT IN ('failed', 'rejected')"


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE imports
    ADD COLUMN number_format VARCHAR(16) NOT NULL DEFAULT '1,234.56',
    ADD COLUMN date_format VARCHAR(16),
    ADD COLUMN sheet VARCHAR(100)
"""
    )
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(
        f"CREATE UNIQUE INDEX {INDEX} ON imports (fund_id, kind, dry_run, sha256, number_format, "
        f"date_format, sheet, columns) NULLS NOT DISTINCT {WHERE}"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(f"CREATE UNIQUE INDEX {INDEX} ON imports (fund_id, kind, dry_run, sha256) {WHERE}")
    op.execute(
        "ALTER TABLE imports DROP COLUMN number_format, DROP COLUMN date_format, DROP COLUMN sheet"
    )
