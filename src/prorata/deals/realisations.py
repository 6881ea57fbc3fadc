"""Realisations: a deal's full or partial exit, or a write-down, and the gain it realises.

A deal's **invested cost** is the contributed capital booked for it: the cash received for
its investment call items (`payment` ledger entries with its `deal_id`, purpose investment,
reversals netted), or its set `invested_amount` when no capital was booked for it.

A realisation `{date, proceeds, cost_realised}` realises `cost_realised` of the cost not yet
realised (more is refused, naming the figures) and books the realised gain or loss,
proceeds − cost_realised, to the ledger on `date` (`gain_loss` entries, source_type
"realisation"), split with `money.split` by each investor's contributed capital to that deal
on that date (when none was booked by then: by contributed capital to the fund on that date,
else by commitments). Proceeds 0 is a write-down or write-off: the whole cost realised is a
loss. The capital accounts show it on its date, between valuations too; the next valuation
allocates only what is left unrealised (its NAV − the accounts' sum, realised gains already in).

A realisation's **proceeds feed distributions**: a distribution naming it (`realisation_id`)
takes its amount from the proceeds not yet distributed (`take_proceeds`, more is a conflict);
cancelling the distribution gives it back (`give_back_proceeds`).

A deal is **realised in full** when its standing realisations' cost_realised add up to its
cost: its `realised_on` is then the latest of their dates and its status `exited` (or
`written_off` when they brought no proceeds at all); metrics on an earlier date see it held.

**Cancelling** a realisation (`cancel`) reverses its ledger entries on their own dates, as a
distribution's are: the exit never happened as of any date. It is refused while a standing
distribution takes from its proceeds (cancel that first). A deal it had realised in full is
held again (`realised_on` cleared, status `closed`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.deals import service as deal_service
from prorata.deals.models import Deal, DealStatus, Realisation
from prorata.deals.schemas import RealisationCreate, RealisationOut, RealisationsOut
from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.http import validation
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import audit, errors

ZERO: Final = Decimal(0)
SOURCE: Final = "realisation"
# `capital_calls.models.Purpose.investment` (deals may not import capital calls: they use it).
_INVESTMENT: Final = "investment"


async def cost(session: AsyncSession, deal: Deal, *, as_of: dt.date | None = None) -> Decimal:
    """The deal's invested cost (to `as_of`, if given): its booked contributed capital, else
    `invested_amount` (undated: set by hand, it counts on every date)."""
    statement = sa.select(sa.func.sum(LedgerEntry.amount)).where(
        LedgerEntry.fund_id == deal.fund_id,
        LedgerEntry.deal_id == deal.id,
        LedgerEntry.kind == EntryKind.payment,
        LedgerEntry.purpose == _INVESTMENT,
    )
    if as_of is not None:
        statement = statement.where(LedgerEntry.effective_on <= as_of)
    booked = await session.scalar(statement)
    if booked:
        return Decimal(booked)
    return deal.invested_amount or ZERO


@dataclasses.dataclass(frozen=True)
class Position:
    """A deal's cost and what of it was realised, for a list of deals (the console's rows)."""

    cost: Decimal
    realised_cost: Decimal
    proceeds: Decimal
    realised_gain: Decimal
    distributed: Decimal = ZERO

    @property
    def remaining_cost(self) -> Decimal:
        return self.cost - self.realised_cost

    @property
    def undistributed(self) -> Decimal:
        """Proceeds no distribution naming a realisation has taken yet."""
        return self.proceeds - self.distributed


async def positions(
    session: AsyncSession, *, fund_id: uuid.UUID, deals: Iterable[Deal | sa.Row[Any]]
) -> dict[uuid.UUID, Position]:
    """Every deal's `Position`, in two statements whatever the number of deals."""
    booked = dict(
        (
            await session.execute(
                sa.select(LedgerEntry.deal_id, sa.func.sum(LedgerEntry.amount))
                .where(
                    LedgerEntry.fund_id == fund_id,
                    LedgerEntry.deal_id.is_not(None),
                    LedgerEntry.kind == EntryKind.payment,
                    LedgerEntry.purpose == _INVESTMENT,
                )
                .group_by(LedgerEntry.deal_id)
            )
        ).all()
    )
    realised = {
        deal: (cost, proceeds, gain, distributed)
        for deal, cost, proceeds, gain, distributed in (
            await session.execute(
                sa.select(
                    Realisation.deal_id,
                    sa.func.sum(Realisation.cost_realised),
                    sa.func.sum(Realisation.proceeds),
                    sa.func.sum(Realisation.gain),
                    sa.func.sum(Realisation.distributed),
                )
                .where(Realisation.fund_id == fund_id, Realisation.cancelled_at.is_(None))
                .group_by(Realisation.deal_id)
            )
        ).all()
    }
    found = {}
    for deal in deals:
        cost, proceeds, gain, distributed = realised.get(deal.id, (ZERO, ZERO, ZERO, ZERO))
        found[deal.id] = Position(
            cost=Decimal(booked[deal.id]) if booked.get(deal.id) else deal.invested_amount or ZERO,
            realised_cost=Decimal(cost),
            proceeds=Decimal(proceeds),
            realised_gain=Decimal(gain),
            distributed=Decimal(distributed),
        )
    return found


async def _of(session: AsyncSession, deal: Deal, *, cancelled: bool = False) -> list[Realisation]:
    """The deal's standing realisations in date order (with the cancelled ones too)."""
    statement = (
        sa.select(Realisation)
        .where(Realisation.fund_id == deal.fund_id, Realisation.deal_id == deal.id)
        .order_by(Realisation.realised_on, Realisation.created_at, Realisation.id)
    )
    if not cancelled:
        statement = statement.where(Realisation.cancelled_at.is_(None))
    return list((await session.scalars(statement)).all())


async def standing(session: AsyncSession, *, fund_id: uuid.UUID) -> list[Realisation]:
    """The fund's standing (not cancelled) realisations, every deal's, in date order (the
    console's list with its cancel buttons and the distribution form's choice of proceeds)."""
    return list(
        (
            await session.scalars(
                sa.select(Realisation)
                .where(Realisation.fund_id == fund_id, Realisation.cancelled_at.is_(None))
                .order_by(Realisation.realised_on, Realisation.created_at, Realisation.id)
            )
        ).all()
    )


async def get(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    realisation_id: uuid.UUID,
    deal_id: uuid.UUID | None = None,
    for_update: bool = False,
) -> Realisation:
    """One realisation of the fund (of `deal_id` when given); 404 otherwise."""
    statement = sa.select(Realisation).where(
        Realisation.fund_id == fund_id, Realisation.id == realisation_id
    )
    if deal_id is not None:
        statement = statement.where(Realisation.deal_id == deal_id)
    if for_update:
        statement = statement.with_for_update()
    found = (await session.scalars(statement)).one_or_none()
    if found is None:
        raise errors.NotFound("no such realisation in this fund")
    return found


async def _settle_status(session: AsyncSession, deal: Deal) -> None:
    """Date the deal's full realisation (module docstring), or undo it when no longer full."""
    standing = await _of(session, deal)
    invested = await cost(session, deal)
    realised = sum((r.cost_realised for r in standing), ZERO)
    if standing and invested > 0 and realised >= invested:
        deal.realised_on = max(r.realised_on for r in standing)
        proceeds = sum((r.proceeds for r in standing), ZERO)
        deal.status = DealStatus.exited if proceeds > 0 else DealStatus.written_off
    elif deal.realised_on is not None:
        deal.realised_on = None
        deal.status = DealStatus.closed
    await session.flush()


async def _weights(session: AsyncSession, deal: Deal, day: dt.date) -> dict[uuid.UUID, Decimal]:
    """Contributed capital to the deal by `day`; else to the fund; else the commitments."""
    for condition in (
        sa.and_(LedgerEntry.deal_id == deal.id, LedgerEntry.purpose == _INVESTMENT),
        sa.true(),
    ):
        rows = await session.execute(
            sa.select(LedgerEntry.investor_id, sa.func.sum(LedgerEntry.amount))
            .where(
                LedgerEntry.fund_id == deal.fund_id,
                LedgerEntry.kind == EntryKind.payment,
                condition,
                LedgerEntry.effective_on <= day,
            )
            .group_by(LedgerEntry.investor_id)
            .order_by(LedgerEntry.investor_id)
        )
        weights = {investor: Decimal(w) for investor, w in rows.all() if w and w > 0}
        if weights:
            return weights
    commitments = await fund_repository.commitments(session, fund_id=deal.fund_id, as_of=day)
    return {i: a for i, a in sorted(commitments.items()) if a > 0}


async def _check_cost_realised(
    session: AsyncSession, deal: Deal, day: dt.date, realised: Decimal, currency: str
) -> None:
    """A realisation on `day` realises at most the cost not yet realised on that day — cost
    contributed by then: capital called later was not invested yet — and must leave every
    later realisation's cost covered on its own date too."""
    standing = await _of(session, deal)
    dates = sorted({day} | {r.realised_on for r in standing if r.realised_on > day})
    for on in dates:
        invested = await cost(session, deal, as_of=on)
        already = sum((r.cost_realised for r in standing if r.realised_on <= on), ZERO)
        remaining = invested - already
        if realised > remaining:
            q = money.quantum(currency)
            raise errors.RuleViolation(
                f"cost_realised {realised} is more than the deal's cost not yet realised on "
                f"{on}: {remaining.quantize(q)} (cost {invested.quantize(q)} contributed by "
                f"then, already realised {already.quantize(q)})"
            )


async def realise(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    data: RealisationCreate,
) -> Realisation:
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    deal = await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    proceeds = validation.amount(data.proceeds, fund.currency, field="proceeds", allow_zero=True)
    realised = validation.amount(
        data.cost_realised, fund.currency, field="cost_realised", allow_zero=True
    )
    await _check_cost_realised(session, deal, data.date, realised, fund.currency)
    invested = await cost(session, deal)  # to date, for the audit record
    remaining = invested - sum((r.cost_realised for r in await _of(session, deal)), ZERO)
    gain = proceeds - realised
    weights = await _weights(session, deal, data.date)
    if gain and not weights:
        raise errors.RuleViolation("the fund has no investor to book the realised gain to")
    realisation = Realisation(
        org_id=actor.org_id,
        fund_id=fund_id,
        deal_id=deal_id,
        realised_on=data.date,
        proceeds=proceeds,
        cost_realised=realised,
        gain=gain,
        created_by=actor.user_id,
    )
    session.add(realisation)
    await session.flush()
    parts = money.split(gain, weights, fund.currency) if gain else {}
    await ledger.append(
        session,
        [
            {
                "org_id": actor.org_id,
                "fund_id": fund_id,
                "investor_id": investor,
                "kind": EntryKind.gain_loss,
                "amount": part,
                "effective_on": data.date,
                "source_type": SOURCE,
                "source_id": realisation.id,
                "deal_id": deal_id,
            }
            for investor, part in parts.items()
            if part
        ],
    )
    await _settle_status(session, deal)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="deal.realise",
        entity="deal",
        entity_id=deal_id,
        after={
            "realisation_id": str(realisation.id),
            "date": data.date.isoformat(),
            "proceeds": str(proceeds),
            "cost_realised": str(realised),
            "gain": str(gain),
            "cost": str(invested),
            "remaining_cost": str(remaining - realised),
            "allocation": {str(i): str(p) for i, p in sorted(parts.items()) if p},
            "deal_status": str(deal.status),
            "deal_realised_on": deal.realised_on.isoformat() if deal.realised_on else None,
        },
    )
    return realisation


async def cancel(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    realisation_id: uuid.UUID,
) -> Realisation:
    """Undo a realisation (a wrong price, date or cost): its `gain_loss` entries are reversed
    on their own dates; the row stays, marked cancelled (module docstring)."""
    await fund_service.get(session, fund_id=fund_id, for_update=True)
    deal = await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    realisation = await get(
        session, fund_id=fund_id, deal_id=deal_id, realisation_id=realisation_id, for_update=True
    )
    if realisation.cancelled_at is not None:
        raise errors.Conflict("this realisation is already cancelled")
    if realisation.distributed > 0:
        raise errors.Conflict(
            f"{realisation.distributed} of this realisation's proceeds were distributed by "
            "standing distributions: cancel them first"
        )
    entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=realisation.id)
    await ledger.append(session, ledger.reversals(entries))
    realisation.cancelled_at = sa.func.now()
    await session.flush()
    await session.refresh(realisation)
    await _settle_status(session, deal)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="deal.realisation_cancel",
        entity="deal",
        entity_id=deal_id,
        before={
            "realisation_id": str(realisation.id),
            "date": realisation.realised_on.isoformat(),
            "proceeds": str(realisation.proceeds),
            "cost_realised": str(realisation.cost_realised),
            "gain": str(realisation.gain),
        },
        after={
            "deal_status": str(deal.status),
            "deal_realised_on": deal.realised_on.isoformat() if deal.realised_on else None,
        },
    )
    return realisation


async def take_proceeds(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    realisation_id: uuid.UUID,
    deal_id: uuid.UUID | None,
    day: dt.date,
    amount: Decimal,
) -> Realisation:
    """A distribution of `amount` on `day` (of `deal_id`, if it names one) takes it from the
    realisation's proceeds not yet distributed; the caller holds the fund's row lock."""
    realisation = await get(
        session, fund_id=fund_id, realisation_id=realisation_id, for_update=True
    )
    if realisation.cancelled_at is not None:
        raise errors.Conflict("this realisation is cancelled: it has no proceeds to distribute")
    if deal_id is not None and deal_id != realisation.deal_id:
        raise errors.RuleViolation(
            f"the realisation {realisation.id} is of deal {realisation.deal_id}, not of the "
            f"distribution's deal {deal_id}"
        )
    if day < realisation.realised_on:
        raise errors.RuleViolation(
            f"the proceeds of the realisation of {realisation.realised_on} cannot be "
            f"distributed before it, on {day}"
        )
    if amount > realisation.undistributed:
        raise errors.Conflict(
            f"{amount} is more than the realisation's proceeds not yet distributed: "
            f"{realisation.undistributed} (proceeds {realisation.proceeds}, already "
            f"distributed {realisation.distributed})"
        )
    realisation.distributed += amount
    await session.flush()
    return realisation


async def give_back_proceeds(
    session: AsyncSession, *, fund_id: uuid.UUID, realisation_id: uuid.UUID, amount: Decimal
) -> None:
    """A cancelled distribution's amount is the realisation's to distribute again."""
    realisation = await get(
        session, fund_id=fund_id, realisation_id=realisation_id, for_update=True
    )
    realisation.distributed -= amount
    await session.flush()


async def view(session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID) -> RealisationsOut:
    fund = await fund_service.get(session, fund_id=fund_id)
    deal = await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    every = await _of(session, deal, cancelled=True)
    found = [r for r in every if r.cancelled_at is None]
    q = money.quantum(fund.currency)
    invested = (await cost(session, deal)).quantize(q)
    realised = sum((r.cost_realised for r in found), ZERO).quantize(q)
    proceeds = sum((r.proceeds for r in found), ZERO).quantize(q)
    distributed = sum((r.distributed for r in found), ZERO).quantize(q)
    return RealisationsOut(
        deal_id=deal_id,
        currency=fund.currency,
        cost=invested,
        realised_cost=realised,
        remaining_cost=invested - realised,
        proceeds=proceeds,
        realised_gain=sum((r.gain for r in found), ZERO).quantize(q),
        distributed=distributed,
        undistributed=proceeds - distributed,
        realised_on=deal.realised_on,
        items=[out(r, fund.currency) for r in every],
    )


async def one(session: AsyncSession, realisation: Realisation) -> RealisationOut:
    fund = await fund_service.get(session, fund_id=realisation.fund_id)
    return out(realisation, fund.currency)


def out(realisation: Realisation, currency: str) -> RealisationOut:
    q = money.quantum(currency)
    return RealisationOut(
        id=realisation.id,
        deal_id=realisation.deal_id,
        date=realisation.realised_on,
        proceeds=realisation.proceeds.quantize(q),
        cost_realised=realisation.cost_realised.quantize(q),
        gain=realisation.gain.quantize(q),
        distributed=realisation.distributed.quantize(q),
        undistributed=realisation.undistributed.quantize(q),
        created_at=realisation.created_at,
        cancelled_at=realisation.cancelled_at,
    )


async def losses(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date
) -> dict[uuid.UUID, Decimal]:
    """Per investor, the realised losses of the fund's deals to `as_of`: Σ over deals of the
    investor's net realised loss on the deal (its `gain_loss` entries, write-downs included),
    a deal with a net realised gain counting 0 (the carry's American clawback measure)."""
    net = (
        sa.select(
            LedgerEntry.investor_id,
            sa.func.sum(LedgerEntry.amount).label("net"),
        )
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.kind == EntryKind.gain_loss,
            LedgerEntry.deal_id.is_not(None),
            LedgerEntry.effective_on <= as_of,
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.deal_id)
        .subquery()
    )
    rows = await session.execute(
        sa.select(net.c.investor_id, -sa.func.sum(net.c.net))
        .where(net.c.net < 0)
        .group_by(net.c.investor_id)
    )
    return {investor: Decimal(amount) for investor, amount in rows.all()}
