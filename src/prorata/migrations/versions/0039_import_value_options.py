"""How an import's file writes its values (issue 20): the upload's `number_format`,
`date_format` and `sheet` options, read by the worker's checks.

Revision ID: 0039
Revises: 0035
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0039"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE imports
    ADD COLUMN number_format VARCHAR(16) NOT NULL DEFAULT '1,234.56',
    ADD COLUMN date_format VARCHAR(16),
    ADD COLUMN sheet VARCHAR(100)
"""
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE imports DROP COLUMN number_format, DROP COLUMN date_format, DROP COLUMN sheet"
    )
