"""Import column mappings saved per organisation and kind, the header each import read, and a
dry run's preview and would-be counts (issue 20 items 3-4).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from prorata.migrations.tenancy import enable_tenant_rls

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE import_mappings (
    id UUID NOT NULL,
    org_id UUID NOT NULL,
    kind VARCHAR(20) NOT NULL,
    name VARCHAR(100) NOT NULL,
    columns JSONB NOT NULL,
    is_default BOOLEAN NOT NULL,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_import_mappings PRIMARY KEY (id),
    CONSTRAINT uq_import_mappings_org_id_kind_name UNIQUE (org_id, kind, name),
    CONSTRAINT fk_import_mappings_org_id_orgs
        FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uq_import_mappings_org_id_kind_default
    ON import_mappings (org_id, kind) WHERE is_default;
ALTER TABLE imports
    ADD COLUMN would_insert BIGINT,
    ADD COLUMN would_update BIGINT,
    ADD COLUMN would_keep BIGINT,
    ADD COLUMN columns JSONB,
    ADD COLUMN preview JSONB;
-- A dry run's counts were kept as if applied: they move to the would-be columns (every
-- organisation's: the owner, past row level security for this one statement).
ALTER TABLE imports NO FORCE ROW LEVEL SECURITY;
UPDATE imports SET would_insert = inserted, would_update = updated, would_keep = unchanged,
                   inserted = NULL, updated = NULL, unchanged = NULL
WHERE dry_run;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
"""
    )
    enable_tenant_rls("import_mappings")


def downgrade() -> None:
    op.execute(
        """
ALTER TABLE imports NO FORCE ROW LEVEL SECURITY;
UPDATE imports SET inserted = would_insert, updated = would_update, unchanged = would_keep
WHERE dry_run;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
ALTER TABLE imports
    DROP COLUMN would_insert,
    DROP COLUMN would_update,
    DROP COLUMN would_keep,
    DROP COLUMN columns,
    DROP COLUMN preview;
DROP TABLE import_mappings;
"""
    )
