"""The credentials' epoch (`auth_epoch`): one counter, bumped in the same transaction as any
change that can end or narrow what an API key may do — a key revoked, rehashed or moved; a
membership's role or investor changed or removed; an investor link added or removed; a user
deleted. Statement-level triggers bump it, whichever code writes (the API, the console, an
operator command, a migration).

A web process keeps the principals of the keys it verified, each with the epoch read before
verifying it (`prorata.http.auth.KeyCache`); a request with a known key sets its tenant and
reads the epoch in one statement, and goes back to `prorata_authenticate` only when the epoch
moved. The bump commits with the change, so the first statement after that commit — on any
process — sees it: a revoked key is refused at once, everywhere, with no message to miss.

Global (no tenant data: one number); the app role reads it, the triggers (SECURITY DEFINER)
write it. Changes to credentials are rare: the one row's lock serialises them, nothing else.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE auth_epoch (
    singleton BOOLEAN NOT NULL DEFAULT true,
    n BIGINT NOT NULL,
    CONSTRAINT pk_auth_epoch PRIMARY KEY (singleton),
    CONSTRAINT ck_auth_epoch_singleton CHECK (singleton)
);
INSERT INTO auth_epoch (singleton, n) VALUES (true, 1);
"""

FUNCTION = """
CREATE FUNCTION prorata_bump_auth_epoch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    UPDATE auth_epoch SET n = n + 1;
    RETURN NULL;
END $$
"""

# (table, events): what can end or narrow a verified key's principal. A new key or a new
# member is not cached anywhere yet, so inserts (but of links: investor_ids grow) need none.
TRIGGERS = {
    "api_keys": "UPDATE OF revoked_at, key_hash, user_id, org_id OR DELETE OR TRUNCATE",
    "memberships": "UPDATE OR DELETE OR TRUNCATE",
    "investor_links": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "users": "DELETE OR TRUNCATE",
}


def upgrade() -> None:
    app_role = context.config.attributes["app_role"]
    schema = op.get_bind().execute(sa.text("SELECT current_schema()")).scalar_one()
    op.execute(TABLE)
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON auth_epoch FROM {app_role}")
    op.execute(FUNCTION.format(schema=schema))
    for table, events in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {table}_bump_auth_epoch AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION prorata_bump_auth_epoch()"
        )


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_bump_auth_epoch ON {table}")
    op.execute("DROP FUNCTION prorata_bump_auth_epoch()")
    op.execute("DROP TABLE auth_epoch")
