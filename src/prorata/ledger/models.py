"""The capital ledger: append-only, HASH-partitioned by fund.

A correction is a new entry with `reverses_id` set and the opposite amount, never an UPDATE or a
DELETE (the app role has neither privilege, and a trigger refuses them for everyone).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import MONEY, Base, str_enum


class EntryKind(enum.StrEnum):
    contribution = "contribution"  # capital called (draws on the commitment)
    # Cash received for a call line: the investor's contributed capital (one meaning, everywhere:
    # docs/fund-operations.md), by the line's purpose and deal, dated on the call's due date
    # when paid by it, else on the day received.
    payment = "payment"
    distribution = "distribution"
    recallable_distribution = "recallable_distribution"  # returns to the unfunded commitment
    fee = "fee"
    expense = "expense"
    # A realised gain (−: loss) of a deal's exit or write-down (source_type "realisation",
    # with its deal_id), split by contributed capital to the deal: `prorata.deals.realisations`.
    gain_loss = "gain_loss"
    carried_interest = "carried_interest"  # the GP's share of an LP's distribution
    # The part of that share held in escrow (`funds.carry_holdback`), out of the LP's capital
    # account like carry: + held at a distribution, − released at the clawback (to the LP with
    # a `distribution` of the same amount, or to the GP with a `carried_interest`).
    carry_escrow = "carry_escrow"
    # The clawback the GP owes back itself beyond the escrow (net of the assumed tax): − carry,
    # a receivable of the LP's capital account from the GP (`prorata.carry`).
    clawback = "clawback"
    # Cash held for the investor, not capital: + the excess of an overpayment, − applied to a
    # later call (with a `payment` of the same amount) or refunded. Σ = the investor's credit.
    credit = "credit"
    # Default interest paid by an investor on a line in default (paid before the line): the
    # fund's income, not capital — it moves no capital account and no unfunded commitment.
    default_interest = "default_interest"
    # Equalization interest of a subsequent close (`prorata.closings`): − paid by a new
    # investor, + received by an earlier one. Cash passed through, not capital.
    equalization_interest = "equalization_interest"


class LedgerEntry(Base):
    __tablename__ = "capital_ledger"
    __table_args__ = (
        # No foreign keys (migration 0040): every entry upserts its commitment balance, whose
        # foreign keys check the fund and investor of a (fund, investor, org) not seen before.
        sa.Index("ix_capital_ledger_fund_id_investor_id", "fund_id", "investor_id"),
        {"postgresql_partition_by": "HASH (fund_id)"},
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, "entry_kind", length=30))
    purpose: Mapped[str | None] = mapped_column(sa.String(30))
    # The deal of a call's investment line (contributions, payments and their reversals).
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    effective_on: Mapped[dt.date] = mapped_column(sa.Date)
    source_type: Mapped[str] = mapped_column(sa.String(30))
    source_id: Mapped[uuid.UUID] = mapped_column()
    reverses_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class CommitmentBalance(Base):
    """One investor's running balances in one fund, kept by triggers in the statement that
    writes the ledger or the commitments (migration 0040), by `Balance`'s definitions; read
    instead of summing the fund's ledger. Written by those triggers only."""

    __tablename__ = "commitment_balances"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # In the key: a ledger row naming another organisation's fund or investor makes a new
    # balance row, which the foreign keys refuse.
    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    commitment: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))  # 0: none
    called: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))
    contributed: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))
    distributed: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))
    recallable: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))
    credit: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))  # Σ `credit`
    unfunded: Mapped[Decimal] = mapped_column(
        MONEY, sa.Computed("commitment - called + recallable", persisted=True)
    )
