"""The working-day index a calendar builds from 2001 on (WorkCalendar._extend_to) is what
day-by-day lookups give: each day's length is DAY, and `_day_by_day` (the holidays'
lookups inlined) says what `_working` says, for every day the calendar can count."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from supervisor.core import calendar as calendar_module
from supervisor.core.calendar import _EPOCH, _LAST_YEAR, DAY, WorkCalendar

REGIONAL = {
    "extra_days_off": [date(2026, 4, 20), date(2026, 4, 21), date(2030, 1, 2)],
    "extra_working_days": [date(2026, 4, 26), date(2031, 6, 7)],
}


@pytest.mark.parametrize("regional", [False, True])
def test_day_by_day_says_what_working_says_for_every_day(regional: bool) -> None:
    extra = REGIONAL if regional else {}
    slow = WorkCalendar("Asia/Shanghai", **extra)
    fast = WorkCalendar("Asia/Shanghai", **extra)
    # a day looked up before the index is built is remembered, and wins, in both
    for cal in (slow, fast):
        assert cal.is_working_day(date(2010, 10, 9))
    working = fast._day_by_day()
    day, last = _EPOCH, date(_LAST_YEAR, 12, 31)
    while day <= last:
        assert working(day) == slow._working(day), day
        day += timedelta(days=1)
    assert fast._cache == slow._cache
    assert dict(fast._national) == dict(slow._national)
    assert fast._national.years == slow._national.years
    assert fast.unconfirmed_years_seen == slow.unconfirmed_years_seen


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_the_index_is_the_one_built_day_by_day(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = WorkCalendar(zone, **REGIONAL)
    until = ZoneInfo(zone)
    fast.cumulative(datetime(2031, 12, 31, 12, tzinfo=until))
    with monkeypatch.context() as patch:
        patch.setattr(calendar_module, "_plain_holidays", lambda kind: False)
        slow = WorkCalendar(zone, **REGIONAL)
        slow.cumulative(datetime(2031, 12, 31, 12, tzinfo=until))
    assert fast._work_days == slow._work_days
    assert fast._work_start == slow._work_start
    assert fast._work_end == slow._work_end
    assert fast._work_length == slow._work_length
    assert fast._cache == slow._cache
    # a day is DAY long, its two midnights apart, also where the clocks change
    for ordinal, length in zip(fast._work_days, fast._work_length, strict=True):
        day = date.fromordinal(ordinal)
        apart = fast.midnight(day + timedelta(days=1)) - fast.midnight(day)
        assert length == apart.total_seconds() == DAY


def test_a_holidays_type_with_lookups_of_its_own_is_asked_day_by_day() -> None:
    import holidays

    class Own(holidays.HolidayBase):
        def is_working_day(self, key: object) -> bool:
            return True

    assert calendar_module._plain_holidays(type(holidays.country_holidays("CN")))
    assert not calendar_module._plain_holidays(Own)
