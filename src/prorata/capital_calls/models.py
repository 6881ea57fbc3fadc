"""Capital calls, their itemised purposes, per-investor lines (partitioned) and payments."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from prorata.notices.models import ReleasedNotices
from prorata.platform.db import MONEY, Base, str_enum
from prorata.platform.ids import new_id

# Ledger source types of the entries of money that does not fit a line (source_id: the call's
# id, or the payment's / the refund's):
CREDIT_APPLIED = "call_credit"  # credit −x and payment +x: an earlier credit paying a line
CLOSE = "call_close"  # contribution −x: the unpaid rest released when the call was closed
PAYMENT = "payment"  # payment +applied and credit +excess of one payment received
REFUND = "credit_refund"  # credit −x: credit paid back to the investor


class CallStatus(enum.StrEnum):
    draft = "draft"
    issued = "issued"
    partially_paid = "partially_paid"
    paid = "paid"
    cancelled = "cancelled"
    # Closed out partly paid: the unpaid rest of every line released (no longer due, the
    # unfunded commitment restored by it); no more payments.
    closed = "closed"


class Purpose(enum.StrEnum):
    investment = "investment"
    management_fee = "management_fee"
    fund_expenses = "fund_expenses"


class CapitalCall(ReleasedNotices, Base):
    """A capital call; its notices' release (`notices`, None while a draft) is
    `prorata.notices`'."""

    __tablename__ = "capital_calls"
    __table_args__ = (
        sa.UniqueConstraint("fund_id", "id"),
        sa.UniqueConstraint("fund_id", "number"),
        sa.ForeignKeyConstraint(["org_id", "fund_id"], ["funds.org_id", "funds.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "shortfall_of"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    # "Capital Call No. 4": the fund's calls numbered 1, 2, … as they are issued (under the
    # fund's row lock); a draft has none, so a discarded draft leaves no gap.
    number: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"))
    notice_date: Mapped[dt.date] = mapped_column(sa.Date)
    due_date: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    issued_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The fund's capital_version the lines were computed at (see Fund.capital_version).
    lines_version: Mapped[int | None] = mapped_column(sa.BigInteger)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    issued_by: Mapped[uuid.UUID | None] = mapped_column()
    # Closed out (CallStatus.closed): the date of the release entries, when and by whom.
    closed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_by: Mapped[uuid.UUID | None] = mapped_column()
    # A shortfall call: the call whose defaulted (unpaid) amount it calls from the others, split
    # pro rata to their unfunded commitments (not to commitments).
    shortfall_of: Mapped[uuid.UUID | None] = mapped_column()
    # The subsequent close whose new investors this call asks for their equalization and fee
    # catch-up (`prorata.closings`); such a call is part of its closing and is not cancelled.
    closing_id: Mapped[uuid.UUID | None] = mapped_column()


class CallItem(Base):
    __tablename__ = "capital_call_items"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["fund_id", "deal_id"], ["deals.fund_id", "deals.id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID] = mapped_column()
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "call_purpose"))
    deal_id: Mapped[uuid.UUID | None] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    excused_investor_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(sa.Uuid()))


class CallLine(Base):
    """One investor's amount for one item of a call."""

    __tablename__ = "capital_call_lines"
    # No foreign keys (migration 0040): a statement-level trigger checks the calls and
    # investors of each insert's rows at once; calls and investors are never deleted.
    __table_args__ = ({"postgresql_partition_by": "HASH (fund_id)"},)

    fund_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    item_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    purpose: Mapped[Purpose] = mapped_column(str_enum(Purpose, "call_purpose"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    # The part of `amount` released unpaid when the call was closed (a contribution reversed
    # in the ledger): `amount − released` is what the line finally called.
    released: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))


class Payment(Base):
    __tablename__ = "capital_call_payments"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "distribution_id"], ["distributions.fund_id", "distributions.id"]
        ),
        sa.Index("ix_capital_call_payments_call_id", "call_id"),
        sa.Index("ix_capital_call_payments_distribution_id", "distribution_id"),
        sa.CheckConstraint("amount > 0", name="positive_amount"),
        sa.CheckConstraint("credit >= 0 AND credit <= amount", name="credit_within_amount"),
        sa.CheckConstraint(
            "interest >= 0 AND interest + credit <= amount", name="interest_within_amount"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID] = mapped_column()
    investor_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(MONEY)
    received_on: Mapped[dt.date] = mapped_column(sa.Date)
    # The part of `amount` beyond what remained due on the line: kept as the investor's credit
    # in the fund (a `credit` ledger entry); `amount - credit` paid the line.
    credit: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"))
    # On a line in default: the part that paid default interest first (a `default_interest`
    # ledger entry: the fund's income, not capital). `amount − interest − credit` paid the line.
    interest: Mapped[Decimal] = mapped_column(MONEY, server_default=sa.text("0"), default=0)
    # A set-off: the distribution whose cash, withheld from the investor, made this payment.
    distribution_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class PaymentReversal(Base):
    """A bounced payment, reversed (at most once): its ledger entries are reversed, never
    edited, and it no longer counts as paid."""

    __tablename__ = "capital_call_payment_reversals"
    __table_args__ = (
        sa.ForeignKeyConstraint(["payment_id"], ["capital_call_payments.id"]),
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.Index("ix_capital_call_payment_reversals_call_id", "call_id"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    call_id: Mapped[uuid.UUID] = mapped_column()
    reversed_on: Mapped[dt.date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(500))
    reversed_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


class CallDefault(Base):
    """An investor's line on a call declared in default (once a line): it accrues default
    interest from the call's due date until cured (`cured_on`: line and interest fully paid)."""

    __tablename__ = "capital_call_defaults"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["fund_id", "call_id"], ["capital_calls.fund_id", "capital_calls.id"]
        ),
        sa.ForeignKeyConstraint(["org_id", "investor_id"], ["investors.org_id", "investors.id"]),
        sa.Index("ix_capital_call_defaults_fund_id_investor_id", "fund_id", "investor_id"),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    investor_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column()
    fund_id: Mapped[uuid.UUID] = mapped_column()
    declared_on: Mapped[dt.date] = mapped_column(sa.Date)
    declared_by: Mapped[uuid.UUID | None] = mapped_column()
    cured_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
