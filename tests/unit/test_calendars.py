"""Business days skip weekends and the fund's calendar's holidays (the `holidays` library)."""

from __future__ import annotations

import datetime as dt

import pytest

from prorata.finance import calendars


@pytest.mark.parametrize(
    ("start", "days", "calendar", "expected"),
    [
        # Weekdays only: Friday + 1 is Monday; Christmas is a working day.
        (dt.date(2026, 12, 4), 1, None, dt.date(2026, 12, 7)),
        (dt.date(2026, 12, 22), 3, None, dt.date(2026, 12, 25)),
        # US federal holidays: Christmas (Friday 2026-12-25) is skipped.
        (dt.date(2026, 12, 22), 3, "US", dt.date(2026, 12, 28)),
        # England: Christmas Friday, Boxing Day (Saturday) observed on Monday 2026-12-28.
        (dt.date(2026, 12, 22), 3, "GB", dt.date(2026, 12, 29)),
        # NYSE: Good Friday 2026-04-03 is a market holiday, not a US federal one.
        (dt.date(2026, 4, 1), 2, "NYSE", dt.date(2026, 4, 6)),
        (dt.date(2026, 4, 1), 2, "US", dt.date(2026, 4, 3)),
        # Ten business days over US Thanksgiving (Thursday 2026-11-26).
        (dt.date(2026, 11, 20), 10, "US", dt.date(2026, 12, 7)),
    ],
)
def test_business_days_skip_the_calendars_holidays(
    start: dt.date, days: int, calendar: str | None, expected: dt.date
) -> None:
    assert calendars.add_business_days(start, days, calendar) == expected


def test_a_calendar_is_a_known_country_or_market() -> None:
    assert {"US", "GB", "DE", "NYSE", "ECB"} <= calendars.supported()
    assert calendars.check_calendar("NYSE") == "NYSE"
    with pytest.raises(ValueError, match="unknown holiday calendar 'XX'"):
        calendars.check_calendar("XX")
    assert not calendars.is_business_day(dt.date(2026, 7, 3), "US")  # July 4th observed
    assert calendars.is_business_day(dt.date(2026, 7, 3), None)
