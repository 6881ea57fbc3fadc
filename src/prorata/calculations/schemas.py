"""API shapes of the calculation endpoints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from prorata.http.schemas import (
    Currency,
    DecimalString,
    Irr,
    PositiveDecimalString,
    RateString,
    RequestModel,
)

DealId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
# Calculations run on dates a fund can have (JSON Schema cannot bound a date, so the router
# checks `EARLIEST`..`LATEST` and answers a rule violation outside it).
Date = dt.date
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2200, 12, 31)


class Weight(RequestModel):
    id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
    weight: PositiveDecimalString


class ProrataRequest(RequestModel):
    total: DecimalString
    currency: Currency
    weights: Annotated[list[Weight], Field(min_length=1, max_length=10_000)]


class Part(BaseModel):
    id: str
    amount: DecimalString


class ProrataResponse(BaseModel):
    parts: list[Part]


class CashFlowIn(RequestModel):
    date: Date
    amount: DecimalString


class XirrRequest(RequestModel):
    cash_flows: Annotated[list[CashFlowIn], Field(min_length=1, max_length=1_000)]


class XirrResponse(BaseModel):
    irr: Irr | None = Field(
        description="The annual rate, ACT/365, as a fraction (0.1 = 10 %), rounded half-even "
        "to 10 decimals; greater than -1, with as many integer digits as it has (absurd flows "
        "can give thousands). Null without a root. With several roots, the one nearest 0.1."
    )
    multiple_roots: bool = Field(
        description="True when the NPV has more than one root (the others are in `roots`)."
    )
    roots: list[Irr] = Field(
        description="The roots found, ascending: at most 5, those nearest 0.1; empty without one."
    )


class TermsIn(RequestModel):
    style: Literal["european", "american"] = "european"
    pref_rate: RateString = Decimal("0.08")
    catch_up: RateString = Decimal("1")
    carry: RateString = Decimal("0.20")
    day_count: Literal["act/365", "act/360", "30/360"] = "act/365"


class FlowIn(RequestModel):
    date: Date
    amount: DecimalString
    deal_id: DealId | None = None


class WaterfallRequest(RequestModel):
    terms: TermsIn = TermsIn()
    currency: Currency
    contributions: Annotated[list[FlowIn], Field(min_length=1, max_length=200)]
    proceeds: Annotated[list[FlowIn], Field(min_length=1, max_length=200)]


class SplitOut(BaseModel):
    lp: DecimalString
    gp: DecimalString


class TierOut(SplitOut):
    tier: Literal["return_of_capital", "preferred_return", "catch_up", "carried_interest"]


class WaterfallResponse(BaseModel):
    lp_total: DecimalString
    gp_total: DecimalString
    clawback: DecimalString
    tiers: list[TierOut]
    explanation: list[str]
