"""Idempotency keys: stored responses of mutating requests, per org, user and key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column(
            "org_id", sa.Uuid(), sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("headers", pg.JSONB(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    enable_tenant_rls("idempotency_keys")
    # The hourly purge runs without a tenant: it may delete expired records of any org, and
    # nothing else (they are garbage once expired, whoever they belonged to).
    op.execute(
        "CREATE POLICY purge_expired ON idempotency_keys FOR DELETE "
        "USING (created_at < now() - interval '24 hours')"
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
