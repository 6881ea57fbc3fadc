"""When a call's notices were all sent (announced once), and the organisation's logo.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE capital_calls ADD COLUMN notices_sent_at TIMESTAMPTZ")
    op.execute(
        "ALTER TABLE orgs ADD COLUMN logo_blob_id UUID REFERENCES blobs (id) ON DELETE SET NULL"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE orgs DROP COLUMN logo_blob_id")
    op.execute("ALTER TABLE capital_calls DROP COLUMN notices_sent_at")
