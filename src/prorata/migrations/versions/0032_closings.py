"""Subsequent closes with equalization: the fund's `first_closing_date`, `equalization_rate`
and `equalization_interest_to`; `closings` and their `closing_lines`; `capital_calls.closing_id`
(the call that asks a closing's new investors for their equalization and fee catch-up);
`documents.closing_id` (a closing's letter to each investor).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE funds ADD COLUMN first_closing_date DATE;
ALTER TABLE funds ADD COLUMN equalization_rate NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE funds ADD COLUMN equalization_interest_to VARCHAR(20) NOT NULL DEFAULT 'investors';
ALTER TABLE capital_calls ADD COLUMN closing_id UUID;
CREATE TABLE closings (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    number INTEGER,
    status VARCHAR(20) NOT NULL,
    previous_date DATE NOT NULL,
    closing_date DATE NOT NULL,
    due_date DATE NOT NULL,
    equalization_rate NUMERIC NOT NULL,
    interest_to VARCHAR(20) NOT NULL,
    interest_to_fund NUMERIC NOT NULL,
    call_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID,
    issued_at TIMESTAMPTZ,
    issued_by UUID,
    CONSTRAINT pk_closings PRIMARY KEY (id),
    CONSTRAINT uq_closings_fund_id_id UNIQUE (fund_id, id),
    CONSTRAINT uq_closings_fund_id_number UNIQUE (fund_id, number),
    CONSTRAINT fk_closings_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_closings_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id)
);
CREATE TABLE closing_lines (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    closing_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    kind VARCHAR(20) NOT NULL,
    call_id UUID,
    item_id UUID,
    purpose VARCHAR(20),
    deal_id UUID,
    amount NUMERIC NOT NULL,
    CONSTRAINT pk_closing_lines PRIMARY KEY (id),
    CONSTRAINT ck_closing_lines_positive_amount CHECK (amount > 0),
    CONSTRAINT fk_closing_lines_fund_id_closing_id_closings
        FOREIGN KEY (fund_id, closing_id) REFERENCES closings (fund_id, id),
    CONSTRAINT fk_closing_lines_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);
CREATE INDEX ix_closing_lines_closing_id ON closing_lines (closing_id);
ALTER TABLE documents ADD COLUMN closing_id UUID;
ALTER TABLE documents ADD CONSTRAINT uq_documents_closing_id_investor_id
    UNIQUE (closing_id, investor_id);
"""
    )
    enable_tenant_rls("closings")
    enable_tenant_rls("closing_lines")


def downgrade() -> None:
    op.execute(
        """
DELETE FROM documents WHERE closing_id IS NOT NULL;
ALTER TABLE documents DROP CONSTRAINT uq_documents_closing_id_investor_id;
ALTER TABLE documents DROP COLUMN closing_id;
DROP TABLE closing_lines;
DROP TABLE closings;
ALTER TABLE capital_calls DROP COLUMN closing_id;
ALTER TABLE funds DROP COLUMN equalization_interest_to;
ALTER TABLE funds DROP COLUMN equalization_rate;
ALTER TABLE funds DROP COLUMN first_closing_date;
"""
    )
