"""What documents say, read from the database (no PDF code here: the web process imports this).

Figures are exact `Decimal`s quantized to the fund currency. A notice's "before" figures are
read from the ledger entries written before the call's own contributions (ledger ids grow with
every append, and issuing is serialised per fund), so a notice rendered late, or again, says the
same as one rendered the moment the call was issued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.allocations.models import Allocation
from prorata.capital_accounts import service as capital_accounts
from prorata.capital_calls.models import (
    CREDIT_APPLIED,
    CallItem,
    CallLine,
    CallStatus,
    CapitalCall,
    Purpose,
)
from prorata.deals.models import Deal
from prorata.documents import letters
from prorata.finance import money
from prorata.fund_metrics import statement as fund_statements
from prorata.fund_metrics.schemas import StatementOut
from prorata.funds import repository as fund_repository
from prorata.funds.models import Fund
from prorata.investors import contacts as investor_contacts
from prorata.investors.models import Investor, MailKind
from prorata.ledger.models import EntryKind, LedgerEntry

ZERO = Decimal(0)
PURPOSES = {
    Purpose.investment: "Investment",
    Purpose.management_fee: "Management fee",
    Purpose.fund_expenses: "Fund expenses",
}


@dataclasses.dataclass(frozen=True)
class Notice:
    """One investor's capital call notice (ILPA capital call template)."""

    fund_name: str
    currency: str
    call_id: uuid.UUID
    investor_id: uuid.UUID
    investor_name: str
    recipients: tuple[str, ...]  # the investor's contacts who receive notices, or its e-mail
    notice_date: dt.date
    due_date: dt.date
    lines: list[tuple[str, Decimal]]  # amount due by purpose (investments name their deal)
    total: Decimal
    commitment: Decimal
    contributed_before: Decimal
    contributed_after: Decimal
    unfunded_before: Decimal
    unfunded_after: Decimal
    wire_instructions: str | None
    # The letter around it (`documents.letters`): absent in a plain notice.
    number: int | None = None  # Capital Call No. N
    payment_reference: str | None = None
    late_payment_terms: str | None = None
    addressee: letters.Addressee | None = None
    # The investor's earlier credit (an overpayment kept) applied to this call at issue.
    credit_applied: Decimal = ZERO

    @property
    def amount_due(self) -> Decimal:
        """What the investor wires: the call less its credit applied."""
        return self.total - self.credit_applied

    @property
    def called_percent(self) -> str:
        """This call as a share of the commitment."""
        return letters.percent(self.total, self.commitment)

    @property
    def cumulative_percent(self) -> str:
        """Everything called so far, this call included, as a share of the commitment."""
        return letters.percent(self.contributed_after, self.commitment)

    @property
    def reference(self) -> str:
        """What the investor quotes with its wire: the end of the call's id, which is random.
        (A UUIDv7 starts with its creation time: calls made within the same minute, in any
        fund, would share their first eight digits.)"""
        return f"CALL-{self.call_id.hex[-12:].upper()}"


def _item_label(item: CallItem, deals: dict[uuid.UUID, str]) -> str:
    label = PURPOSES[item.purpose]
    if item.deal_id is not None:
        label += f": {deals.get(item.deal_id, '')}"
    return label


async def _deal_names(session: AsyncSession, fund_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await session.execute(sa.select(Deal.id, Deal.name).where(Deal.fund_id == fund_id))
    return {deal_id: name for deal_id, name in rows.all()}


async def _ledger_before(
    session: AsyncSession, call: CapitalCall
) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """(contributed, recallable) per investor from the entries written before the call's own."""
    first = await session.scalar(
        sa.select(sa.func.min(LedgerEntry.id)).where(
            LedgerEntry.fund_id == call.fund_id, LedgerEntry.source_id == call.id
        )
    )
    statement = (
        sa.select(
            LedgerEntry.investor_id,
            sa.func.coalesce(
                sa.func.sum(LedgerEntry.amount).filter(LedgerEntry.kind == EntryKind.contribution),
                ZERO,
            ),
            sa.func.coalesce(
                sa.func.sum(LedgerEntry.amount).filter(
                    LedgerEntry.kind == EntryKind.recallable_distribution
                ),
                ZERO,
            ),
        )
        .where(LedgerEntry.fund_id == call.fund_id)
        .group_by(LedgerEntry.investor_id)
    )
    if first is not None:
        statement = statement.where(LedgerEntry.id < first)
    return {investor: (c, r) for investor, c, r in (await session.execute(statement)).all()}


async def _credit_applied(session: AsyncSession, call: CapitalCall) -> dict[uuid.UUID, Decimal]:
    """Each investor's credit applied to the call when it was issued (capital_calls)."""
    rows = await session.execute(
        sa.select(LedgerEntry.investor_id, -sa.func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.fund_id == call.fund_id,
            LedgerEntry.source_id == call.id,
            LedgerEntry.source_type == CREDIT_APPLIED,
            LedgerEntry.kind == EntryKind.credit,
        )
        .group_by(LedgerEntry.investor_id)
    )
    return {investor: Decimal(applied) for investor, applied in rows.all() if applied}


async def call_notices(session: AsyncSession, *, call: CapitalCall) -> list[Notice]:
    """Every notice of an issued call, one per investor with an amount due, by investor id.

    A call cancelled before its notices were rendered has none: nothing is due, and its
    notices would be mailed to investors asking for money."""
    if call.status is CallStatus.cancelled:
        return []
    fund = await session.get_one(Fund, call.fund_id)
    quantum = money.quantum(fund.currency)
    items = {
        item.id: item
        for item in await session.scalars(
            sa.select(CallItem).where(CallItem.call_id == call.id).order_by(CallItem.position)
        )
    }
    deals = await _deal_names(session, fund.id)
    due: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = defaultdict(dict)
    lines = await session.execute(
        sa.select(CallLine.investor_id, CallLine.item_id, CallLine.amount).where(
            CallLine.fund_id == call.fund_id, CallLine.call_id == call.id
        )
    )
    for investor_id, item_id, amount in lines.all():
        due[investor_id][item_id] = amount
    investors = {
        row.id: row
        for row in await session.scalars(sa.select(Investor).where(Investor.id.in_(list(due))))
    }
    commitments = await fund_repository.commitments(session, fund_id=fund.id)
    mailed_to = await investor_contacts.recipients(
        session, investor_ids=list(due), kind=MailKind.notices
    )
    before = await _ledger_before(session, call)
    credits = await _credit_applied(session, call)
    notices = []
    for investor_id in sorted(due):
        amounts = due[investor_id]
        ordered = [i for i in items if i in amounts]
        total = sum(amounts.values(), ZERO)
        contributed, recallable = before.get(investor_id, (ZERO, ZERO))
        commitment = commitments.get(investor_id, ZERO)
        investor = investors[investor_id]
        notices.append(
            Notice(
                fund_name=fund.name,
                currency=fund.currency,
                call_id=call.id,
                investor_id=investor_id,
                investor_name=investor.name,
                recipients=tuple(mailed_to.get(investor_id, ())),
                notice_date=call.notice_date,
                due_date=call.due_date,
                lines=[
                    (_item_label(items[i], deals), amounts[i].quantize(quantum)) for i in ordered
                ],
                total=total.quantize(quantum),
                commitment=commitment.quantize(quantum),
                contributed_before=contributed.quantize(quantum),
                contributed_after=(contributed + total).quantize(quantum),
                unfunded_before=(commitment - contributed + recallable).quantize(quantum),
                unfunded_after=(commitment - contributed - total + recallable).quantize(quantum),
                wire_instructions=fund.wire_instructions,
                number=call.number,
                payment_reference=letters.payment_reference(
                    fund_name=fund.name,
                    kind="C",
                    number=call.number,
                    investor_id=investor_id,
                    external_ref=investor.external_ref,
                ),
                late_payment_terms=fund.late_payment_terms,
                addressee=letters.addressee(investor),
                credit_applied=credits.get(investor_id, ZERO).quantize(quantum),
            )
        )
    return notices


@dataclasses.dataclass(frozen=True)
class Statement:
    """One investor's ILPA-style capital account statement at `period_end` (its QTD, YTD and
    ITD columns, `fund_metrics.statement`), as the API gives it."""

    fund_name: str
    investor_name: str
    recipients: tuple[str, ...]  # the investor's contacts who receive statements, or its e-mail
    period_end: dt.date
    ilpa: StatementOut

    @property
    def currency(self) -> str:
        return self.ilpa.currency


async def statements(
    session: AsyncSession,
    *,
    fund: Fund,
    investors: Sequence[Investor],
    period_end: dt.date,
) -> list[Statement]:
    """Each investor's statement of the API. The fund's book is built once for them all: gains
    are allocated by everyone's contributions, so it is the whole fund's work whether one
    statement is asked or all."""
    book = await capital_accounts.book(session, fund=fund, end=period_end)
    ids = [i.id for i in investors]
    found = await fund_statements.statements(
        session, fund=fund, investor_ids=ids, as_of=period_end, book=book
    )
    mailed_to = await investor_contacts.recipients(
        session, investor_ids=ids, kind=MailKind.statements
    )
    return [
        Statement(
            fund_name=fund.name,
            investor_name=investor.name,
            recipients=tuple(mailed_to.get(investor.id, ())),
            period_end=period_end,
            ilpa=found[investor.id],
        )
        for investor in investors
    ]


@dataclasses.dataclass(frozen=True)
class AllocationRow:
    investor: str
    deal: str
    company: str
    amount: Decimal


async def allocation_count(session: AsyncSession, *, fund_id: uuid.UUID) -> int:
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(Allocation).where(Allocation.fund_id == fund_id)
    )
    return int(count or 0)


async def allocation_batches(
    session: AsyncSession, *, fund_id: uuid.UUID, batch: int = 2000
) -> AsyncIterator[list[AllocationRow]]:
    """Every allocation of the fund in key order, in batches, through a server-side cursor:
    a fund of millions of allocations never sits in memory."""
    statement = (
        sa.select(Investor.name, Deal.name, Deal.company, Allocation.amount)
        .join(Investor, Investor.id == Allocation.investor_id)
        .join(Deal, (Deal.id == Allocation.deal_id) & (Deal.fund_id == Allocation.fund_id))
        .where(Allocation.fund_id == fund_id)
        .order_by(Allocation.investor_id, Allocation.deal_id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(statement)
    async for rows in result.partitions(batch):
        yield [AllocationRow(r[0], r[1], r[2] or "", r[3]) for r in rows]
