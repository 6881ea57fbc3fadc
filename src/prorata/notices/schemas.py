"""API shapes of releasing notices."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator

from prorata.http.schemas import RequestModel


class NoticeSchedule(RequestModel):
    send_at: dt.datetime = Field(
        description="When to mail the notices (with a time zone), at most a year ahead."
    )

    @field_validator("send_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("give send_at with its time zone (2027-01-04T09:00:00Z)")
        return value
