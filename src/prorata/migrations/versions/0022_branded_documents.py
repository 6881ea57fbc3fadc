"""Documents that look like a GP sent them, and distribution notices.

- the organisation's paper size and date format (its letters);
- the investor's postal address and attention line (the addressee block);
- the fund's late-payment/default terms (printed on call notices);
- sequential numbers per fund: "Capital Call No. 4" (given when a call is issued, under the
  fund's row lock; drafts have none, so a discarded draft leaves no gap) and "Distribution
  No. 2" (given when it is made, under the same lock), backfilled in that order;
- documents of a distribution (one notice per investor per distribution).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE orgs
    ADD COLUMN paper_size VARCHAR(10) NOT NULL DEFAULT 'a4',
    ADD COLUMN date_format VARCHAR(10) NOT NULL DEFAULT 'iso';
ALTER TABLE investors
    ADD COLUMN address VARCHAR(500),
    ADD COLUMN attention VARCHAR(200);
ALTER TABLE funds ADD COLUMN late_payment_terms VARCHAR(2000);

ALTER TABLE capital_calls ADD COLUMN number INTEGER;
UPDATE capital_calls SET number = numbered.n
FROM (
    SELECT id, row_number() OVER (PARTITION BY fund_id ORDER BY issued_at, created_at, id) AS n
    FROM capital_calls WHERE issued_at IS NOT NULL
) AS numbered
WHERE capital_calls.id = numbered.id;
ALTER TABLE capital_calls ADD CONSTRAINT uq_capital_calls_fund_id_number UNIQUE (fund_id, number);

ALTER TABLE distributions ADD COLUMN number INTEGER;
UPDATE distributions SET number = numbered.n
FROM (
    SELECT id, row_number() OVER (PARTITION BY fund_id ORDER BY created_at, id) AS n
    FROM distributions
) AS numbered
WHERE distributions.id = numbered.id;
ALTER TABLE distributions ALTER COLUMN number SET NOT NULL;
ALTER TABLE distributions ADD CONSTRAINT uq_distributions_fund_id_number UNIQUE (fund_id, number);

ALTER TABLE documents ADD COLUMN distribution_id UUID;
ALTER TABLE documents ADD CONSTRAINT uq_documents_distribution_id_investor_id
    UNIQUE (distribution_id, investor_id);
"""
    )


def downgrade() -> None:
    op.execute(
        """
DELETE FROM documents WHERE kind = 'distribution_notice';
ALTER TABLE documents DROP COLUMN distribution_id;
ALTER TABLE distributions DROP COLUMN number;
ALTER TABLE capital_calls DROP COLUMN number;
ALTER TABLE funds DROP COLUMN late_payment_terms;
ALTER TABLE investors DROP COLUMN attention, DROP COLUMN address;
ALTER TABLE orgs DROP COLUMN date_format, DROP COLUMN paper_size;
"""
    )
