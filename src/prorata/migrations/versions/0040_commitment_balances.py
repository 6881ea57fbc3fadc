"""Running balances per commitment (`commitment_balances`), kept by triggers in the statement
that writes the ledger or the commitments; the ledger and the call lines lose their foreign
keys to statement-level checks (issue 21, item 3).

Balances: one row per (fund, investor) with the commitment and the ledger's sums, by the
definitions of `prorata.ledger.repository.Balance` — called (`contribution`), contributed
(`payment`), distributed (`distribution` + `recallable_distribution`), recallable
(`recallable_distribution`), and the investor's credit (`credit`: cash held for it, which
pays its next call at issue) — and unfunded = commitment − called + recallable, a generated
column. A call's split and its issue (credit applied) each read the fund's whole ledger
(~25 ms and growing with its history); they read these 10,000 rows now. Triggers, not the
services: every writer of the ledger (calls, distributions, closings, carry, fees, imports, a
migration) keeps the balances without knowing it, in its own statement, and `prorata check`
compares them with the ledger. Each trigger adds its statement's sums (`x = x + delta`, under
the row lock of the upsert: two transactions posting to one commitment wait for each other,
neither update is lost). The functions are
SECURITY DEFINER: the app role may read the balances and write none.

Foreign keys: a foreign key is one lookup (and a row lock) per inserted row: ~45 ms of each
10,000-row call-lines or ledger insert (docs/benchmarks.md). Instead:
- ledger: the balances' own foreign keys (org, fund) → funds and (org, investor) → investors.
  Every ledger row upserts the balance row of its (fund, investor, org), and the key includes
  the org, so a row whose fund or investor is not its organisation's makes a new balance row,
  which its foreign keys refuse; an existing balance row was checked when it was made.
- call lines: one statement-level check of the new rows' calls and investors (two anti-joins).
- what a foreign key also guarantees — the referenced row cannot disappear or change its key —
  is kept as 0009 did: funds and capital calls join deals and investors in refusing DELETE,
  TRUNCATE and key updates (nothing in Prorata does either); the lines' own keys never change.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE commitment_balances (
    fund_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    org_id UUID NOT NULL,
    commitment NUMERIC NOT NULL DEFAULT 0,
    called NUMERIC NOT NULL DEFAULT 0,
    contributed NUMERIC NOT NULL DEFAULT 0,
    distributed NUMERIC NOT NULL DEFAULT 0,
    recallable NUMERIC NOT NULL DEFAULT 0,
    credit NUMERIC NOT NULL DEFAULT 0,
    unfunded NUMERIC GENERATED ALWAYS AS (commitment - called + recallable) STORED,
    CONSTRAINT pk_commitment_balances PRIMARY KEY (fund_id, investor_id, org_id),
    CONSTRAINT fk_commitment_balances_org_id_fund_id_funds
        FOREIGN KEY (org_id, fund_id) REFERENCES funds (org_id, id),
    CONSTRAINT fk_commitment_balances_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
) WITH (fillfactor = 50)
"""
# fillfactor: every call updates each of a fund's rows once; room on the page keeps the new
# versions HOT (no index entry), and autovacuum frees the old ones.

# The sums of a set of ledger rows (`source`), by balance row.
_SUMS = """
SELECT fund_id, investor_id, org_id,
       coalesce(sum(amount) FILTER (WHERE kind = 'contribution'), 0) AS called,
       coalesce(sum(amount) FILTER (WHERE kind = 'payment'), 0) AS contributed,
       coalesce(sum(amount) FILTER (WHERE kind IN ('distribution', 'recallable_distribution')),
                0) AS distributed,
       coalesce(sum(amount) FILTER (WHERE kind = 'recallable_distribution'), 0) AS recallable,
       coalesce(sum(amount) FILTER (WHERE kind = 'credit'), 0) AS credit
FROM {source} GROUP BY fund_id, investor_id, org_id
"""
_INSERT_SUMS = """
INSERT INTO commitment_balances AS b
    (fund_id, investor_id, org_id, called, contributed, distributed, recallable, credit)
"""
_ON_CONFLICT_ADD = """
ON CONFLICT (fund_id, investor_id, org_id) DO UPDATE SET
    called = b.called + excluded.called,
    contributed = b.contributed + excluded.contributed,
    distributed = b.distributed + excluded.distributed,
    recallable = b.recallable + excluded.recallable,
    credit = b.credit + excluded.credit
"""
# The trigger's statement. The rows that exist (all but a pair's first entries) are updated
# in one join — ~25 % cheaper than an upsert of every row, which probes the key and then
# updates — and the rest inserted; a row another transaction inserted meanwhile becomes an
# update (ON CONFLICT). `x = x + delta` re-reads a row a concurrent writer changed (READ
# COMMITTED): both deltas count. Writers of many rows of one fund hold its row lock.
_ADD_ENTRIES = (
    "WITH sums AS ("  # noqa: S608 - constant SQL
    + _SUMS.format(source="new_entries")
    + """),
updated AS (
    UPDATE commitment_balances b SET
        called = b.called + s.called,
        contributed = b.contributed + s.contributed,
        distributed = b.distributed + s.distributed,
        recallable = b.recallable + s.recallable,
        credit = b.credit + s.credit
    FROM sums s
    WHERE b.fund_id = s.fund_id AND b.investor_id = s.investor_id AND b.org_id = s.org_id
    RETURNING b.fund_id, b.investor_id, b.org_id
)"""
    + _INSERT_SUMS
    + """SELECT * FROM sums s WHERE NOT EXISTS (
    SELECT FROM updated u
    WHERE u.fund_id = s.fund_id AND u.investor_id = s.investor_id AND u.org_id = s.org_id
)"""
    + _ON_CONFLICT_ADD
)
_ADD_COMMITMENTS = """
INSERT INTO commitment_balances AS b (fund_id, investor_id, org_id, commitment)
SELECT fund_id, investor_id, org_id, {sign} sum(amount) FROM {source}
GROUP BY fund_id, investor_id, org_id ORDER BY fund_id, investor_id, org_id
ON CONFLICT (fund_id, investor_id, org_id) DO UPDATE
    SET commitment = b.commitment + excluded.commitment
"""

FUNCTIONS = """
CREATE FUNCTION prorata_ledger_to_balances() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    {add_entries};
    RETURN NULL;
END $$;
CREATE FUNCTION prorata_commitments_to_balances() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {remove_old};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {add_new};
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION prorata_check_call_lines() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    -- What the dropped foreign keys checked, for the statement's rows at once.
    IF EXISTS (SELECT FROM (SELECT DISTINCT fund_id, call_id FROM new_lines) n
               WHERE NOT EXISTS (SELECT FROM capital_calls c
                                 WHERE c.fund_id = n.fund_id AND c.id = n.call_id)) THEN
        RAISE EXCEPTION 'capital_call_lines: a row refers to no capital call of its fund'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT FROM (SELECT DISTINCT org_id, investor_id FROM new_lines) n
               WHERE NOT EXISTS (SELECT FROM investors i
                                 WHERE i.org_id = n.org_id AND i.id = n.investor_id)) THEN
        RAISE EXCEPTION 'capital_call_lines: a row refers to no investor of its organisation'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION prorata_refuse_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: the key of a row never changes', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""

KEEP_REFERENCED = """
CREATE OR REPLACE FUNCTION prorata_keep_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are referenced by {by}: % of a row or of its key refused',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$
"""

TRIGGERS = """
CREATE TRIGGER capital_ledger_balances AFTER INSERT ON capital_ledger
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_ledger_to_balances();
CREATE TRIGGER commitments_balances_insert AFTER INSERT ON commitments
    REFERENCING NEW TABLE AS new_commitments
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_commitments_to_balances();
CREATE TRIGGER commitments_balances_update AFTER UPDATE ON commitments
    REFERENCING OLD TABLE AS old_commitments NEW TABLE AS new_commitments
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_commitments_to_balances();
CREATE TRIGGER commitments_balances_delete AFTER DELETE ON commitments
    REFERENCING OLD TABLE AS old_commitments
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_commitments_to_balances();
CREATE TRIGGER capital_call_lines_checked AFTER INSERT ON capital_call_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_check_call_lines();
CREATE TRIGGER capital_call_lines_keys BEFORE UPDATE OF fund_id, call_id, investor_id, org_id
    ON capital_call_lines FOR EACH STATEMENT EXECUTE FUNCTION prorata_refuse_key_change();
CREATE TRIGGER funds_kept BEFORE DELETE OR TRUNCATE OR UPDATE OF id, org_id ON funds
    FOR EACH STATEMENT EXECUTE FUNCTION prorata_keep_referenced();
CREATE TRIGGER capital_calls_kept BEFORE DELETE OR TRUNCATE OR UPDATE OF id, fund_id
    ON capital_calls FOR EACH STATEMENT EXECUTE FUNCTION prorata_keep_referenced();
"""

BACKFILL_COMMITMENTS = (
    "INSERT INTO commitment_balances (fund_id, investor_id, org_id, commitment) "
    "SELECT fund_id, investor_id, org_id, amount FROM commitments"
)

FOREIGN_KEYS = {
    "capital_ledger": {
        "fk_capital_ledger_org_id_fund_id_funds": "(org_id, fund_id) REFERENCES funds (org_id, id)",
        "fk_capital_ledger_org_id_investor_id_investors": (
            "(org_id, investor_id) REFERENCES investors (org_id, id)"
        ),
    },
    "capital_call_lines": {
        "fk_capital_call_lines_fund_id_call_id_capital_calls": (
            "(fund_id, call_id) REFERENCES capital_calls (fund_id, id)"
        ),
        "fk_capital_call_lines_org_id_investor_id_investors": (
            "(org_id, investor_id) REFERENCES investors (org_id, id)"
        ),
    },
}
# The tables the backfill reads and writes, with RLS not forced for the migration's role.
_BACKFILLED = ("commitment_balances", "commitments", "capital_ledger")


def upgrade() -> None:
    app_role = context.config.attributes["app_role"]
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(TABLE)
    enable_tenant_rls("commitment_balances")
    # Written by the triggers only (SECURITY DEFINER): the app reads.
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON commitment_balances FROM {app_role}")
    for table in _BACKFILLED:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(BACKFILL_COMMITMENTS)
    op.execute(_INSERT_SUMS + _SUMS.format(source="capital_ledger") + _ON_CONFLICT_ADD)
    for table in _BACKFILLED:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        FUNCTIONS.format(
            schema=schema,
            add_entries=_ADD_ENTRIES,
            remove_old=_ADD_COMMITMENTS.format(sign="-", source="old_commitments"),
            add_new=_ADD_COMMITMENTS.format(sign="", source="new_commitments"),
        )
    )
    op.execute(KEEP_REFERENCED.format(by="other rows"))
    op.execute(TRIGGERS)
    for table, keys in FOREIGN_KEYS.items():
        for constraint in keys:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")


def downgrade() -> None:
    for table, keys in FOREIGN_KEYS.items():
        for constraint, definition in keys.items():
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY {definition}")
    op.execute(
        """
DROP TRIGGER capital_calls_kept ON capital_calls;
DROP TRIGGER funds_kept ON funds;
DROP TRIGGER capital_call_lines_keys ON capital_call_lines;
DROP TRIGGER capital_call_lines_checked ON capital_call_lines;
DROP TRIGGER commitments_balances_delete ON commitments;
DROP TRIGGER commitments_balances_update ON commitments;
DROP TRIGGER commitments_balances_insert ON commitments;
DROP TRIGGER capital_ledger_balances ON capital_ledger;
DROP FUNCTION prorata_refuse_key_change();
DROP FUNCTION prorata_check_call_lines();
DROP FUNCTION prorata_commitments_to_balances();
DROP FUNCTION prorata_ledger_to_balances();
DROP TABLE commitment_balances;
"""
    )
    op.execute(KEEP_REFERENCED.format(by="allocations"))
