"""Notices go out only when approved: a fund setting, and the release state of each call's
notices (who issued the call, who approved, when they are to be sent).

Funds that exist keep sending at issue (`notices_need_approval` false); the API gives new funds
the setting on unless asked otherwise.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE funds ADD COLUMN notices_need_approval BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE capital_calls
    ADD COLUMN issued_by UUID,
    ADD COLUMN notices VARCHAR(20),
    ADD COLUMN notices_approved_by UUID,
    ADD COLUMN notices_approved_at TIMESTAMPTZ,
    ADD COLUMN notices_send_at TIMESTAMPTZ,
    ADD CONSTRAINT ck_capital_calls_notices CHECK (
        notices IN ('not_required', 'awaiting_approval', 'scheduled', 'released'));
-- Calls issued before: their notices went out at issue.
UPDATE capital_calls SET notices = 'not_required' WHERE status <> 'draft';
"""
    )


def downgrade() -> None:
    op.execute(
        """
ALTER TABLE capital_calls DROP CONSTRAINT ck_capital_calls_notices,
    DROP COLUMN issued_by, DROP COLUMN notices, DROP COLUMN notices_approved_by,
    DROP COLUMN notices_approved_at, DROP COLUMN notices_send_at;
ALTER TABLE funds DROP COLUMN notices_need_approval;
"""
    )
