"""Valuations: NAV of a fund as of a date.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE valuations (
            id UUID NOT NULL,
            org_id UUID NOT NULL,
            fund_id UUID NOT NULL,
            as_of DATE NOT NULL,
            nav NUMERIC NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CONSTRAINT pk_valuations PRIMARY KEY (id),
            CONSTRAINT uq_valuations_fund_id_as_of UNIQUE (fund_id, as_of),
            CONSTRAINT fk_valuations_org_id_fund_id_funds
                FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
        )
        """
    )
    enable_tenant_rls("valuations")


def downgrade() -> None:
    op.execute("DROP TABLE valuations")
