"""Headline figures and per-center statistics, counted from the worker's case facts.

Pure (no Kafka, no clock of its own unless none is passed): the web service feeds each
fact of the facts topic to `StatsBook.add` (the format is in supervisor/worker/facts.py)
and asks

- `headline(now, scope)`: the wall's figures: cases accepted today, open cases, cases
  concluded today, and the on-time rate today and this month;
- `per_center(start, end, scope)`: per center over a period of local days, for
  performance evaluation (绩效考核);
- `last_event_at(center)` and `freshness(scope)`: the latest event time and the latest
  arrival, so a frozen wall is never mistaken for a quiet one.

`scope` is a predicate on center ids (a director sees their center and those below it);
None is every center.

What is counted, in the book's time zone (default Asia/Shanghai; a fact's instants are
converted to it, so "today" and "this month" are the centers' local days):

- accepted: once per case, on the day of its acceptance, from the fact of the `accepted`
  event that is the case's acceptance (its `accepted_at` is the event's time: a second,
  out-of-order `accepted` is not counted);
- concluded: once per case, on the day of its conclusion, from the fact of its
  `concluded` event; judged on time or overdue by the fact's `on_time`. A case concluded
  without a known acceptance has no deadline: it counts as concluded but in neither;
- on-time rate = on time / (on time + overdue): None while no concluded case was judged;
- not accepted (不予受理) and withdrawn: on the day of the event that set the status;
- open cases: those whose latest fact says `open` (accepted, not concluded nor withdrawn).

A late event that re-judges a case after its conclusion (an approved extension uploaded
afterwards moves the deadline; an earlier `concluded` uploaded late moves the day) moves
its counts, for the cases closed within the last `recent` closings.

Duplicates change nothing: a fact whose (case_id, event_type, occurred_at) is among the
last `recent` facts is ignored (the worker sends a fact again only right after a crash);
a closing already counted is not counted again.

Memory is bounded, whatever runs for how long:

- counters per (local day, center) for the last `days` days (default 400) up to the day
  of the latest arrival; older days are dropped and facts for them are not counted, and
  neither are facts dated more than a day after their arrival (a clock or data error);
- the open cases (case id -> center), the only set that grows with the caseload, as the
  number of cases under way does;
- the keys of the last `recent` facts and the last `recent` closed cases (default
  50,000 each: a few tens of MB at most);
- per center, its latest event time and latest arrival.

So after a restart the book is as complete as the facts it is fed: the facts topic
should keep at least as many days as the statistics are asked for.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

Scope = Callable[[str], bool]

#: How far an event may be dated after its arrival and still count as the latest event
#: (clocks differ a little; a date in the future is a data error, not a fresh center).
CLOCK_SKEW: Final = timedelta(minutes=10)

#: The years a fact's times may fall in. Wide (no real case is near either end), but
#: well inside what dates can hold: a time near year 1 or 9999 overflows when converted
#: to the book's time zone or moved by a day, and such a fact is refused as malformed.
FACT_YEARS: Final = range(1900, 3000)

_CLOSED: Final = ("concluded", "not_accepted", "withdrawn")
_STATUSES: Final = ("received", "open", *_CLOSED)


@dataclass(slots=True)
class Counts:
    """What happened at one center on one day (or over a period)."""

    accepted: int = 0
    concluded: int = 0
    on_time: int = 0
    overdue: int = 0
    not_accepted: int = 0
    withdrawn: int = 0

    def add(self, other: Counts) -> None:
        self.accepted += other.accepted
        self.concluded += other.concluded
        self.on_time += other.on_time
        self.overdue += other.overdue
        self.not_accepted += other.not_accepted
        self.withdrawn += other.withdrawn

    @property
    def on_time_rate(self) -> float | None:
        """On time among the concluded cases judged against a deadline; None if none."""
        judged = self.on_time + self.overdue
        return self.on_time / judged if judged else None

    def is_empty(self) -> bool:
        return not any(
            (
                self.accepted,
                self.concluded,
                self.on_time,
                self.overdue,
                self.not_accepted,
                self.withdrawn,
            )
        )


@dataclass(frozen=True)
class CenterStats:
    """One center over a period."""

    center_id: str
    accepted: int
    concluded: int
    on_time: int
    overdue: int
    not_accepted: int
    withdrawn: int
    on_time_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "center_id": self.center_id,
            "accepted": self.accepted,
            "concluded": self.concluded,
            "on_time": self.on_time,
            "overdue": self.overdue,
            "not_accepted": self.not_accepted,
            "withdrawn": self.withdrawn,
            "on_time_rate": self.on_time_rate,
        }


@dataclass(frozen=True)
class Headline:
    """The wall's figures for one local day (`day`) and its month so far."""

    day: date
    accepted_today: int
    open_cases: int
    concluded_today: int
    on_time_today: int
    overdue_today: int
    on_time_rate_today: float | None
    concluded_month: int
    on_time_month: int
    overdue_month: int
    on_time_rate_month: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "accepted_today": self.accepted_today,
            "open_cases": self.open_cases,
            "concluded_today": self.concluded_today,
            "on_time_today": self.on_time_today,
            "overdue_today": self.overdue_today,
            "on_time_rate_today": self.on_time_rate_today,
            "concluded_month": self.concluded_month,
            "on_time_month": self.on_time_month,
            "overdue_month": self.overdue_month,
            "on_time_rate_month": self.on_time_rate_month,
        }


@dataclass(frozen=True)
class Freshness:
    """The latest event time from the centers and the latest fact's arrival."""

    last_event_at: datetime | None
    last_arrival_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_event_at": _iso(self.last_event_at),
            "last_arrival_at": _iso(self.last_arrival_at),
        }


@dataclass(frozen=True)
class _Closing:
    """How a closed case was counted: its status, day (None: not counted), judgement."""

    center: str
    status: str
    day: date | None
    on_time: bool | None = None


@dataclass(frozen=True)
class _Fact:
    case_id: str
    center_id: str
    event_type: str
    occurred_at: datetime
    status: str
    accepted_at: datetime | None
    concluded_at: datetime | None
    on_time: bool | None


@dataclass
class _Seen:
    last_event_at: datetime | None = None
    last_arrival_at: datetime | None = None


@dataclass(eq=False)
class StatsBook:
    """The statistics of the facts added so far (see the module docstring)."""

    timezone: str = "Asia/Shanghai"
    days: int = 400
    recent: int = 50_000
    clock: Callable[[], datetime] | None = None  # arrival time when add() is given none

    _tz: tzinfo = field(init=False, repr=False)
    _counts: dict[date, dict[str, Counts]] = field(init=False, repr=False)
    _open: dict[str, str] = field(init=False, repr=False)
    _open_by_center: dict[str, int] = field(init=False, repr=False)
    _keys: set[int] = field(init=False, repr=False)
    _key_order: deque[int] = field(init=False, repr=False)
    _closed: OrderedDict[str, _Closing] = field(init=False, repr=False)
    _seen: dict[str, _Seen] = field(init=False, repr=False)
    _today: date | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.days < 1 or self.recent < 1:
            raise ValueError("days and recent must be at least 1")
        self._tz = ZoneInfo(self.timezone)
        self._counts = {}
        self._open = {}
        self._open_by_center = {}
        self._keys = set()
        self._key_order = deque()
        self._closed = OrderedDict()
        self._seen = {}
        self._today = None

    # -- feeding -------------------------------------------------------------------------

    def add(self, fact: Mapping[str, Any], arrived_at: datetime | None = None) -> bool:
        """Count one fact; False if it was a duplicate. `arrived_at` is when it reached
        the web service (default: the clock, else now). Raises ValueError for a document
        that is not a fact (the caller logs and skips it)."""
        item = _parse(fact)
        if arrived_at is None:
            arrived_at = self.clock() if self.clock is not None else datetime.now(self._tz)
        arrived_at = _aware(arrived_at, "arrived_at").astimezone(self._tz)
        self._advance(arrived_at.date())
        key = hash((item.case_id, item.event_type, item.occurred_at))
        if key in self._keys:
            return False
        self._remember(key)
        self._note_seen(item, arrived_at)
        was_open = item.case_id in self._open
        self._set_open(item)
        if (
            item.event_type == "accepted"
            and item.accepted_at == item.occurred_at
            and not was_open
            and item.status != "received"
        ):
            day = self._countable(item.occurred_at)
            if day is not None:
                self._bucket(day, item.center_id).accepted += 1
        self._close(item)
        return True

    def _advance(self, today: date) -> None:
        """Drop the days that fell out of the window when the arrival day moves on."""
        if self._today is not None and today <= self._today:
            return
        self._today = today
        first = today - timedelta(days=self.days - 1)
        for day in [d for d in self._counts if d < first]:
            del self._counts[day]

    def _remember(self, key: int) -> None:
        self._keys.add(key)
        self._key_order.append(key)
        while len(self._key_order) > self.recent:
            self._keys.discard(self._key_order.popleft())

    def _note_seen(self, item: _Fact, arrived_at: datetime) -> None:
        seen = self._seen.setdefault(item.center_id, _Seen())
        if seen.last_arrival_at is None or arrived_at > seen.last_arrival_at:
            seen.last_arrival_at = arrived_at
        occurred = item.occurred_at.astimezone(self._tz)
        if occurred <= arrived_at + CLOCK_SKEW and (
            seen.last_event_at is None or occurred > seen.last_event_at
        ):
            seen.last_event_at = occurred

    def _set_open(self, item: _Fact) -> None:
        center = self._open.get(item.case_id)
        if center is not None and (item.status != "open" or center != item.center_id):
            del self._open[item.case_id]
            self._open_by_center[center] -= 1
            if not self._open_by_center[center]:
                del self._open_by_center[center]
        if item.status == "open" and item.case_id not in self._open:
            self._open[item.case_id] = item.center_id
            self._open_by_center[item.center_id] = self._open_by_center.get(item.center_id, 0) + 1

    def _close(self, item: _Fact) -> None:
        """Count a closing once; move it when a later fact re-judges the case."""
        before = self._closed.get(item.case_id)
        after: _Closing | None = None
        if item.status in _CLOSED:
            concluded = item.status == "concluded"
            when = item.concluded_at if concluded else item.occurred_at
            if concluded:
                originates = (
                    item.event_type == "concluded" and item.concluded_at == item.occurred_at
                )
            else:
                originates = item.event_type == item.status
            if before is None and not originates:
                return  # closed before the book's memory: counted then, or never known
            if before is not None and before.status == item.status and not concluded:
                after = before  # a later event of a refused or withdrawn case changes nothing
            else:
                day = self._countable(when) if when is not None else None
                after = _Closing(
                    item.center_id, item.status, day, item.on_time if concluded else None
                )
        if before == after:
            if after is not None:
                self._closed.move_to_end(item.case_id)
            return
        if before is not None:
            self._count_closing(before, -1)
            del self._closed[item.case_id]
        if after is not None:
            self._count_closing(after, +1)
            self._closed[item.case_id] = after
            while len(self._closed) > self.recent:
                self._closed.popitem(last=False)

    def _count_closing(self, closing: _Closing, sign: int) -> None:
        if closing.day is None:
            return
        counts = (
            self._bucket(closing.day, closing.center)
            if sign > 0
            else self._counts.get(closing.day, {}).get(closing.center)
        )
        if counts is None:  # the day has left the window since
            return
        if closing.status == "concluded":
            counts.concluded += sign
            if closing.on_time is True:
                counts.on_time += sign
            elif closing.on_time is False:
                counts.overdue += sign
        elif closing.status == "not_accepted":
            counts.not_accepted += sign
        else:
            counts.withdrawn += sign

    def _countable(self, instant: datetime) -> date | None:
        """The local day an instant counts on, or None outside the kept window."""
        day = instant.astimezone(self._tz).date()
        assert self._today is not None
        if day < self._today - timedelta(days=self.days - 1) or day > self._today + timedelta(
            days=1
        ):
            return None
        return day

    def _bucket(self, day: date, center: str) -> Counts:
        return self._counts.setdefault(day, {}).setdefault(center, Counts())

    # -- asking --------------------------------------------------------------------------

    def headline(self, now: datetime, scope: Scope | None = None) -> Headline:
        """The figures of `now`'s local day and month, over the centers in `scope`."""
        today = _aware(now, "now").astimezone(self._tz).date()
        day = self._sum(today, today, scope)
        month = self._sum(today.replace(day=1), today, scope)
        open_cases = sum(
            n for center, n in self._open_by_center.items() if scope is None or scope(center)
        )
        return Headline(
            day=today,
            accepted_today=day.accepted,
            open_cases=open_cases,
            concluded_today=day.concluded,
            on_time_today=day.on_time,
            overdue_today=day.overdue,
            on_time_rate_today=day.on_time_rate,
            concluded_month=month.concluded,
            on_time_month=month.on_time,
            overdue_month=month.overdue,
            on_time_rate_month=month.on_time_rate,
        )

    def per_center(
        self, start: date, end: date, scope: Scope | None = None
    ) -> dict[str, CenterStats]:
        """Each center in `scope` with anything counted from local day `start` to `end`
        (both included), by center id. Days before `kept_since` are no longer kept."""
        totals: dict[str, Counts] = {}
        for day, centers in self._counts.items():
            if start <= day <= end:
                for center, counts in centers.items():
                    if scope is None or scope(center):
                        totals.setdefault(center, Counts()).add(counts)
        return {
            center: CenterStats(
                center_id=center,
                accepted=c.accepted,
                concluded=c.concluded,
                on_time=c.on_time,
                overdue=c.overdue,
                not_accepted=c.not_accepted,
                withdrawn=c.withdrawn,
                on_time_rate=c.on_time_rate,
            )
            for center, c in sorted(totals.items())
            if not c.is_empty()
        }

    def open_cases(self, scope: Scope | None = None) -> dict[str, int]:
        """Open cases by center."""
        return {
            center: n
            for center, n in sorted(self._open_by_center.items())
            if scope is None or scope(center)
        }

    def last_event_at(self, center_id: str) -> datetime | None:
        """The latest event time of a center's facts (None: none seen)."""
        seen = self._seen.get(center_id)
        return seen.last_event_at if seen else None

    def freshness(self, scope: Scope | None = None) -> Freshness:
        """The latest event time and arrival over the centers in `scope`."""
        events = [
            s.last_event_at
            for c, s in self._seen.items()
            if s.last_event_at is not None and (scope is None or scope(c))
        ]
        arrivals = [
            s.last_arrival_at
            for c, s in self._seen.items()
            if s.last_arrival_at is not None and (scope is None or scope(c))
        ]
        return Freshness(max(events, default=None), max(arrivals, default=None))

    @property
    def kept_since(self) -> date | None:
        """The first local day whose counts are kept (None before the first fact)."""
        return None if self._today is None else self._today - timedelta(days=self.days - 1)

    def _sum(self, start: date, end: date, scope: Scope | None) -> Counts:
        total = Counts()
        day = start
        while day <= end:
            for center, counts in self._counts.get(day, {}).items():
                if scope is None or scope(center):
                    total.add(counts)
            day += timedelta(days=1)
        return total


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return value


def _instant(document: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"fact: {name} must be an ISO date-time")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"fact: {name} is not an ISO date-time") from None
    _aware(instant, f"fact: {name}")
    if instant.year not in FACT_YEARS:
        raise ValueError(
            f"fact: {name} lies outside the years {FACT_YEARS.start}–{FACT_YEARS.stop - 1}"
        )
    return instant


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"fact: {name} must be a non-empty string")
    return value


def _parse(document: Mapping[str, Any]) -> _Fact:
    if not isinstance(document, Mapping):
        raise ValueError("a fact must be a JSON object")
    status = _text(document, "status")
    if status not in _STATUSES:
        raise ValueError("fact: unknown status")
    on_time = document.get("on_time")
    if on_time is not None and not isinstance(on_time, bool):
        raise ValueError("fact: on_time must be true, false or null")
    occurred_at = _instant(document, "occurred_at", required=True)
    assert occurred_at is not None
    return _Fact(
        case_id=_text(document, "case_id"),
        center_id=_text(document, "center_id"),
        event_type=_text(document, "event_type"),
        occurred_at=occurred_at,
        status=status,
        accepted_at=_instant(document, "accepted_at", required=False),
        concluded_at=_instant(document, "concluded_at", required=False),
        on_time=on_time,
    )
