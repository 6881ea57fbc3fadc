"""Day-count conventions: how much of a year lies between two dates when interest accrues.

A year fraction is a day count divided by a year basis:

- ``act/365``: actual calendar days / 365 (leap days count, the basis does not change);
- ``act/360``: actual calendar days / 360;
- ``30/360``: US (bond basis) 30/360: every month has 30 days. With dates Y1-M1-D1 and
  Y2-M2-D2: D1 = min(D1, 30); if D1 is then 30, D2 = min(D2, 30); days =
  360 × (Y2 − Y1) + 30 × (M2 − M1) + (D2 − D1); basis 360.

The fraction is signed: it is negative when ``end`` is before ``start``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Final, Literal, get_args

DayCount = Literal["act/365", "act/360", "30/360"]
DAY_COUNTS: Final[tuple[DayCount, ...]] = get_args(DayCount)


def check_day_count(convention: str) -> DayCount:
    """Return ``convention`` as a `DayCount`, or raise ValueError if it is not one we know."""
    for known in DAY_COUNTS:
        if convention == known:
            return known
    raise ValueError(f"unknown day count {convention!r}; expected one of {DAY_COUNTS}")


def year_basis(convention: DayCount) -> int:
    """Days in the year the convention divides by."""
    return 365 if check_day_count(convention) == "act/365" else 360


def days_between(*, start: dt.date, end: dt.date, convention: DayCount) -> int:
    """Day count from ``start`` to ``end`` under the convention (the numerator of the fraction)."""
    if check_day_count(convention) != "30/360":
        return (end - start).days
    d1 = min(start.day, 30)
    # The 31st of the end month counts as the 30th only when the start was at month end too.
    d2 = min(end.day, 30) if d1 == 30 else end.day
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def days_30_360_inclusive(*, first: dt.date, last: dt.date) -> int:
    """Days of the period ``first`` .. ``last`` (both included) when every month has 30, as fee
    periods are charged: the last day of a month takes up what its month lacks or has over (the
    31st counts no day, the last of February three or two), so consecutive periods add up to
    their union and a calendar month is always 30. (The US rule on the day after the period
    counted 1–30 January as a full month and 31 January as one more day.)"""
    return _end_of_day_360(last) - _start_of_day_360(first)


def _start_of_day_360(day: dt.date) -> int:
    """Position of the start of ``day`` on a calendar of twelve 30-day months."""
    return 360 * day.year + 30 * (day.month - 1) + min(day.day - 1, 30)


def _end_of_day_360(day: dt.date) -> int:
    """Position of the end of ``day``: a month's last day ends at its 30th."""
    month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return 360 * day.year + 30 * (day.month - 1) + (30 if month_end else day.day)
