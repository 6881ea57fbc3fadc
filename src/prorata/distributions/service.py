"""Distributions: split pro-rata, run through the fund's waterfall with the ledger's history.

The rule, in order:

1. **Split.** The amount is split among investors with the one splitter (`money.split`), in
   proportion to the capital each has contributed up to the distribution date — for an American
   (deal-by-deal) fund, the capital each contributed to the distribution's deal.
2. **Waterfall.** Each investor's share runs through the fund's waterfall (`finance.waterfall`)
   on that investor's own history: its contributions (net of reversals) and every earlier
   distribution's share. The LP and GP parts of this distribution are the cumulative result with
   it minus the cumulative result without it, so history (pref accrued, catch-up already paid)
   counts, and LP + GP equals the share exactly. The terms are the investor's own: the GP's
   commitment (`general_partner`) gets return of capital and the preferred return like any
   other but pays no catch-up and no carry; a side-letter `carry_share` replaces the fund's.
   Both runs (with and without this distribution) use today's terms, so a side letter signed
   later applies from the next distribution on.
3. **Ledger.** Per investor, the LP part is a `distribution` entry (`recallable_distribution`
   for a recallable one: it returns to the unfunded commitment) and the GP part (carry earned)
   a `carried_interest` entry for the carry paid and a `carry_escrow` entry for the part held
   in escrow (the fund's `carry_holdback` × the GP part, rounded to the minor unit half to even;
   carry paid is the rest), all taken from that investor's capital account. The escrow is
   settled by the clawback at wind-down (`prorata.carry`).
4. **Set-off.** An investor with lines in default is not paid its LP part until they are: up
   to what it owes (unpaid amounts and default interest on the distribution date) is withheld
   (`set_off` on its line) and pays its lines in default as payments dated the distribution
   date, interest first (`capital_calls.service.set_off`). Its distribution entries stay as
   computed; the payments add their own entries.

Distributions are recorded in date order (a back-dated one would change the splits of those
already made), under the fund's row lock so two at once see each other's history. For the same
reason only the latest standing distribution can be cancelled (`cancel`): its ledger entries
are reversed on their own dates, and no later split or waterfall counts it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_calls import service as call_service
from prorata.capital_calls.models import Purpose
from prorata.deals import realisations
from prorata.deals import service as deal_service
from prorata.distributions import tasks as distribution_tasks
from prorata.distributions.models import (
    RELEASE_SOURCE,
    Clawback,
    Distribution,
    DistributionKind,
    DistributionLine,
)
from prorata.distributions.schemas import (
    DistributionCreate,
    DistributionLineOut,
    DistributionOut,
    DistributionSummary,
    TierOut,
    TiersOut,
)
from prorata.finance import money, waterfall
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund, WaterfallStyle
from prorata.http import validation
from prorata.http.pagination import Page, PageParams, columns_of, keyset
from prorata.http.tenancy import Principal
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.notices import release
from prorata.platform import audit, db, errors, events, hooks

SOURCE = "distribution"


@dataclasses.dataclass(frozen=True)
class Made:
    actor: Principal
    distribution: Distribution


# Fired in the creating transaction once the distribution is in the ledger: documents connects
# the rendering of its notices (mailed as rendered, or once released: `prorata.notices`).
distribution_made: hooks.Hook[Made] = hooks.Hook("distributions.distribution_made")
# (investor, deal or the fund, date, amount) rows of contributed capital.
_Contributions = sa.Select[uuid.UUID, Any, dt.date, Decimal]
TIER_NAMES = ("return_of_capital", "preferred_return", "catch_up", "carried_interest")
_NO_DEAL = "fund"  # the deal key of flows in a European waterfall (one stream for the fund)


@dataclasses.dataclass
class _History:
    """One investor's waterfall inputs: contributions and earlier distributions' shares."""

    contributions: list[waterfall.Flow] = dataclasses.field(default_factory=list)
    proceeds: list[waterfall.Flow] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Line:
    investor_id: uuid.UUID
    share: Decimal
    result: waterfall.WaterfallResult  # with this distribution
    before: waterfall.WaterfallResult | None  # without it (None: the first)

    @property
    def lp(self) -> Decimal:
        return self.result.lp_total - (self.before.lp_total if self.before else 0)

    @property
    def gp(self) -> Decimal:
        return self.result.gp_total - (self.before.gp_total if self.before else 0)

    def escrowed(self, holdback: Decimal, currency: str) -> Decimal:
        """The part of the carry held in escrow: holdback × carry, to the minor unit."""
        return money.round_to_currency(self.gp * holdback, currency)

    def tiers(self) -> dict[str, dict[str, str]]:
        def part(tiers: waterfall.Tiers | None, name: str) -> waterfall.Split:
            zero = waterfall.Split(lp=Decimal(0), gp=Decimal(0))
            return zero if tiers is None else getattr(tiers, name)

        before = self.before.tiers if self.before else None
        return {
            name: {
                "lp": str(part(self.result.tiers, name).lp - part(before, name).lp),
                "gp": str(part(self.result.tiers, name).gp - part(before, name).gp),
            }
            for name in TIER_NAMES
        }


def terms_of(fund: Fund) -> waterfall.Terms:
    return waterfall.Terms(
        style=fund.waterfall_style.value,
        pref_rate=fund.preferred_return_rate,
        catch_up=fund.catch_up_share,
        carry=fund.carry_share,
        day_count=fund.day_count.value,
    )


@dataclasses.dataclass(frozen=True)
class OwnTerms:
    """A commitment's own waterfall terms: the GP's commitment pays no carry (and so no
    catch-up) on its own capital; a side letter's carry share replaces the fund's."""

    general_partner: bool = False
    carry: Decimal | None = None


def investor_terms(fund: Fund, own: OwnTerms) -> waterfall.Terms:
    """The waterfall one investor's share goes through: the fund's return of capital and
    preferred return always; its own carry (none for the GP's commitment)."""
    terms = terms_of(fund)
    if own.general_partner:
        return dataclasses.replace(terms, carry=Decimal(0), catch_up=Decimal(0))
    if own.carry is None:
        return terms
    if terms.catch_up != 0 and own.carry >= terms.catch_up:
        raise errors.RuleViolation(
            f"a side-letter carry_share of {own.carry} is not below the fund's catch_up_share "
            f"({terms.catch_up}): the catch-up could never reach it"
        )
    return dataclasses.replace(terms, carry=own.carry)


async def own_terms(session: AsyncSession, fund_id: uuid.UUID) -> dict[uuid.UUID, OwnTerms]:
    """The commitments with terms of their own (few: the GP's, side letters)."""
    result = await session.execute(
        sa.select(Commitment.investor_id, Commitment.general_partner, Commitment.carry_share).where(
            Commitment.fund_id == fund_id,
            sa.or_(Commitment.general_partner, Commitment.carry_share.is_not(None)),
        )
    )
    return {investor: OwnTerms(gp, carry) for investor, gp, carry in result.all()}


async def create(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: DistributionCreate
) -> Distribution:
    fund = await fund_service.get(session, fund_id=fund_id, for_update=True)
    amount = validation.amount(data.amount, fund.currency, field="amount")
    american = fund.waterfall_style is WaterfallStyle.american
    if data.deal_id is not None:
        await deal_service.get(session, fund_id=fund_id, deal_id=data.deal_id)
    elif american:
        raise errors.RuleViolation("an American (deal-by-deal) waterfall needs the deal_id")
    await _check_in_order(session, fund_id, data.date)
    await check_not_wound_down(session, fund_id=fund_id)
    if data.realisation_id is not None:
        await realisations.take_proceeds(
            session,
            fund_id=fund_id,
            realisation_id=data.realisation_id,
            deal_id=data.deal_id,
            day=data.date,
            amount=amount,
        )
    histories = await _histories(session, fund, as_of=data.date, american=american)
    deal_key = str(data.deal_id) if american else _NO_DEAL
    shares = money.split(amount, _weights(histories, deal_key, data.date), fund.currency)
    own = await own_terms(session, fund_id)
    lines = [
        _run(
            investor_terms(fund, own.get(investor, OwnTerms())),
            fund.currency,
            investor,
            share,
            histories[investor],
            data.date,
            deal_key,
        )
        for investor, share in shares.items()
        if share
    ]
    owed = await call_service.owed_in_default(session, fund=fund, day=data.date)
    set_offs = {
        line.investor_id: min(line.lp, owed[line.investor_id])
        for line in lines
        if line.investor_id in owed and line.lp > 0
    }
    distribution = await _store(session, actor, fund, data, amount, lines, set_offs)
    await _append_to_ledger(session, distribution, lines, fund=fund)
    distribution.interim_clawback = await _interim_clawback(session, fund, data.date)
    await session.flush()
    if set_offs:
        await call_service.set_off(
            session,
            fund=fund,
            distribution_id=distribution.id,
            day=data.date,
            amounts=dict(set_offs),
        )
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await events.announce(
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Announcement.distribution_created,
        data={"distribution_id": str(distribution.id), "amount": str(amount)},
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="distribution.create",
        entity="distribution",
        entity_id=distribution.id,
        after={
            "date": data.date.isoformat(),
            "amount": str(amount),
            "kind": str(data.kind),
            "deal_id": str(data.deal_id) if data.deal_id else None,
            "realisation_id": str(data.realisation_id) if data.realisation_id else None,
            "lp_amount": str(distribution.lp_amount),
            "gp_amount": str(distribution.gp_amount),
            "carry_escrowed": str(distribution.carry_escrowed),
            "interim_clawback": str(distribution.interim_clawback),
            "number": distribution.number,
            "set_off": {str(i): str(x) for i, x in sorted(set_offs.items())},
        },
    )
    await distribution_made.fire(session, Made(actor=actor, distribution=distribution))
    return distribution


async def cancel(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> Distribution:
    """Undo the fund's latest standing distribution (a wrong amount, date or kind): its ledger
    entries are reversed, on their own dates; the row stays, marked cancelled."""
    await fund_service.get(session, fund_id=fund_id, for_update=True)
    distribution = await get(session, fund_id=fund_id, distribution_id=distribution_id)
    if distribution.cancelled_at is not None:
        raise errors.Conflict("this distribution is already cancelled")
    later = await session.scalar(
        sa.select(Distribution.distributed_on).where(
            _standing(fund_id),
            sa.tuple_(Distribution.distributed_on, Distribution.id)
            > sa.tuple_(sa.literal(distribution.distributed_on), sa.literal(distribution.id)),
        )
    )
    if later is not None:
        raise errors.Conflict(
            f"only the fund's latest distribution can be cancelled: the one of {later} "
            "counted this one in its split and waterfall; cancel it first"
        )
    await check_not_wound_down(session, fund_id=fund_id)
    await _check_no_release_since(session, fund_id, distribution.distributed_on)
    entries = await ledger.entries_of_source(session, fund_id=fund_id, source_id=distribution.id)
    await ledger.append(session, ledger.reversals(entries))
    await call_service.undo_set_off(
        session, actor=actor, fund_id=fund_id, distribution_id=distribution.id
    )
    if distribution.realisation_id is not None:
        await realisations.give_back_proceeds(
            session,
            fund_id=fund_id,
            realisation_id=distribution.realisation_id,
            amount=distribution.amount,
        )
    distribution.cancelled_at = sa.func.now()
    await session.flush()
    await session.refresh(distribution)
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await events.announce(
        session,
        org_id=actor.org_id,
        fund_id=fund_id,
        kind=events.Announcement.distribution_cancelled,
        data={"distribution_id": str(distribution.id), "amount": str(distribution.amount)},
    )
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="distribution.cancel",
        entity="distribution",
        entity_id=distribution.id,
        before={
            "date": distribution.distributed_on.isoformat(),
            "amount": str(distribution.amount),
        },
    )
    return distribution


def _refusal(distribution: Distribution) -> str | None:
    if distribution.cancelled_at is not None:
        return "a cancelled distribution's notices cannot be approved"
    return None


async def approve_notices(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, distribution_id: uuid.UUID
) -> Distribution:
    """Release the notices now (`prorata.notices.release.approve`)."""
    distribution = await get(
        session, fund_id=fund_id, distribution_id=distribution_id, for_update=True
    )
    await release.approve(
        session,
        actor=actor,
        subject=release.DISTRIBUTION,
        row=distribution,
        made_by=distribution.made_by,
        refusal=_refusal(distribution),
    )
    return distribution


async def schedule_notices(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    send_at: dt.datetime,
) -> Distribution:
    """Approve the notices to be mailed at `send_at` (`prorata.notices.release.schedule`)."""
    distribution = await get(
        session, fund_id=fund_id, distribution_id=distribution_id, for_update=True
    )
    await release.schedule(
        session,
        actor=actor,
        subject=release.DISTRIBUTION,
        row=distribution,
        made_by=distribution.made_by,
        refusal=_refusal(distribution),
        send_at=send_at,
        task=distribution_tasks.release_scheduled_notices,
    )
    return distribution


async def check_not_wound_down(session: AsyncSession, *, fund_id: uuid.UUID) -> None:
    """After the clawback is booked (wind-down) the carry is settled: no distribution is made
    or cancelled any more."""
    booked = await session.scalar(sa.select(Clawback.as_of).where(Clawback.fund_id == fund_id))
    if booked is not None:
        raise errors.Conflict(
            f"this fund's clawback was booked as of {booked} (wind-down): its carry is settled, "
            "so no distribution can be made or cancelled"
        )


async def _check_no_release_since(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> None:
    """Escrow released to the GP on or after a distribution was measured with its carry:
    cancelling it could leave less escrow than was released."""
    released = await session.scalar(
        sa.select(sa.func.max(LedgerEntry.effective_on)).where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.source_type == RELEASE_SOURCE,
            LedgerEntry.effective_on >= day,
        )
    )
    if released is not None:
        raise errors.Conflict(
            f"escrow was released to the GP on {released}, measured with this distribution's "
            "carry: it can no longer be cancelled"
        )


async def carry_earned(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date
) -> dict[uuid.UUID, Decimal]:
    """Per investor, the GP parts of its standing distributions to `as_of` (carry earned)."""
    statement = (
        sa.select(DistributionLine.investor_id, sa.func.sum(DistributionLine.gp_amount))
        .join(
            Distribution,
            (Distribution.fund_id == DistributionLine.fund_id)
            & (Distribution.id == DistributionLine.distribution_id),
        )
        .where(
            DistributionLine.fund_id == fund_id,
            Distribution.cancelled_at.is_(None),
            Distribution.distributed_on <= as_of,
        )
        .group_by(DistributionLine.investor_id)
    )
    return {investor: amount for investor, amount in (await session.execute(statement)).all()}


async def _interim_clawback(session: AsyncSession, fund: Fund, day: dt.date) -> Decimal:
    """The fund's clawback measure right after a distribution (no clawback is booked yet: it
    ends distributions): Σ per investor max(0, carry earned − carry entitled)."""
    earned = await carry_earned(session, fund_id=fund.id, as_of=day)
    if not any(earned.values()):
        return Decimal(0)  # no carry yet: nothing to give back (and no waterfall to run)
    entitled = await carry_entitled(session, fund=fund, as_of=day)
    return sum(
        (max(Decimal(0), x - entitled.get(investor, Decimal(0))) for investor, x in earned.items()),
        Decimal(0),
    )


async def latest_interim_clawback(
    session: AsyncSession, *, fund_id: uuid.UUID, as_of: dt.date
) -> Decimal:
    """The clawback measure stored with the fund's latest standing distribution to `as_of`."""
    found = await session.scalar(
        sa.select(Distribution.interim_clawback)
        .where(_standing(fund_id), Distribution.distributed_on <= as_of)
        .order_by(Distribution.distributed_on.desc(), Distribution.number.desc())
        .limit(1)
    )
    return found if found is not None else Decimal(0)


async def latest_date(session: AsyncSession, *, fund_id: uuid.UUID) -> dt.date | None:
    """The date of the fund's latest standing distribution."""
    return await session.scalar(
        sa.select(sa.func.max(Distribution.distributed_on)).where(_standing(fund_id))
    )


async def carry_entitled(
    session: AsyncSession, *, fund: Fund, as_of: dt.date
) -> dict[uuid.UUID, Decimal]:
    """Per investor, the carry the GP would be entitled to if the fund ended on `as_of` with
    no further proceeds, on the investor's own terms and on the fund's style:

    - European: one whole-fund waterfall of all its contributions and distributions to date.
    - American (deal by deal, `_deal_by_deal`): each deal with proceeds runs its own waterfall
      over the capital contributed to it, its proceeds first netted of the realised losses and
      write-downs of the fund's deals to date (`deals.realisations.losses`), each loss once:
      the deals in the order of their first distribution, each absorbing up to its profit.

    Never more than carry × the investor's net profit (all proceeds − all contributed capital,
    not below 0), so capital contributed and not returned counts as lost. Rounded down
    (rounding never favours the GP)."""
    histories = await _histories(session, fund, as_of=as_of, american=False)
    american = fund.waterfall_style is WaterfallStyle.american
    by_deal = await _histories(session, fund, as_of=as_of, american=True) if american else {}
    losses = await realisations.losses(session, fund_id=fund.id, as_of=as_of) if american else {}
    own = await own_terms(session, fund.id)
    exponent = money.minor_unit(fund.currency)
    entitled: dict[uuid.UUID, Decimal] = {}
    for investor, history in histories.items():
        proceeds = [p for p in history.proceeds if p.date <= as_of]
        if not proceeds:
            continue
        terms = dataclasses.replace(
            investor_terms(fund, own.get(investor, OwnTerms())), style="european"
        )
        if american:
            gp = _deal_by_deal(
                terms, by_deal[investor], losses.get(investor, Decimal(0)), as_of, exponent
            )
        else:
            gp = waterfall.run_waterfall(
                terms=terms,
                contributions=history.contributions,
                proceeds=proceeds,
                exponent=exponent,
            ).gp_total
        profit = sum((p.amount for p in proceeds), Decimal(0)) - sum(
            (c.amount for c in history.contributions), Decimal(0)
        )
        cap = (terms.carry * max(profit, Decimal(0))).quantize(
            money.quantum(fund.currency), rounding=decimal.ROUND_FLOOR
        )
        entitled[investor] = min(gp, cap)
    return entitled


def _deal_by_deal(
    terms: waterfall.Terms, history: _History, losses: Decimal, as_of: dt.date, exponent: int
) -> Decimal:
    """Σ over deals with proceeds of the GP part of the deal's own waterfall, its proceeds
    netted first of the `losses` left (the earliest proceeds first: a loss is returned to the
    LP before any carry, with no pref on it). The deals take the losses in the order of their
    first distribution (then deal id), each up to its profit (proceeds − capital contributed
    to it), so a loss is netted once and a deal without profit absorbs none."""
    proceeds: dict[str, list[waterfall.Flow]] = defaultdict(list)
    for flow in sorted(history.proceeds, key=lambda f: f.date):
        if flow.date <= as_of:
            proceeds[str(flow.deal_id)].append(flow)
    gp = Decimal(0)
    for deal, flows in sorted(proceeds.items(), key=lambda item: (item[1][0].date, item[0])):
        contributions = [c for c in history.contributions if c.deal_id == deal]
        profit = sum((f.amount for f in flows), Decimal(0)) - sum(
            (c.amount for c in contributions), Decimal(0)
        )
        netted = min(losses, max(profit, Decimal(0)))
        losses -= netted
        left = _net_off(flows, netted)
        if left:
            gp += waterfall.run_waterfall(
                terms=terms, contributions=contributions, proceeds=left, exponent=exponent
            ).gp_total
    return gp


def _net_off(flows: list[waterfall.Flow], amount: Decimal) -> list[waterfall.Flow]:
    """`flows` less `amount`, taken from the earliest first."""
    left: list[waterfall.Flow] = []
    for flow in flows:
        taken = min(flow.amount, amount)
        amount -= taken
        if flow.amount > taken:
            left.append(dataclasses.replace(flow, amount=flow.amount - taken))
    return left


def _standing(fund_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return (Distribution.fund_id == fund_id) & Distribution.cancelled_at.is_(None)


async def _check_in_order(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> None:
    latest = await session.scalar(
        sa.select(sa.func.max(Distribution.distributed_on)).where(_standing(fund_id))
    )
    if latest is not None and day < latest:
        raise errors.RuleViolation(
            f"distributions are recorded in date order: this fund has one on {latest}, after {day}"
        )


async def _histories(
    session: AsyncSession, fund: Fund, *, as_of: dt.date, american: bool
) -> dict[uuid.UUID, _History]:
    histories: dict[uuid.UUID, _History] = defaultdict(_History)
    contributions = _contributions(fund.id, as_of, by_deal=american)
    rows = sorted((await session.execute(contributions)).all(), key=lambda row: row[2])
    for investor, deal, day, amount in rows:
        flows = histories[investor].contributions
        if amount > 0:
            flows.append(waterfall.Flow(day, amount, str(deal)))
        elif amount < 0:  # a closing's rebalancing return of excess contribution
            _take_back(flows, str(deal), -amount)
    proceeds = (
        sa.select(
            DistributionLine.investor_id,
            sa.func.coalesce(sa.cast(Distribution.deal_id, sa.String), _NO_DEAL),
            Distribution.distributed_on,
            DistributionLine.amount,
        )
        .join(
            Distribution,
            sa.and_(
                Distribution.fund_id == DistributionLine.fund_id,
                Distribution.id == DistributionLine.distribution_id,
            ),
        )
        .where(DistributionLine.fund_id == fund.id, Distribution.cancelled_at.is_(None))
    )
    for investor, deal, day, amount in (await session.execute(proceeds)).all():
        key = deal if american else _NO_DEAL
        histories[investor].proceeds.append(waterfall.Flow(day, amount, key))
    return histories


def _take_back(flows: list[waterfall.Flow], deal: str, amount: Decimal) -> None:
    """Contributed capital given back (a closing's rebalancing return: excess contribution,
    for which the later closers paid the equalization interest) is taken off the investor's
    latest contributions to the deal first, as if it had never been contributed."""
    for index in reversed(range(len(flows))):
        if amount <= 0:
            break
        flow = flows[index]
        if flow.deal_id != deal:
            continue
        taken = min(flow.amount, amount)
        flows[index] = dataclasses.replace(flow, amount=flow.amount - taken)
        amount -= taken
    flows[:] = [flow for flow in flows if flow.amount > 0]


def _contributions(fund_id: uuid.UUID, as_of: dt.date, *, by_deal: bool) -> _Contributions:
    """Contributed capital (cash received for call lines, `payment` entries) per investor and
    payment — and per deal for an American fund, its investment lines only — net of
    reversals, dated when it counts as contributed (the call's due date, or the day received
    when late)."""
    deal = LedgerEntry.deal_id if by_deal else sa.literal(_NO_DEAL)
    statement = (
        sa.select(
            LedgerEntry.investor_id,
            deal,
            sa.func.min(LedgerEntry.effective_on).filter(LedgerEntry.reverses_id.is_(None)),
            sa.func.sum(LedgerEntry.amount),
        )
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.kind == EntryKind.payment,
            LedgerEntry.effective_on <= as_of,
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.source_id, deal)
    )
    if by_deal:
        statement = statement.where(
            LedgerEntry.purpose == Purpose.investment.value, LedgerEntry.deal_id.is_not(None)
        )
    return statement


def _weights(
    histories: dict[uuid.UUID, _History], deal_key: str, day: dt.date
) -> dict[uuid.UUID, Decimal]:
    weights = {
        investor: sum(
            (f.amount for f in history.contributions if f.deal_id == deal_key), Decimal(0)
        )
        for investor, history in histories.items()
    }
    weights = {investor: weight for investor, weight in weights.items() if weight > 0}
    if not weights:
        what = "this fund" if deal_key == _NO_DEAL else "this deal"
        raise errors.RuleViolation(
            f"nothing has been contributed to {what} by {day}: a distribution is split in "
            "proportion to contributed capital"
        )
    return weights


def _run(
    terms: waterfall.Terms,
    currency: str,
    investor: uuid.UUID,
    share: Decimal,
    history: _History,
    day: dt.date,
    deal_key: str,
) -> _Line:
    exponent = money.minor_unit(currency)

    def run(proceeds: Sequence[waterfall.Flow]) -> waterfall.WaterfallResult:
        return waterfall.run_waterfall(
            terms=terms,
            contributions=history.contributions,
            proceeds=proceeds,
            exponent=exponent,
        )

    this = waterfall.Flow(day, share, deal_key)
    before = run(history.proceeds) if history.proceeds else None
    return _Line(investor, share, run([*history.proceeds, this]), before)


async def _store(
    session: AsyncSession,
    actor: Principal,
    fund: Fund,
    data: DistributionCreate,
    amount: Decimal,
    lines: list[_Line],
    set_offs: dict[uuid.UUID, Decimal],
) -> Distribution:
    last = await session.scalar(  # numbered under the fund's row lock, which `create` holds
        sa.select(sa.func.max(Distribution.number)).where(Distribution.fund_id == fund.id)
    )
    distribution = Distribution(
        org_id=actor.org_id,
        fund_id=fund.id,
        number=(last or 0) + 1,
        deal_id=data.deal_id,
        realisation_id=data.realisation_id,
        kind=data.kind,
        distributed_on=data.date,
        amount=amount,
        lp_amount=sum((line.lp for line in lines), Decimal(0)),
        gp_amount=sum((line.gp for line in lines), Decimal(0)),
        clawback=sum((line.result.clawback for line in lines), Decimal(0)),
        carry_escrowed=sum(
            (line.escrowed(fund.carry_holdback, fund.currency) for line in lines), Decimal(0)
        ),
        made_by=actor.user_id,
        notices=release.held(fund.notices_need_approval),
    )
    session.add(distribution)
    await session.flush()
    await db.insert_many(
        session,
        DistributionLine,
        [
            {
                "fund_id": fund.id,
                "distribution_id": distribution.id,
                "investor_id": line.investor_id,
                "org_id": actor.org_id,
                "amount": line.share,
                "lp_amount": line.lp,
                "gp_amount": line.gp,
                "carry_escrowed": line.escrowed(fund.carry_holdback, fund.currency),
                "set_off": set_offs.get(line.investor_id, Decimal(0)),
                "tiers": json.dumps(line.tiers()),  # insert_many casts text[] to JSONB[]
            }
            for line in lines
        ],
    )
    return distribution


async def _append_to_ledger(
    session: AsyncSession, distribution: Distribution, lines: list[_Line], *, fund: Fund
) -> None:
    lp_kind = (
        EntryKind.recallable_distribution
        if distribution.kind is DistributionKind.recallable
        else EntryKind.distribution
    )
    entries: list[ledger.NewEntry] = []
    for line in lines:
        escrowed = line.escrowed(fund.carry_holdback, fund.currency)
        parts = (
            (lp_kind, line.lp),
            (EntryKind.carried_interest, line.gp - escrowed),
            (EntryKind.carry_escrow, escrowed),
        )
        for kind, amount in parts:
            if amount:
                entries.append(
                    {
                        "org_id": distribution.org_id,
                        "fund_id": distribution.fund_id,
                        "investor_id": line.investor_id,
                        "kind": kind,
                        "amount": amount,
                        "effective_on": distribution.distributed_on,
                        "source_type": SOURCE,
                        "source_id": distribution.id,
                    }
                )
    await ledger.append(session, entries)


async def get(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    distribution_id: uuid.UUID,
    for_update: bool = False,
) -> Distribution:
    statement = sa.select(Distribution).where(
        Distribution.fund_id == fund_id, Distribution.id == distribution_id
    )
    if for_update:
        statement = statement.with_for_update()
    found = await session.scalar(statement)
    if found is None:
        raise errors.NotFound("no such distribution in this fund")
    return found


async def lines_of(session: AsyncSession, distribution: Distribution) -> list[DistributionLine]:
    result = await session.scalars(
        sa.select(DistributionLine)
        .where(
            DistributionLine.fund_id == distribution.fund_id,
            DistributionLine.distribution_id == distribution.id,
        )
        .order_by(DistributionLine.investor_id)
    )
    return list(result.all())


_DISTRIBUTIONS = Distribution.__table__.c
_FUNDS = Fund.__table__.c
# A listed distribution: its columns and its fund's currency (`fund_currency`), which every
# amount of its summary is rounded to; joined, so the list needs no query for the fund.
_LISTED = columns_of(Distribution).add_columns(_FUNDS.currency.label("fund_currency"))
_LISTED = _LISTED.join_from(
    Distribution.__table__, Fund.__table__, _FUNDS.id == _DISTRIBUTIONS.fund_id
)


async def page(
    session: AsyncSession, *, fund_id: uuid.UUID, params: PageParams
) -> Page[sa.Row[Any]]:
    """A fund's distributions as rows of their columns and `fund_currency` (read like
    `Distribution` objects); 404 when there is no such fund."""
    return await keyset(
        session,
        _LISTED.where(_DISTRIBUTIONS.fund_id == fund_id),
        key=[_DISTRIBUTIONS.id],
        params=params,
        item=lambda d: d,
        parent=lambda: fund_service.currency_of(session, fund_id=fund_id),
    )


def summary_of(distribution: Distribution | sa.Row[Any], currency: str) -> DistributionSummary:
    q = money.quantum(currency)
    return DistributionSummary(
        id=distribution.id,
        fund_id=distribution.fund_id,
        number=distribution.number,
        deal_id=distribution.deal_id,
        realisation_id=distribution.realisation_id,
        kind=distribution.kind,
        date=distribution.distributed_on,
        amount=distribution.amount.quantize(q),
        currency=currency,
        lp_amount=distribution.lp_amount.quantize(q),
        gp_amount=distribution.gp_amount.quantize(q),
        carry_paid=(distribution.gp_amount - distribution.carry_escrowed).quantize(q),
        carry_escrowed=distribution.carry_escrowed.quantize(q),
        interim_clawback=distribution.interim_clawback.quantize(q),
        clawback=distribution.clawback.quantize(q),
        created_at=distribution.created_at,
        cancelled_at=distribution.cancelled_at,
        made_by=distribution.made_by,
        notices=distribution.notices,
        notices_approved_by=distribution.notices_approved_by,
        notices_approved_at=distribution.notices_approved_at,
        notices_send_at=distribution.notices_send_at,
        notices_sent_at=distribution.notices_sent_at,
    )


async def view(session: AsyncSession, distribution: Distribution) -> DistributionOut:
    fund = await fund_service.get(session, fund_id=distribution.fund_id)
    lines = [
        DistributionLineOut(
            investor_id=line.investor_id,
            amount=line.amount,
            lp_amount=line.lp_amount,
            gp_amount=line.gp_amount,
            carry_paid=line.gp_amount - line.carry_escrowed,
            carry_escrowed=line.carry_escrowed,
            set_off=line.set_off.quantize(money.quantum(fund.currency)),
            tiers=TiersOut.model_validate(line.tiers),
        )
        for line in await lines_of(session, distribution)
    ]
    zero = money.quantum(fund.currency) * 0
    totals = {
        name: TierOut(
            lp=sum((getattr(line.tiers, name).lp for line in lines), zero),
            gp=sum((getattr(line.tiers, name).gp for line in lines), zero),
        )
        for name in TIER_NAMES
    }
    return DistributionOut(
        **summary_of(distribution, fund.currency).model_dump(),
        tiers=TiersOut(**totals),
        lines=lines,
    )
