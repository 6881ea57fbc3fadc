"""Realisations feed distributions (issue 19): a distribution may name the realisation whose
proceeds it distributes (`distributions.realisation_id`); a realisation keeps what of its
proceeds standing distributions have taken (`distributed`) and can be cancelled
(`cancelled_at`); a deal realised in full has the date it was (`deals.realised_on`).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE deal_realisations
    ADD COLUMN distributed NUMERIC NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_at TIMESTAMPTZ,
    ADD CONSTRAINT uq_deal_realisations_fund_id_id UNIQUE (fund_id, id),
    ADD CONSTRAINT ck_deal_realisations_distributed
        CHECK (distributed >= 0 AND distributed <= proceeds);
ALTER TABLE distributions
    ADD COLUMN realisation_id UUID,
    ADD CONSTRAINT fk_distributions_fund_id_realisation_id_deal_realisations
        FOREIGN KEY (fund_id, realisation_id) REFERENCES deal_realisations (fund_id, id);
CREATE INDEX ix_distributions_realisation_id ON distributions (realisation_id);
ALTER TABLE deals ADD COLUMN realised_on DATE;
"""
    )


def downgrade() -> None:
    op.execute(
        """
ALTER TABLE deals DROP COLUMN realised_on;
DROP INDEX ix_distributions_realisation_id;
ALTER TABLE distributions DROP COLUMN realisation_id;
ALTER TABLE deal_realisations
    DROP CONSTRAINT ck_deal_realisations_distributed,
    DROP CONSTRAINT uq_deal_realisations_fund_id_id,
    DROP COLUMN cancelled_at,
    DROP COLUMN distributed;
"""
    )
