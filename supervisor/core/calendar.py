"""Working time under the official Chinese calendar (contract §2).

Working time is measured in seconds of working days: every second of a working day
counts (a limit ends at 24:00, and 0.5 working day is twelve hours of one), no second of
a day off does. That single measure makes deadlines, suspensions, extensions and
fractions one arithmetic: `add()` walks forward over working seconds, `between()` counts
them, and the two are inverse (tests/core/test_calendar.py proves it with hypothesis).

The national schedule (holidays and make-up working days, 调休) comes from the
maintained `holidays` package. The State Council publishes a year's schedule only late in
the year before, so a year the package has no schedule for is *unconfirmed*: it falls
back to weekends plus the statutory holidays computed by the package (no make-up days),
and `unconfirmed_years_seen` tells the adapters to log it and set the metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DAY = 86400.0
_MAX_DAYS = 3660  # no limit in the law comes near ten years; stops runaway loops


@lru_cache(maxsize=1)
def last_confirmed_year() -> int:
    """The last year for which the package carries the State Council's published schedule
    (the package records each year's make-up days as its special holidays)."""
    schedules = holidays.country_holidays("CN").special_public_holidays
    return max(int(year) for year in schedules)


FIRST_CONFIRMED_YEAR = 2001  # the package's schedules start there


class WorkCalendar:
    """The working days of one place (national schedule plus regional days off).

    Args:
        zone: the local time zone; days start and end at local midnight.
        extra_days_off: regional holidays (e.g. Guangxi's 壮族三月三).
        extra_working_days: regional make-up working days.
    """

    def __init__(
        self,
        zone: str = "Asia/Shanghai",
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self.zone = ZoneInfo(zone)
        self._extra_off = frozenset(extra_days_off)
        self._extra_on = frozenset(extra_working_days)
        self._national = holidays.country_holidays("CN")
        self._cache: dict[date, bool] = {}
        self.unconfirmed_years_seen: set[int] = set()

    # -- days --------------------------------------------------------------------------

    def is_confirmed(self, year: int) -> bool:
        return FIRST_CONFIRMED_YEAR <= year <= last_confirmed_year()

    def is_working_day(self, day: date) -> bool:
        known = self._cache.get(day)
        if known is not None:
            return known
        if day in self._extra_on:
            result = True
        elif day in self._extra_off:
            result = False
        elif self.is_confirmed(day.year):
            result = bool(self._national.is_working_day(day))
        else:
            self.unconfirmed_years_seen.add(day.year)
            result = day.weekday() < 5 and day not in self._national
        self._cache[day] = result
        return result

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_DAYS} days after {day}")

    def local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("naive datetime: every time in the engine carries its offset")
        return instant.astimezone(self.zone)

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone)

    def end_of_day(self, instant: datetime) -> datetime:
        """24:00 of the local day of `instant` (the next midnight)."""
        return self.midnight(self.local(instant).date() + timedelta(days=1))

    # -- working seconds ---------------------------------------------------------------

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); 0 when end <= start."""
        start, end = self.local(start), self.local(end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.date()
        for _ in range(_MAX_DAYS * 10):
            day_start, day_end = self.midnight(day), self.midnight(day + timedelta(days=1))
            if day_start >= end:
                break
            if self.is_working_day(day):
                lo, hi = max(start, day_start), min(end, day_end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant at which `seconds` of working time have passed since `start`.

        Earliest, so that a limit used up at the end of a working day ends at 24:00 of that
        day and not at the start of the next working day after a holiday.
        """
        if seconds < 0:
            raise ValueError("working time to add must not be negative")
        cursor = self.local(start)
        remaining = seconds
        if remaining == 0:
            return cursor
        day = cursor.date()
        for _ in range(_MAX_DAYS):
            day_end = self.midnight(day + timedelta(days=1))
            if self.is_working_day(day):
                available = (day_end - cursor).total_seconds()
                if remaining <= available:
                    return cursor + timedelta(seconds=remaining)
                remaining -= available
            cursor = day_end
            day = day + timedelta(days=1)
        raise ValueError(f"working time {seconds}s does not fit in {_MAX_DAYS} days")

    # -- limits (contract §2) ----------------------------------------------------------

    def clock_start(self, accepted_at: datetime) -> datetime:
        """The day of acceptance is not counted: limits run from the next local midnight."""
        return self.end_of_day(accepted_at)

    def working_deadline(self, accepted_at: datetime, working_days: float) -> datetime:
        """N working days: 24:00 of the N-th working day after the day of acceptance."""
        return self.add(self.clock_start(accepted_at), working_days * DAY)

    def natural_deadline(self, accepted_at: datetime, days: float) -> datetime:
        """N calendar days; a last day that is a day off moves to the next working day."""
        return self.roll_to_working(self.clock_start(accepted_at) + timedelta(days=days))

    def roll_to_working(self, end: datetime) -> datetime:
        """If the day an end falls in (its last second's day) is off, end at 24:00 of the
        next working day, as Civil Code Art. 203 moves a last day that is a holiday."""
        end = self.local(end)
        last_day = (end - timedelta(microseconds=1)).date()
        if self.is_working_day(last_day):
            return end
        return self.midnight(self.next_working_day(last_day) + timedelta(days=1))

    def deadline(self, accepted_at: datetime, value: float, unit: str) -> datetime:
        if unit == "working_day":
            return self.working_deadline(accepted_at, value)
        if unit == "natural_day":
            return self.natural_deadline(accepted_at, value)
        raise ValueError(f"unknown limit unit {unit!r}")

    def extend(self, deadline: datetime, value: float, unit: str) -> datetime:
        """A deadline moved later by an approved extension."""
        if unit == "working_day":
            return self.add(deadline, value * DAY)
        if unit == "natural_day":
            return self.roll_to_working(deadline + timedelta(days=value))
        raise ValueError(f"unknown limit unit {unit!r}")
