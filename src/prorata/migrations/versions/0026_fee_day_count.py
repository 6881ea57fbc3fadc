"""The day count of a fund's management fee, apart from its `day_count` (the preferred return
and interest): 30/360 by default, as fees were always counted (a quarter is a quarter of the
annual fee), so no fund's fees change with this migration.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE funds ADD COLUMN fee_day_count VARCHAR(20) NOT NULL DEFAULT '30/360'")


def downgrade() -> None:
    op.execute("ALTER TABLE funds DROP COLUMN fee_day_count")
