"""The ILPA-style capital account statement: the account's QTD, YTD and ITD columns
(`capital_accounts.ilpa`) with the investor's commitment, % ownership and performance (this
package's per-investor figures). Here, not in `capital_accounts`, because it needs both and
metrics already build on capital accounts.

% ownership is the investor's commitment over the fund's commitments, both as they stood at
`as_of` (an investor committed later owns nothing of that quarter).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.capital_accounts import ilpa
from prorata.capital_accounts import service as account_service
from prorata.finance import money
from prorata.fund_metrics import service as metrics_service
from prorata.fund_metrics.figures import figure
from prorata.fund_metrics.schemas import (
    ColumnOut,
    ColumnsOut,
    ContributionsOut,
    DistributionsOut,
    StatementOut,
)
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment, Fund
from prorata.platform import errors
from prorata.valuations import service as valuation_service
from prorata.valuations.models import Valuation


def quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


async def _fund_commitment(session: AsyncSession, fund_id: uuid.UUID, as_of: dt.date) -> Decimal:
    total = await session.scalar(
        sa.select(sa.func.sum(Commitment.amount)).where(
            Commitment.fund_id == fund_id, Commitment.committed_on <= as_of
        )
    )
    return Decimal(total or 0)


async def statement(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    as_of: dt.date,
    start: dt.date | None = None,
) -> StatementOut:
    """One investor's statement (with a column from `start`, when given): its own ledger rows
    and the fund's kept gains (no whole book when the fund has not changed since it was last
    allocated)."""
    fund = await fund_service.get(session, fund_id=fund_id)
    if start is not None and start > as_of:
        raise errors.RuleViolation(f"the period is empty: from {start} is after to {as_of}")
    if not await fund_repository.commitment_exists(
        session, fund_id=fund_id, investor_id=investor_id
    ):
        raise errors.NotFound("no such investor in this fund")
    book = await account_service.investor_book(session, fund=fund, investor_id=investor_id)
    detail = await ilpa.details(session, fund_id=fund.id, end=as_of, investor_id=investor_id)
    read = await metrics_service.flows(session, fund_id=fund.id, investor_id=investor_id)
    return build(
        book,
        investor_id,
        as_of,
        detail=detail.get(investor_id, []),
        read=read,
        valuation=await valuation_service.latest(session, fund.id, as_of),
        fund_commitment=await _fund_commitment(session, fund.id, as_of),
        since=start,
    )


async def statements(
    session: AsyncSession,
    *,
    fund: Fund,
    investor_ids: Sequence[uuid.UUID],
    as_of: dt.date,
    book: account_service.Book,
) -> dict[uuid.UUID, StatementOut]:
    """Many investors' statements from the fund's `book` (to `as_of` at least), each of the
    other reads done once for them all (a statement run)."""
    detail = await ilpa.details(session, fund_id=fund.id, end=as_of)
    reads = await metrics_service.investor_flows(session, fund_id=fund.id)
    valuation = await valuation_service.latest(session, fund.id, as_of)
    total = await _fund_commitment(session, fund.id, as_of)
    return {
        investor_id: build(
            book,
            investor_id,
            as_of,
            detail=detail.get(investor_id, []),
            read=reads.get(investor_id, []),
            valuation=valuation,
            fund_commitment=total,
        )
        for investor_id in investor_ids
    }


def _column(column: ilpa.Column) -> ColumnOut:
    return ColumnOut(
        period_from=column.start,
        period_to=column.end,
        beginning_balance=column.beginning_balance,
        contributions=ContributionsOut(**column.contributions, total=column.total_contributions),
        distributions=DistributionsOut(**column.distributions, total=column.total_distributions),
        management_fees=column.management_fees,
        expenses=column.expenses,
        carried_interest=column.carried_interest,
        allocated_gains_losses=column.allocated_gains_losses,
        ending_balance=column.ending_balance,
    )


def build(
    book: account_service.Book,
    investor_id: uuid.UUID,
    as_of: dt.date,
    *,
    detail: list[ilpa.Detail],
    read: list[metrics_service.Flow],
    valuation: Valuation | None,
    fund_commitment: Decimal,
    since: dt.date | None = None,
) -> StatementOut:
    fund = book.fund
    quantum = money.quantum(fund.currency)
    found = ilpa.columns(book, investor_id, as_of, detail, since=since)
    columns = {c.period: _column(c) for c in found}
    account = book.account(investor_id, None, as_of)
    nav = book.balance(investor_id, as_of)
    figures = metrics_service.performance_of(read, as_of=as_of, nav=nav)
    return StatementOut(
        fund_id=fund.id,
        investor_id=investor_id,
        currency=fund.currency,
        as_of=as_of,
        quarter=quarter(as_of),
        columns=ColumnsOut(**columns),
        commitment=account.commitment,
        contributed=account.contributed,
        unfunded=account.unfunded.quantize(quantum),
        fund_commitment=fund_commitment.quantize(quantum),
        ownership=figure(account.commitment / fund_commitment) if fund_commitment else None,
        paid_in=figures.paid_in.quantize(quantum),
        distributed=figures.distributed.quantize(quantum),
        nav=nav.quantize(quantum),
        nav_as_of=valuation.as_of if valuation is not None else None,
        dpi=figures.dpi,
        tvpi=figures.tvpi,
        irr=figures.irr.rate,
    )
