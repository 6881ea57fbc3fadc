"""Realisations of deals (issue 19): a full or partial exit, or a write-down, books the
realised gain or loss (proceeds − cost realised) to the ledger on its date.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE deal_realisations (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    deal_id UUID NOT NULL,
    realised_on DATE NOT NULL,
    proceeds NUMERIC NOT NULL,
    cost_realised NUMERIC NOT NULL,
    gain NUMERIC NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID,
    CONSTRAINT pk_deal_realisations PRIMARY KEY (id),
    CONSTRAINT ck_deal_realisations_proceeds CHECK (proceeds >= 0),
    CONSTRAINT ck_deal_realisations_cost_realised CHECK (cost_realised >= 0),
    CONSTRAINT fk_deal_realisations_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_deal_realisations_fund_id_deal_id_deals
        FOREIGN KEY (fund_id, deal_id) REFERENCES deals (fund_id, id)
);
CREATE INDEX ix_deal_realisations_deal_id ON deal_realisations (deal_id);
"""
    )
    enable_tenant_rls("deal_realisations")


def downgrade() -> None:
    op.execute("DROP TABLE deal_realisations")
