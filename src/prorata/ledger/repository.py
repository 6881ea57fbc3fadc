"""Ledger writes (append only) and the balances derived from it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Sequence
from decimal import Decimal
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.ledger.models import CommitmentBalance, EntryKind, LedgerEntry
from prorata.platform import db

ZERO = Decimal(0)


@dataclasses.dataclass(frozen=True)
class Balance:
    """One investor's capital position in one fund, derived from the ledger."""

    called: Decimal = ZERO  # capital called (net of reversals and releases)
    contributed: Decimal = ZERO  # cash received for call lines (`payment` entries)
    distributed: Decimal = ZERO  # all distributions, recallable included
    recallable: Decimal = ZERO  # the part of `distributed` that may be called again

    def unfunded(self, commitment: Decimal) -> Decimal:
        return unfunded(commitment, called=self.called, recallable=self.recallable)

    @property
    def receivable(self) -> Decimal:
        """Called and not yet received."""
        return self.called - self.contributed


def unfunded(commitment: Decimal, *, called: Decimal, recallable: Decimal) -> Decimal:
    """Commitment − capital called + recallable distributions (DESIGN §5): what was called
    and not paid is still owed, so it is not available to call again."""
    return commitment - called + recallable


def sum_of(kinds: Iterable[EntryKind]) -> sa.ColumnElement[Decimal]:
    return sa.func.coalesce(
        sa.func.sum(LedgerEntry.amount).filter(LedgerEntry.kind.in_(list(kinds))), ZERO
    )


async def balances(
    session: AsyncSession, *, fund_id: uuid.UUID, investor_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Balance]:
    """The balances of `investor_ids` in the fund, from the running balances (kept with each
    ledger entry: migration 0040), by the primary key. An investor with no entry and no
    commitment is absent: its balance is `Balance()`."""
    if not investor_ids:
        return {}
    rows = await session.execute(
        sa.select(
            CommitmentBalance.investor_id,
            CommitmentBalance.called,
            CommitmentBalance.contributed,
            CommitmentBalance.distributed,
            CommitmentBalance.recallable,
        ).where(
            CommitmentBalance.fund_id == fund_id,
            CommitmentBalance.investor_id.in_(list(investor_ids)),
        )
    )
    return {
        investor_id: Balance(called=c, contributed=p, distributed=d, recallable=r)
        for investor_id, c, p, d, r in rows.all()
    }


class NewEntry(TypedDict, total=False):
    """The columns of one ledger entry to append (`purpose`, `deal_id`, `reverses_id`
    optional)."""

    org_id: uuid.UUID
    fund_id: uuid.UUID
    investor_id: uuid.UUID
    kind: EntryKind
    amount: Decimal
    effective_on: dt.date
    source_type: str
    source_id: uuid.UUID
    purpose: str | None
    deal_id: uuid.UUID | None
    reverses_id: int | None


async def append(session: AsyncSession, entries: Sequence[NewEntry]) -> None:
    """Append entries in one multi-row INSERT (a 10,000-investor call is one statement)."""
    if entries:
        rows = [
            {"purpose": None, "deal_id": None, "reverses_id": None, **entry} for entry in entries
        ]
        await db.insert_many(session, LedgerEntry, rows)


def reversals(entries: Iterable[LedgerEntry]) -> list[NewEntry]:
    """Entries that undo `entries` (those not reversals themselves): the opposite amount, on
    the reversed entry's date — what was undone never happened as of any date."""
    return [
        {
            "org_id": entry.org_id,
            "fund_id": entry.fund_id,
            "investor_id": entry.investor_id,
            "kind": entry.kind,
            "amount": -entry.amount,
            "effective_on": entry.effective_on,
            "source_type": entry.source_type,
            "source_id": entry.source_id,
            "purpose": entry.purpose,
            "deal_id": entry.deal_id,
            "reverses_id": entry.id,
        }
        for entry in entries
        if entry.reverses_id is None
    ]


async def entries_of_source(
    session: AsyncSession, *, fund_id: uuid.UUID, source_id: uuid.UUID
) -> list[LedgerEntry]:
    result = await session.scalars(
        sa.select(LedgerEntry)
        .where(LedgerEntry.fund_id == fund_id, LedgerEntry.source_id == source_id)
        .order_by(LedgerEntry.id)
    )
    return list(result.all())
