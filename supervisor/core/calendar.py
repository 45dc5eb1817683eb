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

from bisect import bisect_left
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from supervisor.core.yaml_lines import not_yaml

DAY = 86400.0
_EPOCH = date(2001, 1, 1)  # the index starts where the official schedules do
_LAST_YEAR = 2199  # past this a limit is a data error, not a deadline
_MAX_DAYS = 3660  # no limit in the law comes near ten years; stops runaway loops
#: Entries a calendar's memo keeps before it starts afresh (a few MB at most). The memo is
#: keyed by dates and exact instants: deadlines repeat across the many cases accepted on
#: one day with one limit, so the engine computes each once.
MEMO_SIZE = 1 << 16


@lru_cache(maxsize=1)
def last_confirmed_year() -> int:
    """The last year for which the package carries the State Council's published schedule
    (the package records each year's make-up days as its special holidays)."""
    schedules = holidays.country_holidays("CN").special_public_holidays
    return max(int(year) for year in schedules)


FIRST_CONFIRMED_YEAR = 2001  # the package's schedules start there


@lru_cache(maxsize=8)
def _plain_holidays(kind: type) -> bool:
    """Whether a holidays type looks days up as HolidayBase does (WorkCalendar._day_by_day
    inlines those lookups)."""
    base = holidays.HolidayBase
    return all(
        getattr(kind, name, None) is getattr(base, name)
        for name in ("is_working_day", "__contains__", "__keytransform__", "_is_weekend")
    )


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
        # The working-day index: ordinals of working days, and for each the working time
        # accrued at its start and end (seconds since _EPOCH) and its length.
        self._work_days: list[int] = []
        self._work_start: list[float] = []
        self._work_end: list[float] = []
        self._work_length: list[float] = []
        self._indexed_until = _EPOCH.toordinal() - 1
        # Results of the pure working-time functions below, by their arguments. A calendar
        # never changes once built (a rules reload builds new calendars), so an entry never
        # goes stale; the unconfirmed years a computation used were noted when it first ran.
        self._memo: dict[tuple[object, ...], datetime] = {}

    def _remember(self, key: tuple[object, ...], value: datetime) -> datetime:
        memo = self._memo
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[key] = value
        return value

    # -- days --------------------------------------------------------------------------

    def is_confirmed(self, year: int) -> bool:
        return FIRST_CONFIRMED_YEAR <= year <= last_confirmed_year()

    def is_working_day(self, day: date) -> bool:
        if not self.is_confirmed(day.year):
            self.unconfirmed_years_seen.add(day.year)
        return self._working(day)

    def _working(self, day: date) -> bool:
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
            result = day.weekday() < 5 and day not in self._national
        self._cache[day] = result
        return result

    def _day_by_day(self) -> Callable[[date], bool]:
        """`_working` for days taken in order (the index, which takes every day from
        _EPOCH on when a new engine first counts working time): the same result, cached
        the same way, with what `HolidayBase.is_working_day` and `in` do inlined (most of
        the index's time went on their calls). The holidays' year is filled in when the
        first of its days is looked up, as `in` and `is_working_day` would fill it in;
        only for the holiday types whose lookups are HolidayBase's own (_plain_holidays).
        tests/core/test_calendar.py compares both with `_working` for every day."""
        cache, extra_on, extra_off = self._cache, self._extra_on, self._extra_off
        national = self._national
        fill = national.__keytransform__  # fills in the day's year if it is not yet
        contains = dict.__contains__
        filled = [0, False]  # the year last filled in, and whether it is confirmed

        def working(day: date) -> bool:
            known = cache.get(day)
            if known is not None:
                return known
            if day in extra_on:
                result = True
            elif day in extra_off:
                result = False
            else:
                if day.year != filled[0]:
                    fill(day)
                    filled[0], filled[1] = day.year, self.is_confirmed(day.year)
                if filled[1]:
                    # HolidayBase.is_working_day
                    if day.weekday() in national._get_weekend(day):
                        result = day in national.weekend_workdays
                    else:
                        result = not contains(national, day)
                else:
                    result = day.weekday() < 5 and not contains(national, day)
            cache[day] = result
            return result

        return working

    def _used(self, start: datetime, end: datetime) -> None:
        """Note the unconfirmed years a computation spanned (for the log and the metric)."""
        for year in range(self.local(start).year, self.local(end).year + 1):
            if not self.is_confirmed(year):
                self.unconfirmed_years_seen.add(year)

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
    #
    # A prefix index over working days from _EPOCH makes both directions O(log n):
    # cumulative(t) is the working time from the epoch to t, and `_earliest(w)` is the
    # first instant whose cumulative working time is w. The index grows a year at a time,
    # only as far as a query reaches, so an unconfirmed year is flagged only when used.

    def cumulative(self, instant: datetime) -> float:
        local = self.local(instant)
        ordinal = local.date().toordinal()
        self._extend_to(ordinal)
        i = bisect_left(self._work_days, ordinal)
        if i == len(self._work_days):  # after the last working day indexed
            return self._work_end[-1] if self._work_end else 0.0
        total = self._work_start[i]
        if self._work_days[i] == ordinal:
            day_start = self.midnight(local.date())
            total += min((local - day_start).total_seconds(), self._work_length[i])
        return total

    def _earliest(self, work: float) -> datetime:
        """The first instant at which `work` seconds of working time have accrued since the
        epoch: a limit used up at the end of a working day ends at 24:00 of that day, not
        at the start of the next working day after a holiday."""
        while not self._work_end or self._work_end[-1] < work:
            self._extend_to(self._indexed_until + 1)
        i = bisect_left(self._work_end, work)
        offset = work - self._work_start[i]
        return self.midnight(date.fromordinal(self._work_days[i])) + timedelta(seconds=offset)

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); 0 when end <= start."""
        if end <= start:
            return 0.0
        self._used(start, end)
        return max(0.0, self.cumulative(end) - self.cumulative(start))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The earliest instant at which `seconds` of working time have passed since `start`."""
        if start.tzinfo is None:
            raise ValueError("naive datetime: every time in the engine carries its offset")
        # keyed by the instant (a float timestamp tells every microsecond of these years
        # apart): the result depends on the instant only, never on the offset it is written in
        key = ("add", start.timestamp(), seconds)
        known = self._memo.get(key)
        if known is not None:
            return known
        return self._remember(key, self._add(start, seconds))

    def _add(self, start: datetime, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("working time to add must not be negative")
        local = self.local(start)
        if seconds == 0:
            return local
        accrued = self.cumulative(local)
        target = accrued + seconds
        if target <= accrued:  # an amount below float resolution: the next working instant
            day = local.date()
            return local if self.is_working_day(day) else self.midnight(self.next_working_day(day))
        # max(): rounding must never land on the 24:00 before `start`.
        end = max(local, self._earliest(target))
        self._used(local, end)
        return end

    def _extend_to(self, ordinal: int) -> None:
        if ordinal < _EPOCH.toordinal():
            raise ValueError(
                f"{date.fromordinal(ordinal)} is before {_EPOCH}, the calendar's start"
            )
        if ordinal <= self._indexed_until:
            return
        year = date.fromordinal(ordinal).year
        if year > _LAST_YEAR:
            raise ValueError(f"a time in {year} is beyond the calendar's range (to {_LAST_YEAR})")
        last = date(year, 12, 31).toordinal()
        total = self._work_end[-1] if self._work_end else 0.0
        # A working day's length is DAY, its two midnights apart: both carry this
        # calendar's zone, and Python subtracts two datetimes of one tzinfo as wall times
        # (24 hours, DST or not), so it is not computed day by day (a new engine indexes
        # every day from _EPOCH on).
        working = self._working if not _plain_holidays(type(self._national)) else self._day_by_day()
        fromordinal = date.fromordinal
        days, starts, lengths, ends = (
            self._work_days,
            self._work_start,
            self._work_length,
            self._work_end,
        )
        for day_ordinal in range(self._indexed_until + 1, last + 1):
            if working(fromordinal(day_ordinal)):
                days.append(day_ordinal)
                starts.append(total)
                lengths.append(DAY)
                total += DAY
                ends.append(total)
        self._indexed_until = last

    # -- limits (contract §2) ----------------------------------------------------------

    def clock_start(self, accepted_at: datetime) -> datetime:
        """The day of acceptance is not counted: limits run from the next local midnight."""
        return self.end_of_day(accepted_at)

    def working_deadline(self, accepted_at: datetime, working_days: float) -> datetime:
        """N working days: 24:00 of the N-th working day after the day of acceptance.

        It depends on the local day of acceptance only, so it is remembered by that day:
        every case accepted on one day with one limit shares it."""
        key = ("working", self.local(accepted_at).toordinal(), working_days)
        known = self._memo.get(key)
        if known is not None:
            return known
        end = self.add(self.clock_start(accepted_at), working_days * DAY)
        return self._remember(key, end)

    def natural_deadline(self, accepted_at: datetime, days: float) -> datetime:
        """N calendar days; a last day that is a day off moves to the next working day."""
        key = ("natural", self.local(accepted_at).toordinal(), days)
        known = self._memo.get(key)
        if known is not None:
            return known
        end = self.roll_to_working(self.clock_start(accepted_at) + timedelta(days=days))
        return self._remember(key, end)

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
        if deadline.tzinfo is None:
            raise ValueError("naive datetime: every time in the engine carries its offset")
        key = ("extend", deadline.timestamp(), value, unit)
        known = self._memo.get(key)
        if known is not None:
            return known
        return self._remember(key, self._extend(deadline, value, unit))

    def _extend(self, deadline: datetime, value: float, unit: str) -> datetime:
        if unit == "working_day":
            return self.add(deadline, value * DAY)
        if unit == "natural_day":
            return self.roll_to_working(deadline + timedelta(days=value))
        raise ValueError(f"unknown limit unit {unit!r}")


class RegionSpec(BaseModel):
    """Days off and make-up working days a region announces (e.g. Guangxi's 壮族三月三),
    applied to every center whose division code starts with `prefix`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(pattern=r"^[0-9]{2,9}$")
    name: str = ""
    days_off: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[RegionSpec] = Field(default_factory=list)


class CalendarBook:
    """The working calendar of each center: national, plus its region's configured days
    (the longest matching division-code prefix wins). Read from `<rules>/calendar/*.yaml`."""

    def __init__(self, zone: str = "Asia/Shanghai", regions: Iterable[RegionSpec] = ()) -> None:
        self.zone = zone
        self.default = WorkCalendar(zone)
        self._regions = sorted(regions, key=lambda r: len(r.prefix), reverse=True)
        self._by_prefix: dict[str, WorkCalendar] = {}
        self._by_center: dict[str, WorkCalendar] = {}

    @classmethod
    def load(cls, directory: Path | str | None, zone: str = "Asia/Shanghai") -> CalendarBook:
        """All `*.yaml` files in `directory` (absent directory: the national calendar only).
        A file with an unknown key or a bad date is refused with its name and the problem."""
        regions: list[RegionSpec] = []
        folder = Path(directory) if directory is not None else None
        if folder is not None and folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                try:
                    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                    regions += CalendarConfig.model_validate(document).regions
                except yaml.YAMLError as exc:
                    raise ValueError(not_yaml(path, exc)) from None
                except ValidationError as exc:
                    error = exc.errors()[0]
                    where = ".".join(str(part) for part in error["loc"])
                    raise ValueError(f"{path}: {where}: {error['msg']}") from None
                except ValueError as exc:  # YAML's own date parsing: 2026-04-31
                    raise ValueError(f"{path}: not a valid date: {exc}") from None
        return cls(zone, regions)

    @classmethod
    def single(cls, calendar: WorkCalendar) -> CalendarBook:
        """A book in which every center uses `calendar`."""
        book = cls(str(calendar.zone))
        book.default = calendar
        return book

    def for_center(self, center_id: str) -> WorkCalendar:
        known = self._by_center.get(center_id)
        if known is not None:
            return known
        calendar = self.default
        for region in self._regions:
            if center_id.startswith(region.prefix):
                calendar = self._by_prefix.get(region.prefix) or self._build(region)
                break
        self._by_center[center_id] = calendar
        return calendar

    def _build(self, region: RegionSpec) -> WorkCalendar:
        calendar = WorkCalendar(self.zone, region.days_off, region.working_days)
        self._by_prefix[region.prefix] = calendar
        return calendar

    def local(self, instant: datetime) -> datetime:
        return self.default.local(instant)

    @property
    def unconfirmed_years_seen(self) -> set[int]:
        years = set(self.default.unconfirmed_years_seen)
        for calendar in self._by_prefix.values():
            years |= calendar.unconfirmed_years_seen
        return years
