"""A dry run of a file runs again: it is a check against the data as it is now.

The same-file rule (one import per fund, kind, mode, SHA-256 and reading options) answered a
dry run with an earlier dry run of the same bytes — even after the file had been imported for
real, so the answer said its rows would be inserted when they now existed. The rule is there so
that a file is never applied twice; a dry run applies nothing, so the rule now holds for real
imports only.

Downgrading fails if a file has since been dry-run more than once (the old rule cannot hold for
those rows).

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

INDEX = "uq_imports_fund_id_kind_dry_run_sha256"
COLUMNS = "imports (fund_id, kind, dry_run, sha256, number_format, date_format, sheet, columns)"
WHERE = "WHERE status NOT IN ('failed', 'rejected')"


def upgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(
        f"CREATE UNIQUE INDEX {INDEX} ON {COLUMNS} NULLS NOT DISTINCT {WHERE} AND NOT dry_run"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(f"CREATE UNIQUE INDEX {INDEX} ON {COLUMNS} NULLS NOT DISTINCT {WHERE}")
