"""Carry that is settled: escrow, the interim clawback measure, the clawback and its settling.

- **Escrow.** Each distribution's carry (the GP part, *carry earned*) is booked as carry paid
  (`carried_interest`) and escrow (`carry_escrow`, the fund's `carry_holdback` of it): both
  come out of the investor's capital account (`prorata.distributions`).
- **Interim clawback measure** (after every distribution, on any date): per investor, carry
  earned − the carry the GP would be entitled to if the fund ended that day with no further
  proceeds (`distributions.service.carry_entitled`), if positive, less what a booked clawback
  already gave back. The entitlement is on the fund's style, capped at carry × the investor's
  net profit (all proceeds − all contributed capital):
  - European: one whole-fund waterfall of the investor's flows to date.
  - American (deal by deal): Σ over the deals with proceeds of the deal's own waterfall over
    the capital contributed to it, its proceeds first netted of the investor's realised losses
    and write-downs of the fund's deals to date (net per deal, `gain_loss` entries), no pref on
    them. Each loss is netted once: the deals take them in the order of their first
    distribution, each up to its profit (proceeds − its capital). Example (no catch-up, pref
    8 %, carry 20 %): an investor puts 600 in deal A and 600 in deal B on 2026-03-16; deal A
    pays it 1,800 on 2027-03-16 (its waterfall: 600 back, 48 pref, 20 % of 1,152 = 230.40 of
    carry); deal B is written off (loss 600). Entitled: deal A's 1,800 less the 600 loss =
    1,200: 600 back, 48 pref, 20 % of 552 = 110.40 (the cap, 20 % of 1,800 − 1,200, is 120);
    the measure is 230.40 − 110.40 = 120.00. (The whole fund would entitle 20 % of
    1,800 − 1,200 − 96 pref = 100.80.)
- **Escrow released before wind-down** (`release_escrow`): per investor at most its escrow
  held − its interim measure on the day (`carry_escrow` −z, `carried_interest` +z: paid to the
  GP), split pro rata to what each may release.
- **Clawback at wind-down** (`book`, once per fund): per investor, the measure is given back
  from the escrow held from that investor's carry first (released to the investor: a
  `carry_escrow` −x and a `distribution` +x, cash); the rest is owed by the GP net of the
  fund's `clawback_tax_rate` (a `clawback` entry −y: a receivable of the capital account);
  escrow left over is paid to the GP (`carry_escrow` −z, `carried_interest` +z).
- **The GP's repayments** (`repay`): cash the GP pays on the receivable goes on to the
  investors pro rata to what each is still owed (`clawback` +y: the receivable settled,
  `carried_interest` −y: the carry given back for good, `distribution` +y: cash), so the
  capital account falls by y and its carried interest stays net of the clawback.
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
    RELEASE_SOURCE,
    REPAYMENT_SOURCE,
    Clawback,
)
from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.http import validation
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
    receivable: Decimal = ZERO  # owed by the GP (net of tax), not yet repaid
    repaid: Decimal = ZERO  # by the GP, of the receivable
    released: Decimal = ZERO  # escrow paid to the GP before wind-down

    @property
    def measure(self) -> Decimal:
        return max(ZERO, self.earned - self.entitled - self.given_back)

    @property
    def releasable(self) -> Decimal:
        return max(ZERO, self.escrow - self.measure)

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
    settled = (
        sa.select(
            LedgerEntry.investor_id,
            LedgerEntry.kind,
            LedgerEntry.source_type,
            sa.func.sum(LedgerEntry.amount),
        )
        .where(
            LedgerEntry.fund_id == fund.id,
            LedgerEntry.kind.in_([EntryKind.carry_escrow, EntryKind.clawback]),
            LedgerEntry.effective_on <= as_of,
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.kind, LedgerEntry.source_type)
    )
    for investor, kind, source, amount in (await session.execute(settled)).all():
        held = lines[investor]
        if kind == EntryKind.carry_escrow:
            held.escrow += amount
            held.released -= amount if source == RELEASE_SOURCE else ZERO
        else:
            held.receivable -= amount
            held.repaid += amount if source == REPAYMENT_SOURCE else ZERO
    if measure:
        entitled = await distribution_service.carry_entitled(session, fund=fund, as_of=as_of)
        for investor, amount in entitled.items():
            lines[investor].entitled = amount
    if booked is not None and booked.as_of <= as_of:
        for line in booked.lines:
            back = Decimal(line["from_escrow"]) + Decimal(line["gp_owes"])
            lines[uuid.UUID(line["investor_id"])].given_back = back
    return {
        investor: line
        for investor, line in lines.items()
        if line.earned or line.escrow or line.receivable
    }


async def position(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date, measure: bool = True
) -> CarryOut:
    """The fund's carry on `as_of`: earned, paid, in escrow, the interim clawback measure.

    Without `measure` (the console's fund page: the measure runs every investor's waterfall),
    the clawback shown is the one stored with the latest distribution on or before `as_of`
    (its `interim_clawback`), less what a booked clawback gave back, no lines are given
    (their `entitled` would need the waterfalls) and the escrow releasable is not computed
    (0)."""
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
        escrow_released=total(sum((x.released for x in lines.values()), ZERO)),
        escrow_releasable=total(
            sum((x.releasable for x in lines.values()), ZERO) if measure else ZERO
        ),
        clawback_repaid=total(sum((x.repaid for x in lines.values()), ZERO)),
        clawback_receivable=total(sum((x.receivable for x in lines.values()), ZERO)),
        lines=[
            CarryLineOut(
                investor_id=investor,
                carry_earned=total(line.earned),
                carry_paid=total(line.paid),
                escrow_held=total(line.escrow),
                entitled=total(line.entitled),
                clawback=total(line.measure),
                releasable=total(line.releasable),
                receivable=total(line.receivable),
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
    released = await _latest_release(session, fund_id)
    if released is not None and as_of < released:
        raise errors.RuleViolation(
            f"the clawback is booked at wind-down, on or after the fund's last escrow release "
            f"({released}), not {as_of}"
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


async def _latest_release(session: AsyncSession, fund_id: uuid.UUID) -> dt.date | None:
    return await session.scalar(
        sa.select(sa.func.max(LedgerEntry.effective_on)).where(
            LedgerEntry.fund_id == fund_id, LedgerEntry.source_type == RELEASE_SOURCE
        )
    )


def _entries(
    actor: Principal,
    fund: Fund,
    day: dt.date,
    source: tuple[str, uuid.UUID],
    parts: list[tuple[uuid.UUID, EntryKind, Decimal]],
) -> list[ledger.NewEntry]:
    return [
        {
            "org_id": actor.org_id,
            "fund_id": fund.id,
            "investor_id": investor,
            "kind": kind,
            "amount": amount,
            "effective_on": day,
            "source_type": source[0],
            "source_id": source[1],
        }
        for investor, kind, amount in parts
        if amount
    ]


async def _settle(
    session: AsyncSession,
    actor: Principal,
    fund: Fund,
    day: dt.date,
    *,
    amount: Decimal,
    weights: dict[uuid.UUID, Decimal],
    source: tuple[str, uuid.UUID],
    legs: tuple[tuple[EntryKind, int], ...],
    audited: tuple[str, str, uuid.UUID, dict[str, str]],
) -> None:
    """Book `amount` split over the investors in proportion to `weights` (each investor's part
    as the entries `legs` name, kind and sign, under one `source`), and audit it as (action,
    entity, entity id, details)."""
    parts = money.split(amount, {i: w for i, w in weights.items() if w > 0}, fund.currency)
    await ledger.append(
        session,
        _entries(
            actor,
            fund,
            day,
            source,
            [
                (investor, kind, sign * part)
                for investor, part in sorted(parts.items())
                for kind, sign in legs
            ],
        ),
    )
    await fund_repository.bump_capital_version(session, fund_id=fund.id)
    action, entity, entity_id, details = audited
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        after={
            **details,
            "date": day.isoformat(),
            "amount": str(amount),
            "lines": {str(i): str(p) for i, p in sorted(parts.items()) if p},
        },
    )


async def release_escrow(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    day: dt.date,
    amount: Decimal | None,
) -> CarryOut:
    """Pay escrow to the GP before wind-down: per investor at most its escrow held − its
    interim clawback measure on `day`; `amount` (default: all that may be) split pro rata to
    what each investor may release. Dated on or after the fund's latest distribution and
    latest release (each release is measured on what came before it)."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    wanted = None if amount is None else validation.amount(amount, fund.currency, field="amount")
    booked = await _booked(session, fund_id)
    if booked is not None:
        raise errors.Conflict(
            f"this fund's clawback was booked as of {booked.as_of}: its escrow is settled"
        )
    for what, latest in (
        ("distribution", await distribution_service.latest_date(session, fund_id=fund_id)),
        ("escrow release", await _latest_release(session, fund_id)),
    ):
        if latest is not None and day < latest:
            raise errors.RuleViolation(
                f"escrow is released on or after the fund's latest {what} ({latest}), not {day}"
            )
    lines = await _lines(session, fund, day, None)
    releasable = {investor: line.releasable for investor, line in lines.items()}
    available = sum(releasable.values(), ZERO)
    release = available if wanted is None else wanted
    if release > available or release == 0:
        raise errors.Conflict(
            f"escrow releasable on {day} is {available.quantize(money.quantum(fund.currency))} "
            f"(escrow held {sum((x.escrow for x in lines.values()), ZERO)} − the interim "
            f"clawback measure, per investor): {release} cannot be released"
        )
    release_id = uuid.uuid4()
    await _settle(
        session,
        actor,
        fund,
        day,
        amount=release,
        weights=releasable,
        source=(RELEASE_SOURCE, release_id),
        legs=((EntryKind.carry_escrow, -1), (EntryKind.carried_interest, 1)),
        audited=(
            "escrow.release",
            "fund",
            fund.id,
            {"release_id": str(release_id), "releasable": str(available)},
        ),
    )
    return await position(session, fund_id=fund_id, as_of=day)


async def repay(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, day: dt.date, amount: Decimal
) -> CarryOut:
    """The GP repays `amount` of the clawback receivable on `day` (on or after the booked
    clawback): at most what is still owed; paid on to the investors pro rata to what each is
    still owed (see the module's rule for the entries)."""
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    repaid = validation.amount(amount, fund.currency, field="amount")
    booked = await _booked(session, fund_id)
    if booked is None:
        raise errors.Conflict(
            "this fund's clawback is not booked: there is no receivable from the GP to repay"
        )
    if day < booked.as_of:
        raise errors.RuleViolation(
            f"a repayment is on or after the clawback's booking ({booked.as_of}), not {day}"
        )
    # Every repayment, whatever its date: what is owed after all of them bounds this one.
    owed = {
        i: line.receivable
        for i, line in (await _lines(session, fund, dt.date.max, booked, measure=False)).items()
    }
    outstanding = sum(owed.values(), ZERO)
    if repaid > outstanding:
        raise errors.Conflict(
            f"the GP owes {outstanding.quantize(money.quantum(fund.currency))} of the clawback "
            f"receivable ({booked.receivable} booked): {repaid} cannot be repaid"
        )
    repayment_id = uuid.uuid4()
    await _settle(
        session,
        actor,
        fund,
        day,
        amount=repaid,
        weights=owed,
        source=(REPAYMENT_SOURCE, repayment_id),
        legs=(
            (EntryKind.clawback, 1),
            (EntryKind.carried_interest, -1),
            (EntryKind.distribution, 1),
        ),
        audited=(
            "clawback.repay",
            "clawback",
            booked.id,
            {"repayment_id": str(repayment_id), "outstanding": str(outstanding - repaid)},
        ),
    )
    return await position(session, fund_id=fund_id, as_of=day)
