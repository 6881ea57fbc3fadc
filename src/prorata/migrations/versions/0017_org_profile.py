"""The organisation's profile for its documents: legal name, address, signature block.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orgs ADD COLUMN legal_name VARCHAR(200), ADD COLUMN address VARCHAR(500), "
        "ADD COLUMN signature_block VARCHAR(500)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE orgs DROP COLUMN legal_name, DROP COLUMN address, DROP COLUMN signature_block"
    )
