"""API shapes of allocations."""

from __future__ import annotations

import datetime as dt
import uuid

from prorata.http.schemas import DecimalString, RequestModel, ResponseModel


class AllocationAmount(RequestModel):
    amount: DecimalString


class AllocationOut(ResponseModel):
    fund_id: uuid.UUID
    deal_id: uuid.UUID
    investor_id: uuid.UUID
    amount: DecimalString
    updated_at: dt.datetime


class DealAllocated(ResponseModel):
    """One deal's allocations summed: what investors were allocated of it, and how many."""

    deal_id: uuid.UUID
    allocated: DecimalString
    investors: int
