"""Investor contacts: several people per investor, each receiving notices, statements and
distribution notices as they choose (the investor's own e-mail stays the default).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE investor_contacts (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(320) NOT NULL,
    notices BOOLEAN NOT NULL DEFAULT true,
    statements BOOLEAN NOT NULL DEFAULT true,
    distributions BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_investor_contacts PRIMARY KEY (id),
    CONSTRAINT fk_investor_contacts_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_investor_contacts_investor_id_email
    ON investor_contacts (investor_id, lower(email));
"""
    )
    enable_tenant_rls("investor_contacts")


def downgrade() -> None:
    op.execute("DROP TABLE investor_contacts")
