"""Fee offsets applied to the fee calls (issue 19 item 4): a period's management fee called
from the fee calculation (`fee_calls`: the figures it was called at and its capital call),
cancellations of fee income, waivers and fee calls made by mistake (`fee_cancellations`),
both append-only, and the offset rate each fee income was recorded at
(`fee_income.offset_rate`, filled from the fund's current `fee_offset_rate` for the income
recorded before).

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import context, op

from prorata.migrations.tenancy import enable_tenant_rls, make_append_only

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE fee_income ADD COLUMN offset_rate NUMERIC;
UPDATE fee_income SET offset_rate = funds.fee_offset_rate
    FROM funds WHERE funds.id = fee_income.fund_id;
ALTER TABLE fee_income ALTER COLUMN offset_rate SET NOT NULL;
ALTER TABLE fee_income ADD CONSTRAINT ck_fee_income_offset_rate_fraction
    CHECK (offset_rate >= 0 AND offset_rate <= 1);
CREATE TABLE fee_calls (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    call_id UUID,
    period_start DATE NOT NULL,
    period_end DATE NOT NULL,
    amount NUMERIC NOT NULL,
    waived NUMERIC NOT NULL,
    "offset" NUMERIC NOT NULL,
    carried_forward NUMERIC NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_fee_calls PRIMARY KEY (id),
    CONSTRAINT uq_fee_calls_call_id UNIQUE (call_id),
    CONSTRAINT ck_fee_calls_ordered_period CHECK (period_start <= period_end),
    CONSTRAINT fk_fee_calls_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_fee_calls_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id)
);
CREATE INDEX ix_fee_calls_fund_id_period_end ON fee_calls (fund_id, period_end);
CREATE TABLE fee_cancellations (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    fee_income_id UUID,
    fee_waiver_id UUID,
    fee_call_id UUID,
    reason VARCHAR(500) NOT NULL,
    cancelled_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_fee_cancellations PRIMARY KEY (id),
    CONSTRAINT uq_fee_cancellations_fee_income_id UNIQUE (fee_income_id),
    CONSTRAINT uq_fee_cancellations_fee_waiver_id UNIQUE (fee_waiver_id),
    CONSTRAINT uq_fee_cancellations_fee_call_id UNIQUE (fee_call_id),
    CONSTRAINT ck_fee_cancellations_one_of
        CHECK (num_nonnulls(fee_income_id, fee_waiver_id, fee_call_id) = 1),
    CONSTRAINT fk_fee_cancellations_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_fee_cancellations_fee_income_id_fee_income
        FOREIGN KEY (fee_income_id) REFERENCES fee_income (id),
    CONSTRAINT fk_fee_cancellations_fee_waiver_id_fee_waivers
        FOREIGN KEY (fee_waiver_id) REFERENCES fee_waivers (id),
    CONSTRAINT fk_fee_cancellations_fee_call_id_fee_calls
        FOREIGN KEY (fee_call_id) REFERENCES fee_calls (id)
);
"""
    )
    enable_tenant_rls("fee_cancellations")
    enable_tenant_rls("fee_calls")
    for table in ("fee_calls", "fee_cancellations"):
        make_append_only(table, context.config.attributes["app_role"])


def downgrade() -> None:
    op.execute(
        """
DROP TABLE fee_cancellations;
DROP TABLE fee_calls;
ALTER TABLE fee_income DROP CONSTRAINT ck_fee_income_offset_rate_fraction;
ALTER TABLE fee_income DROP COLUMN offset_rate;
"""
    )
