"""Rules of funds and commitments."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds.models import Commitment, Fund
from prorata.funds.repository import CommitmentRow
from prorata.funds.schemas import CommitmentOut, FundCreate, FundUpdate
from prorata.http import validation
from prorata.http.pagination import rows_of
from prorata.http.tenancy import Principal
from prorata.investors import repository as investor_repository
from prorata.ledger import repository as ledger
from prorata.platform import audit, db, errors

FUND_FIELDS = [*FundUpdate.model_fields, "currency"]


async def get(session: AsyncSession, *, fund_id: uuid.UUID, for_update: bool = False) -> Fund:
    fund = await fund_repository.get(session, fund_id=fund_id, for_update=for_update)
    if fund is None:
        raise errors.NotFound("no such fund")
    return fund


_CURRENCY = sa.select(Fund.__table__.c.currency)


async def currency_of(session: AsyncSession, *, fund_id: uuid.UUID) -> str:
    """The fund's currency; a 404 if there is no such fund for this tenant. One statement
    through the driver, no ORM object: what a list of the fund's children asks for (its
    amounts' decimals, or whether an empty page means a missing fund)."""
    found = await rows_of(session, _CURRENCY.where(Fund.__table__.c.id == fund_id))
    if not found:
        raise errors.NotFound("no such fund")
    currency: str = found[0].currency
    return currency


def _check_terms(fund: Fund) -> None:
    if fund.catch_up_share != 0 and fund.catch_up_share <= fund.carry_share:
        raise errors.RuleViolation(
            "catch_up_share must be 0 (no catch-up) or larger than carry_share, "
            "or the GP could never catch up"
        )


async def create(session: AsyncSession, *, actor: Principal, data: FundCreate) -> Fund:
    fund = Fund(org_id=actor.org_id, **data.model_dump())
    _check_terms(fund)
    session.add(fund)
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fund.create",
        entity="fund",
        entity_id=fund.id,
        after=audit.snapshot(fund, FUND_FIELDS),
    )
    return fund


async def update(
    session: AsyncSession, *, actor: Principal, fund_id: uuid.UUID, data: FundUpdate
) -> Fund:
    fund = await get(session, fund_id=fund_id)
    before = audit.snapshot(fund, FUND_FIELDS)
    validation.apply_changes(fund, data.model_dump(exclude_unset=True))
    _check_terms(fund)
    side_letter_carry = await session.scalar(
        sa.select(sa.func.max(Commitment.carry_share)).where(Commitment.fund_id == fund.id)
    )
    if side_letter_carry is not None and 0 != fund.catch_up_share <= side_letter_carry:
        raise errors.RuleViolation(
            "catch_up_share must be 0 (no catch-up) or larger than every side letter's "
            f"carry_share (up to {side_letter_carry}), or the GP could never catch up"
        )
    await session.flush()
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="fund.update",
        entity="fund",
        entity_id=fund.id,
        before=before,
        after=audit.snapshot(fund, FUND_FIELDS),
    )
    return fund


async def add_commitment(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    amount: Decimal,
    committed_on: dt.date,
    general_partner: bool = False,
    management_fee_rate: Decimal | None = None,
    carry_share: Decimal | None = None,
) -> Commitment:
    # Locked: the capital version is bumped below anyway, and two requests committing the same
    # investor at once must meet the existence check one after the other (a 409), not the
    # unique constraint (a 500).
    fund = await get(session, fund_id=fund_id, for_update=True)
    if await investor_repository.get(session, investor_id=investor_id) is None:
        raise errors.RuleViolation("investor_id: no such investor in your organisation")
    if await fund_repository.commitment_exists(session, fund_id=fund_id, investor_id=investor_id):
        raise errors.Conflict("this investor already has a commitment to this fund")
    commitment = Commitment(
        org_id=actor.org_id,
        fund_id=fund_id,
        investor_id=investor_id,
        amount=validation.amount(amount, fund.currency, field="amount"),
        committed_on=committed_on,
        general_partner=general_partner,
        management_fee_rate=management_fee_rate,
        carry_share=carry_share,
    )
    _check_commitment_terms(fund, commitment)
    session.add(commitment)
    await session.flush()
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="commitment.create",
        entity="commitment",
        entity_id=commitment.id,
        after=audit.snapshot(
            commitment, ["fund_id", "investor_id", "amount", "committed_on", *TERMS_FIELDS]
        ),
    )
    return commitment


TERMS_FIELDS = ["general_partner", "management_fee_rate", "carry_share"]


def _check_commitment_terms(fund: Fund, commitment: Commitment) -> None:
    """A side-letter carry must leave the fund's catch-up able to reach it (as the fund's own
    carry must); a GP commitment pays no fee and no carry, so terms on it would mean nothing."""
    if commitment.general_partner and (
        commitment.management_fee_rate is not None or commitment.carry_share is not None
    ):
        raise errors.RuleViolation(
            "a GP commitment pays no management fee and no carry: "
            "management_fee_rate and carry_share must be null"
        )
    carry = commitment.carry_share
    if carry is not None and carry >= 1:
        raise errors.RuleViolation("carry_share must be below 1")
    if carry is not None and fund.catch_up_share != 0 and fund.catch_up_share <= carry:
        raise errors.RuleViolation(
            f"carry_share must be below the fund's catch_up_share ({fund.catch_up_share}) so "
            "the catch-up can reach it"
        )
    if commitment.management_fee_rate is not None and commitment.management_fee_rate >= 1:
        raise errors.RuleViolation("management_fee_rate must be below 1")


async def update_commitment_terms(
    session: AsyncSession,
    *,
    actor: Principal,
    fund_id: uuid.UUID,
    investor_id: uuid.UUID,
    changes: dict[str, object],
) -> Commitment:
    """Change a commitment's own terms (GP commitment, side-letter fee rate and carry share).
    They apply to fees charged and distributions made from now on; what is booked stays."""
    fund = await get(session, fund_id=fund_id, for_update=True)
    commitment = await fund_repository.commitment_of(
        session, fund_id=fund_id, investor_id=investor_id, for_update=True
    )
    if commitment is None:
        raise errors.NotFound("this investor has no commitment to this fund")
    before = audit.snapshot(commitment, TERMS_FIELDS)
    validation.apply_changes(commitment, changes)
    _check_commitment_terms(fund, commitment)
    await session.flush()
    await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action="commitment.update_terms",
        entity="commitment",
        entity_id=commitment.id,
        before=before,
        after=audit.snapshot(commitment, TERMS_FIELDS),
    )
    return commitment


async def locked_for_bulk_write(session: AsyncSession, *, fund_id: uuid.UUID) -> Fund:
    fund = await fund_repository.lock_for_bulk_write(session, fund_id=fund_id)
    if fund is None:
        raise errors.NotFound("no such fund")
    return fund


async def add_commitment_rows(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    actor_user_id: uuid.UUID | None,
    fund_id: uuid.UUID,
    rows: sa.Select[Any],
    source: str,
) -> int:
    """Record many new commitments to one fund in ONE statement (CSV imports); return how
    many. `rows` selects (investor_id, amount, committed_on).

    Same rules as `add_commitment`: one commitment per investor and fund (the unique key refuses
    the whole set if another appeared meanwhile: no amendment by import), a positive amount
    (check constraint) exact to the currency's minor unit, an investor of the organisation
    (foreign key). The fund row is locked against calls being issued meanwhile: commitments
    are what calls are split by.
    """
    fund = await locked_for_bulk_write(session, fund_id=fund_id)
    given = rows.subquery("given")
    inexact = await session.scalar(
        sa.select(sa.func.count())
        .select_from(given)
        .where(given.c.amount != sa.func.round(given.c.amount, money.minor_unit(fund.currency)))
    )
    if inexact:
        raise errors.RuleViolation(f"{inexact} commitments are finer than the minor unit")
    added = await db.count_written(
        session,
        insert(Commitment).from_select(
            ["id", "org_id", "fund_id", "investor_id", "amount", "committed_on"],
            sa.select(
                sa.func.prorata_uuid7(),
                sa.literal(org_id, sa.Uuid),
                sa.literal(fund_id, sa.Uuid),
                given.c.investor_id,
                given.c.amount,
                given.c.committed_on,
            ).order_by(given.c.investor_id),
        ),
    )
    if added:
        await fund_repository.bump_capital_version(session, fund_id=fund_id)
    await audit.record(
        session,
        org_id=org_id,
        actor_user_id=actor_user_id,
        action="commitment.bulk_create",
        entity="fund",
        entity_id=fund_id,
        after={"added": added, "source": source},
    )
    return added


def commitment_view(
    commitment: CommitmentRow, balance: ledger.Balance, currency_quantum: Decimal
) -> CommitmentOut:
    def q(value: Decimal) -> Decimal:
        return value.quantize(currency_quantum)

    return CommitmentOut(
        id=commitment.id,
        fund_id=commitment.fund_id,
        investor_id=commitment.investor_id,
        amount=q(commitment.amount),
        committed_on=commitment.committed_on,
        general_partner=commitment.general_partner,
        management_fee_rate=commitment.management_fee_rate,
        carry_share=commitment.carry_share,
        called=q(balance.called),
        contributed=q(balance.contributed),
        distributed=q(balance.distributed),
        recallable=q(balance.recallable),
        unfunded=q(balance.unfunded(commitment.amount)),
    )
