"""Jobs of capital accounts: keeping a fund's allocated book current after each change, so
the next reader of an account finds it kept instead of allocating the whole fund itself."""

from __future__ import annotations

import datetime as dt
import uuid

import procrastinate
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import jobs
from prorata.capital_accounts import service
from prorata.capital_accounts.models import KeptBook
from prorata.funds import repository as fund_repository
from prorata.jobs import attempts
from prorata.platform import db

blueprint = procrastinate.Blueprint()

# Changes within this time after the first share one job (a burst of payments, an import).
KEEP_AFTER = dt.timedelta(seconds=2)


@blueprint.task(
    name="capital_accounts.keep_book", queue="books", retry=attempts.Retry(), pass_context=True
)
async def keep_book(context: procrastinate.JobContext, org_id: str, fund_id: str) -> None:
    async with db.tenant_transaction(jobs.sessions_of(context), uuid.UUID(org_id)) as session:
        fund = await fund_repository.get(session, fund_id=uuid.UUID(fund_id))
        if fund is not None:  # a fund deleted since is nothing to keep
            await service.keep_current(session, fund=fund)


async def on_capital_changed(session: AsyncSession, change: fund_repository.CapitalChanged) -> None:
    """A fund whose book is kept (someone read an account) has it brought up to date by the
    worker soon after each change; one job waits per fund however many changes come."""
    kept = await session.scalar(
        sa.select(KeptBook.fund_id).where(KeptBook.fund_id == change.fund_id)
    )
    if kept is not None:
        await jobs.defer_once(
            session,
            keep_book,
            lock=f"keep_book:{change.fund_id}",
            schedule_at=dt.datetime.now(dt.UTC) + KEEP_AFTER,
            org_id=str(change.org_id),
            fund_id=str(change.fund_id),
        )
