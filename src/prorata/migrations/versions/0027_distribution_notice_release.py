"""Distribution notices follow the same approval rule as call notices: on distributions, who
made it and the release state of its notices (as `capital_calls`' since 0016 and 0018).

Distributions made before mailed their notices at once: released, and sent.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE distributions
    ADD COLUMN made_by UUID,
    ADD COLUMN notices VARCHAR(20),
    ADD COLUMN notices_approved_by UUID,
    ADD COLUMN notices_approved_at TIMESTAMPTZ,
    ADD COLUMN notices_send_at TIMESTAMPTZ,
    ADD COLUMN notices_sent_at TIMESTAMPTZ,
    ADD CONSTRAINT ck_distributions_notices CHECK (
        notices IN ('not_required', 'awaiting_approval', 'scheduled', 'released'));
UPDATE distributions SET notices = 'released', notices_sent_at = created_at;
"""
    )


def downgrade() -> None:
    op.execute(
        """
ALTER TABLE distributions DROP CONSTRAINT ck_distributions_notices,
    DROP COLUMN made_by, DROP COLUMN notices, DROP COLUMN notices_approved_by,
    DROP COLUMN notices_approved_at, DROP COLUMN notices_send_at, DROP COLUMN notices_sent_at;
"""
    )
