"""Investors' bank accounts for distributions: the current one, sealed, and the changes made to
it (an LP's held until a GP admin approves it).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE bank_accounts (
    investor_id UUID NOT NULL,
    org_id UUID NOT NULL,
    bank_name VARCHAR(200) NOT NULL,
    account_name VARCHAR(200) NOT NULL,
    reference VARCHAR(140),
    details_sealed VARCHAR(1000) NOT NULL,
    last4 VARCHAR(4) NOT NULL,
    updated_by UUID,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_bank_accounts PRIMARY KEY (investor_id),
    CONSTRAINT fk_bank_accounts_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id) ON DELETE CASCADE
);
CREATE TABLE bank_account_changes (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    bank_name VARCHAR(200) NOT NULL,
    account_name VARCHAR(200) NOT NULL,
    reference VARCHAR(140),
    details_sealed VARCHAR(1000) NOT NULL,
    last4 VARCHAR(4) NOT NULL,
    status VARCHAR(20) NOT NULL,
    requested_by UUID,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_by UUID,
    decided_at TIMESTAMPTZ,
    CONSTRAINT pk_bank_account_changes PRIMARY KEY (id),
    CONSTRAINT fk_bank_account_changes_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id) ON DELETE CASCADE,
    CONSTRAINT ck_bank_account_changes_status
        CHECK (status IN ('pending', 'applied', 'approved', 'rejected', 'withdrawn'))
);
CREATE INDEX ix_bank_account_changes_investor_id
    ON bank_account_changes (investor_id, requested_at);
CREATE UNIQUE INDEX uq_bank_account_changes_pending
    ON bank_account_changes (investor_id) WHERE status = 'pending';
"""
    )
    enable_tenant_rls("bank_accounts")
    enable_tenant_rls("bank_account_changes")


def downgrade() -> None:
    op.execute("DROP TABLE bank_account_changes; DROP TABLE bank_accounts")
