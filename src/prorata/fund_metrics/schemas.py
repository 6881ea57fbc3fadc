"""API shapes of fund metrics."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from prorata.http.schemas import DecimalString

# A computed figure (multiple, rate): a decimal string with up to 10 decimals.
Figure = Annotated[
    Decimal,
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,10})?$"}),
]


class MetricsOut(BaseModel):
    fund_id: uuid.UUID
    investor_id: uuid.UUID | None
    as_of: dt.date
    currency: str
    committed: DecimalString = Field(
        description="Commitments: the fund's total, or the investor's commitment."
    )
    called: DecimalString = Field(
        description="Capital called up to `as_of`: what issued calls asked for (paid or not)."
    )
    paid_in: DecimalString
    distributions: DecimalString
    nav: DecimalString = Field(
        description="NAV on `as_of`: the latest valuation on or before it rolled forward by "
        "contributions, distributions (LP and GP), fees and expenses charged and realised gains "
        "since (from zero before any valuation); for one investor, its capital account balance "
        "on `as_of`."
    )
    nav_as_of: dt.date | None = Field(description="Date of the valuation used (latest ≤ as_of).")
    nav_basis: str = Field(description="How `nav` was reached, in words and figures.")
    dpi: Figure | None
    rvpi: Figure | None
    tvpi: Figure | None
    irr: Figure | None = Field(description="XIRR, ACT/365; null without a sign change.")


class ContributionsOut(BaseModel):
    """Capital called, by the purpose of the call's items."""

    investment: DecimalString
    management_fee: DecimalString
    fund_expenses: DecimalString
    total: DecimalString


class DistributionsOut(BaseModel):
    """The investor's cash, by the kind of the distribution that paid it (carried interest,
    the GP's part, is its own line)."""

    return_of_capital: DecimalString
    income: DecimalString = Field(description="Preferred return and income.")
    gain: DecimalString
    recallable: DecimalString = Field(description="Returns to the unfunded commitment.")
    total: DecimalString


class ColumnOut(BaseModel):
    """One column of the roll-forward: ending = beginning + contributions − distributions −
    management fees − expenses − carried interest + allocated gains/losses, exactly."""

    period_from: dt.date | None = Field(
        serialization_alias="from", description="First day; null: since inception."
    )
    period_to: dt.date = Field(serialization_alias="to")
    beginning_balance: DecimalString
    contributions: ContributionsOut
    distributions: DistributionsOut
    management_fees: DecimalString = Field(
        description="Charged to the account (the management fee part of contributions)."
    )
    expenses: DecimalString = Field(description="Fund expenses charged to the account.")
    carried_interest: DecimalString = Field(description="The GP's part of its distributions.")
    allocated_gains_losses: DecimalString
    ending_balance: DecimalString


class ColumnsOut(BaseModel):
    period: ColumnOut | None = Field(
        default=None, description="From the day asked for (`from`) to `as_of`, when asked."
    )
    qtd: ColumnOut = Field(description="Quarter to date: from the first day of the quarter.")
    ytd: ColumnOut = Field(description="Year to date: from 1 January.")
    itd: ColumnOut = Field(
        description="Inception to date: its ending is the capital account's closing balance."
    )


class StatementOut(BaseModel):
    """An investor's ILPA-style capital account statement at `as_of`."""

    fund_id: uuid.UUID
    investor_id: uuid.UUID
    currency: str
    as_of: dt.date
    quarter: str = Field(description="The quarter `as_of` ends, e.g. 2026-Q1.")
    columns: ColumnsOut
    commitment: DecimalString = Field(description="The investor's commitment at `as_of`.")
    contributed: DecimalString = Field(
        description="Contributed capital since inception: the cash received for called lines."
    )
    unfunded: DecimalString
    fund_commitment: DecimalString = Field(description="The fund's commitments at `as_of`.")
    ownership: Figure | None = Field(
        description="commitment / fund_commitment (a fraction); null when the fund has none."
    )
    paid_in: DecimalString
    distributed: DecimalString
    nav: DecimalString = Field(
        description="The capital account balance on `as_of` (the fund's NAV rolled forward "
        "from the latest valuation on or before it, the investor's part)."
    )
    nav_as_of: dt.date | None
    dpi: Figure | None
    tvpi: Figure | None
    irr: Figure | None = Field(description="Net IRR (XIRR, ACT/365); null without a sign change.")
