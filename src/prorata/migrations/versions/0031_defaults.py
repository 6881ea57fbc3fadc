"""Defaulting investors: the fund's `grace_days` and `default_interest_rate`; a call line
declared in default (`capital_call_defaults`: declared_on, cured_on); a payment's `interest`
part (default interest, paid first) and the distribution whose withheld cash made it
(`distribution_id`: a set-off); a distribution line's `set_off`; a shortfall call's
`shortfall_of` (the call whose defaulted amount it calls).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE funds ADD COLUMN grace_days SMALLINT NOT NULL DEFAULT 10;
ALTER TABLE funds ADD COLUMN default_interest_rate NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE capital_call_payments ADD COLUMN interest NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE capital_call_payments ADD COLUMN distribution_id UUID;
ALTER TABLE capital_call_payments ADD CONSTRAINT ck_capital_call_payments_interest_within_amount
    CHECK (interest >= 0 AND interest + credit <= amount);
ALTER TABLE capital_call_payments
    ADD CONSTRAINT fk_capital_call_payments_fund_id_distribution_id_distributions
    FOREIGN KEY (fund_id, distribution_id) REFERENCES distributions (fund_id, id);
CREATE INDEX ix_capital_call_payments_distribution_id
    ON capital_call_payments (distribution_id);
ALTER TABLE capital_calls ADD COLUMN shortfall_of UUID;
ALTER TABLE capital_calls ADD CONSTRAINT fk_capital_calls_fund_id_shortfall_of_capital_calls
    FOREIGN KEY (fund_id, shortfall_of) REFERENCES capital_calls (fund_id, id);
ALTER TABLE distribution_lines ADD COLUMN set_off NUMERIC NOT NULL DEFAULT 0;
CREATE TABLE capital_call_defaults (
    call_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    declared_on DATE NOT NULL,
    declared_by UUID,
    cured_on DATE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_capital_call_defaults PRIMARY KEY (call_id, investor_id),
    CONSTRAINT fk_capital_call_defaults_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id),
    CONSTRAINT fk_capital_call_defaults_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);
CREATE INDEX ix_capital_call_defaults_fund_id_investor_id
    ON capital_call_defaults (fund_id, investor_id);
"""
    )
    enable_tenant_rls("capital_call_defaults")


def downgrade() -> None:
    op.execute(
        """
DROP TABLE capital_call_defaults;
ALTER TABLE distribution_lines DROP COLUMN set_off;
ALTER TABLE capital_calls DROP CONSTRAINT fk_capital_calls_fund_id_shortfall_of_capital_calls;
ALTER TABLE capital_calls DROP COLUMN shortfall_of;
DROP INDEX ix_capital_call_payments_distribution_id;
ALTER TABLE capital_call_payments
    DROP CONSTRAINT fk_capital_call_payments_fund_id_distribution_id_distributions;
ALTER TABLE capital_call_payments DROP CONSTRAINT ck_capital_call_payments_interest_within_amount;
ALTER TABLE capital_call_payments DROP COLUMN distribution_id;
ALTER TABLE capital_call_payments DROP COLUMN interest;
ALTER TABLE funds DROP COLUMN default_interest_rate;
ALTER TABLE funds DROP COLUMN grace_days;
"""
    )
