"""Distributions and their per-investor lines; the post-investment-period fee rate; the link
from an `investor` member to the investor it may see (returned by `prorata_authenticate`); the
fund's capital version, and the version a draft call's lines were computed at.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE distributions (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    deal_id UUID,
    kind VARCHAR(30) NOT NULL,
    distributed_on DATE NOT NULL,
    amount NUMERIC NOT NULL,
    lp_amount NUMERIC NOT NULL,
    gp_amount NUMERIC NOT NULL,
    clawback NUMERIC NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_distributions PRIMARY KEY (id),
    CONSTRAINT uq_distributions_fund_id_id UNIQUE (fund_id, id),
    CONSTRAINT fk_distributions_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_distributions_fund_id_deal_id_deals
        FOREIGN KEY (fund_id, deal_id) REFERENCES deals (fund_id, id)
);

CREATE TABLE distribution_lines (
    fund_id UUID NOT NULL,
    distribution_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    org_id UUID NOT NULL,
    amount NUMERIC NOT NULL,
    lp_amount NUMERIC NOT NULL,
    gp_amount NUMERIC NOT NULL,
    tiers JSONB NOT NULL,
    CONSTRAINT pk_distribution_lines PRIMARY KEY (fund_id, distribution_id, investor_id),
    CONSTRAINT fk_distribution_lines_fund_id_distribution_id_distributions
        FOREIGN KEY (fund_id, distribution_id) REFERENCES distributions (fund_id, id),
    CONSTRAINT fk_distribution_lines_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);
CREATE INDEX ix_distribution_lines_fund_id_investor_id
    ON distribution_lines (fund_id, investor_id);

ALTER TABLE funds ADD COLUMN post_investment_period_fee_rate NUMERIC;
ALTER TABLE funds ADD COLUMN capital_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE capital_calls ADD COLUMN lines_version BIGINT;

ALTER TABLE memberships ADD COLUMN investor_id UUID;
ALTER TABLE memberships ADD CONSTRAINT fk_memberships_org_id_investor_id_investors
    FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id);
"""

AUTHENTICATE = """
CREATE FUNCTION prorata_authenticate(p_key_hash text)
RETURNS TABLE (api_key_id uuid, org_id uuid, user_id uuid, role text, investor_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    found_key record;
BEGIN
    PERFORM set_config('app.key_hash', p_key_hash, true);
    SELECT k.id, k.org_id, k.user_id INTO found_key
    FROM api_keys k
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
    PERFORM set_config('app.key_hash', '', true);
    IF found_key.id IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', found_key.org_id::text, true);
    RETURN QUERY
        SELECT found_key.id, found_key.org_id, found_key.user_id, m.role::text, m.investor_id
        FROM memberships m
        WHERE m.user_id = found_key.user_id;
END
$$
"""


def upgrade() -> None:
    op.execute(TABLES)
    for table in ("distributions", "distribution_lines"):
        enable_tenant_rls(table)
    # The result type changes, so the function is replaced, not redefined in place.
    op.execute("DROP FUNCTION prorata_authenticate(text)")
    op.execute(AUTHENTICATE)


def downgrade() -> None:
    op.execute("DROP FUNCTION prorata_authenticate(text)")
    op.execute("DROP TABLE distribution_lines")
    op.execute("DROP TABLE distributions")
    op.execute("ALTER TABLE funds DROP COLUMN post_investment_period_fee_rate")
    op.execute("ALTER TABLE funds DROP COLUMN capital_version")
    op.execute("ALTER TABLE capital_calls DROP COLUMN lines_version")
    op.execute("ALTER TABLE memberships DROP COLUMN investor_id")
    # Revision 0004's function: the same body without the investor link.
    op.execute(AUTHENTICATE.replace(", investor_id uuid", "").replace(", m.investor_id", ""))
