"""A queued mail names the stored file it attaches (blob and file name), not a document: the
mail package sends what it was given and no longer reads the documents table (which made
documents and notifications depend on each other). Rows queued before keep their attachment.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "email_outbox",
        sa.Column(
            "attachment_blob_id",
            sa.Uuid(),
            sa.ForeignKey("blobs.id", name="fk_email_outbox_attachment_blob_id_blobs"),
            nullable=True,
        ),
    )
    op.add_column("email_outbox", sa.Column("attachment_filename", sa.String(255), nullable=True))
    # Every organisation's rows: the owner is subject to forced RLS too, lifted for this one
    # statement inside the migration's transaction.
    for table in ("email_outbox", "documents"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """
        UPDATE email_outbox m SET attachment_blob_id = d.blob_id, attachment_filename = d.filename
        FROM documents d WHERE d.id = m.document_id
        """
    )
    for table in ("email_outbox", "documents"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.drop_column("email_outbox", "attachment_filename")
    op.drop_column("email_outbox", "attachment_blob_id")
