"""How a statement run reaches investors' contacts: a link to the portal's documents (the
default) or the PDF attached — an organisation setting.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orgs ADD COLUMN statement_delivery VARCHAR(20) NOT NULL DEFAULT 'link', "
        "ADD CONSTRAINT ck_orgs_statement_delivery "
        "CHECK (statement_delivery IN ('link', 'attachment'))"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE orgs DROP CONSTRAINT ck_orgs_statement_delivery, "
        "DROP COLUMN statement_delivery"
    )
