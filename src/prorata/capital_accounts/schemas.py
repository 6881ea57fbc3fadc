"""API shape of a capital account statement."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.http.schemas import DecimalString


class CapitalAccountOut(BaseModel):
    fund_id: uuid.UUID
    investor_id: uuid.UUID
    currency: str
    period_from: dt.date | None = Field(
        serialization_alias="from", description="Start of the period; null: since inception."
    )
    period_to: dt.date = Field(serialization_alias="to")
    beginning_balance: DecimalString
    contributions: DecimalString
    distributions: DecimalString = Field(description="Cash to the investor.")
    carried_interest: DecimalString = Field(description="The GP's part of its distributions.")
    management_fees: DecimalString
    expenses: DecimalString
    allocated_gains_losses: DecimalString
    ending_balance: DecimalString = Field(
        description="beginning + contributions − distributions − carried interest − fees "
        "− expenses + allocated gains/losses."
    )
    commitment: DecimalString
    called: DecimalString = Field(description="Capital called to `to`, since inception.")
    contributed: DecimalString = Field(
        description="Contributed capital to `to`, since inception: the cash received for "
        "called lines (`called` − `contributed` is receivable, in no capital account)."
    )
    unfunded: DecimalString
