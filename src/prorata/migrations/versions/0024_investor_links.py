"""A person linked to several investors (a family office with three entities): one link per
investor (`investor_links`), checked like every tenant row. `memberships.investor_id` stays the
member's default investor (the one API keys act for unless a request names another), and a
browser session remembers the investor the portal was switched to (`browser_sessions.investor_id`).

Both authentication functions return the member's linked investors (`investor_ids`), so the
investor scope is checked from the principal alone, with no extra query per request.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import importlib

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE investor_links (
    org_id UUID NOT NULL,
    user_id UUID NOT NULL,
    investor_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_investor_links PRIMARY KEY (org_id, user_id, investor_id),
    CONSTRAINT fk_investor_links_org_id_user_id_users
        FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_investor_links_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id)
);
CREATE INDEX ix_investor_links_user_id ON investor_links (user_id);
INSERT INTO investor_links (org_id, user_id, investor_id)
    SELECT org_id, user_id, investor_id FROM memberships WHERE investor_id IS NOT NULL;
ALTER TABLE browser_sessions ADD COLUMN investor_id UUID;
"""

# The linked investors of an `investor` member, oldest link first; NULL for other roles.
LINKED = """CASE WHEN m.role::text = 'investor' THEN ARRAY(
            SELECT l.investor_id FROM investor_links l
            WHERE l.user_id = m.user_id ORDER BY l.created_at, l.investor_id) END"""

AUTHENTICATE = """
CREATE FUNCTION prorata_authenticate(p_key_hash text)
RETURNS TABLE (
    api_key_id uuid, org_id uuid, user_id uuid, role text, investor_id uuid, investor_ids uuid[]
)
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
        SELECT found_key.id, found_key.org_id, found_key.user_id, m.role::text, m.investor_id,
               LINKED_INVESTORS
        FROM memberships m
        WHERE m.user_id = found_key.user_id;
END
$$
"""

# As migration 0015's, and the investor is the one the portal was switched to while it is
# still linked, else the member's default.
AUTHENTICATE_SESSION = """
CREATE FUNCTION prorata_authenticate_session(p_token_hash text, p_idle_minutes integer)
RETURNS TABLE (
    session_id uuid, org_id uuid, user_id uuid, role text, investor_id uuid,
    investor_ids uuid[], csrf_token text, second_factor_pending boolean,
    must_enrol_two_factor boolean
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    found record;
BEGIN
    PERFORM set_config('app.session_hash', p_token_hash, true);
    SELECT s.id, s.org_id, s.user_id, s.csrf_token, s.second_factor_pending,
           s.investor_id AS chosen INTO found
    FROM browser_sessions s
    WHERE s.token_hash = p_token_hash
      AND s.ended_at IS NULL
      AND s.expires_at > now()
      AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    PERFORM set_config('app.session_hash', '', true);
    IF found.id IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', found.org_id::text, true);
    UPDATE browser_sessions SET last_seen_at = now() WHERE id = found.id;
    RETURN QUERY
        SELECT found.id, found.org_id, found.user_id, m.role::text,
               CASE WHEN found.chosen = ANY(linked.ids) THEN found.chosen
                    ELSE m.investor_id END,
               linked.ids,
               found.csrf_token::text, found.second_factor_pending,
               (o.require_two_factor AND m.role::text IN ('owner', 'admin', 'manager')
                AND u.totp_enabled_at IS NULL)
        FROM memberships m
        JOIN users u ON u.id = m.user_id
        JOIN orgs o ON o.id = m.org_id
        CROSS JOIN LATERAL (SELECT LINKED_INVESTORS AS ids) linked
        WHERE m.user_id = found.user_id;
END
$$
"""
AUTHENTICATE, AUTHENTICATE_SESSION = (
    sql.replace("LINKED_INVESTORS", LINKED) for sql in (AUTHENTICATE, AUTHENTICATE_SESSION)
)


def upgrade() -> None:
    op.execute(TABLE)
    enable_tenant_rls("investor_links")
    # The result types change, so the functions are replaced, not redefined in place.
    op.execute("DROP FUNCTION prorata_authenticate(text)")
    op.execute(AUTHENTICATE)
    op.execute("DROP FUNCTION prorata_authenticate_session(text, integer)")
    op.execute(AUTHENTICATE_SESSION)


def downgrade() -> None:
    # The previous definitions, from the migrations that made them.
    before_keys = importlib.import_module("prorata.migrations.versions.0008_distributions")
    before_sessions = importlib.import_module("prorata.migrations.versions.0015_people_sign_in")
    op.execute("DROP FUNCTION prorata_authenticate_session(text, integer)")
    op.execute(before_sessions.AUTHENTICATE_SESSION)
    op.execute("DROP FUNCTION prorata_authenticate(text)")
    op.execute(before_keys.AUTHENTICATE)
    op.execute("ALTER TABLE browser_sessions DROP COLUMN investor_id")
    op.execute("DROP TABLE investor_links")
