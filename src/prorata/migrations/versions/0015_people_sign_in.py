"""People sign in: passwords, browser sessions, two-factor, invitations and password resets.

Secrets are stored as hashes only (session, invitation and reset tokens: SHA-256 of 256 random
bits; recovery codes: SHA-256 of 80 random bits, each usable once); a TOTP secret is sealed with
AES-GCM under PRORATA_ENCRYPTION_KEY (it must be read back to check a code).

Like API keys, a token is the only way to its row before the tenant is known: each table has a
lookup policy that lets the app role read the one row whose hash the transaction names
(`app.session_hash`, `app.invitation_hash`, `app.reset_hash`), and users may be read by the
e-mail address being signed in (`app.login_email`). Everything else is tenant-scoped by RLS.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = """
ALTER TABLE users
    ADD COLUMN password_hash VARCHAR(200),
    ADD COLUMN password_changed_at TIMESTAMPTZ,
    ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN locked_until TIMESTAMPTZ,
    ADD COLUMN totp_secret_sealed VARCHAR(200),
    ADD COLUMN totp_enabled_at TIMESTAMPTZ,
    ADD COLUMN totp_last_step BIGINT;
ALTER TABLE orgs ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE audit_log ADD COLUMN client_ip VARCHAR(64);
ALTER TABLE email_outbox ADD COLUMN redact_after_send BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE browser_sessions (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    user_id UUID NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    csrf_token VARCHAR(64) NOT NULL,
    second_factor_pending BOOLEAN NOT NULL,
    client_ip VARCHAR(64),
    user_agent VARCHAR(300),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    CONSTRAINT pk_browser_sessions PRIMARY KEY (id),
    CONSTRAINT uq_browser_sessions_token_hash UNIQUE (token_hash),
    CONSTRAINT fk_browser_sessions_org_id_user_id_users
        FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_browser_sessions_org_id_user_id ON browser_sessions (org_id, user_id);

CREATE TABLE recovery_codes (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    user_id UUID NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    used_at TIMESTAMPTZ,
    CONSTRAINT pk_recovery_codes PRIMARY KEY (id),
    CONSTRAINT fk_recovery_codes_org_id_user_id_users
        FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_recovery_codes_org_id_user_id ON recovery_codes (org_id, user_id);

CREATE TABLE invitations (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    email VARCHAR(320) NOT NULL,
    role VARCHAR(20) NOT NULL,
    investor_id UUID,
    token_hash VARCHAR(64) NOT NULL,
    invited_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT pk_invitations PRIMARY KEY (id),
    CONSTRAINT uq_invitations_token_hash UNIQUE (token_hash),
    CONSTRAINT fk_invitations_org_id_orgs FOREIGN KEY (org_id) REFERENCES orgs (id)
        ON DELETE CASCADE,
    CONSTRAINT fk_invitations_org_id_investor_id_investors
        FOREIGN KEY (org_id, investor_id) REFERENCES investors (org_id, id),
    CONSTRAINT ck_invitations_role
        CHECK (role IN ('owner', 'admin', 'manager', 'viewer', 'investor')),
    CONSTRAINT ck_invitations_investor_link CHECK ((role = 'investor') = (investor_id IS NOT NULL))
);
CREATE INDEX ix_invitations_org_id_created_at ON invitations (org_id, created_at);

CREATE TABLE password_resets (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    user_id UUID NOT NULL,
    token_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    CONSTRAINT pk_password_resets PRIMARY KEY (id),
    CONSTRAINT uq_password_resets_token_hash UNIQUE (token_hash),
    CONSTRAINT fk_password_resets_org_id_user_id_users
        FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
"""

LOOKUPS = """
CREATE POLICY session_lookup ON browser_sessions FOR SELECT
    USING (token_hash = NULLIF(current_setting('app.session_hash', true), ''));
CREATE POLICY invitation_lookup ON invitations FOR SELECT
    USING (token_hash = NULLIF(current_setting('app.invitation_hash', true), ''));
CREATE POLICY reset_lookup ON password_resets FOR SELECT
    USING (token_hash = NULLIF(current_setting('app.reset_hash', true), ''));
CREATE POLICY login_lookup ON users FOR SELECT
    USING (lower(email) = NULLIF(current_setting('app.login_email', true), ''));
"""

# A session in one round trip, like `prorata_authenticate` for a key: find the live session by
# its hash, set the tenant, mark it seen, and return who it is. A session is live until it is
# ended, its absolute expiry passes, or it was idle longer than `p_idle_minutes`.
AUTHENTICATE_SESSION = """
CREATE FUNCTION prorata_authenticate_session(p_token_hash text, p_idle_minutes integer)
RETURNS TABLE (
    session_id uuid, org_id uuid, user_id uuid, role text, investor_id uuid,
    csrf_token text, second_factor_pending boolean, must_enrol_two_factor boolean
)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
DECLARE
    found record;
BEGIN
    PERFORM set_config('app.session_hash', p_token_hash, true);
    SELECT s.id, s.org_id, s.user_id, s.csrf_token, s.second_factor_pending INTO found
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
        SELECT found.id, found.org_id, found.user_id, m.role::text, m.investor_id,
               found.csrf_token::text, found.second_factor_pending,
               (o.require_two_factor AND m.role::text IN ('owner', 'admin', 'manager')
                AND u.totp_enabled_at IS NULL)
        FROM memberships m
        JOIN users u ON u.id = m.user_id
        JOIN orgs o ON o.id = m.org_id
        WHERE m.user_id = found.user_id;
END
$$
"""


def upgrade() -> None:
    op.execute(TABLES)
    for table in ("browser_sessions", "recovery_codes", "invitations", "password_resets"):
        enable_tenant_rls(table)
    op.execute(LOOKUPS)
    op.execute(AUTHENTICATE_SESSION)


def downgrade() -> None:
    op.execute("DROP FUNCTION prorata_authenticate_session(text, integer)")
    op.execute("DROP POLICY login_lookup ON users")
    for table in ("password_resets", "invitations", "recovery_codes", "browser_sessions"):
        op.execute(f"DROP TABLE {table}")
    op.execute("ALTER TABLE email_outbox DROP COLUMN redact_after_send")
    op.execute("ALTER TABLE audit_log DROP COLUMN client_ip")
    op.execute("ALTER TABLE orgs DROP COLUMN require_two_factor")
    op.execute(
        "ALTER TABLE users DROP COLUMN password_hash, DROP COLUMN password_changed_at, "
        "DROP COLUMN failed_sign_ins, DROP COLUMN locked_until, DROP COLUMN totp_secret_sealed, "
        "DROP COLUMN totp_enabled_at, DROP COLUMN totp_last_step"
    )
