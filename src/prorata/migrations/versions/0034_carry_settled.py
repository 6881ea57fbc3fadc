"""Carry that is settled: the fund terms `carry_holdback` and `clawback_tax_rate`; each
distribution's and line's `carry_escrowed` (the part of its carry held in escrow); `clawbacks`,
the fund's one clawback booked at wind-down.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE funds ADD COLUMN carry_holdback NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE funds ADD COLUMN clawback_tax_rate NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN carry_escrowed NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE distributions ADD COLUMN interim_clawback NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE distribution_lines ADD COLUMN carry_escrowed NUMERIC NOT NULL DEFAULT 0;
CREATE TABLE clawbacks (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    as_of DATE NOT NULL,
    owed NUMERIC NOT NULL,
    from_escrow NUMERIC NOT NULL,
    escrow_to_gp NUMERIC NOT NULL,
    gp_owes NUMERIC NOT NULL,
    tax_rate NUMERIC NOT NULL,
    receivable NUMERIC NOT NULL,
    lines JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    made_by UUID,
    CONSTRAINT pk_clawbacks PRIMARY KEY (id),
    CONSTRAINT uq_clawbacks_fund_id UNIQUE (fund_id),
    CONSTRAINT fk_clawbacks_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
);
"""
    )
    enable_tenant_rls("clawbacks")


def downgrade() -> None:
    op.execute(
        """
DROP TABLE clawbacks;
ALTER TABLE distribution_lines DROP COLUMN carry_escrowed;
ALTER TABLE distributions DROP COLUMN interim_clawback;
ALTER TABLE distributions DROP COLUMN carry_escrowed;
ALTER TABLE funds DROP COLUMN clawback_tax_rate;
ALTER TABLE funds DROP COLUMN carry_holdback;
"""
    )
