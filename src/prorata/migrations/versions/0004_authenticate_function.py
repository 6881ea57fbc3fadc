"""Authentication in one round trip: `prorata_authenticate(key_hash)`.

A SECURITY INVOKER function: it runs as the app role, under RLS, and does what the app did in
five statements — name the key's hash in `app.key_hash` (the lookup policy), read the key,
forget the hash, set the transaction's tenant, read the member's role.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION prorata_authenticate(p_key_hash text)
        RETURNS TABLE (api_key_id uuid, org_id uuid, user_id uuid, role text)
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
                SELECT found_key.id, found_key.org_id, found_key.user_id, m.role::text
                FROM memberships m
                WHERE m.user_id = found_key.user_id;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION prorata_authenticate(text)")
