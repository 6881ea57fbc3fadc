"""API shapes of distributions."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from prorata.distributions.models import DistributionKind
from prorata.http.schemas import DecimalString, RequestModel
from prorata.notices.models import NoticeRelease


class DistributionCreate(RequestModel):
    date: dt.date = Field(description="The day the cash is distributed.")
    amount: DecimalString = Field(description="Total distributed, in the fund's currency.")
    kind: DistributionKind
    deal_id: uuid.UUID | None = Field(
        default=None,
        description="The deal whose proceeds these are; required by an American waterfall.",
    )
    realisation_id: uuid.UUID | None = Field(
        default=None,
        description="The realisation (POST …/deals/{d}/realisations) whose proceeds these are: "
        "the amount is taken from its proceeds not yet distributed (more is a 409), on or after "
        "its date, and of the same deal as `deal_id` when given. Cancelling the distribution "
        "gives the amount back.",
    )


class TierOut(BaseModel):
    lp: DecimalString
    gp: DecimalString


class TiersOut(BaseModel):
    return_of_capital: TierOut
    preferred_return: TierOut
    catch_up: TierOut
    carried_interest: TierOut


class DistributionLineOut(BaseModel):
    investor_id: uuid.UUID
    amount: DecimalString = Field(description="The investor's gross share of the distribution.")
    lp_amount: DecimalString = Field(description="Paid to the investor.")
    gp_amount: DecimalString = Field(description="Carried interest to the GP (carry earned).")
    carry_paid: DecimalString = Field(description="Of `gp_amount`, paid to the GP now.")
    carry_escrowed: DecimalString = Field(
        description="Of `gp_amount`, held in escrow until the clawback (the fund's "
        "`carry_holdback`); carry_paid + carry_escrowed = gp_amount."
    )
    set_off: DecimalString = Field(
        description="Withheld from `lp_amount` to pay the investor's lines in default (interest "
        "first); paid to the investor: lp_amount − set_off."
    )
    tiers: TiersOut


class DistributionSummary(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    number: int = Field(description="Its number in the fund (Distribution No. 2).")
    deal_id: uuid.UUID | None
    realisation_id: uuid.UUID | None = Field(
        description="The realisation whose proceeds it distributes, if it names one."
    )
    kind: DistributionKind
    date: dt.date
    amount: DecimalString
    currency: str
    lp_amount: DecimalString
    gp_amount: DecimalString = Field(description="Carried interest to the GP (carry earned).")
    carry_paid: DecimalString = Field(description="Of `gp_amount`, paid to the GP now.")
    carry_escrowed: DecimalString = Field(
        description="Of `gp_amount`, held in escrow until the clawback: carry_paid + "
        "carry_escrowed = gp_amount."
    )
    clawback: DecimalString = Field(
        description="American waterfall: GP carry so far beyond what a European waterfall "
        "would give on the same flows (0 otherwise)."
    )
    interim_clawback: DecimalString = Field(
        description="What the GP would give back if the fund ended right after this "
        "distribution: the fund's clawback measure then (GET /funds/{f}/clawback)."
    )
    created_at: dt.datetime
    cancelled_at: dt.datetime | None = Field(
        description="When it was cancelled (its ledger entries reversed); null while it stands."
    )
    made_by: uuid.UUID | None = Field(description="Who made it (never who approves its notices).")
    notices: NoticeRelease | None = Field(
        description="Whether its notices may be mailed: `not_required` (the fund needs no "
        "approval), `awaiting_approval`, `scheduled` (for `notices_send_at`) or `released`."
    )
    notices_approved_by: uuid.UUID | None
    notices_approved_at: dt.datetime | None
    notices_send_at: dt.datetime | None
    notices_sent_at: dt.datetime | None = Field(
        description="When every notice's e-mail had been sent or given up (`notices.sent`)."
    )


class DistributionOut(DistributionSummary):
    tiers: TiersOut
    lines: list[DistributionLineOut]
