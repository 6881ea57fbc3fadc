"""A fund's holiday calendar: the holidays its business days skip (none: weekdays only).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE funds ADD COLUMN holiday_calendar VARCHAR(8)")


def downgrade() -> None:
    op.execute("ALTER TABLE funds DROP COLUMN holiday_calendar")
