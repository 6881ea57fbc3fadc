"""The one allocation service: every write to `allocations` goes through here (API, imports).

An allocation is an investor's share of a deal within a fund, one row per (fund, investor,
deal) — the table's primary key — so every write is an upsert and concurrent writers of the
same triple leave exactly one row. A test fails if another module writes to the table.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prorata import audit, db, errors, money, validation
from prorata.allocations.models import Allocation
from prorata.deals import service as deal_service
from prorata.funds import repository as fund_repository
from prorata.funds import service as fund_service
from prorata.funds.models import Commitment
from prorata.pagination import AnySelect, KeyColumn, Page, PageParams, keyset
from prorata.tenancy import Principal


async def upsert(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    investor_id: uuid.UUID,
    amount: Decimal,
) -> Allocation:
    fund = await fund_service.get(session, fund_id=fund_id)
    await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    if not await fund_repository.commitment_exists(
        session, fund_id=fund_id, investor_id=investor_id
    ):
        raise errors.NotFound("no such investor in this fund")
    checked = validation.amount(amount, fund.currency, field="amount", allow_zero=True)
    before = await _amount(session, fund_id=fund_id, deal_id=deal_id, investor_id=investor_id)
    statement = insert(Allocation).values(
        org_id=actor.org_id,
        fund_id=fund_id,
        deal_id=deal_id,
        investor_id=investor_id,
        amount=checked,
    )
    row = (
        await session.scalars(
            statement.on_conflict_do_update(
                index_elements=["fund_id", "investor_id", "deal_id"],
                set_={"amount": statement.excluded.amount, "updated_at": sa.func.now()},
            ).returning(Allocation),
            execution_options={"populate_existing": True},
        )
    ).one()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="allocation.upsert",
        entity="deal",
        entity_id=deal_id,
        before=None if before is None else {"investor_id": str(investor_id), "amount": str(before)},
        after={"investor_id": str(investor_id), "amount": str(checked)},
    )
    return row


async def replace_prorata(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    deal_id: uuid.UUID,
    amount: Decimal,
) -> list[Allocation]:
    """Split `amount` across the fund's investors by commitment (largest remainder) and make
    that the deal's allocations, replacing the previous ones in the same transaction."""
    fund = await fund_service.get(session, fund_id=fund_id)
    await deal_service.get(session, fund_id=fund_id, deal_id=deal_id)
    checked = validation.amount(amount, fund.currency, field="amount")
    commitments = await fund_repository.commitments(session, fund_id=fund_id)
    if not commitments:
        raise errors.RuleViolation("the fund has no commitments to split by")
    parts = money.split(checked, commitments, fund.currency)
    before = await _deal_total(session, fund_id=fund_id, deal_id=deal_id)
    await session.execute(
        sa.delete(Allocation).where(Allocation.fund_id == fund_id, Allocation.deal_id == deal_id)
    )
    rows = (
        await session.scalars(
            insert(Allocation)
            .values(
                [
                    {
                        "org_id": actor.org_id,
                        "fund_id": fund_id,
                        "deal_id": deal_id,
                        "investor_id": investor_id,
                        "amount": part,
                    }
                    for investor_id, part in parts.items()
                ]
            )
            .returning(Allocation),
            execution_options={"populate_existing": True},
        )
    ).all()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="allocation.replace_prorata",
        entity="deal",
        entity_id=deal_id,
        before={"total": str(before)},
        after={"total": str(checked), "investors": len(parts)},
    )
    return sorted(rows, key=lambda row: row.investor_id)


async def apply_rows(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor_user_id: uuid.UUID | None,
    fund_id: uuid.UUID,
    rows: sa.Select[Any],
    source: str,
) -> int:
    """Upsert many allocations of one fund in ONE statement (CSV imports); return how many rows
    were written. `rows` selects (investor_id, deal_id, amount), one row per pair.

    Same rules as `upsert`: the investor has a commitment to the fund, the deal is the fund's
    (foreign key), the amount is zero or positive and exact to the currency's minor unit — any
    row breaking them refuses the whole set. Rows go in key order (index locality in the
    fund's partition); an unchanged amount is not rewritten. The fund row is locked, so two
    bulk writes to one fund never interleave; other funds are not held up.
    """
    fund = await fund_service.locked_for_bulk_write(session, fund_id=fund_id)
    given = rows.subquery("given")
    broken = await session.scalar(
        sa.select(sa.func.count())
        .select_from(given)
        .where(
            sa.or_(
                given.c.amount < 0,
                given.c.amount != sa.func.round(given.c.amount, money.minor_unit(fund.currency)),
                ~sa.exists().where(
                    Commitment.fund_id == fund_id, Commitment.investor_id == given.c.investor_id
                ),
            )
        )
    )
    if broken:
        raise errors.RuleViolation(
            f"{broken} allocations break the rules of the allocation service"
        )
    statement = insert(Allocation).from_select(
        ["fund_id", "investor_id", "deal_id", "org_id", "amount"],
        sa.select(
            sa.literal(fund_id, sa.Uuid),
            given.c.investor_id,
            given.c.deal_id,
            sa.literal(org_id, sa.Uuid),
            given.c.amount,
        ).order_by(given.c.investor_id, given.c.deal_id),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["fund_id", "investor_id", "deal_id"],
        set_={"amount": statement.excluded.amount, "updated_at": sa.func.now()},
        where=Allocation.amount.is_distinct_from(statement.excluded.amount),
    )
    written = await db.count_written(session, statement)
    await audit.record(
        session,
        org_id=org_id,
        actor_user_id=actor_user_id,
        action="allocation.bulk_upsert",
        entity="fund",
        entity_id=fund_id,
        after={"written": written, "source": source},
    )
    return written


async def _amount(
    session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID, investor_id: uuid.UUID
) -> Decimal | None:
    return await session.scalar(
        sa.select(Allocation.amount).where(
            Allocation.fund_id == fund_id,
            Allocation.deal_id == deal_id,
            Allocation.investor_id == investor_id,
        )
    )


async def _deal_total(session: AsyncSession, *, fund_id: uuid.UUID, deal_id: uuid.UUID) -> Decimal:
    total = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Allocation.amount), 0)).where(
            Allocation.fund_id == fund_id, Allocation.deal_id == deal_id
        )
    )
    return Decimal(total or 0)


# What a listed allocation shows: a Core select of the table's columns, so neither an ORM object
# per row (a page of 500 would be 500 in the identity map, for reading only) nor the ORM's
# execution path. Built once: building a select costs more than the page query takes to run;
# `where` copies it.
_TABLE = Allocation.__table__.c
LISTED = sa.select(
    _TABLE.fund_id,
    _TABLE.deal_id,
    _TABLE.investor_id,
    _TABLE.amount,
    _TABLE.updated_at,
)


def _filtered(
    *, fund_id: uuid.UUID | None, deal_id: uuid.UUID | None, investor_id: uuid.UUID | None
) -> AnySelect:
    statement: AnySelect = LISTED
    for column, value in (
        (_TABLE.fund_id, fund_id),
        (_TABLE.deal_id, deal_id),
        (_TABLE.investor_id, investor_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    return statement


KEY: Sequence[KeyColumn] = (
    _TABLE.fund_id,
    _TABLE.investor_id,
    _TABLE.deal_id,
)


async def page(
    session: AsyncSession,
    *,
    params: PageParams,
    fund_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    investor_id: uuid.UUID | None = None,
    fund_must_exist: bool = False,
) -> Page[sa.Row[Any]]:
    """Allocations (rows of `LISTED`) in primary-key order: one fund's pages read one partition
    by index.
    With `fund_must_exist` (the fund's own list), a missing fund is a 404, not an empty page."""
    fund = None
    if fund_must_exist and fund_id is not None:
        fund = functools.partial(fund_service.get, session, fund_id=fund_id)
    return await keyset(
        session,
        _filtered(fund_id=fund_id, deal_id=deal_id, investor_id=investor_id),
        key=KEY,
        params=params,
        item=lambda a: a,
        fixed_prefix=0 if fund_id is None else 1,
        parent=fund,
    )
