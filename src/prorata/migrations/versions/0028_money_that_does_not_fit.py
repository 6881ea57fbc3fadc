"""Money that does not fit: a payment's excess kept as the investor's credit (`credit` on the
payment, `credit` entries in the ledger), bounced payments reversed (one reversal a payment,
never an edit), and a partly paid call closed out (`closed_on`; each line's `released` part
of its unpaid rest, which the ledger reverses).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE capital_call_payments ADD COLUMN credit NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE capital_call_payments ADD CONSTRAINT ck_capital_call_payments_credit_within_amount
    CHECK (credit >= 0 AND credit <= amount);
ALTER TABLE capital_call_lines ADD COLUMN released NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE capital_calls ADD COLUMN closed_on DATE;
ALTER TABLE capital_calls ADD COLUMN closed_at TIMESTAMPTZ;
ALTER TABLE capital_calls ADD COLUMN closed_by UUID;
CREATE TABLE capital_call_payment_reversals (
    payment_id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    call_id UUID NOT NULL,
    reversed_on DATE NOT NULL,
    reason VARCHAR(500) NOT NULL,
    reversed_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_capital_call_payment_reversals PRIMARY KEY (payment_id),
    CONSTRAINT fk_capital_call_payment_reversals_payment_id_capital_call_payments
        FOREIGN KEY (payment_id) REFERENCES capital_call_payments (id),
    CONSTRAINT fk_capital_call_payment_reversals_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id)
);
CREATE INDEX ix_capital_call_payment_reversals_call_id
    ON capital_call_payment_reversals (call_id);
"""
    )
    enable_tenant_rls("capital_call_payment_reversals")


def downgrade() -> None:
    op.execute(
        """
DROP TABLE capital_call_payment_reversals;
UPDATE capital_calls SET status = 'partially_paid' WHERE status = 'closed';
ALTER TABLE capital_calls DROP COLUMN closed_by;
ALTER TABLE capital_calls DROP COLUMN closed_at;
ALTER TABLE capital_calls DROP COLUMN closed_on;
ALTER TABLE capital_call_lines DROP COLUMN released;
ALTER TABLE capital_call_payments DROP CONSTRAINT ck_capital_call_payments_credit_within_amount;
ALTER TABLE capital_call_payments DROP COLUMN credit;
"""
    )
