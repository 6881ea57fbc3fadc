"""A file whose import was rejected can be uploaded again and imported.

A rejected import applied nothing, so running the same file again cannot import it twice; yet
the same-file rule (one import per fund, kind, mode and SHA-256) returned the rejected import
for ever — even after the user created the investor or deal the file referred to, which is
how most rejections are fixed. The rule now counts imports that are queued, running or
succeeded, as it already left failed ones out.

Downgrading fails if a file has since been imported more than once (rejected, then again):
the old rule cannot hold for those rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "uq_imports_fund_id_kind_dry_run_sha256"
COLUMNS = "imports (fund_id, kind, dry_run, sha256)"


def upgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(
        f"CREATE UNIQUE INDEX {INDEX} ON {COLUMNS} WHERE status NOT IN ('failed', 'rejected')"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
    op.execute(f"CREATE UNIQUE INDEX {INDEX} ON {COLUMNS} WHERE status <> 'failed'")
