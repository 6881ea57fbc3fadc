"""Business days: weekdays that are not holidays of the fund's calendar.

A calendar is named by a code of the `holidays` library: a country (ISO 3166-1 alpha-2, e.g.
`US`, `GB`, `DE`, with that country's public holidays) or a financial market (e.g. `NYSE`,
`ECB`, with its trading holidays). No calendar (None) means weekdays only. Holidays are computed
from the library's rules for any year, so a due date years ahead is counted the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Final

import holidays

SATURDAY: Final = 5


@functools.cache
def supported() -> frozenset[str]:
    """Every code a fund's calendar may take."""
    return frozenset(holidays.list_supported_countries()) | frozenset(
        holidays.list_supported_financial()
    )


def check_calendar(code: str) -> str:
    """`code` if it names a calendar, else ValueError saying so."""
    if code not in supported():
        raise ValueError(
            f"unknown holiday calendar {code!r}: a country code such as US, GB or DE, or a "
            "market such as NYSE or ECB"
        )
    return code


@functools.cache
def _holidays(code: str) -> holidays.HolidayBase:
    if code in holidays.list_supported_financial():
        return holidays.financial_holidays(code)
    return holidays.country_holidays(code)


def is_business_day(day: dt.date, calendar: str | None) -> bool:
    if day.weekday() >= SATURDAY:
        return False
    return calendar is None or day not in _holidays(check_calendar(calendar))


def add_business_days(start: dt.date, days: int, calendar: str | None = None) -> dt.date:
    """The date `days` business days after `start` (OverflowError past year 9999)."""
    current = start
    while days > 0:
        current += dt.timedelta(days=1)
        if is_business_day(current, calendar):
            days -= 1
    return current
