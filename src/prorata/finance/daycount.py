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


def period_days(*, first: dt.date, last: dt.date, convention: DayCount) -> int:
    """Days of the period ``first`` .. ``last`` (both included) under the convention, as fees
    accrue: the end of ``last`` minus the start of ``first`` on the convention's calendar, so
    consecutive periods add up to their union exactly, whatever the convention.

    - ``act/365``, ``act/360``: calendar days (a calendar quarter is 90 to 92 days);
    - ``30/360``: every month has 30 days; the last day of a month takes up what its month
      lacks or has over (the 31st counts no day, the last of February three or two), so a
      calendar month is always 30. (The US rule on the day after the period counted 1–30
      January as a full month and 31 January as one more day: not additive.)
    """
    return _end_of_day(last, check_day_count(convention)) - day_position(first, convention)


def day_position(day: dt.date, convention: DayCount) -> int:
    """Where ``day`` starts on the convention's calendar, in days: the cumulative form of
    `period_days` (the days of ``first`` .. the day before ``x`` are ``day_position(x) −
    day_position(first)``)."""
    if check_day_count(convention) != "30/360":
        return day.toordinal()
    return 360 * day.year + 30 * (day.month - 1) + min(day.day - 1, 30)


def _end_of_day(day: dt.date, convention: DayCount) -> int:
    """Where ``day`` ends: the start of the next day (computed without forming it, so the
    last representable date has an end too); on 30/360 a month's last day ends at its 30th."""
    if convention != "30/360":
        return day.toordinal() + 1
    month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return 360 * day.year + 30 * (day.month - 1) + (30 if month_end else day.day)
