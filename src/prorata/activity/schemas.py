"""API shapes of a fund's activity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from prorata.http.schemas import ResponseModel


class ActivityOut(ResponseModel):
    id: int = Field(description="The audit entry's number: larger is later.")
    created_at: dt.datetime
    actor_email: str | None = Field(description="Who did it; null: Prorata itself (a job).")
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    client_ip: str | None
