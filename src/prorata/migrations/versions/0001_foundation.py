"""Foundation: identity tables, audit log, the job queue's schema, grants for the app role.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql as pg

from prorata.migrations.tenancy import enable_tenant_rls, make_append_only

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamps() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    app_role = context.config.attributes["app_role"]
    # The app role reads and writes rows; it owns nothing and gets no DDL, no TRUNCATE.
    op.execute(f"GRANT USAGE ON SCHEMA public TO {app_role}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_role}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app_role}"
    )
    op.execute(
        """
        CREATE FUNCTION prorata_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )

    op.create_table(
        "orgs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        _timestamps(),
    )
    enable_tenant_rls("orgs", column="id")

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "org_id", sa.Uuid(), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        _timestamps(),
        sa.UniqueConstraint("org_id", "id"),
    )
    op.create_index(
        "uq_users_org_id_email", "users", ["org_id", sa.text("lower(email)")], unique=True
    )
    enable_tenant_rls("users")

    op.create_table(
        "memberships",
        sa.Column("org_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        _timestamps(),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'manager', 'viewer', 'investor')", name="role"
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
    )
    enable_tenant_rls("memberships")

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        _timestamps(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id", "user_id"], ["users.org_id", "users.id"], ondelete="CASCADE"
        ),
    )
    enable_tenant_rls("api_keys")
    # Authentication happens before the tenant is known: a transaction that names a key's hash
    # in `app.key_hash` may read that one row. Knowing the key is the only way to its org.
    op.execute(
        "CREATE POLICY api_key_lookup ON api_keys FOR SELECT "
        "USING (key_hash = NULLIF(current_setting('app.key_hash', true), ''))"
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "org_id", sa.Uuid(), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity", sa.String(100), nullable=False),
        sa.Column("entity_id", sa.String(100), nullable=False),
        sa.Column("before", pg.JSONB(), nullable=True),
        sa.Column("after", pg.JSONB(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        _timestamps(),
    )
    op.create_index("ix_audit_log_org_id_created_at", "audit_log", ["org_id", "created_at"])
    enable_tenant_rls("audit_log")
    make_append_only("audit_log", app_role)

    # The job queue lives in the same database, so a job is enqueued in the business
    # transaction. Its schema is procrastinate's own, pinned by our lock file.
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    raise NotImplementedError("the foundation migration cannot be reverted")
