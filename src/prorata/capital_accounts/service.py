"""Capital accounts: the roll-forward of each investor's capital in a fund.

    ending = beginning + contributions − distributions − carried interest
             − management fees − expenses ± allocated gains and losses

Everything derives from the ledger and the valuations, computed when asked (so a call issued or
a valuation recorded late, with an earlier date, is accounted for correctly):

- **Contributions** are contributed capital: the cash received for call lines (`payment`
  entries, by the line's purpose, dated on the call's due date when paid by it, else the day
  received). Called but unpaid capital is a receivable, not capital: it is in no account until
  paid (`called` shows it; unfunded = commitment − called + recallable). The part paid for
  management fees or fund expenses is charged to the account at once as a **management fee**
  / **expense**: the LP paid it, the fund spent it.
- **Distributions** are the LP's cash (`distribution`, `recallable_distribution`); **carried
  interest** is the GP's part of the LP's distributions (`carried_interest`).
- **Allocated gains and losses**: at each valuation date the fund's NAV is compared with the sum
  of the accounts on that date; the difference (unrealised gain or loss) is allocated with the
  one splitter, in proportion to capital contributed to that date (commitments before any
  capital is called). So on a valuation date the accounts add up to the NAV to the minor unit,
  and between valuations fund equity is the last NAV rolled forward by the flows since.
  **Realised** gains and losses (a deal's exit or write-down, `deals.realisations`) are
  `gain_loss` ledger entries, in the accounts on their own date; a valuation then allocates
  only what is left (NAV − Σ balances, realised gains already in). `fund_nav` reads the same
  roll-forward fund-wide from the ledger: the NAV the metrics report, equal to Σ balances on
  every date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts.models import KeptBook, KeptGains
from prorata.capital_accounts.schemas import CapitalAccountOut
from prorata.capital_calls.models import Purpose
from prorata.finance import money
from prorata.finance import performance as metrics
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Fund
from prorata.ledger import repository as ledger
from prorata.ledger.models import EntryKind, LedgerEntry
from prorata.platform import db, errors
from prorata.valuations.models import Valuation

ZERO: Final = Decimal(0)
# Each movement of the roll-forward and its sign in the balance.
SIGNS: Final = {
    "contributions": 1,
    "distributions": -1,
    "carried_interest": -1,
    "management_fees": -1,
    "expenses": -1,
    "gains_losses": 1,
}
_CHARGED: Final = {Purpose.management_fee.value: "management_fees", "fund_expenses": "expenses"}
_BY_KIND: Final = {
    EntryKind.payment: "contributions",
    EntryKind.distribution: "distributions",
    EntryKind.recallable_distribution: "distributions",
    EntryKind.carried_interest: "carried_interest",
    # Escrow and the GP's clawback are carry too (held, or given back): `prorata.carry`.
    EntryKind.carry_escrow: "carried_interest",
    EntryKind.clawback: "carried_interest",
    EntryKind.fee: "management_fees",
    EntryKind.expense: "expenses",
    EntryKind.gain_loss: "gains_losses",
}


_LINE_OF_KIND: Final = {kind.value: line for kind, line in _BY_KIND.items()}


@dataclasses.dataclass(frozen=True)
class Movement:
    day: dt.date
    line: str  # a key of SIGNS
    amount: Decimal  # as shown on the statement; SIGNS[line] gives its effect

    @property
    def effect(self) -> Decimal:
        return SIGNS[self.line] * self.amount


@dataclasses.dataclass(frozen=True)
class Account:
    statement: metrics.RollForward
    commitment: Decimal
    called: Decimal
    contributed: Decimal
    recallable: Decimal

    @property
    def unfunded(self) -> Decimal:
        return ledger.unfunded(self.commitment, called=self.called, recallable=self.recallable)


class Book:
    """Every investor's movements in one fund up to a date, gains and losses allocated."""

    def __init__(
        self,
        fund: Fund,
        commitments: dict[uuid.UUID, Decimal],
        committed_on: dict[uuid.UUID, dt.date] | None = None,
    ) -> None:
        self.fund = fund
        self.commitments = commitments
        self.committed_on = committed_on or {}
        self.movements: dict[uuid.UUID, list[Movement]] = defaultdict(list)
        self.recallable: dict[uuid.UUID, list[Movement]] = defaultdict(list)
        self.called: dict[uuid.UUID, list[Movement]] = defaultdict(list)  # capital called
        # The gains and losses `allocate_valuations` allocated (not the ledger's own), kept.
        self.allocated: dict[uuid.UUID, list[tuple[dt.date, Decimal]]] = defaultdict(list)

    def balance(self, investor: uuid.UUID, day: dt.date) -> Decimal:
        return sum((m.effect for m in self.movements[investor] if m.day <= day), ZERO)

    def commitment(self, investor: uuid.UUID, day: dt.date) -> Decimal:
        """The investor's commitment as it stood on `day`: none before it committed."""
        if self.committed_on.get(investor, day) > day:
            return ZERO
        return self.commitments.get(investor, ZERO)

    def contributed(self, investor: uuid.UUID, day: dt.date) -> Decimal:
        return sum(
            (
                m.amount
                for m in self.movements[investor]
                if m.line == "contributions" and m.day <= day
            ),
            ZERO,
        )

    def allocate_valuations(self, valuations: Iterable[tuple[dt.date, Decimal]]) -> None:
        """At each valuation, in date order, allocate NAV − Σ balances on its day as that
        day's gain or loss, by capital contributed to that day.

        One pass over the movements, whatever the number of valuations: the fund's total and
        each investor's contributions advance from one valuation date to the next, and each
        valuation's gains count in the next one's total. (Summing every account again at
        every valuation took 6 s for 10,000 investors and 20 quarters, and grew with the
        square of the fund's age.)
        """
        flows = sorted(
            ((m.day, investor, m) for investor, moves in self.movements.items() for m in moves),
            key=lambda flow: flow[0],
        )
        contributed: dict[uuid.UUID, Decimal] = {}
        total = ZERO
        position = 0
        for day, nav in sorted(valuations):
            while position < len(flows) and flows[position][0] <= day:
                _, investor, movement = flows[position]
                total += movement.effect
                if movement.line == "contributions":
                    contributed[investor] = contributed.get(investor, ZERO) + movement.amount
                position += 1
            gain = nav - total
            for investor, part in self._gain_parts(gain, contributed, day).items():
                if part:
                    self.movements[investor].append(Movement(day, "gains_losses", part))
                    self.allocated[investor].append((day, part))
                    total += part

    def _gain_parts(
        self, gain: Decimal, contributed: dict[uuid.UUID, Decimal], day: dt.date
    ) -> dict[uuid.UUID, Decimal]:
        """`gain` split by capital contributed; before any is called, by the commitments made
        by `day` (a later closer has no part in what came before it), else by all."""
        if not gain:
            return {}
        weights = {i: w for i in sorted(contributed) if (w := contributed[i]) > 0}
        if not weights:
            weights = {
                i: a
                for i, a in self.commitments.items()
                if a > 0 and self.committed_on.get(i, day) <= day
            }
        if not weights:
            weights = {i: a for i, a in self.commitments.items() if a > 0}
        if not weights:
            return {}  # no investor to allocate to: the fund has no one's capital yet
        return money.split(gain, weights, self.fund.currency)

    def account(self, investor: uuid.UUID, start: dt.date | None, end: dt.date) -> Account:
        mine = self.movements[investor]
        before = [m for m in mine if start is not None and m.day < start]
        during = [m for m in mine if (start is None or m.day >= start) and m.day <= end]
        q = money.quantum(self.fund.currency)
        totals = dict.fromkeys(SIGNS, ZERO)
        for m in during:
            totals[m.line] += m.amount
        t = {line: total.quantize(q) for line, total in totals.items()}
        statement = metrics.roll_forward(
            begin=sum((m.effect for m in before), ZERO).quantize(q),
            contributions=t["contributions"],
            distributions=t["distributions"],
            carried_interest=t["carried_interest"],
            allocated_gains=t["gains_losses"],
            fees=t["management_fees"],
            expenses=t["expenses"],
        )
        return Account(
            statement=statement,
            commitment=self.commitment(investor, end).quantize(q),
            called=sum((m.amount for m in self.called[investor] if m.day <= end), ZERO).quantize(q),
            contributed=self.contributed(investor, end).quantize(q),
            recallable=sum((m.amount for m in self.recallable[investor] if m.day <= end), ZERO),
        )


async def _read_movements(
    session: AsyncSession,
    result: Book,
    *,
    end: dt.date | None = None,
    investor_id: uuid.UUID | None = None,
) -> None:
    """The ledger's capital movements into `result`: the fund's (to `end`), or one investor's."""
    # Every entry as it is, neither grouped nor sorted: the book's sums do not need either, and
    # for a long-lived fund (~1M entries) grouping and sorting doubled the query (bench).
    statement = sa.select(
        LedgerEntry.investor_id,
        # The kind as its text: the enum's type decorator, once per entry, cost more than the
        # rest of the row.
        sa.type_coerce(LedgerEntry.kind, sa.String),
        LedgerEntry.purpose,
        LedgerEntry.effective_on,
        LedgerEntry.amount,
    ).where(LedgerEntry.fund_id == result.fund.id)
    if end is not None:
        statement = statement.where(LedgerEntry.effective_on <= end)
    if investor_id is not None:
        statement = statement.where(LedgerEntry.investor_id == investor_id)
    # On the session's connection (Core rows): no ORM result handling for each of them.
    connection = await session.connection()
    rows = await connection.execute(statement)
    for investor, kind, purpose, day, amount in rows.all():
        if kind == EntryKind.contribution:  # called: a receivable until paid
            result.called[investor].append(Movement(day, "contributions", amount))
            continue
        line = _LINE_OF_KIND.get(kind)
        if line is None:  # credit: cash held for the investor, not capital
            continue
        result.movements[investor].append(Movement(day, line, amount))
        if kind == EntryKind.payment and purpose in _CHARGED:
            result.movements[investor].append(Movement(day, _CHARGED[purpose], amount))
        if kind == EntryKind.recallable_distribution:
            result.recallable[investor].append(Movement(day, line, amount))


async def book(session: AsyncSession, *, fund: Fund, end: dt.date | None = None) -> Book:
    """The fund's book up to `end` (inclusive; None: every date), gains allocated at each
    valuation date."""
    result = Book(
        fund,
        await fund_repository.commitments(session, fund_id=fund.id),
        await fund_repository.commitment_dates(session, fund_id=fund.id),
    )
    await _read_movements(session, result, end=end)
    statement = sa.select(Valuation.as_of, Valuation.nav).where(Valuation.fund_id == fund.id)
    if end is not None:
        statement = statement.where(Valuation.as_of <= end)
    valuations = await session.execute(statement.order_by(Valuation.as_of))
    result.allocate_valuations((day, nav) for day, nav in valuations.all())
    return result


async def _state(session: AsyncSession, fund: Fund) -> str:
    """What the allocation depends on: the fund's capital version (every ledger write a capital
    account sees bumps it, in its transaction), its currency and its valuations. Read before
    the data it labels, so data newer than its label is only ever recomputed, never trusted."""
    digest = await session.scalar(
        sa.select(
            sa.func.md5(
                sa.func.coalesce(
                    sa.func.string_agg(
                        sa.cast(Valuation.as_of, sa.String)
                        + "="
                        + sa.cast(Valuation.nav, sa.String),
                        aggregate_order_by(sa.literal_column("','"), Valuation.as_of),
                    ),
                    "",
                )
            )
        ).where(Valuation.fund_id == fund.id)
    )
    return f"{fund.capital_version}:{fund.currency}:{digest}"


async def _keep(session: AsyncSession, fund: Fund, state: str, full: Book) -> None:
    """Keep `full`'s allocated gains under `state`, replacing what was kept (one writer per
    fund at a time: the advisory lock)."""
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"book:{fund.id}", 0)))
    )
    await session.execute(
        insert(KeptBook)
        .values(fund_id=fund.id, org_id=fund.org_id, state=state)
        .on_conflict_do_update(
            index_elements=[KeptBook.fund_id], set_={"state": state, "computed_at": sa.func.now()}
        )
    )
    await session.execute(sa.delete(KeptGains).where(KeptGains.fund_id == fund.id))
    rows = [
        {
            "fund_id": fund.id,
            "investor_id": investor,
            "org_id": fund.org_id,
            "days": [day for day, _ in gains],
            "amounts": [amount for _, amount in gains],
        }
        for investor, gains in sorted(full.allocated.items())
    ]
    if rows:
        await session.execute(sa.insert(KeptGains), rows)


async def keep_current(session: AsyncSession, *, fund: Fund) -> Book | None:
    """Bring the kept book up to date: None when it was, else the whole book, allocated and
    kept (the worker's `keep_book` does this after each change, so requests find it current)."""
    state = await _state(session, fund)
    kept = await session.scalar(sa.select(KeptBook.state).where(KeptBook.fund_id == fund.id))
    if kept == state:
        return None
    full = await book(session, fund=fund)
    # On the read replica nothing can be written: the book is allocated for this read only
    # (the worker keeps it on the primary, and the replica receives it from there).
    if not db.is_read_only(session):
        await _keep(session, fund, state, full)
    return full


async def investor_book(session: AsyncSession, *, fund: Fund, investor_id: uuid.UUID) -> Book:
    """A book that answers for one investor (its account and balance on any date): its own
    ledger rows and its kept gains when the fund has not changed since they were allocated;
    otherwise the fund's whole book, allocated once and kept for the next request."""
    full = await keep_current(session, fund=fund)
    if full is not None:
        return full
    one = Book(
        fund,
        await fund_repository.commitments_of(session, fund_id=fund.id, investor_ids=[investor_id]),
        await fund_repository.commitment_dates(session, fund_id=fund.id, investor_id=investor_id),
    )
    await _read_movements(session, one, investor_id=investor_id)
    gains = await session.get(KeptGains, (fund.id, investor_id))
    if gains is not None:
        for day, amount in zip(gains.days, gains.amounts, strict=True):
            one.movements[investor_id].append(Movement(day, "gains_losses", amount))
            one.allocated[investor_id].append((day, amount))
    return one


async def account(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    start: dt.date | None,
    end: dt.date,
) -> tuple[Fund, Account]:
    fund = await fund_service.get(session, fund_id=fund_id)
    if start is not None and start > end:
        raise errors.RuleViolation(f"the period is empty: from {start} is after to {end}")
    if not await fund_repository.commitment_exists(
        session, fund_id=fund_id, investor_id=investor_id
    ):
        raise errors.NotFound("no such investor in this fund")
    found = await investor_book(session, fund=fund, investor_id=investor_id)
    return fund, found.account(investor_id, start, end)


async def statement(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    start: dt.date | None,
    end: dt.date,
) -> CapitalAccountOut:
    """The investor's capital account statement for the period, as the API and pages show it."""
    fund, found = await account(
        session, fund_id=fund_id, investor_id=investor_id, start=start, end=end
    )
    s = found.statement
    return CapitalAccountOut(
        fund_id=fund_id,
        investor_id=investor_id,
        currency=fund.currency,
        period_from=start,
        period_to=end,
        beginning_balance=s.begin,
        contributions=s.contributions,
        distributions=s.distributions,
        carried_interest=s.carried_interest,
        management_fees=s.fees,
        expenses=s.expenses,
        allocated_gains_losses=s.allocated_gains,
        ending_balance=s.end,
        commitment=found.commitment,
        called=found.called,
        contributed=found.contributed,
        unfunded=found.unfunded,
    )


@dataclasses.dataclass(frozen=True)
class FundNav:
    """The fund's NAV on `day`: the latest valuation on or before it (`valuation_as_of`,
    `valuation`; none: zero) rolled forward by what moved capital since (after its date, to
    `day` inclusive). Equal to the sum of the investors' capital accounts on `day`."""

    day: dt.date
    valuation_as_of: dt.date | None
    valuation: Decimal
    contributions: Decimal  # contributed capital: cash received for call lines
    distributions: Decimal  # to the LPs and the GP's carried interest
    fees_expenses: Decimal  # management fees and fund expenses charged to the accounts
    realised_gains: Decimal  # realised gains and losses booked (`gain_loss` entries)

    @property
    def nav(self) -> Decimal:
        return (
            self.valuation
            + self.contributions
            - self.distributions
            - self.fees_expenses
            + self.realised_gains
        )

    def basis(self, currency: str) -> str:
        q = money.quantum(currency)
        start = (
            f"the valuation of {self.valuation_as_of} ({self.valuation.quantize(q)})"
            if self.valuation_as_of is not None
            else "zero (no valuation yet)"
        )
        return (
            f"NAV on {self.day} = {start} + contributions {self.contributions.quantize(q)} "
            f"− distributions (LP and GP) {self.distributions.quantize(q)} "
            f"− fees and expenses {self.fees_expenses.quantize(q)} "
            f"+ realised gains {self.realised_gains.quantize(q)} since; "
            "unrealised changes only at valuations"
        )


def _kind_sum(lines: Iterable[str]) -> sa.ColumnElement[Decimal]:
    kinds = [kind.value for kind, line in _BY_KIND.items() if line in set(lines)]
    return sa.func.coalesce(
        sa.func.sum(LedgerEntry.amount).filter(
            sa.type_coerce(LedgerEntry.kind, sa.String).in_(kinds)
        ),
        ZERO,
    )


def _nav_columns() -> list[sa.ColumnElement[Decimal]]:
    """contributions, distributions, fees and expenses, realised gains: `FundNav`'s movements."""
    charged = sa.func.coalesce(
        sa.func.sum(LedgerEntry.amount).filter(
            LedgerEntry.kind == EntryKind.payment, LedgerEntry.purpose.in_(list(_CHARGED))
        ),
        ZERO,
    )
    return [
        _kind_sum(["contributions"]),
        _kind_sum(["distributions", "carried_interest"]),
        _kind_sum(["management_fees", "expenses"]) + charged,
        _kind_sum(["gains_losses"]),
    ]


async def fund_navs(
    session: AsyncSession, *, fund_id: uuid.UUID, days: Iterable[dt.date]
) -> dict[dt.date, Decimal]:
    """The fund's NAV (`fund_nav`) on each of `days`, from two statements whatever their number
    (the fund page's month-end series)."""
    valuations = sorted(
        (
            await session.execute(
                sa.select(Valuation.as_of, Valuation.nav).where(Valuation.fund_id == fund_id)
            )
        ).all()
    )
    rows = await session.execute(
        sa.select(LedgerEntry.effective_on, *_nav_columns())
        .where(LedgerEntry.fund_id == fund_id)
        .group_by(LedgerEntry.effective_on)
    )
    moved: list[tuple[dt.date, Decimal]] = []
    for row in rows.all():
        c, d, f, g = (Decimal(x) for x in row[1:])
        moved.append((row[0], c - d - f + g))
    found: dict[dt.date, Decimal] = {}
    for day in days:
        start, nav = next(((v, n) for v, n in reversed(valuations) if v <= day), (None, ZERO))
        found[day] = nav + sum(
            (x for on, x in moved if on <= day and (start is None or on > start)), ZERO
        )
    return found


async def fund_nav(
    session: AsyncSession, *, fund_id: uuid.UUID, day: dt.date, valuation: Valuation | None
) -> FundNav:
    """The fund's NAV on `day` from `valuation` (the latest on or before `day`, or None), read
    from the ledger in one statement: the movements of the capital accounts' roll-forward
    (`SIGNS`), fund-wide, after the valuation's date."""
    statement = sa.select(*_nav_columns()).where(
        LedgerEntry.fund_id == fund_id, LedgerEntry.effective_on <= day
    )
    if valuation is not None:
        statement = statement.where(LedgerEntry.effective_on > valuation.as_of)
    row = (await session.execute(statement)).one()
    contributions, distributions, fees_expenses, realised = (Decimal(x) for x in row)
    return FundNav(
        day=day,
        valuation_as_of=valuation.as_of if valuation is not None else None,
        valuation=valuation.nav if valuation is not None else ZERO,
        contributions=contributions,
        distributions=distributions,
        fees_expenses=fees_expenses,
        realised_gains=realised,
    )
