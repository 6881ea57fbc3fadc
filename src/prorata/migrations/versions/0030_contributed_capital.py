"""One meaning of contributed capital: the cash received for a call line. `payment` entries
carry the line's `purpose` and (new column) `deal_id`, and are dated on the call's due date
when received by it; contributions (capital called) carry the deal as well.

Existing payment entries (no purpose) are rebooked the way the application now books them,
append-only: each is reversed on its own date and booked again split over what remained due
of the investor's line by (purpose, deal), on max(due date, received date).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from prorata.finance import money

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_TABLES = (
    "capital_ledger",
    "capital_call_payments",
    "capital_call_lines",
    "capital_call_items",
    "capital_calls",
    "funds",
)

_OLD_PAYMENTS = sa.text(
    """
SELECT e.id, e.org_id, e.fund_id, e.investor_id, e.amount, e.effective_on, e.source_type,
       e.source_id, COALESCE(p.call_id, e.source_id) AS call_id, c.due_date, f.currency
FROM capital_ledger e
LEFT JOIN capital_call_payments p ON p.id = e.source_id AND e.source_type = 'payment'
JOIN capital_calls c ON c.id = COALESCE(p.call_id, e.source_id)
JOIN funds f ON f.id = e.fund_id
WHERE e.kind = 'payment' AND e.purpose IS NULL AND e.reverses_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM capital_ledger r WHERE r.fund_id = e.fund_id
                  AND r.reverses_id = e.id)
ORDER BY e.id
"""
)

_LINES = sa.text(
    """
SELECT l.call_id, l.investor_id, l.purpose, i.deal_id, sum(l.amount)
FROM capital_call_lines l JOIN capital_call_items i ON i.id = l.item_id
WHERE l.call_id = ANY(:calls)
GROUP BY l.call_id, l.investor_id, l.purpose, i.deal_id
"""
)

_INSERT = sa.text(
    """
INSERT INTO capital_ledger (org_id, fund_id, investor_id, kind, purpose, deal_id, amount,
                            effective_on, source_type, source_id, reverses_id)
VALUES (:org_id, :fund_id, :investor_id, 'payment', :purpose, :deal_id, :amount,
        :effective_on, :source_type, :source_id, :reverses_id)
"""
)


def upgrade() -> None:
    op.execute("ALTER TABLE capital_ledger ADD COLUMN deal_id UUID")
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    _rebook_payments()
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _rebook_payments() -> None:
    bind = op.get_bind()
    old = bind.execute(_OLD_PAYMENTS).mappings().all()
    if not old:
        return
    remaining: dict[tuple[uuid.UUID, uuid.UUID], dict[tuple[str, str], Decimal]] = defaultdict(dict)
    calls = sorted({row["call_id"] for row in old})
    for call, investor, purpose, deal, amount in bind.execute(_LINES, {"calls": calls}).all():
        remaining[call, investor][purpose, str(deal) if deal else ""] = Decimal(amount)
    rows: list[dict[str, object]] = []
    for row in old:
        shared = {
            "org_id": row["org_id"],
            "fund_id": row["fund_id"],
            "investor_id": row["investor_id"],
            "source_type": row["source_type"],
            "source_id": row["source_id"],
        }
        rows.append(
            {
                **shared,
                "purpose": None,
                "deal_id": None,
                "amount": -row["amount"],
                "effective_on": row["effective_on"],
                "reverses_id": row["id"],
            }
        )
        left = remaining[row["call_id"], row["investor_id"]]
        weights = {key: rest for key, rest in sorted(left.items()) if rest > 0}
        parts = (
            money.split(row["amount"], weights, row["currency"])
            if weights
            else {("investment", ""): row["amount"]}
        )
        for (purpose, deal), part in parts.items():
            left[purpose, deal] = left.get((purpose, deal), Decimal(0)) - part
            if part:
                rows.append(
                    {
                        **shared,
                        "purpose": purpose,
                        "deal_id": uuid.UUID(deal) if deal else None,
                        "amount": part,
                        "effective_on": max(row["effective_on"], row["due_date"]),
                        "reverses_id": None,
                    }
                )
    bind.execute(_INSERT, rows)


def downgrade() -> None:
    # The rebooked entries stay (append-only); they read the same without the deal.
    op.execute("ALTER TABLE capital_ledger DROP COLUMN deal_id")
