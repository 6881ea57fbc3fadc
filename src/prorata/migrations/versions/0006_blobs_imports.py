"""Blobs (files in the object store: key, size, SHA-256, type; never their content).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BLOBS = """
CREATE TABLE blobs (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    key VARCHAR(1024) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    content_type VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_blobs PRIMARY KEY (id),
    CONSTRAINT uq_blobs_key UNIQUE (key),
    CONSTRAINT fk_blobs_org_id_orgs FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
)
"""


def upgrade() -> None:
    op.execute(BLOBS)
    enable_tenant_rls("blobs")


def downgrade() -> None:
    op.execute("DROP TABLE blobs")
