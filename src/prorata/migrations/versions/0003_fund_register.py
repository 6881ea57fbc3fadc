"""Fund register and capital calls: funds, investors, commitments, deals, allocations,
capital calls with items, lines and payments, and the append-only capital ledger.

`allocations`, `capital_call_lines` and `capital_ledger` are partitioned by HASH (fund_id)
into 16 partitions (docs/architecture.md says why HASH and why 16).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import context, op

from prorata.migrations.tenancy import enable_tenant_rls, make_append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PARTITIONS = 16
MONEY = "NUMERIC"  # scale kept as written: amounts are quantized to the currency first
RATE = "NUMERIC"

TABLES = """
CREATE TABLE funds (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    name VARCHAR(200) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    vintage_year SMALLINT,
    status VARCHAR(20) NOT NULL,
    management_fee_rate {RATE} NOT NULL,
    management_fee_basis VARCHAR(20) NOT NULL,
    investment_period_end DATE,
    preferred_return_rate {RATE} NOT NULL,
    catch_up_share {RATE} NOT NULL,
    carry_share {RATE} NOT NULL,
    waterfall_style VARCHAR(20) NOT NULL,
    day_count VARCHAR(20) NOT NULL,
    notice_business_days SMALLINT NOT NULL,
    wire_instructions VARCHAR(2000),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_funds PRIMARY KEY (id),
    CONSTRAINT uq_funds_org_id_id UNIQUE (org_id, id),
    CONSTRAINT fk_funds_org_id_orgs FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);

CREATE TABLE investors (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    name VARCHAR(200) NOT NULL,
    kind VARCHAR(20) NOT NULL,
    email VARCHAR(320),
    country VARCHAR(2),
    tax_id VARCHAR(64),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_investors PRIMARY KEY (id),
    CONSTRAINT uq_investors_org_id_id UNIQUE (org_id, id),
    CONSTRAINT fk_investors_org_id_orgs FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);

CREATE TABLE commitments (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    amount {MONEY} NOT NULL,
    committed_on DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_commitments PRIMARY KEY (id),
    CONSTRAINT uq_commitments_fund_id_investor_id UNIQUE (fund_id, investor_id),
    CONSTRAINT ck_commitments_positive_amount CHECK (amount > 0),
    CONSTRAINT fk_commitments_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_commitments_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);

CREATE TABLE deals (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    name VARCHAR(200) NOT NULL,
    company VARCHAR(200),
    instrument VARCHAR(100),
    invested_amount {MONEY},
    invested_on DATE,
    status VARCHAR(20) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_deals PRIMARY KEY (id),
    CONSTRAINT uq_deals_fund_id_id UNIQUE (fund_id, id),
    CONSTRAINT fk_deals_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
);

CREATE TABLE allocations (
    fund_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    deal_id UUID NOT NULL,
    org_id UUID NOT NULL,
    amount {MONEY} NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_allocations PRIMARY KEY (fund_id, investor_id, deal_id),
    CONSTRAINT fk_allocations_fund_id_deal_id_deals
        FOREIGN KEY (fund_id, deal_id) REFERENCES deals (fund_id, id),
    CONSTRAINT fk_allocations_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
) PARTITION BY HASH (fund_id);

CREATE TABLE capital_calls (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    status VARCHAR(20) NOT NULL,
    notice_date DATE NOT NULL,
    due_date DATE NOT NULL,
    amount {MONEY} NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    issued_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    CONSTRAINT pk_capital_calls PRIMARY KEY (id),
    CONSTRAINT uq_capital_calls_fund_id_id UNIQUE (fund_id, id),
    CONSTRAINT fk_capital_calls_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id)
);

CREATE TABLE capital_call_items (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    call_id UUID NOT NULL,
    position SMALLINT NOT NULL,
    purpose VARCHAR(20) NOT NULL,
    deal_id UUID,
    amount {MONEY} NOT NULL,
    excused_investor_ids UUID[] NOT NULL,
    CONSTRAINT pk_capital_call_items PRIMARY KEY (id),
    CONSTRAINT fk_capital_call_items_org_id_orgs
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
    CONSTRAINT fk_capital_call_items_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id),
    CONSTRAINT fk_capital_call_items_fund_id_deal_id_deals
        FOREIGN KEY (fund_id, deal_id) REFERENCES deals (fund_id, id)
);

CREATE TABLE capital_call_lines (
    fund_id UUID NOT NULL,
    call_id UUID NOT NULL,
    item_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    org_id UUID NOT NULL,
    purpose VARCHAR(20) NOT NULL,
    amount {MONEY} NOT NULL,
    CONSTRAINT pk_capital_call_lines PRIMARY KEY (fund_id, call_id, item_id, investor_id),
    CONSTRAINT fk_capital_call_lines_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id),
    CONSTRAINT fk_capital_call_lines_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
) PARTITION BY HASH (fund_id);

CREATE TABLE capital_call_payments (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    fund_id UUID NOT NULL,
    call_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    amount {MONEY} NOT NULL,
    received_on DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_capital_call_payments PRIMARY KEY (id),
    CONSTRAINT ck_capital_call_payments_positive_amount CHECK (amount > 0),
    CONSTRAINT fk_capital_call_payments_fund_id_call_id_capital_calls
        FOREIGN KEY (fund_id, call_id) REFERENCES capital_calls (fund_id, id),
    CONSTRAINT fk_capital_call_payments_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);
CREATE INDEX ix_capital_call_payments_call_id ON capital_call_payments (call_id);

CREATE TABLE capital_ledger (
    fund_id UUID NOT NULL,
    id BIGINT GENERATED BY DEFAULT AS IDENTITY,
    org_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    kind VARCHAR(30) NOT NULL,
    purpose VARCHAR(30),
    amount {MONEY} NOT NULL,
    effective_on DATE NOT NULL,
    source_type VARCHAR(30) NOT NULL,
    source_id UUID NOT NULL,
    reverses_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_capital_ledger PRIMARY KEY (fund_id, id),
    CONSTRAINT fk_capital_ledger_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_capital_ledger_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
) PARTITION BY HASH (fund_id);
CREATE INDEX ix_capital_ledger_fund_id_investor_id ON capital_ledger (fund_id, investor_id);
"""

PARTITIONED = ("allocations", "capital_call_lines", "capital_ledger")
TENANT_TABLES = (
    "funds",
    "investors",
    "commitments",
    "deals",
    "allocations",
    "capital_calls",
    "capital_call_items",
    "capital_call_lines",
    "capital_call_payments",
    "capital_ledger",
)


def upgrade() -> None:
    app_role = context.config.attributes["app_role"]
    op.execute(TABLES.replace("{MONEY}", MONEY).replace("{RATE}", RATE))
    for table in PARTITIONED:
        for remainder in range(PARTITIONS):
            partition = f"{table}_p{remainder:02d}"
            op.execute(
                f"CREATE TABLE {partition} PARTITION OF {table} "
                f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})"
            )
            # The app reaches rows through the parent only; RLS guards a partition too.
            enable_tenant_rls(partition)
            op.execute(f"REVOKE ALL ON {partition} FROM {app_role}")
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    make_append_only("capital_ledger", app_role)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP TABLE {table}")
