"""Allocations lose their two foreign keys; the allocation service checks the same rules for a
whole set of rows in the statement that writes them, and the rows they referred to are kept.
Every tenant policy reads the tenant once per statement instead of once per row.

Why: a foreign key is checked by one lookup (and one row lock) per inserted row. For a
million-row import that was ~60 % of the statement and ~7 s (docs/benchmarks.md). The one
allocation service already joins every row to the fund's commitments and deals; that join now
refuses a row whose investor has no commitment to the fund or whose deal is not the fund's, for
the set at once. What a foreign key also guarantees — the referenced row cannot disappear or
change its key underneath — is kept by the triggers below: deals and investors are never
deleted and their keys never change (nothing in Prorata does either; a deal is closed, exited
or written off, not deleted).

Policies: `org_id = NULLIF(current_setting(…))::uuid` calls the function and parses the uuid
for every row checked; `org_id = (SELECT …)` is an InitPlan, computed once per statement
(migrations/tenancy.py). A fresh database gets the new form from `enable_tenant_rls` already;
this brings databases migrated before it to the same state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from prorata.migrations.tenancy import CURRENT_ORG, ONCE_PER_STATEMENT_ORG, tenant_condition

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

KEEP_REFERENCED = """
CREATE FUNCTION prorata_keep_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are referenced by allocations: % of a row or of its key refused',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$
"""

FOREIGN_KEYS = {
    "fk_allocations_fund_id_deal_id_deals": "(fund_id, deal_id) REFERENCES deals (fund_id, id)",
    "fk_allocations_org_id_investor_id_investors": (
        "(org_id, investor_id) REFERENCES investors (org_id, id)"
    ),
}
# (table, its key columns)
KEPT = {"deals": "id, fund_id, org_id", "investors": "id, org_id"}


def _set_tenant_policies(org: str) -> None:
    tables = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT tablename FROM pg_policies "
                "WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'"
            )
        )
        .scalars()
        .all()
    )
    for table in tables:
        condition = tenant_condition("id" if table == "orgs" else "org_id", org)
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})"
        )


def upgrade() -> None:
    _set_tenant_policies(ONCE_PER_STATEMENT_ORG)
    for constraint in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE allocations DROP CONSTRAINT {constraint}")
    op.execute(KEEP_REFERENCED)
    for table, key in KEPT.items():
        op.execute(
            f"CREATE TRIGGER {table}_kept BEFORE DELETE OR TRUNCATE OR UPDATE OF {key} "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION prorata_keep_referenced()"
        )


def downgrade() -> None:
    _set_tenant_policies(CURRENT_ORG)
    for table in KEPT:
        op.execute(f"DROP TRIGGER {table}_kept ON {table}")
    op.execute("DROP FUNCTION prorata_keep_referenced()")
    for constraint, definition in FOREIGN_KEYS.items():
        op.execute(f"ALTER TABLE allocations ADD CONSTRAINT {constraint} FOREIGN KEY {definition}")
