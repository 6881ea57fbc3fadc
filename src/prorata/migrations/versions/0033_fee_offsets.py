"""Fee offsets and waivers: fee income the GP receives from portfolio companies (`fee_income`),
a fund term `fee_offset_rate` (the share of it that reduces the management fee), and fee
waivers per period (`fee_waivers`).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE funds ADD COLUMN fee_offset_rate NUMERIC NOT NULL DEFAULT 0;
CREATE TABLE fee_income (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    deal_id UUID,
    date DATE NOT NULL,
    kind VARCHAR(20) NOT NULL,
    amount NUMERIC NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_fee_income PRIMARY KEY (id),
    CONSTRAINT ck_fee_income_positive_amount CHECK (amount > 0),
    CONSTRAINT fk_fee_income_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_fee_income_fund_id_deal_id_deals
        FOREIGN KEY (fund_id, deal_id) REFERENCES deals (fund_id, id)
);
CREATE INDEX ix_fee_income_fund_id_date ON fee_income (fund_id, date);
CREATE TABLE fee_waivers (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    amount NUMERIC NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_fee_waivers PRIMARY KEY (id),
    CONSTRAINT ck_fee_waivers_positive_amount CHECK (amount > 0),
    CONSTRAINT ck_fee_waivers_ordered_period CHECK (period_start <= period_end),
    CONSTRAINT fk_fee_waivers_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
);
CREATE INDEX ix_fee_waivers_fund_id_period_start ON fee_waivers (fund_id, period_start);
"""
    )
    enable_tenant_rls("fee_income")
    enable_tenant_rls("fee_waivers")


def downgrade() -> None:
    op.execute(
        """
DROP TABLE fee_waivers;
DROP TABLE fee_income;
ALTER TABLE funds DROP COLUMN fee_offset_rate;
"""
    )
