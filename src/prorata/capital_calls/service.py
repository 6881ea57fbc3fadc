"""Rules of capital calls.

A call is itemised by purpose; each item is split across the fund's eligible investors by
commitment with `money.split_capped`, so nobody is called beyond its unfunded commitment (the
excess is re-split among the others) and Σ lines == item, to the minor unit. A call larger than
the eligible unfunded total is refused with the numbers.

Lifecycle: draft → issued → partially_paid → paid, or cancelled (from draft, or from issued
with no payment). Drafts reserve nothing; issuing recomputes the lines under a lock on the fund
row — so two calls issued at once cannot draw the same unfunded commitment — freezes them and
writes one contribution per line to the ledger. Cancelling an issued call appends reversing
entries; nothing is ever deleted from the ledger.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import tasks as call_tasks
from prorata.capital_calls.models import (
    CLOSE,
    CREDIT_APPLIED,
    PAYMENT,
    REFUND,
    CallDefault,
    CallItem,
    CallLine,
    CallStatus,
    CapitalCall,
    Payment,
    PaymentReversal,
    Purpose,
)
from prorata.capital_calls.schemas import (
    CallCreate,
    CallOut,
    CreditMovement,
    CreditOut,
    ItemOut,
    LineOut,
    PaymentIn,
    PaymentOut,
    ShortfallIn,
)
from prorata.deals import service as deal_service
from prorata.finance import calendars, daycount, interest, money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, columns_of, keyset
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import CommitmentBalance, EntryKind, LedgerEntry
from prorata.notices import release
from prorata.platform import audit, db, errors, events, hooks


@dataclasses.dataclass(frozen=True)
class Issued:
    actor: Principal
    call: CapitalCall


# Fired in the issuing transaction once the call's contributions are booked: documents connects
# the rendering of its notices.
call_issued: hooks.Hook[Issued] = hooks.Hook("capital_calls.call_issued")

SOURCE = "capital_call"


# Each item with its non-zero parts by investor.
_Lines = list[tuple[CallItem, dict[uuid.UUID, Decimal]]]


async def _split_items(
    session: AsyncSession, fund: Fund, items: list[CallItem], *, by_unfunded: bool = False
) -> _Lines:
    """Each item split over its eligible investors, capped by what remains unfunded: in
    proportion to commitments, or (a shortfall call) to the unfunded commitments before it."""
    capacity = await fund_repository.capacity(session, fund_id=fund.id)
    commitments = capacity.commitments
    if not commitments:
        raise errors.RuleViolation("the fund has no commitments to call")
    remaining = dict(capacity.unfunded)
    if by_unfunded:
        commitments = dict(capacity.unfunded)
    lines: _Lines = []
    for item in items:
        excused = set(item.excused_investor_ids)
        unknown = excused - commitments.keys()
        if unknown:
            raise errors.RuleViolation(
                f"excused investors without a commitment: {sorted(map(str, unknown))}"
            )
        # Copies only when someone is excused: at 10,000 investors each pass over the
        # commitments is measurable (a UUID hashes in Python).
        eligible = commitments
        caps = remaining
        if excused:
            eligible = {i: amount for i, amount in commitments.items() if i not in excused}
            caps = {i: remaining[i] for i in eligible}
        if not eligible:
            raise errors.RuleViolation("every investor is excused from an item")
        if not any(eligible.values()):
            raise errors.RuleViolation(
                f"no investor eligible for the {item.purpose} item has unfunded capital"
            )
        try:
            parts = money.split_capped(item.amount, eligible, caps, fund.currency)
        except money.InsufficientCapacity as exc:
            raise errors.RuleViolation(
                f"the {item.purpose} item of {item.amount} {fund.currency} exceeds the unfunded "
                f"commitments of its eligible investors ({exc.available} {fund.currency})",
                extensions={"requested": str(exc.requested), "available": str(exc.available)},
            ) from None
        called = {investor: part for investor, part in parts.items() if part}
        for investor, part in called.items():
            remaining[investor] -= part
        lines.append((item, called))
    return lines


async def _insert_lines(session: AsyncSession, call: CapitalCall, lines: _Lines) -> None:
    """One multi-row INSERT per item: a call on 10,000 investors is one statement an item."""
    for item, parts in lines:
        await db.insert_many(
            session,
            CallLine,
            [{"investor_id": investor, "amount": part} for investor, part in parts.items()],
            shared={
                "org_id": call.org_id,
                "fund_id": call.fund_id,
                "call_id": call.id,
                "item_id": item.id,
                "purpose": item.purpose,
            },
        )


async def _checked_amounts(session: AsyncSession, fund: Fund, data: CallCreate) -> list[Decimal]:
    """Each item's amount in the fund currency's minor unit, after checking its purpose."""
    amounts = []
    for item in data.items:
        amounts.append(
            validation.amount(item.amount, fund.currency, field=f"{item.purpose} amount")
        )
        if item.purpose is Purpose.investment:
            if item.deal_id is None:
                raise errors.RuleViolation("an investment item needs a deal_id")
            await _deal_in_fund(session, fund.id, item.deal_id)
        elif item.deal_id is not None:
            raise errors.RuleViolation(f"{errors.a(item.purpose)} item takes no deal_id")
    return amounts


async def _deal_in_fund(session: AsyncSession, fund_id: uuid.UUID, deal_id: uuid.UUID) -> None:
    try:
        await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    except errors.NotFound:
        raise errors.RuleViolation("deal_id: no such deal in this fund") from None


async def create_draft(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    data: CallCreate,
    shortfall_of: uuid.UUID | None = None,
) -> CapitalCall:
    fund = await fund_service.get(session, fund_id=fund_id)
    amounts = await _checked_amounts(session, fund, data)
    due_date = due_date_of(fund, data.notice_date, data.due_date)
    call = CapitalCall(
        org_id=actor.org_id,
        fund_id=fund_id,
        status=CallStatus.draft,
        notice_date=data.notice_date,
        due_date=due_date,
        amount=sum(amounts, Decimal(0)),
        # Read with the fund, before the balances: anything committed since bumps it.
        lines_version=fund.capital_version,
        shortfall_of=shortfall_of,
    )
    session.add(call)
    await session.flush()
    items = [
        CallItem(
            org_id=actor.org_id,
            fund_id=fund_id,
            call_id=call.id,
            position=position,
            purpose=item.purpose,
            deal_id=item.deal_id,
            amount=amount,
            excused_investor_ids=sorted(set(item.excused_investor_ids)),
        )
        for position, (item, amount) in enumerate(zip(data.items, amounts, strict=True))
    ]
    session.add_all(items)
    await session.flush()
    lines = await _split_items(session, fund, items, by_unfunded=shortfall_of is not None)
    await _insert_lines(session, call, lines)
    await session.flush()
    await _audit(session, actor, call, "capital_call.create")
    return call


def due_date_of(fund: Fund, notice_date: dt.date, due_date: dt.date | None) -> dt.date:
    """The due date asked (default: the earliest), at least the fund's notice period in
    business days after the notice date."""
    try:
        earliest = calendars.add_business_days(
            notice_date, fund.notice_business_days, fund.holiday_calendar
        )
    except OverflowError:  # a notice in the last days of year 9999 has no due date
        raise errors.RuleViolation(
            f"notice_date: no date is {fund.notice_business_days} business days after {notice_date}"
        ) from None
    if due_date is not None and due_date < earliest:
        raise errors.RuleViolation(
            f"due_date must be at least {fund.notice_business_days} business days after the "
            f"notice date: {earliest} or later"
        )
    return due_date or earliest


async def _audit(session: AsyncSession, actor: Principal, call: CapitalCall, action: str) -> None:
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity="capital_call",
        entity_id=call.id,
        after={
            "status": str(call.status),
            "amount": str(call.amount),
            "due_date": call.due_date.isoformat(),
        },
    )


async def get(
    session: AsyncSession, *, fund_id: uuid.UUID, call_id: uuid.UUID, for_update: bool = False
) -> CapitalCall:
    statement = sa.select(CapitalCall).where(
        CapitalCall.fund_id == fund_id, CapitalCall.id == call_id
    )
    if for_update:
        statement = statement.with_for_update()
    call = (await session.scalars(statement)).one_or_none()
    if call is None:
        raise errors.NotFound("no such capital call in this fund")
    return call


async def _items(session: AsyncSession, call: CapitalCall) -> list[CallItem]:
    result = await session.scalars(
        sa.select(CallItem).where(CallItem.call_id == call.id).order_by(CallItem.position)
    )
    return list(result.all())


async def issue(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, call_id: uuid.UUID
) -> CapitalCall:
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    if call.status is not CallStatus.draft:
        raise errors.Conflict(f"only a draft can be issued; this call is {call.status}")
    if call.lines_version != fund.capital_version:
        await _recompute_lines(session, fund, call)
    return await _book_issue(session, actor, fund, call)


async def _book_issue(
    session: AsyncSession, actor: Principal, fund: Fund, call: CapitalCall
) -> CapitalCall:
    """Issue a call whose lines are final (the caller holds the fund's row lock): its
    contributions to the ledger, credit applied, its number, its notices started."""
    fund_id = fund.id
    await _contribute(session, call)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    call.status = CallStatus.issued
    if await _apply_credit(session, call):
        call.status = await _settled_status(session, call)
    call.number = await _next_number(session, fund_id)
    call.issued_at = sa.func.now()
    call.issued_by = actor.user_id
    call.notices = release.held(fund.notices_need_approval)
    await session.flush()
    await session.refresh(call)
    await _audit(session, actor, call, "capital_call.issue")
    await events.announce(
        session,
        org_id=call.org_id,
        fund_id=fund_id,
        kind=events.Announcement.call_issued,
        data={"call_id": str(call.id), "amount": str(call.amount), "due_date": str(call.due_date)},
    )
    await call_issued.fire(session, Issued(actor=actor, call=call))
    return call


@dataclasses.dataclass(frozen=True)
class GivenItem:
    """An item of a call whose lines are given, not split (a closing's equalization)."""

    purpose: Purpose
    deal_id: uuid.UUID | None
    parts: dict[uuid.UUID, Decimal]  # investor → amount, each > 0


async def issue_given(
    session: AsyncSession,
    *,
    actor: Principal,
    fund: Fund,
    notice_date: dt.date,
    due_date: dt.date,
    items: list[GivenItem],
    excused: list[uuid.UUID],
    closing_id: uuid.UUID | None = None,
) -> CapitalCall:
    """Issue at once a call whose lines are given (the caller holds the fund's row lock and
    has checked them against the investors' unfunded commitments): a subsequent close asking
    its new investors for their equalization (`closing_id`), or a period's management fee net
    of offsets and waivers (`management_fees.calls`). The others are excused from every item;
    after that it is a call like any other (payments, credit, close-out, notices)."""
    call = CapitalCall(
        org_id=fund.org_id,
        fund_id=fund.id,
        status=CallStatus.draft,
        notice_date=notice_date,
        due_date=due_date,
        amount=sum((sum(i.parts.values(), Decimal(0)) for i in items), Decimal(0)),
        lines_version=fund.capital_version,
        closing_id=closing_id,
    )
    session.add(call)
    await session.flush()
    rows = [
        CallItem(
            org_id=fund.org_id,
            fund_id=fund.id,
            call_id=call.id,
            position=position,
            purpose=item.purpose,
            deal_id=item.deal_id,
            amount=sum(item.parts.values(), Decimal(0)),
            excused_investor_ids=sorted(set(excused)),
        )
        for position, item in enumerate(items)
    ]
    session.add_all(rows)
    await session.flush()
    await _insert_lines(
        session, call, [(row, item.parts) for row, item in zip(rows, items, strict=True)]
    )
    await session.flush()
    return await _book_issue(session, actor, fund, call)


@dataclasses.dataclass(frozen=True)
class IssuedItem:
    """An item of an issued call, with what each investor was finally called for it (its
    line less the part released by a close-out)."""

    call_id: uuid.UUID
    due_date: dt.date
    item_id: uuid.UUID
    purpose: Purpose
    deal_id: uuid.UUID | None
    excused: frozenset[uuid.UUID]
    called: dict[uuid.UUID, Decimal]


async def issued_items(session: AsyncSession, *, fund_id: uuid.UUID) -> list[IssuedItem]:
    """Every item of the fund's issued calls (not cancelled; not a closing's own call), in
    the order the calls fell due."""
    calls = {
        c.id: c
        for c in (
            await session.scalars(
                sa.select(CapitalCall).where(
                    CapitalCall.fund_id == fund_id,
                    CapitalCall.closing_id.is_(None),
                    CapitalCall.status.not_in([CallStatus.draft, CallStatus.cancelled]),
                )
            )
        ).all()
    }
    if not calls:
        return []
    items = (
        await session.scalars(
            sa.select(CallItem)
            .where(CallItem.fund_id == fund_id, CallItem.call_id.in_(list(calls)))
            .order_by(CallItem.call_id, CallItem.position)
        )
    ).all()
    called: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = defaultdict(dict)
    lines = await session.execute(
        sa.select(
            CallLine.item_id, CallLine.investor_id, CallLine.amount - CallLine.released
        ).where(CallLine.fund_id == fund_id, CallLine.call_id.in_(list(calls)))
    )
    for item_id, investor, amount in lines.all():
        called[item_id][investor] = Decimal(amount)
    result = [
        IssuedItem(
            call_id=i.call_id,
            due_date=calls[i.call_id].due_date,
            item_id=i.id,
            purpose=i.purpose,
            deal_id=i.deal_id,
            excused=frozenset(i.excused_investor_ids),
            called=called[i.id],
        )
        for i in items
    ]
    return sorted(result, key=lambda i: (i.due_date, calls[i.call_id].number or 0))


@dataclasses.dataclass(frozen=True)
class Reduction:
    """Part of what an investor was called for an item that is no longer called (a closing's
    rebalancing return). `call_ids`: the calls its holding of the item came from (the item's
    own call, then earlier closings' calls), where an unpaid rest may be released."""

    call_ids: list[uuid.UUID]
    item_id: uuid.UUID
    investor_id: uuid.UUID
    purpose: Purpose
    amount: Decimal
    deal_id: uuid.UUID | None = None


async def release_unpaid(
    session: AsyncSession, *, fund_id: uuid.UUID, parts: list[Reduction], effective_on: dt.date
) -> dict[tuple[uuid.UUID, uuid.UUID], Decimal]:
    """Of each part, what the investor still owes on its calls is released from its lines
    (a `contribution` −x as a close-out's, dated `effective_on`: no longer due), up to the
    part; returned by (item, investor). The rest was paid, and goes back as cash (the
    caller's entries). The caller holds the fund's row lock."""
    released: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(Decimal)
    calls: dict[uuid.UUID, CapitalCall] = {}
    owed: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
    entries: dict[uuid.UUID, list[ledger.NewEntry]] = defaultdict(list)
    for part in parts:
        rest = part.amount
        for call_id in part.call_ids:
            if call_id not in calls:
                calls[call_id] = await get(
                    session, fund_id=fund_id, call_id=call_id, for_update=True
                )
                owed[call_id] = await _outstanding(session, calls[call_id])
            amount = min(rest, max(owed[call_id].get(part.investor_id, Decimal(0)), Decimal(0)))
            if not amount:
                continue
            owed[call_id][part.investor_id] -= amount
            rest -= amount
            released[(part.item_id, part.investor_id)] += amount
            entries[call_id].append(
                {
                    "org_id": calls[call_id].org_id,
                    "fund_id": fund_id,
                    "investor_id": part.investor_id,
                    "kind": EntryKind.contribution,
                    "purpose": part.purpose.value,
                    "deal_id": part.deal_id,
                    "amount": -amount,
                    "effective_on": effective_on,
                    "source_type": CLOSE,
                    "source_id": call_id,
                }
            )
    for call_id, booked in sorted(entries.items()):
        await ledger.append(session, booked)
        await session.flush()
        call = calls[call_id]
        if call.status in {CallStatus.issued, CallStatus.partially_paid}:
            call.status = await _settled_status(session, call)
    return dict(released)


async def _next_number(session: AsyncSession, fund_id: uuid.UUID) -> int:
    """The fund's next call number (the caller holds the fund's row lock)."""
    last = await session.scalar(
        sa.select(sa.func.max(CapitalCall.number)).where(CapitalCall.fund_id == fund_id)
    )
    return (last or 0) + 1


def _refusal(call: CapitalCall) -> str | None:
    """Why this call's notices cannot be approved, if it is not issued."""
    if call.status in (CallStatus.draft, CallStatus.cancelled):
        return f"only an issued call's notices can be approved; this call is {call.status}"
    return None


async def approve_notices(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, call_id: uuid.UUID
) -> CapitalCall:
    """Release the notices now (`prorata.notices.release.approve`)."""
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    await release.approve(
        session,
        actor=actor,
        subject=release.CALL,
        row=call,
        made_by=call.issued_by,
        refusal=_refusal(call),
    )
    return call


async def schedule_notices(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    send_at: dt.datetime,
) -> CapitalCall:
    """Approve the notices to be mailed at `send_at` (`prorata.notices.release.schedule`)."""
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    await release.schedule(
        session,
        actor=actor,
        subject=release.CALL,
        row=call,
        made_by=call.issued_by,
        refusal=_refusal(call),
        send_at=send_at,
        task=call_tasks.release_scheduled_notices,
    )
    return call


async def _recompute_lines(session: AsyncSession, fund: Fund, call: CapitalCall) -> None:
    """Commitments or unfunded capital changed since the draft (another call issued, say):
    the lines follow what is true now. Unchanged lines are not rewritten."""
    lines = await _split_items(
        session, fund, await _items(session, call), by_unfunded=call.shortfall_of is not None
    )
    drafted = set(
        (
            await session.execute(
                sa.select(CallLine.item_id, CallLine.investor_id, CallLine.amount).where(
                    CallLine.fund_id == fund.id, CallLine.call_id == call.id
                )
            )
        ).all()
    )
    computed = {
        (item.id, investor, part) for item, parts in lines for investor, part in parts.items()
    }
    if drafted != computed:
        await session.execute(
            sa.delete(CallLine).where(CallLine.fund_id == fund.id, CallLine.call_id == call.id)
        )
        await _insert_lines(session, call, lines)
    call.lines_version = fund.capital_version


async def _contribute(session: AsyncSession, call: CapitalCall) -> None:
    """One contribution per frozen line, derived in SQL from the lines themselves (the lines
    are already in the database: 10,000 rows need not travel through Python again)."""
    lines = (
        sa.select(
            CallLine.org_id,
            CallLine.fund_id,
            CallLine.investor_id,
            sa.literal(EntryKind.contribution.value),
            CallLine.purpose,
            CallItem.deal_id,
            CallLine.amount,
            sa.literal(call.due_date),
            sa.literal(SOURCE),
            CallLine.call_id,
        )
        .join(CallItem, CallItem.id == CallLine.item_id)
        .where(CallLine.fund_id == call.fund_id, CallLine.call_id == call.id)
    )
    columns = [
        "org_id",
        "fund_id",
        "investor_id",
        "kind",
        "purpose",
        "deal_id",
        "amount",
        "effective_on",
        "source_type",
        "source_id",
    ]
    await session.execute(sa.insert(LedgerEntry).from_select(columns, lines))


async def cancel(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, call_id: uuid.UUID
) -> CapitalCall:
    await fund_service.get(session, fund_id=fund_id, for_update=True)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    # Issued, or paid by the investors' earlier credit alone (no cash payment): cancellable.
    if call.status not in {
        CallStatus.draft,
        CallStatus.issued,
        CallStatus.partially_paid,
        CallStatus.paid,
    }:
        raise errors.Conflict(f"{errors.a(call.status)} call cannot be cancelled")
    if call.closing_id is not None:
        raise errors.Conflict(
            "this call asks a subsequent close's new investors for their equalization: it is "
            "part of the closing and cannot be cancelled"
        )
    if call.status is not CallStatus.draft:
        if any((await _paid_by_investor(session, call)).values()):
            raise errors.Conflict("a call with payments cannot be cancelled")
        entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=call.id)
        await fund_repository.bump_capital_version(session, fund_id=fund_id)
        # A cancelled call never drew capital: no account, metric or split as of any date
        # counts it (reversals carry the reversed entries' dates).
        # The credit applied to it (credit and payment entries of CREDIT_APPLIED) goes back to
        # the investor's credit as well.
        await ledger.append(session, ledger.reversals(entries))
    call.status = CallStatus.cancelled
    call.cancelled_at = sa.func.now()
    await session.flush()
    await session.refresh(call)
    await _audit(session, actor, call, "capital_call.cancel")
    return call


async def _lines(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> list[CallLine]:
    statement = sa.select(CallLine).where(
        CallLine.fund_id == call.fund_id, CallLine.call_id == call.id
    )
    if investors is not None:
        statement = statement.where(CallLine.investor_id.in_(investors))
    return list((await session.scalars(statement)).all())


async def _paid_by_investor(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, Decimal]:
    """What paid each line: payments not reversed, without the excess kept as credit and the
    default interest paid first."""
    statement = (
        sa.select(
            Payment.investor_id, sa.func.sum(Payment.amount - Payment.credit - Payment.interest)
        )
        .outerjoin(PaymentReversal, PaymentReversal.payment_id == Payment.id)
        .where(Payment.call_id == call.id, PaymentReversal.payment_id.is_(None))
        .group_by(Payment.investor_id)
    )
    if investors is not None:
        statement = statement.where(Payment.investor_id.in_(investors))
    rows = await session.execute(statement)
    return {investor: Decimal(total) for investor, total in rows.all()}


@dataclasses.dataclass(frozen=True)
class _Adjusted:
    """What the ledger says of a line beyond its payments."""

    credit_applied: Decimal = Decimal(0)
    released: Decimal = Decimal(0)


async def _adjustments(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, _Adjusted]:
    """Each investor's credit applied to the call and unpaid rest released (net of reversals:
    a cancelled call's credit went back)."""
    statement = (
        sa.select(
            LedgerEntry.investor_id,
            sa.func.coalesce(
                sa.func.sum(-LedgerEntry.amount).filter(
                    LedgerEntry.source_type == CREDIT_APPLIED,
                    LedgerEntry.kind == EntryKind.credit,
                ),
                0,
            ),
            sa.func.coalesce(
                sa.func.sum(-LedgerEntry.amount).filter(LedgerEntry.source_type == CLOSE), 0
            ),
        )
        .where(
            LedgerEntry.fund_id == call.fund_id,
            LedgerEntry.source_id == call.id,
            LedgerEntry.source_type.in_([CREDIT_APPLIED, CLOSE]),
        )
        .group_by(LedgerEntry.investor_id)
    )
    if investors is not None:
        statement = statement.where(LedgerEntry.investor_id.in_(investors))
    rows = await session.execute(statement)
    return {
        investor: _Adjusted(Decimal(applied), Decimal(released))
        for investor, applied, released in rows.all()
    }


async def _payments(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> list[tuple[Payment, PaymentReversal | None]]:
    statement = (
        sa.select(Payment, PaymentReversal)
        .outerjoin(PaymentReversal, PaymentReversal.payment_id == Payment.id)
        .where(Payment.call_id == call.id)
        .order_by(Payment.received_on, Payment.created_at, Payment.id)
    )
    if investors is not None:
        statement = statement.where(Payment.investor_id.in_(investors))
    return [(payment, reversal) for payment, reversal in (await session.execute(statement)).all()]


def _principal(payment: Payment) -> Decimal:
    """The part of a payment that paid the line itself."""
    return payment.amount - payment.credit - payment.interest


def _payment_out(
    payment: Payment, reversal: PaymentReversal | None, quantum: Decimal
) -> PaymentOut:
    return PaymentOut(
        id=payment.id,
        investor_id=payment.investor_id,
        amount=payment.amount.quantize(quantum),
        applied=_principal(payment).quantize(quantum),
        interest=payment.interest.quantize(quantum),
        credit=payment.credit.quantize(quantum),
        distribution_id=payment.distribution_id,
        received_on=payment.received_on,
        reversed_on=reversal.reversed_on if reversal else None,
        reversal_reason=reversal.reason if reversal else None,
    )


async def _line_views(
    session: AsyncSession,
    fund: Fund,
    call: CapitalCall,
    investors: list[uuid.UUID] | None = None,
    as_of: dt.date | None = None,
) -> list[LineOut]:
    """Each investor's line (amounts by purpose, credit applied, paid, released, outstanding,
    its payments; in default, its default interest to `as_of`, today by default): all, or
    `investors`'."""
    quantum = money.quantum(fund.currency)
    as_of = as_of or dt.date.today()
    amounts: dict[uuid.UUID, dict[Purpose, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in await _lines(session, call, investors):
        amounts[line.investor_id][line.purpose] += line.amount
    paid = await _paid_by_investor(session, call, investors)
    adjusted = await _adjustments(session, call, investors)
    defaults = await _defaults(session, call, investors)
    payments: dict[uuid.UUID, list[PaymentOut]] = defaultdict(list)
    standing: dict[uuid.UUID, list[Payment]] = defaultdict(list)
    kept: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for payment, reversal in await _payments(session, call, investors):
        payments[payment.investor_id].append(_payment_out(payment, reversal, quantum))
        if reversal is None:
            kept[payment.investor_id] += payment.credit
            standing[payment.investor_id].append(payment)
    lines = []
    for investor in sorted(amounts):
        total = sum(amounts[investor].values(), Decimal(0))
        got = paid.get(investor, Decimal(0))
        adjust = adjusted.get(investor, _Adjusted())
        arrears: dict[str, Any] = {}
        default = defaults.get(investor)
        if default is not None:
            accrued = _accrued(
                fund,
                call,
                owed=total - adjust.credit_applied,
                payments=standing[investor],
                as_of=as_of,
            )
            interest_paid = sum(
                (p.interest for p in standing[investor] if p.received_on <= as_of), Decimal(0)
            )
            arrears = {
                "defaulted_on": default.declared_on,
                "cured_on": default.cured_on,
                "default_interest": accrued.quantize(quantum),
                "default_interest_paid": interest_paid.quantize(quantum),
                "default_interest_due": max(accrued - interest_paid, Decimal(0)).quantize(quantum),
            }
        lines.append(
            LineOut(
                investor_id=investor,
                amounts={p: a.quantize(quantum) for p, a in amounts[investor].items()},
                total=total.quantize(quantum),
                paid=got.quantize(quantum),
                credit_applied=adjust.credit_applied.quantize(quantum),
                released=adjust.released.quantize(quantum),
                outstanding=(total - adjust.credit_applied - got - adjust.released).quantize(
                    quantum
                ),
                credit_kept=kept[investor].quantize(quantum),
                payments=payments[investor],
                **arrears,
            )
        )
    return lines


async def _outstanding(session: AsyncSession, call: CapitalCall) -> dict[uuid.UUID, Decimal]:
    """What remains due on each investor's line (the whole call: the status's basis)."""
    called: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for line in await _lines(session, call):
        called[line.investor_id] += line.amount
    paid = await _paid_by_investor(session, call)
    adjusted = await _adjustments(session, call)
    return {
        investor: total
        - paid.get(investor, Decimal(0))
        - adjusted.get(investor, _Adjusted()).credit_applied
        - adjusted.get(investor, _Adjusted()).released
        for investor, total in called.items()
    }


async def _settled_status(session: AsyncSession, call: CapitalCall) -> CallStatus:
    """issued (nothing received yet), partially_paid or paid — from the lines as they are."""
    called = sum((line.amount for line in await _lines(session, call)), Decimal(0))
    outstanding = await _outstanding(session, call)
    if all(rest <= 0 for rest in outstanding.values()):
        return CallStatus.paid
    if sum(outstanding.values(), Decimal(0)) < called:
        return CallStatus.partially_paid
    return CallStatus.issued


@dataclasses.dataclass(frozen=True)
class Board:
    """A page of a call's lines (by investor id), with the whole call's totals."""

    lines: list[LineOut]
    next_after: uuid.UUID | None
    total: Decimal
    paid: Decimal
    purposes: list[Purpose]
    credit_applied: Decimal = Decimal(0)
    released: Decimal = Decimal(0)


async def board(
    session: AsyncSession, *, call: CapitalCall, after: uuid.UUID | None, limit: int
) -> Board:
    """What a payments board shows of a call with 10,000 lines: one page, and the totals
    summed in the database."""
    fund = await fund_service.get(session, fund_id=call.fund_id)
    quantum = money.quantum(fund.currency)
    of_call = (CallLine.fund_id == call.fund_id, CallLine.call_id == call.id)
    statement = sa.select(CallLine.investor_id).where(*of_call).distinct()
    if after is not None:
        statement = statement.where(CallLine.investor_id > after)
    investors = list(
        (await session.scalars(statement.order_by(CallLine.investor_id).limit(limit + 1))).all()
    )
    more = len(investors) > limit
    investors = investors[:limit]
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CallLine.amount), 0)).where(*of_call)
    )
    paid = sum((await _paid_by_investor(session, call)).values(), Decimal(0))
    adjusted = (await _adjustments(session, call)).values()
    purposes = sorted({item.purpose for item in await _items(session, call)})
    return Board(
        lines=await _line_views(session, fund, call, investors) if investors else [],
        next_after=investors[-1] if more else None,
        total=Decimal(total or 0).quantize(quantum),
        paid=paid.quantize(quantum),
        purposes=purposes,
        credit_applied=sum((a.credit_applied for a in adjusted), Decimal(0)).quantize(quantum),
        released=sum((a.released for a in adjusted), Decimal(0)).quantize(quantum),
    )


def _closed(call: CapitalCall) -> errors.Conflict:
    return errors.Conflict(
        f"this call was closed on {call.closed_on}: its unpaid rest was released, so it takes "
        "no more payments and its payments cannot be reversed"
    )


# --- Contributed capital: the cash received for a line, by its purpose and deal -------------
#
# A line may hold several items (an investment in a deal, a management fee); the cash received
# for it is booked as `payment` entries split over what remains due of each (purpose, deal) in
# proportion, so the parts never exceed what is due and a fully paid line is paid exactly.
# Dated the call's due date when received by it, the received date when late: that is when
# the capital counts as contributed (docs/fund-operations.md).

_Key = tuple[str, str]  # (purpose, deal id or ""): comparable, as money.split's tie-break needs


def _key(purpose: str | None, deal_id: uuid.UUID | None) -> _Key:
    return (purpose or "", str(deal_id) if deal_id else "")


def contributed_on(call: CapitalCall, received_on: dt.date) -> dt.date:
    return max(call.due_date, received_on)


async def _remaining(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, dict[_Key, Decimal]]:
    """Per investor and (purpose, deal): the line's amount less the cash booked for it and
    what was released unpaid (a close-out, a closing's rebalancing)."""
    lines = (
        sa.select(
            CallLine.investor_id, CallLine.purpose, CallItem.deal_id, sa.func.sum(CallLine.amount)
        )
        .join(CallItem, CallItem.id == CallLine.item_id)
        .where(CallLine.fund_id == call.fund_id, CallLine.call_id == call.id)
        .group_by(CallLine.investor_id, CallLine.purpose, CallItem.deal_id)
    )
    paid_for_call = sa.or_(
        LedgerEntry.source_id == call.id,
        LedgerEntry.source_id.in_(sa.select(Payment.id).where(Payment.call_id == call.id)),
    )
    released = (LedgerEntry.source_type == CLOSE) & (LedgerEntry.source_id == call.id)
    paid = (
        sa.select(
            LedgerEntry.investor_id,
            LedgerEntry.purpose,
            LedgerEntry.deal_id,
            # Cash paid, and the released part of the line (its contributions reversed).
            sa.func.sum(
                sa.case((LedgerEntry.kind == EntryKind.payment, LedgerEntry.amount), else_=0)
                - sa.case((released, LedgerEntry.amount), else_=0)
            ),
        )
        .where(
            LedgerEntry.fund_id == call.fund_id,
            sa.or_(
                (LedgerEntry.kind == EntryKind.payment) & paid_for_call,
                released & (LedgerEntry.kind == EntryKind.contribution),
            ),
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.purpose, LedgerEntry.deal_id)
    )
    if investors is not None:
        lines = lines.where(CallLine.investor_id.in_(investors))
        paid = paid.where(LedgerEntry.investor_id.in_(investors))
    remaining: dict[uuid.UUID, dict[_Key, Decimal]] = defaultdict(dict)
    for investor, kind, deal, amount in (await session.execute(lines)).all():
        remaining[investor][_key(kind, deal)] = Decimal(amount)
    for investor, label, deal, amount in (await session.execute(paid)).all():
        key = _key(label, deal)
        remaining[investor][key] = remaining[investor].get(key, Decimal(0)) - Decimal(amount)
    return remaining


def _parts(amount: Decimal, remaining: dict[_Key, Decimal], currency: str) -> dict[_Key, Decimal]:
    """`amount` (at most Σ remaining) over the keys in proportion to what remains of each."""
    weights = {key: rest for key, rest in sorted(remaining.items()) if rest > 0}
    if not amount or not weights:
        return {}
    return {key: part for key, part in money.split(amount, weights, currency).items() if part}


def _paid_entries(shared: ledger.NewEntry, parts: dict[_Key, Decimal]) -> list[ledger.NewEntry]:
    return [
        {
            **shared,
            "kind": EntryKind.payment,
            "purpose": purpose,
            "deal_id": uuid.UUID(deal) if deal else None,
            "amount": part,
        }
        for (purpose, deal), part in parts.items()
    ]


async def _pay(
    session: AsyncSession,
    fund: Fund,
    call: CapitalCall,
    investor: uuid.UUID,
    *,
    amount: Decimal,
    received_on: dt.date,
    outstanding: Decimal,
    default: CallDefault | None,
    distribution_id: uuid.UUID | None = None,
) -> Payment:
    """Book one payment on an investor's line: on a line in default the interest due on
    `received_on` first (`default_interest`), then the line (`payment`), the excess kept as
    credit (`credit`). A line in default fully paid is cured on `received_on`; the call's
    status follows (a closed call stays closed)."""
    owed_interest = Decimal(0)
    if default is not None and default.cured_on is None:
        owed_interest = (await _arrears(session, fund, call, [investor], received_on))[
            investor
        ].interest_due
    paid_interest = min(amount, owed_interest)
    applied = min(amount - paid_interest, max(outstanding, Decimal(0)))
    payment = Payment(
        org_id=call.org_id,
        fund_id=call.fund_id,
        call_id=call.id,
        investor_id=investor,
        amount=amount,
        interest=paid_interest,
        credit=amount - paid_interest - applied,
        received_on=received_on,
        distribution_id=distribution_id,
    )
    session.add(payment)
    await session.flush()
    entry: ledger.NewEntry = {
        "org_id": call.org_id,
        "fund_id": call.fund_id,
        "investor_id": investor,
        "effective_on": received_on,
        "source_type": PAYMENT,
        "source_id": payment.id,
    }
    # The line's part is contributed capital, by the line's purposes and deals.
    remaining = (await _remaining(session, call, [investor])).get(investor, {})
    contributed: ledger.NewEntry = {**entry, "effective_on": contributed_on(call, received_on)}
    entries = _paid_entries(contributed, _parts(applied, remaining, fund.currency))
    entries += [
        {**entry, "kind": kind, "amount": part}
        for kind, part in (
            (EntryKind.default_interest, paid_interest),
            (EntryKind.credit, payment.credit),
        )
        if part
    ]
    await ledger.append(session, entries)
    if default is not None and default.cured_on is None and applied >= outstanding:
        default.cured_on = received_on
    if call.status is not CallStatus.closed:
        call.status = await _settled_status(session, call)
    return payment


@dataclasses.dataclass(frozen=True)
class Recorded:
    call: CapitalCall
    payment: Payment


async def record_payment(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    data: PaymentIn,
) -> Recorded:
    """A payment received. What goes beyond the line's outstanding amount (a wire that
    overpays) is accepted and kept as the investor's credit in the fund."""
    fund = await fund_service.get(session, fund_id=fund_id)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    default = await session.get(CallDefault, (call.id, data.investor_id))
    in_default = default is not None and default.cured_on is None
    # A closed call takes no more payments, but for its lines in default (still due).
    if call.status is CallStatus.closed and not in_default:
        raise _closed(call)
    if call.status not in {
        CallStatus.issued,
        CallStatus.partially_paid,
        CallStatus.paid,
        CallStatus.closed,
    }:
        raise errors.Conflict(f"payments are recorded on issued calls; this call is {call.status}")
    amount = validation.amount(data.amount, fund.currency, field="amount")
    outstanding = await _outstanding(session, call)
    if data.investor_id not in outstanding:
        raise errors.RuleViolation("this investor has nothing to pay on this call")
    payment = await _pay(
        session,
        fund,
        call,
        data.investor_id,
        amount=amount,
        received_on=data.received_on,
        outstanding=outstanding[data.investor_id],
        default=default,
    )
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.payment",
        entity="capital_call",
        entity_id=call.id,
        after={
            "payment_id": str(payment.id),
            "investor_id": str(data.investor_id),
            "amount": str(amount),
            "credit": str(payment.credit),
            "interest": str(payment.interest),
            "received_on": data.received_on.isoformat(),
            "status": str(call.status),
        },
    )
    # Live only (a payments board open elsewhere updates); not a webhook event.
    await events.publish(
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Progress.payment_recorded,
        data={"call_id": str(call.id), "investor_id": str(data.investor_id), "amount": str(amount)},
    )
    return Recorded(call, payment)


async def reverse_payment(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    payment_id: uuid.UUID,
    reversed_on: dt.date,
    reason: str,
) -> Recorded:
    """A bounced payment: its ledger entries reversed on `reversed_on` (never edited), so the
    line's paid amount drops back and the credit it left goes. Once per payment."""
    # The fund's row lock orders this against whatever else uses the investor's credit.
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    payment = (
        await session.scalars(
            sa.select(Payment).where(Payment.call_id == call.id, Payment.id == payment_id)
        )
    ).one_or_none()
    if payment is None:
        raise errors.NotFound("no such payment on this capital call")
    reversed_already = await session.get(PaymentReversal, payment.id)
    if reversed_already is not None:
        raise errors.Conflict(
            f"this payment was reversed on {reversed_already.reversed_on} already"
        )
    default = await session.get(CallDefault, (call.id, payment.investor_id))
    if call.status is CallStatus.closed and default is None:
        raise _closed(call)
    if payment.distribution_id is not None:
        raise errors.Conflict(
            "this payment is a distribution's set-off: cancel the distribution to undo it"
        )
    if reversed_on < payment.received_on:
        raise errors.RuleViolation(
            f"reversed_on must be on or after the payment's received_on ({payment.received_on})"
        )
    if payment.credit:
        balance = (
            await credit_balances(session, fund_id=fund_id, investor_ids=[payment.investor_id])
        ).get(payment.investor_id, Decimal(0))
        if balance < payment.credit:
            raise errors.Conflict(
                f"the credit this payment left ({payment.credit}) was applied or refunded "
                f"since: the investor's credit is {balance.quantize(money.quantum(fund.currency))}",
                extensions={"credit": str(balance.quantize(money.quantum(fund.currency)))},
            )
    session.add(
        PaymentReversal(
            payment_id=payment.id,
            org_id=call.org_id,
            fund_id=fund_id,
            call_id=call.id,
            reversed_on=reversed_on,
            reason=reason,
            reversed_by=actor.user_id,
        )
    )
    entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=payment.id)
    # Dated the day it bounced — never before the day the reversed entry counted from (a
    # payment made early counts from the due date).
    await ledger.append(
        session,
        [
            {**entry, "effective_on": max(reversed_on, entry["effective_on"])}
            for entry in ledger.reversals(entries)
        ],
    )
    await session.flush()
    await _after_reversal(session, call, default)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.payment_reverse",
        entity="capital_call",
        entity_id=call.id,
        after={
            "payment_id": str(payment.id),
            "investor_id": str(payment.investor_id),
            "amount": str(payment.amount),
            "reversed_on": reversed_on.isoformat(),
            "reason": reason,
            "status": str(call.status),
        },
    )
    await events.publish(  # live only: a payments board open elsewhere updates
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Progress.payment_reversed,
        data={"call_id": str(call.id), "payment_id": str(payment.id)},
    )
    return Recorded(call, payment)


async def _after_reversal(
    session: AsyncSession, call: CapitalCall, default: CallDefault | None
) -> None:
    """A payment reversed: the call's status follows (a closed call stays closed) and a cured
    line that owes again is back in default."""
    if call.status is not CallStatus.closed:
        call.status = await _settled_status(session, call)
    if (
        default is not None
        and default.cured_on is not None
        and (await _outstanding(session, call)).get(default.investor_id, Decimal(0)) > 0
    ):
        default.cured_on = None
    await session.flush()


async def _defaulted_investors(session: AsyncSession, call: CapitalCall) -> set[uuid.UUID]:
    """Investors in default on this call (not cured): closing leaves their lines as they are
    (still due, accruing default interest)."""
    return {i for i, d in (await _defaults(session, call)).items() if d.cured_on is None}


async def close(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    closed_on: dt.date,
) -> CapitalCall:
    """Close out a partly paid call: the unpaid rest of every line is released — a reversal of
    its contribution dated `closed_on`, split over the investor's lines pro rata — so it is no
    longer due and the investor's unfunded commitment is restored by it. Fully paid lines are
    unchanged; the call takes no more payments."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    if call.status is CallStatus.closed:
        raise errors.Conflict(f"this call was closed on {call.closed_on} already")
    if call.status not in {CallStatus.issued, CallStatus.partially_paid}:
        raise errors.Conflict(
            f"only an issued, unpaid or partly paid call can be closed; this call is {call.status}"
        )
    if closed_on < call.notice_date:
        raise errors.RuleViolation(
            f"closed_on must be on or after the call's notice date ({call.notice_date})"
        )
    remaining = await _remaining(session, call)
    skipped = await _defaulted_investors(session, call)
    deal_of = {item.id: item.deal_id for item in await _items(session, call)}
    lines_of: dict[tuple[uuid.UUID, _Key], list[CallLine]] = defaultdict(list)
    for line in await _lines(session, call):
        lines_of[line.investor_id, _key(line.purpose, deal_of[line.item_id])].append(line)
    contributions: dict[tuple[uuid.UUID, _Key], int] = {}
    for entry in await ledger.entries_of_source(session, fund_id=fund_id, source_id=call.id):
        if entry.kind is EntryKind.contribution and entry.reverses_id is None:
            key = _key(entry.purpose, entry.deal_id)
            contributions.setdefault((entry.investor_id, key), entry.id)
    releases: list[ledger.NewEntry] = []
    for investor, rests in sorted(remaining.items()):
        if investor in skipped:
            continue
        for key, rest in sorted(rests.items()):
            if rest <= 0:
                continue
            # What remains of each (purpose, deal) is released; over that key's items pro
            # rata, each keeping its part, so a deal's contributions stay exact too.
            lines = {line.item_id: line for line in lines_of[investor, key]}
            parts = money.split(rest, {i: line.amount for i, line in lines.items()}, fund.currency)
            for item_id, part in parts.items():
                if part:
                    lines[item_id].released = part
            purpose, deal = key
            releases.append(
                {
                    "org_id": call.org_id,
                    "fund_id": fund_id,
                    "investor_id": investor,
                    "kind": EntryKind.contribution,
                    "purpose": purpose,
                    "deal_id": uuid.UUID(deal) if deal else None,
                    "amount": -rest,
                    "effective_on": closed_on,
                    "source_type": CLOSE,
                    "source_id": call.id,
                    "reverses_id": contributions.get((investor, key)),
                }
            )
    await ledger.append(session, releases)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    call.status = CallStatus.closed
    call.closed_on = closed_on
    call.closed_at = dt.datetime.now(dt.UTC)
    call.closed_by = actor.user_id
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.close",
        entity="capital_call",
        entity_id=call.id,
        after={
            "status": str(call.status),
            "closed_on": closed_on.isoformat(),
            "released": str(-sum((e["amount"] for e in releases), Decimal(0))),
        },
    )
    await events.publish(
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Progress.call_closed,
        data={"call_id": str(call.id)},
    )
    return call


# --- The investor's credit in a fund ---------------------------------------------------------


async def credit_balances(
    session: AsyncSession, *, fund_id: uuid.UUID, investor_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, Decimal]:
    """Σ `credit` entries by investor (those with a non-zero credit only), from the running
    balances (migration 0040): read at every issue, it no longer sums the fund's ledger."""
    statement = sa.select(CommitmentBalance.investor_id, CommitmentBalance.credit).where(
        CommitmentBalance.fund_id == fund_id, CommitmentBalance.credit != 0
    )
    if investor_ids is not None:
        statement = statement.where(CommitmentBalance.investor_id.in_(investor_ids))
    return {
        investor: Decimal(total) for investor, total in (await session.execute(statement)).all()
    }


async def _apply_credit(session: AsyncSession, call: CapitalCall) -> bool:
    """At issue: each investor's credit pays its new line first (up to the line), as a credit
    −x and a payment +x dated the call's due date — the cash was in hand by then. True when
    any was applied."""
    credits = await credit_balances(session, fund_id=call.fund_id)
    if not credits:
        return False
    currency = (await fund_service.get(session, fund_id=call.fund_id)).currency
    owed = await _remaining(session, call, [i for i, c in credits.items() if c > 0])
    entries: list[ledger.NewEntry] = []
    for investor, remaining in sorted(owed.items()):
        applied = min(sum(remaining.values(), Decimal(0)), credits[investor])
        if applied <= 0:
            continue
        shared: ledger.NewEntry = {
            "org_id": call.org_id,
            "fund_id": call.fund_id,
            "investor_id": investor,
            "effective_on": call.due_date,
            "source_type": CREDIT_APPLIED,
            "source_id": call.id,
        }
        entries.append({**shared, "kind": EntryKind.credit, "amount": -applied})
        entries.extend(_paid_entries(shared, _parts(applied, remaining, currency)))
    await ledger.append(session, entries)
    return bool(entries)


async def _investor_in_fund(
    session: AsyncSession, fund_id: uuid.UUID, investor_id: uuid.UUID
) -> None:
    commitments = await fund_repository.commitments(session, fund_id=fund_id)
    if investor_id not in commitments:
        raise errors.NotFound("no such investor in this fund")


async def credit(session: AsyncSession, *, fund_id: uuid.UUID, investor_id: uuid.UUID) -> CreditOut:
    fund = await fund_service.get(session, fund_id=fund_id)
    await _investor_in_fund(session, fund_id, investor_id)
    quantum = money.quantum(fund.currency)
    rows = await session.scalars(
        sa.select(LedgerEntry)
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.investor_id == investor_id,
            LedgerEntry.kind == EntryKind.credit,
        )
        .order_by(LedgerEntry.effective_on, LedgerEntry.id)
    )
    movements = [
        CreditMovement(
            amount=e.amount.quantize(quantum),
            effective_on=e.effective_on,
            source_type=e.source_type,
            source_id=e.source_id,
        )
        for e in rows.all()
    ]
    return CreditOut(
        fund_id=fund_id,
        investor_id=investor_id,
        currency=fund.currency,
        balance=sum((Decimal(m.amount) for m in movements), Decimal(0)).quantize(quantum),
        movements=movements,
    )


async def refund_credit(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    amount: Decimal,
    refunded_on: dt.date,
) -> CreditOut:
    """Pay (part of) the investor's credit back: a credit −amount in the ledger."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    await _investor_in_fund(session, fund_id, investor_id)
    amount = validation.amount(amount, fund.currency, field="amount")
    balance = (await credit_balances(session, fund_id=fund_id, investor_ids=[investor_id])).get(
        investor_id, Decimal(0)
    )
    if amount > balance:
        raise errors.RuleViolation(
            f"amount: the investor's credit is {balance.quantize(money.quantum(fund.currency))} "
            f"{fund.currency}; {amount} cannot be refunded",
            extensions={"credit": str(balance.quantize(money.quantum(fund.currency)))},
        )
    refund_id = uuid.uuid4()
    await ledger.append(
        session,
        [
            {
                "org_id": actor.org_id,
                "fund_id": fund_id,
                "investor_id": investor_id,
                "kind": EntryKind.credit,
                "amount": -amount,
                "effective_on": refunded_on,
                "source_type": REFUND,
                "source_id": refund_id,
            }
        ],
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="credit.refund",
        entity="investor",
        entity_id=investor_id,
        after={
            "fund_id": str(fund_id),
            "refund_id": str(refund_id),
            "amount": str(amount),
            "refunded_on": refunded_on.isoformat(),
            "credit": str(balance - amount),
        },
    )
    return await credit(session, fund_id=fund_id, investor_id=investor_id)


async def view(
    session: AsyncSession,
    *,
    call: CapitalCall,
    payment: Payment | None = None,
    as_of: dt.date | None = None,
) -> CallOut:
    """The call with its lines; default interest accrued to `as_of` (today by default)."""
    fund = await fund_service.get(session, fund_id=call.fund_id)
    quantum = money.quantum(fund.currency)
    items = await _items(session, call)
    as_of = as_of or dt.date.today()
    lines = await _line_views(session, fund, call, as_of=as_of)
    payment_out = None
    if payment is not None:
        payment_out = _payment_out(payment, await session.get(PaymentReversal, payment.id), quantum)
    return CallOut(
        id=call.id,
        fund_id=call.fund_id,
        number=call.number,
        status=call.status,
        notice_date=call.notice_date,
        due_date=call.due_date,
        amount=call.amount.quantize(quantum),
        currency=fund.currency,
        items=[
            ItemOut(
                id=i.id,
                purpose=i.purpose,
                amount=i.amount.quantize(quantum),
                deal_id=i.deal_id,
                excused_investor_ids=i.excused_investor_ids,
            )
            for i in items
        ],
        lines=lines,
        created_at=call.created_at,
        issued_at=call.issued_at,
        cancelled_at=call.cancelled_at,
        issued_by=call.issued_by,
        notices=call.notices,
        notices_approved_by=call.notices_approved_by,
        notices_approved_at=call.notices_approved_at,
        notices_send_at=call.notices_send_at,
        notices_sent_at=call.notices_sent_at,
        closed_on=call.closed_on,
        shortfall_of=call.shortfall_of,
        as_of=as_of,
        payment=payment_out,
    )


_CALLS = CapitalCall.__table__.c


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[sa.Row[Any]]:
    """A fund's calls as rows of their columns (read like `CapitalCall` objects)."""
    return await keyset(
        session,
        columns_of(CapitalCall).where(_CALLS.fund_id == fund_id),
        key=[_CALLS.id],
        params=params,
        item=lambda c: c,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )


# --- Defaulting investors --------------------------------------------------------------------


async def _defaults(
    session: AsyncSession, call: CapitalCall, investors: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, CallDefault]:
    """The call's lines declared in default (cured or not), by investor."""
    statement = sa.select(CallDefault).where(
        CallDefault.fund_id == call.fund_id, CallDefault.call_id == call.id
    )
    if investors is not None:
        statement = statement.where(CallDefault.investor_id.in_(investors))
    return {d.investor_id: d for d in (await session.scalars(statement)).all()}


def _accrued(
    fund: Fund, call: CapitalCall, *, owed: Decimal, payments: list[Payment], as_of: dt.date
) -> Decimal:
    """Default interest accrued on a line from the call's due date to `as_of`: simple, at the
    fund's `default_interest_rate` on its `day_count`, on what was unpaid — `owed` (the line
    less the credit applied at issue) less each payment's part for the line from its date on
    (payments not reversed; a bounced wire never paid anything). Rounded once, to the
    currency."""
    exact = interest.simple_interest(
        principal=owed,
        changes=[(p.received_on, -_principal(p)) for p in payments],
        rate=fund.default_interest_rate,
        start=call.due_date,
        end=as_of,
        convention=daycount.check_day_count(fund.day_count.value),
    )
    return money.round_to_currency(exact, fund.currency)


@dataclasses.dataclass(frozen=True)
class Arrears:
    """What one investor's line owes on a day: the line's unpaid amount and the default
    interest accrued and not yet paid."""

    principal: Decimal
    interest_due: Decimal

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest_due


async def _arrears(
    session: AsyncSession,
    fund: Fund,
    call: CapitalCall,
    investors: list[uuid.UUID],
    as_of: dt.date,
) -> dict[uuid.UUID, Arrears]:
    """The arrears of `investors`' lines on `as_of` (interest as if each were in default)."""
    called: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for line in await _lines(session, call, investors):
        called[line.investor_id] += line.amount
    adjusted = await _adjustments(session, call, investors)
    standing: dict[uuid.UUID, list[Payment]] = defaultdict(list)
    for payment, reversal in await _payments(session, call, investors):
        if reversal is None:
            standing[payment.investor_id].append(payment)
    arrears = {}
    for investor, total in called.items():
        adjust = adjusted.get(investor, _Adjusted())
        paid = standing[investor]
        owed = total - adjust.credit_applied
        accrued = _accrued(fund, call, owed=owed, payments=paid, as_of=as_of)
        arrears[investor] = Arrears(
            principal=owed - adjust.released - sum((_principal(p) for p in paid), Decimal(0)),
            interest_due=max(accrued - sum((p.interest for p in paid), Decimal(0)), Decimal(0)),
        )
    return arrears


def first_default_day(fund: Fund, call: CapitalCall) -> dt.date:
    """The first day a line of `call` may be declared in default: the day after its due date
    plus the fund's grace days (business days on the fund's holiday calendar)."""
    grace_end = calendars.add_business_days(call.due_date, fund.grace_days, fund.holiday_calendar)
    return grace_end + dt.timedelta(days=1)


async def declare_default(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    investor_id: uuid.UUID,
    declared_on: dt.date,
) -> CapitalCall:
    """Declare an investor's line in default: it must still owe something, and the grace
    period (the fund's `grace_days` business days after the due date) must have passed."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    if not await _lines(session, call, [investor_id]):
        raise errors.NotFound("this investor has no line on this capital call")
    if call.status in {CallStatus.draft, CallStatus.cancelled}:
        raise errors.Conflict(
            f"only an issued call's lines can be in default; this call is {call.status}"
        )
    existing = await session.get(CallDefault, (call.id, investor_id))
    if existing is not None:
        cured = f", cured on {existing.cured_on}" if existing.cured_on else ""
        raise errors.Conflict(
            f"this line was declared in default on {existing.declared_on} already{cured}"
        )
    outstanding = (await _outstanding(session, call)).get(investor_id, Decimal(0))
    if outstanding <= 0:
        raise errors.RuleViolation("this line owes nothing: it cannot be in default")
    try:
        first = first_default_day(fund, call)
    except OverflowError:
        raise errors.RuleViolation("no date is after this call's grace period") from None
    if declared_on < first:
        raise errors.RuleViolation(
            f"declared_on must be after the due date ({call.due_date}) plus the fund's "
            f"{fund.grace_days} grace business days: {first} or later",
            extensions={"first_allowed": first.isoformat()},
        )
    default = CallDefault(
        org_id=call.org_id,
        fund_id=fund_id,
        call_id=call.id,
        investor_id=investor_id,
        declared_on=declared_on,
        declared_by=actor.user_id,
    )
    session.add(default)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.default",
        entity="capital_call",
        entity_id=call.id,
        after={
            "investor_id": str(investor_id),
            "declared_on": declared_on.isoformat(),
            "outstanding": str(outstanding),
            "default_interest_rate": str(fund.default_interest_rate),
        },
    )
    await events.publish(
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Progress.default_declared,
        data={"call_id": str(call.id), "investor_id": str(investor_id)},
    )
    return call


async def _defaulted_calls(
    session: AsyncSession, fund_id: uuid.UUID, investors: list[uuid.UUID] | None = None
) -> list[tuple[CapitalCall, CallDefault]]:
    """The fund's lines in default, not cured, on calls still standing (a cancelled call's
    lines are owed by nobody): oldest due date first (then call number)."""
    statement = (
        sa.select(CapitalCall, CallDefault)
        .join(
            CallDefault,
            sa.and_(
                CallDefault.fund_id == CapitalCall.fund_id, CallDefault.call_id == CapitalCall.id
            ),
        )
        .where(
            CapitalCall.fund_id == fund_id,
            CapitalCall.status != CallStatus.cancelled,
            CallDefault.cured_on.is_(None),
        )
        .order_by(CapitalCall.due_date, CapitalCall.number, CallDefault.investor_id)
    )
    if investors is not None:
        statement = statement.where(CallDefault.investor_id.in_(investors))
    return [(call, default) for call, default in (await session.execute(statement)).all()]


async def owed_in_default(
    session: AsyncSession, *, fund: Fund, day: dt.date
) -> dict[uuid.UUID, Decimal]:
    """What each investor in default owes on `day` on its lines in default: unpaid amounts
    and default interest (what a distribution to it is first set off against)."""
    owed: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for call, default in await _defaulted_calls(session, fund.id):
        arrears = await _arrears(session, fund, call, [default.investor_id], day)
        owed[default.investor_id] += arrears[default.investor_id].total
    return {investor: amount for investor, amount in owed.items() if amount > 0}


async def set_off(
    session: AsyncSession,
    *,
    fund: Fund,
    distribution_id: uuid.UUID,
    day: dt.date,
    amounts: dict[uuid.UUID, Decimal],
) -> None:
    """Cash withheld from each investor's distribution pays its lines in default, oldest call
    first, each as a payment dated `day` (interest first, then the line). The caller holds the
    fund's row lock; `amounts` are at most `owed_in_default`."""
    for listed, default in await _defaulted_calls(session, fund.id, list(amounts)):
        left = amounts[default.investor_id]
        if left <= 0:
            continue
        call = await get(session, fund_id=fund.id, call_id=listed.id, for_update=True)
        arrears = (await _arrears(session, fund, call, [default.investor_id], day))[
            default.investor_id
        ]
        part = min(left, arrears.total)
        if part <= 0:
            continue
        await _pay(
            session,
            fund,
            call,
            default.investor_id,
            amount=part,
            received_on=day,
            outstanding=arrears.principal,
            default=default,
            distribution_id=distribution_id,
        )
        amounts[default.investor_id] = left - part
    await session.flush()


async def undo_set_off(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> None:
    """A distribution cancelled: the payments its withheld cash made are reversed on their own
    dates (they never happened), and the lines they cured are back in default."""
    payments = (
        await session.scalars(
            sa.select(Payment)
            .where(Payment.fund_id == fund_id, Payment.distribution_id == distribution_id)
            .order_by(Payment.created_at, Payment.id)
        )
    ).all()
    for payment in payments:
        call = await get(session, fund_id=fund_id, call_id=payment.call_id, for_update=True)
        session.add(
            PaymentReversal(
                payment_id=payment.id,
                org_id=payment.org_id,
                fund_id=fund_id,
                call_id=call.id,
                reversed_on=payment.received_on,
                reason="the distribution that set it off was cancelled",
                reversed_by=actor.user_id,
            )
        )
        entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=payment.id)
        await ledger.append(session, ledger.reversals(entries))
        await session.flush()
        await _after_reversal(
            session, call, await session.get(CallDefault, (call.id, payment.investor_id))
        )


async def shortfall(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    data: ShortfallIn,
) -> CapitalCall:
    """Draft a follow-up call for what the call's lines in default leave unpaid: each item's
    unpaid part (each defaulting investor's unpaid rest split over its lines pro rata, as
    closing does), called from the investors not in default, pro rata to their unfunded
    commitments (every investor in default in the fund is excused)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    call = await get(session, fund_id=fund_id, call_id=call_id)
    defaulted = await _defaulted_investors(session, call)
    outstanding = await _outstanding(session, call)
    unpaid = {i: outstanding.get(i, Decimal(0)) for i in defaulted}
    unpaid = {i: rest for i, rest in unpaid.items() if rest > 0}
    if not unpaid:
        raise errors.RuleViolation("nothing on this call is in default and unpaid")
    standing = await session.scalar(
        sa.select(CapitalCall.id).where(
            CapitalCall.fund_id == fund_id,
            CapitalCall.shortfall_of == call.id,
            CapitalCall.status != CallStatus.cancelled,
        )
    )
    if standing is not None:  # the same unpaid amount would be called twice
        raise errors.Conflict(
            f"this call's shortfall is called already (capital call {standing}): cancel that "
            "call first to draft it again"
        )
    by_item: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    lines_of: dict[uuid.UUID, list[CallLine]] = defaultdict(list)
    for line in await _lines(session, call, list(unpaid)):
        lines_of[line.investor_id].append(line)
    for investor, rest in unpaid.items():
        parts = money.split(
            rest, {line.item_id: line.amount for line in lines_of[investor]}, fund.currency
        )
        for item_id, part in parts.items():
            by_item[item_id] += part
    excused = sorted({d.investor_id for _, d in await _defaulted_calls(session, fund_id)})
    items = [
        {
            "purpose": item.purpose,
            "amount": str(by_item[item.id]),
            "deal_id": item.deal_id,
            "excused_investor_ids": excused,
        }
        for item in await _items(session, call)
        if by_item.get(item.id)
    ]
    body = CallCreate.model_validate(
        {"notice_date": data.notice_date, "due_date": data.due_date, "items": items}
    )
    drafted = await create_draft(
        session, actor=actor, fund_id=fund_id, data=body, shortfall_of=call.id
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.shortfall",
        entity="capital_call",
        entity_id=call.id,
        after={
            "shortfall_call_id": str(drafted.id),
            "amount": str(drafted.amount),
            "defaulted": {str(i): str(rest) for i, rest in sorted(unpaid.items())},
        },
    )
    return drafted
