"""Carry that is settled: escrow, the interim clawback measure, the clawback at wind-down.

- **Escrow.** Each distribution's carry (the GP part, *carry earned*) is booked as carry paid
  (`carried_interest`) and escrow (`carry_escrow`, the fund's `carry_holdback` of it): both
  come out of the investor's capital account (`prorata.distributions`).
- **Interim clawback measure** (after every distribution, on any date): per investor, carry
  earned − the carry the GP would be entitled to if the fund ended that day with no further
  proceeds (`distributions.service.carry_entitled`: one whole-fund waterfall of all the
  investor's flows to date, capped at carry × net profit), if positive, less what a booked
  clawback already gave back. For an American fund this nets a deal's capital not returned
  (a loss, or a deal not yet sold) against the carry of every other deal: the whole-fund
  comparison the distribution's `clawback` already reports. Realised losses and write-downs
  per deal (issue 19 item 1) are not read separately.
- **Clawback at wind-down** (`book`, once per fund): per investor, the measure is given back
  from the escrow held from that investor's carry first (released to the investor: a
  `carry_escrow` −x and a `distribution` +x, cash); the rest is owed by the GP net of the
  fund's `clawback_tax_rate` (a `clawback` entry −y: a receivable of the capital account);
  escrow left over is paid to the GP (`carry_escrow` −z, `carried_interest` +z).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.carry.schemas import (
    BookedLineOut,
    CarryLineOut,
    CarryOut,
    ClawbackBookedOut,
)
from prorata.distributions import service as distribution_service
from prorata.distributions.models import (
    CLAWBACK_SOURCE,
    Clawback,
)
from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import audit, errors

SOURCE = CLAWBACK_SOURCE
ZERO = Decimal(0)


@dataclasses.dataclass
class _Line:
    earned: Decimal = ZERO
    escrow: Decimal = ZERO  # held on the date
    entitled: Decimal = ZERO
    given_back: Decimal = ZERO  # by a booked clawback: from escrow + owed by the GP (gross)

    @property
    def measure(self) -> Decimal:
        return max(ZERO, self.earned - self.entitled - self.given_back)

    @property
    def paid(self) -> Decimal:
        return self.earned - self.escrow - self.given_back


async def _booked(session: AsyncSession, fund_id: uuid.UUID) -> Clawback | None:
    found: Clawback | None = await session.scalar(
        sa.select(Clawback).where(Clawback.fund_id == fund_id)
    )
    return found


async def _lines(
    session: AsyncSession,
    fund: Fund,
    as_of: dt.date,
    booked: Clawback | None,
    *,
    measure: bool = True,
) -> dict[uuid.UUID, _Line]:
    lines: dict[uuid.UUID, _Line] = defaultdict(_Line)
    earned = await distribution_service.carry_earned(session, fund_id=fund.id, as_of=as_of)
    for investor, amount in earned.items():
        lines[investor].earned = amount
    escrow = (
        sa.select(LedgerEntry.investor_id, sa.func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.fund_id == fund.id,
            LedgerEntry.kind == EntryKind.carry_escrow,
            LedgerEntry.effective_on <= as_of,
        )
        .group_by(LedgerEntry.investor_id)
    )
    for investor, amount in (await session.execute(escrow)).all():
        lines[investor].escrow = amount
    if measure:
        entitled = await distribution_service.carry_entitled(session, fund=fund, as_of=as_of)
        for investor, amount in entitled.items():
            lines[investor].entitled = amount
    if booked is not None and booked.as_of <= as_of:
        for line in booked.lines:
            back = Decimal(line["from_escrow"]) + Decimal(line["gp_owes"])
            lines[uuid.UUID(line["investor_id"])].given_back = back
    return {investor: line for investor, line in lines.items() if line.earned or line.escrow}


async def position(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date, measure: bool = True
) -> CarryOut:
    """The fund's carry on `as_of`: earned, paid, in escrow, the interim clawback measure.

    Without `measure` (the console's fund page: the measure runs every investor's waterfall),
    the clawback shown is the one stored with the latest distribution on or before `as_of`
    (its `interim_clawback`), less what a booked clawback gave back, and no lines are given
    (their `entitled` would need the waterfalls)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    booked = await _booked(session, fund_id)
    lines = await _lines(session, fund, as_of, booked, measure=measure)
    if measure:
        clawback = sum((x.measure for x in lines.values()), ZERO)
    else:
        stored = await distribution_service.latest_interim_clawback(
            session, fund_id=fund_id, as_of=as_of
        )
        given = sum((x.given_back for x in lines.values()), ZERO)
        clawback = max(ZERO, stored - given)
    q = money.quantum(fund.currency)

    def total(value: Decimal) -> Decimal:
        return value.quantize(q)

    return CarryOut(
        fund_id=fund.id,
        as_of=as_of,
        currency=fund.currency,
        waterfall_style=fund.waterfall_style,
        carry_holdback=fund.carry_holdback,
        clawback_tax_rate=fund.clawback_tax_rate,
        carry_earned=total(sum((x.earned for x in lines.values()), ZERO)),
        carry_paid=total(sum((x.paid for x in lines.values()), ZERO)),
        carry_escrowed=total(sum((x.escrow for x in lines.values()), ZERO)),
        given_back=total(sum((x.given_back for x in lines.values()), ZERO)),
        clawback=total(clawback),
        lines=[
            CarryLineOut(
                investor_id=investor,
                carry_earned=total(line.earned),
                carry_paid=total(line.paid),
                escrow_held=total(line.escrow),
                entitled=total(line.entitled),
                clawback=total(line.measure),
            )
            for investor, line in sorted(lines.items())
            if measure
        ],
        booked=_booked_out(booked, fund.currency) if booked else None,
    )


def _booked_out(booked: Clawback, currency: str) -> ClawbackBookedOut:
    q = money.quantum(currency)
    return ClawbackBookedOut(
        id=booked.id,
        as_of=booked.as_of,
        owed=booked.owed.quantize(q),
        from_escrow=booked.from_escrow.quantize(q),
        escrow_to_gp=booked.escrow_to_gp.quantize(q),
        gp_owes=booked.gp_owes.quantize(q),
        tax_rate=booked.tax_rate,
        receivable=booked.receivable.quantize(q),
        created_at=booked.created_at,
        made_by=booked.made_by,
        lines=[BookedLineOut.model_validate(line) for line in booked.lines],
    )


@dataclasses.dataclass(frozen=True)
class _Giveback:
    investor_id: uuid.UUID
    owed: Decimal
    from_escrow: Decimal
    escrow_to_gp: Decimal
    gp_owes: Decimal
    receivable: Decimal

    def row(self) -> dict[str, str]:
        return {
            "investor_id": str(self.investor_id),
            **{
                name: str(getattr(self, name))
                for name in ("owed", "from_escrow", "escrow_to_gp", "gp_owes", "receivable")
            },
        }


def _giveback(investor: uuid.UUID, line: _Line, fund: Fund) -> _Giveback:
    """From this investor's escrow first; the rest owed by the GP net of the assumed tax
    (rounded to the minor unit, half to even); the escrow left over to the GP."""
    owed = line.measure
    from_escrow = min(line.escrow, owed)
    gp_owes = owed - from_escrow
    receivable = money.round_to_currency(gp_owes * (1 - fund.clawback_tax_rate), fund.currency)
    return _Giveback(
        investor_id=investor,
        owed=owed,
        from_escrow=from_escrow,
        escrow_to_gp=line.escrow - from_escrow,
        gp_owes=gp_owes,
        receivable=receivable,
    )


async def book(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, as_of: dt.date
) -> CarryOut:
    """Book the clawback at wind-down, once: see the module's rule."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    booked = await _booked(session, fund_id)
    if booked is not None:
        raise errors.Conflict(f"this fund's clawback is already booked, as of {booked.as_of}")
    latest = await distribution_service.latest_date(session, fund_id=fund_id)
    if latest is None:
        raise errors.RuleViolation(
            "this fund has made no distribution: there is no carry to settle (booking the "
            "clawback would end its distributions)"
        )
    if as_of < latest:
        raise errors.RuleViolation(
            f"the clawback is booked at wind-down, on or after the fund's last distribution "
            f"({latest}), not {as_of}"
        )
    lines = await _lines(session, fund, as_of, None)
    givebacks = [_giveback(investor, line, fund) for investor, line in sorted(lines.items())]
    clawback = Clawback(
        org_id=actor.org_id,
        fund_id=fund.id,
        as_of=as_of,
        owed=sum((g.owed for g in givebacks), ZERO),
        from_escrow=sum((g.from_escrow for g in givebacks), ZERO),
        escrow_to_gp=sum((g.escrow_to_gp for g in givebacks), ZERO),
        gp_owes=sum((g.gp_owes for g in givebacks), ZERO),
        tax_rate=fund.clawback_tax_rate,
        receivable=sum((g.receivable for g in givebacks), ZERO),
        lines=[g.row() for g in givebacks],
        made_by=actor.user_id,
    )
    session.add(clawback)
    await session.flush()
    entries: list[ledger.NewEntry] = []
    for g in givebacks:
        parts = (
            (EntryKind.carry_escrow, -g.from_escrow),
            (EntryKind.distribution, g.from_escrow),
            (EntryKind.carry_escrow, -g.escrow_to_gp),
            (EntryKind.carried_interest, g.escrow_to_gp),
            (EntryKind.clawback, -g.receivable),
        )
        entries += [
            {
                "org_id": actor.org_id,
                "fund_id": fund.id,
                "investor_id": g.investor_id,
                "kind": kind,
                "amount": amount,
                "effective_on": as_of,
                "source_type": SOURCE,
                "source_id": clawback.id,
            }
            for kind, amount in parts
            if amount
        ]
    await ledger.append(session, entries)
    await fund_repository.bump_capital_version(session, fund_id=fund.id)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="clawback.book",
        entity="clawback",
        entity_id=clawback.id,
        after={
            "as_of": as_of.isoformat(),
            "owed": str(clawback.owed),
            "from_escrow": str(clawback.from_escrow),
            "escrow_to_gp": str(clawback.escrow_to_gp),
            "gp_owes": str(clawback.gp_owes),
            "tax_rate": str(clawback.tax_rate),
            "receivable": str(clawback.receivable),
        },
    )
    await session.refresh(clawback)
    return await position(session, fund_id=fund_id, as_of=as_of)
