"""Working days and office hours, as much as the simulator needs of them.

Why not the project's official calendar: the simulator only has to place events at
plausible times (weekdays, 08:30-12:00 and 14:30-17:30) and know roughly where a case
stands against its limit, so that LATE stories really are late and normal ones are not.
Weekends are the default days off; a caller that wants holidays passes its own
`is_workday`. Deadlines follow the contract (§2): the day of acceptance is not counted,
a limit ends at 24:00 of its last day, a natural-day limit ending on a day off moves to
the next working day. Stages follow it too (§8): elapsed working time from their start.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

from supervisor.simulate.catalogue import Limit

WorkdayRule = Callable[[date], bool]

#: Office hours of a working day: morning and afternoon sessions.
OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(12, 0)),
    (time(14, 30), time(17, 30)),
)

_DAY = timedelta(days=1)
_MAX_DAYS = 20 * 366  # how far `after` looks for working days before it gives up


def weekdays(day: date) -> bool:
    """The default rule: Monday to Friday are working days."""
    return day.weekday() < 5


class WorkCalendar:
    """Working-day arithmetic in one time zone."""

    def __init__(self, tz: tzinfo, is_workday: WorkdayRule = weekdays) -> None:
        self.tz = tz
        self._is_workday = is_workday

    def is_workday(self, day: date) -> bool:
        return self._is_workday(day)

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def add_workdays(self, day: date, n: int) -> date:
        """The n-th working day after `day` (n >= 1), or `day` itself for n == 0."""
        current = day
        for _ in range(n):
            current += _DAY
            while not self._is_workday(current):
                current += _DAY
        return current

    def workdays_before(self, day: date, n: int) -> date:
        """The n-th working day before `day` (n >= 1), `day` itself not counted."""
        current = day
        for _ in range(n):
            current -= _DAY
            while not self._is_workday(current):
                current -= _DAY
        return current

    def deadline(self, accepted_at: datetime, limit: Limit) -> datetime:
        """When a limit counted from `accepted_at` ends (contract §2)."""
        start = accepted_at.astimezone(self.tz).date()
        if limit.unit == "working_day":
            last = self.add_workdays(start, limit.days)
        else:
            last = start + timedelta(days=limit.days)
            while not self._is_workday(last):
                last += _DAY
        return self.midnight(last + _DAY)

    def after(self, start: datetime, limit: Limit) -> datetime:
        """The instant `limit` of elapsed time has passed since `start`: how the engine
        times a handling stage (contract §8). Natural days are calendar time; a working
        day is 24 hours of working days, so a 1-working-day stage that starts on a Friday
        at 10:00 ends on the next working day at 10:00."""
        if limit.unit == "natural_day":
            return start + timedelta(days=limit.value)
        remaining = _DAY * limit.value
        cursor = start.astimezone(self.tz)
        for _ in range(_MAX_DAYS):
            day = cursor.date()
            midnight = self.midnight(day + _DAY)
            if self._is_workday(day):
                if remaining <= midnight - cursor:
                    return cursor + remaining
                remaining -= midnight - cursor
            cursor = midnight
        raise ValueError(f"no end to {limit} from {start}: too few working days")

    def fraction_elapsed(self, accepted_at: datetime, limit: Limit, at: datetime) -> float:
        """The share of the limit used up at `at` (0 before the counting starts).

        Counting starts at 00:00 after the day of acceptance. Working-day limits count
        whole working days of 24 hours; natural-day limits count calendar time up to
        the (possibly moved) deadline.
        """
        start = self.midnight(accepted_at.astimezone(self.tz).date() + _DAY)
        if at <= start:
            return 0.0
        if limit.unit == "natural_day":
            total = self.deadline(accepted_at, limit) - start
            return (at - start) / total
        elapsed = timedelta(0)
        day = start.date()
        local = at.astimezone(self.tz)
        while day < local.date():
            if self._is_workday(day):
                elapsed += _DAY
            day += _DAY
        if self._is_workday(local.date()):
            elapsed += local - self.midnight(local.date())
        return elapsed / (_DAY * limit.value)

    def fraction_point(self, accepted_at: datetime, limit: Limit, share: float) -> datetime:
        """The moment `share` of the limit is used up: the inverse of `fraction_elapsed`."""
        start = self.midnight(accepted_at.astimezone(self.tz).date() + _DAY)
        if limit.unit == "natural_day":
            return start + (self.deadline(accepted_at, limit) - start) * share
        remaining = _DAY * limit.value * share
        day = start.date()
        while True:
            if self._is_workday(day):
                if remaining <= _DAY:
                    return self.midnight(day) + remaining
                remaining -= _DAY
            day += _DAY

    def office_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Office-hour stretches of working days that lie within [start, end]."""
        spans: list[tuple[datetime, datetime]] = []
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            if self._is_workday(day):
                for opens, closes in OFFICE_HOURS:
                    lo = max(start, datetime.combine(day, opens, tzinfo=self.tz))
                    hi = min(end, datetime.combine(day, closes, tzinfo=self.tz))
                    if lo < hi:
                        spans.append((lo, hi))
            day += _DAY
        return spans

    def office_points(
        self, rng: random.Random, start: datetime, end: datetime, n: int
    ) -> list[datetime]:
        """n sorted moments in (start, end], in office hours when there are any.

        Falls back to plain wall-clock time when the stretch holds no office hours at
        all (e.g. a live case accepted late on a Friday evening with a 1-day limit).
        """
        if n <= 0:
            return []
        spans = self.office_intervals(start, end)
        total = sum((hi - lo).total_seconds() for lo, hi in spans)
        if total <= 0:
            width = max((end - start).total_seconds(), float(n))
            offsets = sorted(rng.uniform(0, width) for _ in range(n))
            return [_whole(start + timedelta(seconds=s)) for s in offsets]
        points: list[datetime] = []
        for offset in sorted(rng.uniform(0, total) for _ in range(n)):
            for lo, hi in spans:
                length = (hi - lo).total_seconds()
                if offset <= length:
                    points.append(_whole(lo + timedelta(seconds=offset)))
                    break
                offset -= length
        return points

    def office_time_on(self, rng: random.Random, day: date) -> datetime:
        """A random moment within the office hours of `day` (working or not)."""
        minutes = [
            (opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute)
            for opens, closes in OFFICE_HOURS
        ]
        total = sum(hi - lo for lo, hi in minutes)
        pick = rng.uniform(0, total)
        for lo, hi in minutes:
            if pick <= hi - lo:
                return _whole(self.midnight(day) + timedelta(minutes=lo + pick))
            pick -= hi - lo
        return _whole(self.midnight(day) + timedelta(minutes=minutes[-1][1] - 1))


def _whole(moment: datetime) -> datetime:
    """Drop fractions of a second: centers report whole seconds."""
    return moment.replace(microsecond=0)
