"""A distribution of a fund and its per-investor lines (gross share, LP and GP parts)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from prorata.notices.models import ReleasedNotices
from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id


class DistributionKind(enum.StrEnum):
    """The character of the cash (for statements and tax); every kind runs through the
    waterfall, and the LP part of a `recallable` one returns to the unfunded commitment."""

    return_of_capital = "return_of_capital"
    gain = "gain"
    income = "income"
    recallable = "recallable"


class Distribution(ReleasedNotices, Base):
    """A distribution; its notices' release (`notices`) is `prorata.notices`'."""

    __tablename__ = "distributions"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "id"),
        sa.UniqueConstraint("fund_id", "number"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "realisation_id"], ["deal_realisations.fund_id", "deal_realisations.id"]
        ),
        sa.Index("ix_distributions_realisation_id", "realisation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    # "Distribution No. 2": the fund's distributions numbered 1, 2, … as they are made (under
    # the fund's row lock); a cancelled one keeps its number.
    number: Mapped[int] = mapped_column(sa.Integer)
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    # The realisation whose proceeds these are (`prorata.deals.realisations.take_proceeds`).
    realisation_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[DistributionKind] = mapped_column(
        str_enum(DistributionKind, "distribution_kind", length=30)
    )
    distributed_on: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    lp_amount: Mapped[Decimal] = mapped_column(MONEY)
    gp_amount: Mapped[Decimal] = mapped_column(MONEY)
    clawback: Mapped[Decimal] = mapped_column(MONEY)
    # The part of `gp_amount` (carry earned) held in escrow (`funds.carry_holdback`); the GP
    # is paid the rest: carry paid + escrowed = gp_amount, to the minor unit.
    carry_escrowed: Mapped[Decimal] = mapped_column(
        MONEY, server_default=sa.text("0"), default=Decimal(0)
    )
    # What the GP would give back if the fund ended right after this distribution, the whole
    # fund (`prorata.carry`): the interim clawback measure after every distribution.
    interim_clawback: Mapped[Decimal] = mapped_column(
        MONEY, server_default=sa.text("0"), default=Decimal(0)
    )
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    # Set when cancelled: its ledger entries are reversed and no later split counts it.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Who made it: never the one who approves its notices (four eyes).
    made_by: Mapped[uuid.UUID | None] = mapped_column()


class DistributionLine(Base):
    __tablename__ = "distribution_lines"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "distribution_id"], ["distributions.fund_id", "distributions.id"]
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_distribution_lines_fund_id_investor_id", "fund_id", "investor_id"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    distribution_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)  # the investor's gross share
    lp_amount: Mapped[Decimal] = mapped_column(MONEY)
    gp_amount: Mapped[Decimal] = mapped_column(MONEY)
    carry_escrowed: Mapped[Decimal] = mapped_column(
        MONEY, server_default=sa.text("0"), default=Decimal(0)
    )
    # Withheld from the LP part to pay the investor's lines in default (interest first): paid
    # to the investor is `lp_amount − set_off`.
    set_off: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"), default=0)
    # {tier: {"lp": "…", "gp": "…"}} for this distribution alone.
    tiers: Mapped[dict[str, Any]] = mapped_column(JSONB)


# The ledger source type of a clawback's entries (source_id: the clawback's id); its
# `distribution` entries are escrow released to the investor (`capital_accounts.ilpa`).
CLAWBACK_SOURCE = "clawback"
ESCROW_RELEASED = "escrow_released"  # their line on the investor's statement
# Ledger source types of the carry settled before wind-down (`prorata.carry`; source_id: the
# settlement's own id): the GP's repayments of the clawback receivable (cash on to the
# investors, on the statement's escrow-released line: carry given back in cash) and escrow
# released to the GP when the interim clawback measure allows.
REPAYMENT_SOURCE = "clawback_repayment"
RELEASE_SOURCE = "escrow_release"
CARRY_RETURNED = (CLAWBACK_SOURCE, REPAYMENT_SOURCE)


class Clawback(Base):
    """The fund's clawback, booked once at wind-down (`prorata.carry`): what the GP gives back
    of the carry it earned, from escrow first, then owed by the GP net of the assumed tax."""

    __tablename__ = "clawbacks"
    __table_args__ = (
        sa.UniqueConstraint("fund_id"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    as_of: Mapped[dt.date] = mapped_column(sa.Date)
    owed: Mapped[Decimal] = mapped_column(MONEY)  # the clawback measure on `as_of`
    from_escrow: Mapped[Decimal] = mapped_column(MONEY)  # escrow released to the investors
    escrow_to_gp: Mapped[Decimal] = mapped_column(MONEY)  # escrow left over, paid to the GP
    gp_owes: Mapped[Decimal] = mapped_column(MONEY)  # owed − from_escrow, before tax
    tax_rate: Mapped[Decimal] = mapped_column(MONEY)  # the fund's clawback_tax_rate then
    receivable: Mapped[Decimal] = mapped_column(MONEY)  # gp_owes net of tax: due from the GP
    # [{investor_id, owed, from_escrow, escrow_to_gp, gp_owes, receivable}], amounts as text.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    made_by: Mapped[uuid.UUID | None] = mapped_column()
