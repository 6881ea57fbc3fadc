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

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import tasks as call_tasks
from prorata.capital_calls.models import (
    CallItem,
    CallLine,
    CallStatus,
    CapitalCall,
    Payment,
    Purpose,
)
from prorata.capital_calls.schemas import CallCreate, CallOut, ItemOut, LineOut, PaymentIn
from prorata.deals import service as deal_service
from prorata.finance import calendars, money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind, LedgerEntry
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


async def _split_items(session: AsyncSession, fund: Fund, items: list[CallItem]) -> _Lines:
    """Each item split over its eligible investors, capped by what remains unfunded."""
    capacity = await fund_repository.capacity(session, fund_id=fund.id)
    commitments = capacity.commitments
    if not commitments:
        raise errors.RuleViolation("the fund has no commitments to call")
    remaining = dict(capacity.unfunded)
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
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: CallCreate
) -> CapitalCall:
    fund = await fund_service.get(session, fund_id=fund_id)
    amounts = await _checked_amounts(session, fund, data)
    try:
        earliest = calendars.add_business_days(
            data.notice_date, fund.notice_business_days, fund.holiday_calendar
        )
    except OverflowError:  # a notice in the last days of year 9999 has no due date
        raise errors.RuleViolation(
            f"notice_date: no date is {fund.notice_business_days} business days after "
            f"{data.notice_date}"
        ) from None
    due_date = data.due_date or earliest
    if due_date < earliest:
        raise errors.RuleViolation(
            f"due_date must be at least {fund.notice_business_days} business days after the "
            f"notice date: {earliest} or later"
        )
    call = CapitalCall(
        org_id=actor.org_id,
        fund_id=fund_id,
        status=CallStatus.draft,
        notice_date=data.notice_date,
        due_date=due_date,
        amount=sum(amounts, Decimal(0)),
        # Read with the fund, before the balances: anything committed since bumps it.
        lines_version=fund.capital_version,
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
    await _insert_lines(session, call, await _split_items(session, fund, items))
    await session.flush()
    await _audit(session, actor, call, "capital_call.create")
    return call


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
    await _contribute(session, call)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    call.status = CallStatus.issued
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
    lines = await _split_items(session, fund, await _items(session, call))
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
    lines = sa.select(
        CallLine.org_id,
        CallLine.fund_id,
        CallLine.investor_id,
        sa.literal(EntryKind.contribution.value),
        CallLine.purpose,
        CallLine.amount,
        sa.literal(call.due_date),
        sa.literal(SOURCE),
        CallLine.call_id,
    ).where(CallLine.fund_id == call.fund_id, CallLine.call_id == call.id)
    columns = [
        "org_id",
        "fund_id",
        "investor_id",
        "kind",
        "purpose",
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
    if call.status not in {CallStatus.draft, CallStatus.issued}:
        raise errors.Conflict(f"{errors.a(call.status)} call cannot be cancelled")
    if call.status is CallStatus.issued:
        if await _paid_by_investor(session, call):
            raise errors.Conflict("a call with payments cannot be cancelled")
        entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=call.id)
        await fund_repository.bump_capital_version(session, fund_id=fund_id)
        # A cancelled call never drew capital: no account, metric or split as of any date
        # counts it (reversals carry the reversed entries' dates).
        contributions = (e for e in entries if e.kind is EntryKind.contribution)
        await ledger.append(session, ledger.reversals(contributions))
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
    statement = (
        sa.select(Payment.investor_id, sa.func.sum(Payment.amount))
        .where(Payment.call_id == call.id)
        .group_by(Payment.investor_id)
    )
    if investors is not None:
        statement = statement.where(Payment.investor_id.in_(investors))
    rows = await session.execute(statement)
    return {investor: Decimal(total) for investor, total in rows.all()}


async def _line_views(
    session: AsyncSession,
    call: CapitalCall,
    quantum: Decimal,
    investors: list[uuid.UUID] | None = None,
) -> list[LineOut]:
    """Each investor's line (amounts by purpose, paid, outstanding): all, or `investors`'."""
    amounts: dict[uuid.UUID, dict[Purpose, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in await _lines(session, call, investors):
        amounts[line.investor_id][line.purpose] += line.amount
    paid = await _paid_by_investor(session, call, investors)
    lines = []
    for investor in sorted(amounts):
        total = sum(amounts[investor].values(), Decimal(0))
        got = paid.get(investor, Decimal(0))
        lines.append(
            LineOut(
                investor_id=investor,
                amounts={p: a.quantize(quantum) for p, a in amounts[investor].items()},
                total=total.quantize(quantum),
                paid=got.quantize(quantum),
                outstanding=(total - got).quantize(quantum),
            )
        )
    return lines


@dataclasses.dataclass(frozen=True)
class Board:
    """A page of a call's lines (by investor id), with the whole call's totals."""

    lines: list[LineOut]
    next_after: uuid.UUID | None
    total: Decimal
    paid: Decimal
    purposes: list[Purpose]


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
    paid = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
            Payment.call_id == call.id
        )
    )
    purposes = sorted({item.purpose for item in await _items(session, call)})
    return Board(
        lines=await _line_views(session, call, quantum, investors) if investors else [],
        next_after=investors[-1] if more else None,
        total=Decimal(total or 0).quantize(quantum),
        paid=Decimal(paid or 0).quantize(quantum),
        purposes=purposes,
    )


async def record_payment(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    call_id: uuid.UUID,
    data: PaymentIn,
) -> CapitalCall:
    fund = await fund_service.get(session, fund_id=fund_id)
    call = await get(session, fund_id=fund_id, call_id=call_id, for_update=True)
    if call.status not in {CallStatus.issued, CallStatus.partially_paid}:
        raise errors.Conflict(f"payments are recorded on issued calls; this call is {call.status}")
    amount = validation.amount(data.amount, fund.currency, field="amount")
    called: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for line in await _lines(session, call):
        called[line.investor_id] += line.amount
    if data.investor_id not in called:
        raise errors.RuleViolation("this investor has nothing to pay on this call")
    paid = await _paid_by_investor(session, call)
    outstanding = (called[data.investor_id] - paid.get(data.investor_id, Decimal(0))).quantize(
        money.quantum(fund.currency)
    )
    if amount > outstanding:
        raise errors.RuleViolation(
            f"overpayment: {amount} {fund.currency} received, {outstanding} outstanding",
            extensions={"outstanding": str(outstanding)},
        )
    payment = Payment(
        org_id=call.org_id,
        fund_id=fund_id,
        call_id=call.id,
        investor_id=data.investor_id,
        amount=amount,
        received_on=data.received_on,
    )
    session.add(payment)
    await session.flush()
    await ledger.append(
        session,
        [
            {
                "org_id": call.org_id,
                "fund_id": fund_id,
                "investor_id": data.investor_id,
                "kind": EntryKind.payment,
                "amount": amount,
                "effective_on": data.received_on,
                "source_type": "payment",
                "source_id": payment.id,
            }
        ],
    )
    paid[data.investor_id] = paid.get(data.investor_id, Decimal(0)) + amount
    settled = all(paid.get(investor, Decimal(0)) >= total for investor, total in called.items())
    call.status = CallStatus.paid if settled else CallStatus.partially_paid
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="capital_call.payment",
        entity="capital_call",
        entity_id=call.id,
        after={
            "investor_id": str(data.investor_id),
            "amount": str(amount),
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
    return call


async def view(session: AsyncSession, *, call: CapitalCall) -> CallOut:
    fund = await fund_service.get(session, fund_id=call.fund_id)
    quantum = money.quantum(fund.currency)
    items = await _items(session, call)
    lines = await _line_views(session, call, quantum)
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
    )


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[CapitalCall]:
    return await keyset(
        session,
        sa.select(CapitalCall).where(CapitalCall.fund_id == fund_id),
        key=[CapitalCall.id],
        params=params,
        item=lambda c: c,
        parent=lambda: fund_service.get(session, fund_id=fund_id),
    )
