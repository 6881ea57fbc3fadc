"""API shapes of deals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from prorata.deals.models import DealStatus
from prorata.http.schemas import LABEL, DecimalString, RequestModel, ResponseModel

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=LABEL)]
Instrument = Annotated[str, Field(min_length=1, max_length=100, pattern=LABEL)]


class DealCreate(RequestModel):
    name: Name
    company: Name | None = None
    instrument: Instrument | None = None
    invested_amount: DecimalString | None = None
    invested_on: dt.date | None = None
    status: DealStatus = DealStatus.open


class DealUpdate(RequestModel):
    name: Name | None = None
    company: Name | None = None
    instrument: Instrument | None = None
    invested_amount: DecimalString | None = None
    invested_on: dt.date | None = None
    status: DealStatus | None = None


class DealOut(ResponseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    name: str
    company: str | None
    instrument: str | None
    invested_amount: DecimalString | None
    invested_on: dt.date | None
    status: DealStatus
    realised_on: dt.date | None = Field(
        description="The day the deal was realised in full (its realisations' cost_realised "
        "reached its cost): the latest realisation's date; null while any cost is held. "
        "Metrics on an earlier date see the deal held."
    )
    created_at: dt.datetime


class RealisationCreate(RequestModel):
    date: dt.date = Field(description="The day of the exit or write-down.")
    proceeds: DecimalString = Field(
        description="What the fund received for the part sold; 0 for a write-down or write-off."
    )
    cost_realised: DecimalString = Field(
        description="The part of the deal's cost sold or written off: at most the cost not yet "
        "realised."
    )


class RealisationOut(BaseModel):
    id: uuid.UUID
    deal_id: uuid.UUID
    date: dt.date
    proceeds: DecimalString
    cost_realised: DecimalString
    gain: DecimalString = Field(
        description="The realised gain (negative: loss): proceeds − cost_realised, booked to the "
        "investors' capital accounts on `date` by their contributed capital to the deal."
    )
    distributed: DecimalString = Field(
        description="What of the proceeds standing distributions naming this realisation "
        "(`realisation_id`) distributed."
    )
    undistributed: DecimalString = Field(
        description="proceeds − distributed: what a distribution naming it may still take."
    )
    created_at: dt.datetime
    cancelled_at: dt.datetime | None = Field(
        description="When it was cancelled (its gain_loss entries reversed on their own "
        "dates); null while it stands."
    )


class RealisationsOut(BaseModel):
    """A deal's cost and its realisations."""

    deal_id: uuid.UUID
    currency: str
    cost: DecimalString = Field(
        description="Invested cost: the contributed capital booked for the deal (cash received "
        "for its investment call items), or its set `invested_amount` when there is none."
    )
    realised_cost: DecimalString = Field(
        description="Σ cost_realised of its standing (not cancelled) realisations."
    )
    remaining_cost: DecimalString = Field(description="cost − realised_cost.")
    proceeds: DecimalString = Field(description="Σ proceeds of its realisations.")
    realised_gain: DecimalString = Field(description="Σ gain of its realisations.")
    distributed: DecimalString = Field(
        description="Σ distributed: of the proceeds, what distributions naming a realisation "
        "distributed."
    )
    undistributed: DecimalString = Field(description="proceeds − distributed.")
    realised_on: dt.date | None = Field(
        description="The day the deal was realised in full; null while any cost is held."
    )
    items: list[RealisationOut] = Field(
        description="Every realisation in date order, cancelled ones too (their figures are "
        "not in the sums above)."
    )
