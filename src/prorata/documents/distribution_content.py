"""What a distribution notice says, read from the database (no PDF code here).

Each investor's share of a distribution is broken down by the waterfall's tiers as the
distribution stored them (`distribution_lines.tiers`, this distribution alone): each tier's
whole part of the share (LP and GP), so the parts add up to the gross share; then the carried
interest withheld (the GP parts), the set-off (cash withheld to pay the investor's lines in
default, `distribution_lines.set_off`: printed only when not zero) and what is paid (the LP part
less the set-off).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.bank_accounts import service as bank_accounts
from prorata.distributions.models import Distribution, DistributionKind, DistributionLine
from prorata.documents import letters
from prorata.finance import money
from prorata.funds import repository as fund_repository
from prorata.funds.models import Fund
from prorata.investors import contacts as investor_contacts
from prorata.investors.models import Investor, MailKind

ZERO = Decimal(0)
TIERS = (
    ("return_of_capital", "Return of capital"),
    ("preferred_return", "Preferred return"),
    ("catch_up", "GP catch-up"),
    ("carried_interest", "Gains (profit split)"),
)
KINDS = {
    DistributionKind.return_of_capital: "Return of capital",
    DistributionKind.gain: "Realised gain",
    DistributionKind.income: "Income",
    DistributionKind.recallable: "Recallable distribution",
}


@dataclasses.dataclass(frozen=True)
class DistributionNotice:
    """One investor's notice of a distribution."""

    fund_name: str
    currency: str
    distribution_id: uuid.UUID
    number: int  # Distribution No. N
    kind: DistributionKind
    investor_id: uuid.UUID
    investor_name: str
    recipients: tuple[str, ...]  # its contacts who receive distributions, or its e-mail
    payment_date: dt.date
    gross: Decimal  # its share of the distribution
    tiers: list[tuple[str, Decimal]]  # the share by waterfall tier (LP + GP parts): Σ = gross
    carried_interest: Decimal  # withheld: the GP's parts
    set_off: Decimal  # withheld to pay its lines in default
    net: Decimal  # paid to the investor
    commitment: Decimal
    distributed_to_date: Decimal  # paid by the fund's standing distributions, this one included
    payment_reference: str
    addressee: letters.Addressee
    bank_account: str | None = None  # masked: "Bank account on file: …"

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def recallable(self) -> bool:
        return self.kind is DistributionKind.recallable


async def _paid_to_date(
    session: AsyncSession, distribution: Distribution, investor_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    statement = (
        sa.select(DistributionLine.investor_id, sa.func.sum(DistributionLine.lp_amount))
        .join(
            Distribution,
            sa.and_(
                Distribution.fund_id == DistributionLine.fund_id,
                Distribution.id == DistributionLine.distribution_id,
            ),
        )
        .where(
            DistributionLine.fund_id == distribution.fund_id,
            DistributionLine.investor_id.in_(investor_ids),
            Distribution.number <= distribution.number,
            sa.or_(Distribution.cancelled_at.is_(None), Distribution.id == distribution.id),
        )
        .group_by(DistributionLine.investor_id)
    )
    return {investor: total for investor, total in (await session.execute(statement)).all()}


def _part(tiers: dict[str, dict[str, str]], name: str) -> Decimal:
    tier = tiers.get(name, {})
    return Decimal(tier.get("lp", "0")) + Decimal(tier.get("gp", "0"))


async def distribution_notices(
    session: AsyncSession, *, distribution: Distribution
) -> list[DistributionNotice]:
    """Every notice of a distribution, one per investor with a share, by investor id. A
    cancelled distribution has none (nothing will be paid)."""
    if distribution.cancelled_at is not None:
        return []
    fund = await session.get_one(Fund, distribution.fund_id)
    quantum = money.quantum(fund.currency)
    lines = list(
        await session.scalars(
            sa.select(DistributionLine)
            .where(
                DistributionLine.fund_id == distribution.fund_id,
                DistributionLine.distribution_id == distribution.id,
            )
            .order_by(DistributionLine.investor_id)
        )
    )
    ids = [line.investor_id for line in lines]
    investors = {
        row.id: row
        for row in await session.scalars(sa.select(Investor).where(Investor.id.in_(ids)))
    }
    commitments = await fund_repository.commitments(session, fund_id=fund.id)
    mailed_to = await investor_contacts.recipients(
        session, investor_ids=ids, kind=MailKind.distributions
    )
    to_date = await _paid_to_date(session, distribution, ids)
    accounts = await bank_accounts.masked_account(session, investor_ids=ids)
    notices = []
    for line in lines:
        investor = investors[line.investor_id]
        set_off = line.set_off
        notices.append(
            DistributionNotice(
                fund_name=fund.name,
                currency=fund.currency,
                distribution_id=distribution.id,
                number=distribution.number,
                kind=distribution.kind,
                investor_id=investor.id,
                investor_name=investor.name,
                recipients=tuple(mailed_to.get(investor.id, ())),
                payment_date=distribution.distributed_on,
                gross=line.amount.quantize(quantum),
                tiers=[(label, _part(line.tiers, name).quantize(quantum)) for name, label in TIERS],
                carried_interest=line.gp_amount.quantize(quantum),
                set_off=set_off.quantize(quantum),
                net=(line.lp_amount - set_off).quantize(quantum),
                commitment=commitments.get(investor.id, ZERO).quantize(quantum),
                distributed_to_date=to_date.get(investor.id, ZERO).quantize(quantum),
                payment_reference=letters.payment_reference(
                    fund_name=fund.name,
                    kind="D",
                    number=distribution.number,
                    investor_id=investor.id,
                    external_ref=investor.external_ref,
                ),
                addressee=letters.addressee(investor),
                bank_account=accounts.get(investor.id),
            )
        )
    return notices
