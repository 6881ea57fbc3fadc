"""A period's management fee called from the fee calculation, net of offsets and waivers.

`POST /funds/{f}/management-fees/calls` computes the period's fee exactly as
`GET …/management-fees` shows it and issues, at once, a capital call with one
`management_fee` item whose lines are each investor's *net* fee (its fee − its part of the
offset − its part of the waivers, split with the one splitter so the lines add up to the net
total to the minor unit); the investors who owe nothing are excused. The figures called
(fee, waived, offset, carried forward) are kept in `fee_calls`, with the call. A period whose
offsets and waivers leave nothing to pay is recorded the same way without a capital call.

A period is called once: it lies within one calendar quarter (fees are charged by quarter,
the carry-forward walks quarters) and may not overlap a fee call that counts (its capital call
not cancelled). `POST …/management-fees/calls/{id}/cancel` (or cancelling its capital call,
while unpaid) frees the period to be called again; the fee call stays, with its cancellation.

`GET …/management-fees/calls` lists a fund's fee calls, newest period first, cancelled ones
too (`cancelled`); `GET …/calls/{id}` adds each investor's line as called. The fee calculation
of a period shows the standing fee calls that cover it (`standing`) beside its recomputed
figures, and says when the recomputation differs from what was called (`differs`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import CallLine, CallStatus, CapitalCall, Purpose
from prorata.finance import fees
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http.pagination import Page, PageParams, keyset
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.management_fees import offsets
from prorata.management_fees import service as fee_service
from prorata.management_fees.models import FeeCall, FeeCancellation
from prorata.platform import audit, errors


async def call_fee(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    period_start: dt.date,
    period_end: dt.date,
    notice_date: dt.date,
    due_date: dt.date | None,
) -> FeeCall:
    # The fund's row lock: two fee calls of one period cannot both pass the overlap check.
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    if period_start > period_end:
        raise errors.RuleViolation(
            f"the period is empty: period_start {period_start} is after period_end {period_end}"
        )
    offsets.check_period(fund, "period", period_start, period_end)
    if len(quarters := fees.quarters(period_start, period_end)) > 1:
        raise errors.RuleViolation(
            "a fee call's period lies within one calendar quarter (fees are charged by "
            f"quarter): period_end must be on or before {quarters[0][1]}"
        )
    await _not_called(session, fund, period_start, period_end)
    fee = await fee_service.calculate(session, fund_id=fund.id, start=period_start, end=period_end)
    nets = {i: net for i in fee.lines if (net := fee.net_line(i))}
    call_id = None
    if nets:
        call_id = await _issue(session, actor, fund, nets, notice_date, due_date)
    fee_call = FeeCall(
        org_id=actor.org_id,
        fund_id=fund.id,
        call_id=call_id,
        period_start=period_start,
        period_end=period_end,
        amount=fee.amount,
        waived=fee.reduction.waived,
        offset=fee.reduction.offset,
        carried_forward=fee.reduction.carried_out,
        created_by=actor.user_id,
    )
    session.add(fee_call)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fee_call.create",
        entity="fee_call",
        entity_id=fee_call.id,
        after={
            "fund_id": str(fund.id),
            "call_id": None if call_id is None else str(call_id),
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "amount": str(fee.amount),
            "waived": str(fee.reduction.waived),
            "offset": str(fee.reduction.offset),
            "net": str(fee.net_amount),
        },
    )
    return fee_call


async def _not_called(session: AsyncSession, fund: Fund, first: dt.date, last: dt.date) -> None:
    overlapping = (
        await session.scalars(
            offsets.live_fee_calls()
            .where(
                FeeCall.fund_id == fund.id,
                FeeCall.period_start <= last,
                FeeCall.period_end >= first,
            )
            .limit(1)
        )
    ).first()
    if overlapping is not None:
        raise errors.Conflict(
            f"the fee of {overlapping.period_start} .. {overlapping.period_end} is already "
            "called (cancel its capital call to call it again)",
            extensions={"fee_call_id": str(overlapping.id)},
        )


async def _issue(
    session: AsyncSession,
    actor: Principal,
    fund: Fund,
    nets: dict[uuid.UUID, Decimal],
    notice_date: dt.date,
    due_date: dt.date | None,
) -> uuid.UUID:
    """The capital call of the net fees (the caller holds the fund's row lock)."""
    due = call_service.due_date_of(fund, notice_date, due_date)
    commitments = await fund_repository.commitments(session, fund_id=fund.id)
    balances = await ledger.balances(session, fund_id=fund.id, investor_ids=list(nets))
    for investor, amount in sorted(nets.items()):
        unfunded = balances.get(investor, ledger.Balance()).unfunded(commitments[investor])
        if amount > unfunded:
            raise errors.RuleViolation(
                f"investor {investor} would be called {amount} {fund.currency} of management "
                f"fee, beyond its unfunded commitment of {unfunded} {fund.currency}",
                extensions={"investor_id": str(investor), "unfunded": str(unfunded)},
            )
    call = await call_service.issue_given(
        session,
        actor=actor,
        fund=fund,
        notice_date=notice_date,
        due_date=due,
        items=[call_service.GivenItem(purpose=Purpose.management_fee, deal_id=None, parts=nets)],
        excused=[i for i in commitments if i not in nets],
    )
    return call.id


async def cancel_fee_call(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    fee_call_id: uuid.UUID,
    reason: str,
) -> FeeCancellation:
    """Cancel a fee call made by mistake (once): its capital call is cancelled with it (as
    `…/capital-calls/{id}/cancel` would: refused once paid), and its period can be called
    again. The fee call stays, with a cancellation appended."""
    # The fund's row lock serializes cancellations (fee_calls is append-only: no row lock).
    await fund_service.get(session, fund_id=fund_id, for_update=True)
    fee_call = await session.get(FeeCall, fee_call_id)
    if fee_call is None or fee_call.fund_id != fund_id:
        raise errors.NotFound("no such fee call in this fund")
    cancelled = sa.exists().where(FeeCancellation.fee_call_id == fee_call_id)
    if await session.scalar(sa.select(cancelled)):
        raise errors.Conflict("this fee call is already cancelled")
    if fee_call.call_id is not None:
        call = await call_service.get(session, fund_id=fund_id, call_id=fee_call.call_id)
        if call.status is not CallStatus.cancelled:
            await call_service.cancel(
                session, actor=actor, fund_id=fund_id, call_id=fee_call.call_id
            )
    cancellation = FeeCancellation(
        org_id=actor.org_id,
        fund_id=fund_id,
        fee_call_id=fee_call_id,
        reason=reason,
        cancelled_by=actor.user_id,
    )
    session.add(cancellation)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fee_call.cancel",
        entity="fee_call",
        entity_id=fee_call_id,
        after={"fund_id": str(fund_id), "reason": reason},
    )
    return cancellation


# A fee call read as columns (`_columns`): its attributes, `net_amount` and `cancelled`.
FeeCallRow = sa.Row[*tuple[Any, ...]]


@dataclasses.dataclass(frozen=True)
class Called:
    """A fee call as read back: its row (the figures it was called at, `net_amount`,
    `cancelled`) and each investor's management-fee line of its capital call."""

    row: FeeCallRow
    lines: dict[uuid.UUID, Decimal]


def _columns() -> tuple[sa.ColumnElement[object], ...]:
    """A fee call's columns, its net and whether it no longer counts (cancelled, or its
    capital call is: the complement of `offsets.live_fee_calls`)."""
    call_cancelled = sa.exists().where(
        CapitalCall.fund_id == FeeCall.fund_id,
        CapitalCall.id == FeeCall.call_id,
        CapitalCall.status == CallStatus.cancelled,
    )
    cancelled = sa.or_(sa.exists().where(FeeCancellation.fee_call_id == FeeCall.id), call_cancelled)
    return (
        *FeeCall.__table__.columns,
        (FeeCall.amount - FeeCall.waived - FeeCall.offset).label("net_amount"),
        cancelled.label("cancelled"),
    )


# The order of the list: newest period first (live fee calls of a fund do not overlap), ties
# (cancelled ones) by id.
KEY = (FeeCall.period_end, FeeCall.id)


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[FeeCallRow]:
    """A page of the fund's fee calls, newest period first, cancelled ones too."""
    return await keyset(
        session,
        sa.select(*_columns()).where(FeeCall.fund_id == fund_id),
        key=KEY,
        params=params,
        item=lambda row: row,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
        descending=True,
    )


async def get(session: AsyncSession, *, fund_id: uuid.UUID, fee_call_id: uuid.UUID) -> Called:
    row = (
        await session.execute(
            sa.select(*_columns()).where(FeeCall.fund_id == fund_id, FeeCall.id == fee_call_id)
        )
    ).one_or_none()
    if row is None:
        raise errors.NotFound("no such fee call in this fund")
    return Called(row=row, lines=(await _lines(session, fund_id, [row])).get(row.id, {}))


async def standing(
    session: AsyncSession, *, fund_id: uuid.UUID, first: dt.date, last: dt.date
) -> list[Called]:
    """The fee calls that count whose period overlaps `first` .. `last`, oldest first."""
    live = sa.select(offsets.live_fee_calls().subquery().c.id)
    rows = (
        await session.execute(
            sa.select(*_columns())
            .where(
                FeeCall.fund_id == fund_id,
                FeeCall.period_start <= last,
                FeeCall.period_end >= first,
                FeeCall.id.in_(live),
            )
            .order_by(FeeCall.period_start)
        )
    ).all()
    lines = await _lines(session, fund_id, rows)
    return [Called(row=row, lines=lines.get(row.id, {})) for row in rows]


async def _lines(
    session: AsyncSession, fund_id: uuid.UUID, rows: Sequence[FeeCallRow]
) -> dict[uuid.UUID, dict[uuid.UUID, Decimal]]:
    """Each fee call's investors' management-fee lines as issued (by fee call id)."""
    by_call = {row.call_id: row.id for row in rows if row.call_id is not None}
    if not by_call:
        return {}
    result = await session.execute(
        sa.select(CallLine.call_id, CallLine.investor_id, CallLine.amount)
        .where(
            CallLine.fund_id == fund_id,
            CallLine.call_id.in_(list(by_call)),
            CallLine.purpose == Purpose.management_fee,
        )
        .order_by(CallLine.investor_id)
    )
    lines: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
    for call_id, investor, amount in result.all():
        lines.setdefault(by_call[call_id], {})[investor] = amount
    return lines


def differs(called: Called, fee: fee_service.FeeCalculation) -> bool | None:
    """Whether the fee recomputed for exactly the fee call's period differs from what was
    called (its figures, or an investor's net); None for another period (not comparable)."""
    row = called.row
    if (row.period_start, row.period_end) != (fee.period_from, fee.period_to):
        return None
    figures = (fee.amount, fee.reduction.waived, fee.reduction.offset, fee.reduction.carried_out)
    nets = {i: net for i in fee.lines if (net := fee.net_line(i))}
    return figures != (row.amount, row.waived, row.offset, row.carried_forward) or (
        nets != called.lines
    )
