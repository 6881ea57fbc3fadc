"""Subsequent closes: new investors brought level with the earlier ones (equalization).

A fund's first closing date (`Fund.first_closing_date`, else its earliest commitment's date)
ends its first close; a commitment made after it belongs to a later closing. A closing takes
the commitments made after the previous closing's date (the first closing date for the first
one) and on or before its `closing_date`, and computes:

- for every item of every earlier issued call (investment by deal, fund expenses), what each
  investor would hold had the new investors been there from the start: the item's amount
  (less what a close-out released) split by commitment over its eligible investors after the
  close (`money.split`). A new investor's **equalization** is its part less what it already
  holds; the sum of these goes back to the investors holding more than their exact part, as
  their **rebalancing return** (split by that excess: within one minor unit of it), which
  restores their unfunded commitment. So after the close every investor's contributed
  capital / commitment is the same, to a minor unit.
- **management fees are not rebalanced** by commitment: each investor bears its own fee
  (its own rate, none for the GP's commitment). A new investor pays instead its **fee
  catch-up**: its fee under the fund's rules (`finance.fees`) from the first closing date to the
  closing date, as if it had committed on the first closing date. Rebalancing the earlier fee
  items as well would charge the new investor twice for the same days (its share of the earlier
  investors' fees, and its own fee) and refund the earlier investors fees they owed.
- **equalization interest** at the fund's `equalization_rate`, simple, on its `day_count`, on
  each equalization amount from its call's due date to the closing's due date; each new
  investor's total rounded once. It goes to the earlier investors pro rata to their rebalancing
  returns (split with the one splitter: paid = received exactly), or is kept by the fund.

Booking at issue (the ledger is append-only):
- the new investors' equalization and fee catch-up are one capital call among them (items by
  purpose and deal; the others excused), issued at once: payments, credit, close-out and
  notices work as for any call, and contributed capital follows the payments;
- each rebalancing return is a `contribution` −x and a `payment` −x (called and contributed
  both fall, the unfunded commitment rises), per purpose, dated the due date; the part the
  investor still owes on that call is released from its line instead (no longer due:
  `capital_calls.service.release_unpaid`), as unpaid cash cannot be paid back;
- the interest is `equalization_interest` entries: −x for a new investor, +x for an earlier
  one (none for the fund's share, which `Closing.interest_to_fund` records): cash passed
  through on the due date, not capital, so no capital account moves by it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import Purpose
from prorata.closings.models import SOURCE, Closing, ClosingLine, ClosingStatus, LineKind
from prorata.closings.schemas import (
    ClosingCreate,
    ClosingItemOut,
    ClosingLineOut,
    ClosingOut,
    Role,
)
from prorata.finance import calendars, daycount, money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund, InterestTo
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind
from prorata.management_fees import service as fee_service
from prorata.platform import audit, errors, hooks

ZERO = Decimal(0)
# Earlier items of these purposes are not rebalanced by commitment: each investor bears its own
# management fee, and a new investor pays its own as the fee catch-up (module docstring).
NOT_REBALANCED = frozenset({Purpose.management_fee})


@dataclasses.dataclass(frozen=True)
class Issued:
    actor: Principal
    closing: Closing


# Fired in the issuing transaction once the closing is booked: documents connects the
# rendering of its letters (the new investors' call fires `call_issued` for its own notices).
closing_issued: hooks.Hook[Issued] = hooks.Hook("closings.closing_issued")


@dataclasses.dataclass(frozen=True)
class _Line:
    investor_id: uuid.UUID
    kind: LineKind
    amount: Decimal
    call_id: uuid.UUID | None = None
    item_id: uuid.UUID | None = None
    purpose: Purpose | None = None
    deal_id: uuid.UUID | None = None


def _of_item(
    item: call_service.IssuedItem, investor: uuid.UUID, kind: LineKind, amount: Decimal
) -> _Line:
    return _Line(
        investor,
        kind,
        amount,
        call_id=item.call_id,
        item_id=item.item_id,
        purpose=item.purpose,
        deal_id=item.deal_id,
    )


@dataclasses.dataclass(frozen=True)
class _Computed:
    lines: list[_Line]
    interest_to_fund: Decimal


async def first_closing_date(session: AsyncSession, fund: Fund) -> dt.date | None:
    """The fund's first closing date: its own, else its earliest commitment's date."""
    if fund.first_closing_date is not None:
        return fund.first_closing_date
    earliest: dt.date | None = await session.scalar(
        sa.select(sa.func.min(Commitment.committed_on)).where(Commitment.fund_id == fund.id)
    )
    return earliest


async def _previous_date(session: AsyncSession, fund: Fund) -> dt.date:
    """The date the next closing's commitments come after: the last issued closing's date,
    else the first closing date."""
    last: dt.date | None = await session.scalar(
        sa.select(sa.func.max(Closing.closing_date)).where(
            Closing.fund_id == fund.id, Closing.status == ClosingStatus.issued
        )
    )
    if last is not None:
        return last
    first = await first_closing_date(session, fund)
    if first is None:
        raise errors.RuleViolation("the fund has no commitments: there is nothing to close")
    return first


def _due_date(fund: Fund, closing_date: dt.date, given: dt.date | None) -> dt.date:
    """Default and minimum: the fund's notice period in business days after the closing date
    (as a call's due date after its notice date)."""
    try:
        earliest = calendars.add_business_days(
            closing_date, fund.notice_business_days, fund.holiday_calendar
        )
    except OverflowError:
        raise errors.RuleViolation(
            f"closing_date: no date is {fund.notice_business_days} business days after "
            f"{closing_date}"
        ) from None
    if given is not None and given < earliest:
        raise errors.RuleViolation(
            f"due_date must be at least {fund.notice_business_days} business days after the "
            f"closing date: {earliest} or later"
        )
    return given or earliest


async def _prior_adjustments(
    session: AsyncSession, fund_id: uuid.UUID
) -> dict[uuid.UUID, dict[uuid.UUID, Decimal]]:
    """By earlier call item, by investor: what issued closings moved (+ equalization paid,
    − rebalancing returned)."""
    rows = await session.execute(
        sa.select(
            ClosingLine.item_id, ClosingLine.investor_id, ClosingLine.kind, ClosingLine.amount
        )
        .join(
            Closing,
            (Closing.fund_id == ClosingLine.fund_id) & (Closing.id == ClosingLine.closing_id),
        )
        .where(
            ClosingLine.fund_id == fund_id,
            Closing.status == ClosingStatus.issued,
            ClosingLine.kind.in_([LineKind.equalization, LineKind.rebalancing]),
        )
    )
    moved: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for item_id, investor, kind, amount in rows.all():
        if item_id is not None:
            moved[item_id][investor] += amount if kind is LineKind.equalization else -amount
    return moved


async def _equalized_via(session: AsyncSession, fund_id: uuid.UUID, line: _Line) -> list[uuid.UUID]:
    """The calls of earlier closings through which the investor was equalized on the item."""
    rows = await session.scalars(
        sa.select(Closing.call_id)
        .join(
            ClosingLine,
            (Closing.fund_id == ClosingLine.fund_id) & (Closing.id == ClosingLine.closing_id),
        )
        .where(
            ClosingLine.fund_id == fund_id,
            Closing.status == ClosingStatus.issued,
            Closing.call_id.is_not(None),
            ClosingLine.kind == LineKind.equalization,
            ClosingLine.item_id == line.item_id,
            ClosingLine.investor_id == line.investor_id,
        )
        .order_by(Closing.number)
    )
    return [call_id for call_id in rows.all() if call_id is not None]


async def _compute(
    session: AsyncSession,
    fund: Fund,
    *,
    previous: dt.date,
    closing_date: dt.date,
    due_date: dt.date,
) -> _Computed:
    """Every line of a closing (see the module's docstring for the rules)."""
    currency = fund.currency
    commitments = await fund_repository.commitments(session, fund_id=fund.id, as_of=closing_date)
    dates = await fund_repository.commitment_dates(session, fund_id=fund.id)
    new = {i for i in commitments if dates[i] > previous}
    if not new:
        raise errors.RuleViolation(
            f"no commitment was made after {previous} and on or before {closing_date}: there "
            "is no new investor to equalize"
        )
    moved = await _prior_adjustments(session, fund.id)
    lines: list[_Line] = []
    interest_exact: dict[uuid.UUID, Fraction] = defaultdict(Fraction)
    year = daycount.year_basis(fund.day_count.value)
    for item in await call_service.issued_items(session, fund_id=fund.id):
        if item.purpose in NOT_REBALANCED:
            continue
        held: dict[uuid.UUID, Decimal] = defaultdict(Decimal, item.called)
        for investor, amount in moved.get(item.item_id, {}).items():
            held[investor] += amount
        net = sum(held.values(), ZERO)
        eligible = {i: c for i, c in commitments.items() if i not in item.excused}
        if net <= 0 or not eligible.keys() & new:
            continue
        whole = sum(eligible.values(), ZERO)
        parts = money.split(net, eligible, currency)
        pays = {
            n: parts[n] - held.get(n, ZERO)
            for n in sorted(new & eligible.keys())
            if parts[n] > held.get(n, ZERO)
        }
        owed = sum(pays.values(), ZERO)
        if not owed:
            continue
        # What each other holder has beyond its exact part after the close.
        excess = {
            i: share
            for i in sorted(held)
            if i not in pays
            and (
                share := Fraction(held[i])
                - (Fraction(net) * Fraction(eligible[i]) / Fraction(whole) if i in eligible else 0)
            )
            > 0
        }
        returns = money.split(owed, excess, currency)
        days = daycount.days_between(
            start=item.due_date, end=due_date, convention=fund.day_count.value
        )
        for investor, amount in pays.items():
            lines.append(_of_item(item, investor, LineKind.equalization, amount))
            if days > 0:
                interest_exact[investor] += (
                    Fraction(amount) * Fraction(fund.equalization_rate) * Fraction(days, year)
                )
        for investor, amount in returns.items():
            if amount:
                lines.append(_of_item(item, investor, LineKind.rebalancing, amount))
    first = await first_closing_date(session, fund)
    assert first is not None  # the fund has commitments
    catch_up = await fee_service.catch_up(
        session, fund=fund, investors=new, first=first, last=closing_date
    )
    lines += [_Line(n, LineKind.fee_catch_up, amount) for n, amount in catch_up.items()]
    interest = {
        n: paid
        for n in sorted(interest_exact)
        if (paid := money.round_to_currency(interest_exact[n], currency))
    }
    lines += [_Line(n, LineKind.interest_paid, amount) for n, amount in interest.items()]
    total_interest = sum(interest.values(), ZERO)
    to_fund = ZERO
    returned: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.kind is LineKind.rebalancing:
            returned[line.investor_id] += line.amount
    if total_interest and (fund.equalization_interest_to is InterestTo.fund or not returned):
        to_fund = total_interest
    elif total_interest:
        received = money.split(total_interest, {i: returned[i] for i in sorted(returned)}, currency)
        lines += [
            _Line(i, LineKind.interest_received, amount) for i, amount in received.items() if amount
        ]
    await _check_unfunded(session, fund, commitments, lines)
    return _Computed(lines=lines, interest_to_fund=to_fund)


async def _check_unfunded(
    session: AsyncSession, fund: Fund, commitments: dict[uuid.UUID, Decimal], lines: list[_Line]
) -> None:
    """A new investor is never asked beyond its unfunded commitment."""
    asked: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.kind in (LineKind.equalization, LineKind.fee_catch_up):
            asked[line.investor_id] += line.amount
    balances = await ledger.balances(session, fund_id=fund.id, investor_ids=list(asked))
    for investor, amount in sorted(asked.items()):
        unfunded = balances.get(investor, ledger.Balance()).unfunded(commitments[investor])
        if amount > unfunded:
            raise errors.RuleViolation(
                f"investor {investor} would be asked {amount} {fund.currency} (equalization and "
                f"fee catch-up), beyond its unfunded commitment of {unfunded} {fund.currency}",
                extensions={"investor_id": str(investor), "unfunded": str(unfunded)},
            )


async def _write_lines(session: AsyncSession, closing: Closing, computed: _Computed) -> None:
    await session.execute(
        sa.delete(ClosingLine).where(
            ClosingLine.fund_id == closing.fund_id, ClosingLine.closing_id == closing.id
        )
    )
    session.add_all(
        ClosingLine(
            org_id=closing.org_id,
            fund_id=closing.fund_id,
            closing_id=closing.id,
            **dataclasses.asdict(line),
        )
        for line in computed.lines
    )
    closing.interest_to_fund = computed.interest_to_fund
    await session.flush()


async def _audit(session: AsyncSession, actor: Principal, closing: Closing, action: str) -> None:
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity="closing",
        entity_id=closing.id,
        after={
            "status": str(closing.status),
            "closing_date": closing.closing_date.isoformat(),
            "due_date": closing.due_date.isoformat(),
            "previous_date": closing.previous_date.isoformat(),
            "call_id": str(closing.call_id) if closing.call_id else None,
        },
    )


async def create_draft(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: ClosingCreate
) -> Closing:
    """Draft the equalization of the commitments made since the previous closing."""
    fund = await fund_service.get(session, fund_id=fund_id)
    previous = await _previous_date(session, fund)
    if data.closing_date < previous:
        raise errors.RuleViolation(
            f"closing_date {data.closing_date} is before the previous closing ({previous})"
        )
    due_date = _due_date(fund, data.closing_date, data.due_date)
    computed = await _compute(
        session, fund, previous=previous, closing_date=data.closing_date, due_date=due_date
    )
    closing = Closing(
        org_id=actor.org_id,
        fund_id=fund.id,
        status=ClosingStatus.draft,
        previous_date=previous,
        closing_date=data.closing_date,
        due_date=due_date,
        equalization_rate=fund.equalization_rate,
        interest_to=fund.equalization_interest_to,
        interest_to_fund=ZERO,
        created_by=actor.user_id,
    )
    session.add(closing)
    await session.flush()
    await _write_lines(session, closing, computed)
    await _audit(session, actor, closing, "closing.create")
    return closing


async def get(
    session: AsyncSession, *, fund_id: uuid.UUID, closing_id: uuid.UUID, for_update: bool = False
) -> Closing:
    statement = sa.select(Closing).where(Closing.fund_id == fund_id, Closing.id == closing_id)
    if for_update:
        statement = statement.with_for_update()
    closing = (await session.scalars(statement)).one_or_none()
    if closing is None:
        raise errors.NotFound("no such closing in this fund")
    return closing


async def _lines(session: AsyncSession, closing: Closing) -> list[ClosingLine]:
    result = await session.scalars(
        sa.select(ClosingLine)
        .where(ClosingLine.fund_id == closing.fund_id, ClosingLine.closing_id == closing.id)
        .order_by(ClosingLine.investor_id, ClosingLine.kind, ClosingLine.item_id)
    )
    return list(result.all())


async def issue(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, closing_id: uuid.UUID
) -> Closing:
    """Book a draft: recomputed under the fund's lock (what is true now), the new investors'
    call issued, the rebalancing returns and the interest in the ledger."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    closing = await get(session, fund_id=fund_id, closing_id=closing_id, for_update=True)
    if closing.status is ClosingStatus.issued:
        raise errors.Conflict(f"this closing was issued already (closing No. {closing.number})")
    previous = await _previous_date(session, fund)
    if closing.previous_date != previous:
        raise errors.Conflict(
            f"another closing was issued since this draft (the previous closing is now "
            f"{previous}): draft this one again"
        )
    closing.equalization_rate = fund.equalization_rate
    closing.interest_to = fund.equalization_interest_to
    computed = await _compute(
        session,
        fund,
        previous=previous,
        closing_date=closing.closing_date,
        due_date=closing.due_date,
    )
    await _write_lines(session, closing, computed)
    closing.call_id = await _issue_call(session, actor, fund, closing, computed.lines)
    released = await call_service.release_unpaid(
        session,
        fund_id=fund.id,
        parts=[
            call_service.Reduction(
                call_ids=[line.call_id, *await _equalized_via(session, fund.id, line)],
                item_id=line.item_id,
                investor_id=line.investor_id,
                purpose=line.purpose,
                amount=line.amount,
                deal_id=line.deal_id,
            )
            for line in computed.lines
            if line.kind is LineKind.rebalancing
            and line.call_id is not None
            and line.item_id is not None
            and line.purpose is not None
        ],
        effective_on=closing.due_date,
    )
    await ledger.append(session, _entries(closing, computed.lines, released))
    await fund_repository.bump_capital_version(session, fund_id=fund.id)
    last = await session.scalar(
        sa.select(sa.func.max(Closing.number)).where(Closing.fund_id == fund.id)
    )
    closing.number = (last or 0) + 1
    closing.status = ClosingStatus.issued
    closing.issued_at = dt.datetime.now(dt.UTC)
    closing.issued_by = actor.user_id
    await session.flush()
    await _audit(session, actor, closing, "closing.issue")
    await closing_issued.fire(session, Issued(actor=actor, closing=closing))
    return closing


async def _issue_call(
    session: AsyncSession, actor: Principal, fund: Fund, closing: Closing, lines: list[_Line]
) -> uuid.UUID | None:
    """The new investors' equalization (by purpose and deal) and fee catch-up, as one call."""
    groups: dict[tuple[Purpose, uuid.UUID | None], dict[uuid.UUID, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for line in lines:
        if line.kind is LineKind.equalization:
            assert line.purpose is not None
            groups[(line.purpose, line.deal_id)][line.investor_id] += line.amount
        elif line.kind is LineKind.fee_catch_up:
            groups[(Purpose.management_fee, None)][line.investor_id] += line.amount
    if not groups:
        return None
    items = [
        call_service.GivenItem(purpose=purpose, deal_id=deal, parts=dict(parts))
        for (purpose, deal), parts in sorted(
            groups.items(), key=lambda g: (g[0][0].value, str(g[0][1] or ""))
        )
    ]
    asked = {i for item in items for i in item.parts}
    everyone = await fund_repository.commitments(session, fund_id=fund.id)
    call = await call_service.issue_given(
        session,
        actor=actor,
        fund=fund,
        notice_date=closing.closing_date,
        due_date=closing.due_date,
        items=items,
        excused=[i for i in everyone if i not in asked],
        closing_id=closing.id,
    )
    return call.id


def _entries(
    closing: Closing,
    lines: list[_Line],
    released: dict[tuple[uuid.UUID, uuid.UUID], Decimal],
) -> list[ledger.NewEntry]:
    """Rebalancing returns paid back in cash (contribution −x, payment −x by purpose: the part
    not `released` from an unpaid line) and interest entries."""
    shared: ledger.NewEntry = {
        "org_id": closing.org_id,
        "fund_id": closing.fund_id,
        "effective_on": closing.due_date,
        "source_type": SOURCE,
        "source_id": closing.id,
    }
    returned: dict[tuple[uuid.UUID, Purpose, uuid.UUID | None], Decimal] = defaultdict(Decimal)
    entries: list[ledger.NewEntry] = []
    for line in lines:
        if line.kind is LineKind.rebalancing:
            assert line.purpose is not None
            assert line.item_id is not None
            cash = line.amount - released.get((line.item_id, line.investor_id), ZERO)
            returned[(line.investor_id, line.purpose, line.deal_id)] += cash
        elif line.kind in (LineKind.interest_paid, LineKind.interest_received):
            sign = -1 if line.kind is LineKind.interest_paid else 1
            entries.append(
                {
                    **shared,
                    "investor_id": line.investor_id,
                    "kind": EntryKind.equalization_interest,
                    "amount": sign * line.amount,
                }
            )
    for (investor, purpose, deal), amount in sorted(
        returned.items(), key=lambda r: (r[0][0], r[0][1], str(r[0][2] or ""))
    ):
        if not amount:
            continue
        for kind in (EntryKind.contribution, EntryKind.payment):
            entries.append(
                {
                    **shared,
                    "investor_id": investor,
                    "kind": kind,
                    "purpose": purpose.value,
                    "deal_id": deal,
                    "amount": -amount,
                }
            )
    return entries


async def view(session: AsyncSession, *, closing: Closing) -> ClosingOut:
    fund = await fund_service.get(session, fund_id=closing.fund_id)
    q = money.quantum(fund.currency)
    commitments = await fund_repository.commitments(
        session, fund_id=fund.id, as_of=closing.closing_date
    )
    dates = await fund_repository.commitment_dates(session, fund_id=fund.id)
    by_investor: dict[uuid.UUID, list[ClosingLine]] = defaultdict(list)
    for line in await _lines(session, closing):
        by_investor[line.investor_id].append(line)
    totals: dict[LineKind, Decimal] = defaultdict(Decimal)
    out = []
    for investor in sorted(by_investor):
        mine = by_investor[investor]
        amount: dict[LineKind, Decimal] = defaultdict(Decimal)
        equalization: dict[Purpose, Decimal] = defaultdict(Decimal)
        returned: dict[Purpose, Decimal] = defaultdict(Decimal)
        items = []
        for line in mine:
            amount[line.kind] += line.amount
            totals[line.kind] += line.amount
            if line.kind in (LineKind.equalization, LineKind.rebalancing):
                assert line.purpose is not None
                assert line.call_id is not None
                assert line.item_id is not None
                sign = 1 if line.kind is LineKind.equalization else -1
                (equalization if sign > 0 else returned)[line.purpose] += line.amount
                items.append(
                    ClosingItemOut(
                        call_id=line.call_id,
                        item_id=line.item_id,
                        purpose=line.purpose,
                        deal_id=line.deal_id,
                        amount=(sign * line.amount).quantize(q),
                    )
                )
        out.append(
            ClosingLineOut(
                investor_id=investor,
                role=Role.new if dates[investor] > closing.previous_date else Role.earlier,
                commitment=commitments.get(investor, ZERO).quantize(q),
                equalization={p: a.quantize(q) for p, a in sorted(equalization.items())},
                fee_catch_up=amount[LineKind.fee_catch_up].quantize(q),
                interest_paid=amount[LineKind.interest_paid].quantize(q),
                rebalancing_return={p: a.quantize(q) for p, a in sorted(returned.items())},
                interest_received=amount[LineKind.interest_received].quantize(q),
                total_due=(
                    amount[LineKind.equalization]
                    + amount[LineKind.fee_catch_up]
                    + amount[LineKind.interest_paid]
                ).quantize(q),
                total_returned=(
                    amount[LineKind.rebalancing] + amount[LineKind.interest_received]
                ).quantize(q),
                items=items,
            )
        )
    return ClosingOut(
        id=closing.id,
        fund_id=closing.fund_id,
        number=closing.number,
        status=closing.status,
        previous_closing_date=closing.previous_date,
        closing_date=closing.closing_date,
        due_date=closing.due_date,
        currency=fund.currency,
        equalization_rate=closing.equalization_rate,
        interest_to=closing.interest_to,
        equalization=totals[LineKind.equalization].quantize(q),
        fee_catch_up=totals[LineKind.fee_catch_up].quantize(q),
        interest=totals[LineKind.interest_paid].quantize(q),
        interest_to_fund=closing.interest_to_fund.quantize(q),
        rebalancing_return=totals[LineKind.rebalancing].quantize(q),
        call_id=closing.call_id,
        lines=out,
        created_at=closing.created_at,
        issued_at=closing.issued_at,
        issued_by=closing.issued_by,
    )


async def page(session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams) -> Page[Closing]:
    return await keyset(
        session,
        sa.select(Closing).where(Closing.fund_id == fund_id),
        key=[Closing.id],
        params=params,
        item=lambda c: c,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )
