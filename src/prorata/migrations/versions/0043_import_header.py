"""An import's header as read (`imports.header`): the file's header cells → our columns.

An import's `columns` is how the worker reads the header, fixed at upload: for CSV, the header
as the web process read it; for .xlsx, whose header only the worker can read, the mapping sent.
The API showed it as the header as read, so a workbook's import showed `{}` or the mapping
echoed. `header` is the header as read — for CSV at upload, for .xlsx by the worker — and
`columns` stays as it is (it is part of "the same file again", the unique index). Existing CSV
imports get theirs from `columns`; existing .xlsx ones stay null (theirs was never recorded).

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE imports ADD COLUMN header JSONB")
    # Every organisation's imports: the owner, past row level security for this one statement.
    op.execute(
        """
ALTER TABLE imports NO FORCE ROW LEVEL SECURITY;
ALTER TABLE blobs NO FORCE ROW LEVEL SECURITY;
UPDATE imports SET header = columns FROM blobs
WHERE blobs.id = imports.blob_id AND blobs.content_type <>
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
ALTER TABLE blobs FORCE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
"""
    )


def downgrade() -> None:
    op.execute("ALTER TABLE imports DROP COLUMN header")
