"""The GP's own commitment and side-letter terms: `general_partner` on a commitment (no
management fee, no carried interest on its own capital), and its own `management_fee_rate`
and `carry_share` (null: the fund's).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE commitments ADD COLUMN general_partner BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE commitments ADD COLUMN management_fee_rate NUMERIC;
ALTER TABLE commitments ADD COLUMN carry_share NUMERIC;
ALTER TABLE commitments ADD CONSTRAINT ck_commitments_side_letter_fee_rate
    CHECK (management_fee_rate IS NULL OR (management_fee_rate >= 0 AND management_fee_rate < 1));
ALTER TABLE commitments ADD CONSTRAINT ck_commitments_side_letter_carry_share
    CHECK (carry_share IS NULL OR (carry_share >= 0 AND carry_share < 1));
"""
    )


def downgrade() -> None:
    op.execute(
        """
ALTER TABLE commitments DROP CONSTRAINT ck_commitments_side_letter_carry_share;
ALTER TABLE commitments DROP CONSTRAINT ck_commitments_side_letter_fee_rate;
ALTER TABLE commitments DROP COLUMN carry_share;
ALTER TABLE commitments DROP COLUMN management_fee_rate;
ALTER TABLE commitments DROP COLUMN general_partner;
"""
    )
