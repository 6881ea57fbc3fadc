"""A distribution can be cancelled (the fund's latest standing one): its ledger entries are
reversed by new entries and the row says when. A mistyped date or amount no longer stays in
the fund's books for ever — and a date typed years ahead no longer refuses every distribution
before it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "distributions", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("distributions", "cancelled_at")
