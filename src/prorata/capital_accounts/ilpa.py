"""ILPA-style columns of a capital account: quarter-to-date, year-to-date and inception-to-date,
all ending on the same day E.

Each column is the book's roll-forward (`Book.account`) for its period, so it rolls forward
exactly (beginning + movements = ending, to the currency's minor unit) and the ITD ending is
the capital account's closing balance. The two lines ILPA breaks down are read from the ledger:

- **Contributions by purpose** are the contributions' own purposes, as the call's items named
  them: `investment`, `management_fee`, `fund_expenses` (an entry with none counts as an
  investment). The fee and expense parts are also charged at once as management fees and fund
  expenses (see `capital_accounts.service`).
- **Distributions by kind** are the LP's cash by the kind of the distribution that paid it
  (`distributions.kind`): `return_of_capital`, `income` (preferred return and income), `gain`,
  and `recallable` (a recallable distribution, which returns to the unfunded commitment);
  and `escrow_released`, carry held in escrow given back to the investor by the clawback.
  Carried interest — the GP's part of the same distributions — is its own line.

Reversals (a cancelled call or distribution) carry their original's purpose and source, so
they net out of the same bucket, on the same date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts import service as account_service
from prorata.capital_calls.models import Purpose
from prorata.distributions.models import (
    CARRY_RETURNED,
    ESCROW_RELEASED,
    Distribution,
    DistributionKind,
)
from prorata.finance import money
from prorata.ledger.models import EntryKind, LedgerEntry

ZERO: Final = Decimal(0)
PURPOSES: Final = tuple(p.value for p in Purpose)
# Carry given back in cash (escrow released to the investor by the clawback, the GP's repayments
# of its receivable) is a line of its own.
KINDS: Final = (*(k.value for k in DistributionKind), ESCROW_RELEASED)
PERIODS: Final = ("qtd", "ytd", "itd")


@dataclasses.dataclass(frozen=True)
class Detail:
    """The ledger's contributions (by purpose) or LP distributions (by kind) on one day."""

    day: dt.date
    line: str  # "contributions" or "distributions"
    label: str  # a purpose or a distribution kind
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class Column:
    period: str  # qtd, ytd, itd, or period (from a day asked for)
    start: dt.date | None  # None: since inception
    end: dt.date
    beginning_balance: Decimal
    contributions: dict[str, Decimal]  # by purpose (PURPOSES), every purpose present
    distributions: dict[str, Decimal]  # by kind (KINDS), every kind present
    management_fees: Decimal
    expenses: Decimal
    carried_interest: Decimal
    allocated_gains_losses: Decimal
    ending_balance: Decimal

    @property
    def total_contributions(self) -> Decimal:
        return sum(self.contributions.values(), ZERO)

    @property
    def total_distributions(self) -> Decimal:
        return sum(self.distributions.values(), ZERO)


def quarter_start(end: dt.date) -> dt.date:
    return dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1)


def year_start(end: dt.date) -> dt.date:
    return dt.date(end.year, 1, 1)


def starts(end: dt.date) -> dict[str, dt.date | None]:
    return {"qtd": quarter_start(end), "ytd": year_start(end), "itd": None}


async def details(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    end: dt.date,
    investor_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, list[Detail]]:
    """Each investor's contributions by purpose and distributions by kind, by day, to `end`
    (the fund's, or one investor's by the (fund, investor) index)."""
    label = sa.case(
        (LedgerEntry.kind == EntryKind.payment, sa.func.coalesce(LedgerEntry.purpose, "")),
        (
            LedgerEntry.kind == EntryKind.recallable_distribution,
            sa.literal(DistributionKind.recallable.value),
        ),
        (LedgerEntry.source_type.in_(CARRY_RETURNED), sa.literal(ESCROW_RELEASED)),
        else_=sa.type_coerce(Distribution.kind, sa.String),
    )
    statement = (
        sa.select(
            LedgerEntry.investor_id,
            sa.type_coerce(LedgerEntry.kind, sa.String),
            label,
            LedgerEntry.effective_on,
            sa.func.sum(LedgerEntry.amount),
        )
        .outerjoin(
            Distribution,
            (Distribution.fund_id == LedgerEntry.fund_id)
            & (Distribution.id == LedgerEntry.source_id),
        )
        .where(
            LedgerEntry.fund_id == fund_id,
            LedgerEntry.effective_on <= end,
            LedgerEntry.kind.in_(
                [
                    EntryKind.payment,  # contributed capital, by purpose
                    EntryKind.distribution,
                    EntryKind.recallable_distribution,
                ]
            ),
        )
        .group_by(LedgerEntry.investor_id, LedgerEntry.kind, label, LedgerEntry.effective_on)
    )
    if investor_id is not None:
        statement = statement.where(LedgerEntry.investor_id == investor_id)
    found: dict[uuid.UUID, list[Detail]] = defaultdict(list)
    for investor, kind, named, day, amount in (await session.execute(statement)).all():
        if kind == EntryKind.payment:
            line, name = "contributions", named if named in PURPOSES else Purpose.investment.value
        else:
            # A distribution entry written by anything but a distribution has no kind: the
            # distribution's plainest character.
            line, name = "distributions", named or DistributionKind.return_of_capital.value
        found[investor].append(Detail(day, line, name, amount))
    return found


def columns(
    book: account_service.Book,
    investor_id: uuid.UUID,
    end: dt.date,
    detail: list[Detail],
    *,
    since: dt.date | None = None,
) -> list[Column]:
    """QTD, YTD and ITD to `end` of one investor of `book`, with `detail` (its `details`); with
    `since`, first a column of the period from that day (`period`)."""
    periods: list[tuple[str, dt.date | None]] = list(starts(end).items())
    if since is not None:
        periods.insert(0, ("period", since))
    return [column(book, investor_id, p, start, end, detail) for p, start in periods]


def column(
    book: account_service.Book,
    investor_id: uuid.UUID,
    period: str,
    start: dt.date | None,
    end: dt.date,
    detail: list[Detail],
) -> Column:
    quantum = money.quantum(book.fund.currency)
    roll = book.account(investor_id, start, end).statement
    by: dict[str, dict[str, Decimal]] = {
        "contributions": dict.fromkeys(PURPOSES, ZERO),
        "distributions": dict.fromkeys(KINDS, ZERO),
    }
    for d in detail:
        if (start is None or d.day >= start) and d.day <= end:
            by[d.line][d.label] += d.amount
    return Column(
        period=period,
        start=start,
        end=end,
        beginning_balance=roll.begin,
        contributions={k: v.quantize(quantum) for k, v in by["contributions"].items()},
        distributions={k: v.quantize(quantum) for k, v in by["distributions"].items()},
        management_fees=roll.fees,
        expenses=roll.expenses,
        carried_interest=roll.carried_interest,
        allocated_gains_losses=roll.allocated_gains,
        ending_balance=roll.end,
    )
