"""API shapes of fund metrics."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.deals.models import DealStatus
from prorata.http.schemas import DecimalString, Figure, Irr


class RootsOut(BaseModel):
    """How the IRR was chosen when the NPV has several roots."""

    multiple_roots: bool = Field(
        description="True when the NPV has more than one root: `irr` is then the one nearest "
        "0.1 (10 %), and the others are in `roots`."
    )
    roots: list[Irr] = Field(
        description="The roots found, ascending (at most 5, those nearest 0.1); empty without "
        "an IRR."
    )


class BasisOut(BaseModel):
    """What the net figures are made of, in words (docs/fund-operations.md, Performance
    measures)."""

    paid_in: str = Field(
        default="Cash received for called capital (contributed capital), net of reversals, "
        "dated when it counts as contributed; not capital called and unpaid."
    )
    distributions: str = Field(
        default="Cash distributed to the investors (the LP part, recallable included), "
        "excluding the GP's carried interest."
    )
    nav: str = Field(
        default="The metric's NAV as of `nav_as_of` (for one investor: its capital account "
        "then); its value counts as a final inflow on `as_of` in the IRR."
    )
    irr: str = Field(
        default="Net (investor-level) XIRR on ACT/365 of −paid-in, +distributions and +NAV, "
        "a fraction a year (0.1 = 10 %) rounded to 10 decimals; with several roots, the one "
        "nearest 0.1."
    )
    multiples: str = Field(
        default="DPI = distributions / paid-in, RVPI = NAV / paid-in, TVPI = DPI + RVPI; "
        "null without paid-in capital."
    )


class GrossOut(BaseModel):
    """Gross (deal-level) figures: the investments' own cash flows, before management fees,
    fund expenses and carried interest."""

    invested: DecimalString = Field(
        description="Contributed capital of investment call lines (cash received)."
    )
    proceeds: DecimalString = Field(description="Distributions, LP + GP (before carry).")
    unrealised: DecimalString = Field(
        description="Cost still held: open or closed deals at cost; exited and written-off deals 0."
    )
    dpi: Figure | None = Field(description="proceeds / invested.")
    rvpi: Figure | None = Field(description="unrealised / invested.")
    tvpi: Figure | None = Field(description="(proceeds + unrealised) / invested: the MOIC.")
    irr: Irr | None = Field(
        description="Gross XIRR of −invested, +proceeds, +unrealised on `as_of`: a fraction a "
        "year (0.1 = 10 %), ACT/365; null without a root."
    )
    irr_roots: RootsOut
    basis: str


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
    paid_in: DecimalString = Field(description="Cash received for called capital (`basis`).")
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
    irr: Irr | None = Field(
        description="Net XIRR, ACT/365, a fraction a year (0.1 = 10 %) rounded to 10 decimals; "
        "null without a root; with several roots the one nearest 0.1 (`irr_roots`)."
    )
    irr_roots: RootsOut
    basis: BasisOut
    gross: GrossOut | None = Field(
        default=None,
        description="Gross (deal-level) figures of the fund across its deals; on the fund's "
        "view only (null on one investor's).",
    )


class DealMetricsOut(BaseModel):
    """One deal's gross figures on `as_of`."""

    fund_id: uuid.UUID
    deal_id: uuid.UUID
    as_of: dt.date
    currency: str
    status: DealStatus
    gross: GrossOut


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
    escrow_released: DecimalString = Field(
        description="Carry held in escrow, given back to the investor by the clawback."
    )
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
    irr: Irr | None = Field(
        description="Net IRR (XIRR, ACT/365), a fraction a year (0.1 = 10 %); null without a root."
    )
