"""Case stories for all of Hechi's centers, released as their time comes.

Why stories and not independent events: the rule engine judges a case by the order and
timing of its events, so the simulator plans a whole case at once (see `story.py`) and
only then releases its events as their `occurred_at` comes. The module is pure: no
Kafka, no wall clock, no I/O. Every choice comes from the caller's `random.Random` and
every time from the `now` the caller passes in, so a seed and a `now` reproduce the
same events.

Three kinds of case, in configurable shares:
- normal: the contract's order, concluded well within the promised limit;
- late: accepted, then left open past the promised deadline;
- irregular: one violation drawn from `IRREGULARITIES`, otherwise normal (among them
  the item catalogue's: a late stage, a promise longer than the catalogue's, an item
  code the center's place does not catalogue, a complaint never answered).

Items come from the catalogue (`catalogue.py`): a center takes the items its place (the
city, or its county) catalogues at its level, and files each case under the item's code.

The backlog (why: the live wall must show yellow and red within a minute of start) is
a set of cases under way, accepted 1-15 working days before `now` and still open, whose
past events go out first, grouped by center like township centers uploading their
batches late. Its late cases are already past their promised deadline (red) or past 80%
of it (yellow); its normal ones have used less than 60% of their limit. Live cases then
start at the current time; the driver asks `due(now)` for what has happened since.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from supervisor.centers import Center, CenterRegistry
from supervisor.simulate.catalogue import Catalogue, Item
from supervisor.simulate.story import (
    IRREGULARITIES,
    IRREGULARITY_WEIGHTS,
    CasePlan,
    Ending,
    Event,
    Kind,
    StoryWriter,
    suits,
)
from supervisor.simulate.worktime import WorkCalendar, WorkdayRule, weekdays

__all__ = ["IRREGULARITIES", "SHANGHAI", "CaseStory", "Event", "Kind", "Scenario"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: How busy a center is, relative to a township center.
_CENTER_WEIGHT = {"city": 10.0, "county": 4.0, "township": 1.0}

#: Share of late backlog cases already past the deadline (the rest are past 80% of it).
_RED_SHARE = 0.7

#: Tries to find a backlog case still open at `now` before taking whatever came last.
_BACKLOG_ATTEMPTS = 40

#: Events that end a case.
_ENDINGS = frozenset({"concluded", "not_accepted", "withdrawn"})


@dataclass(frozen=True)
class CaseStory:
    """One planned case: its events in order, and what it was meant to show."""

    case_id: str
    center_id: str
    item: Item
    kind: Kind
    irregularity: str | None
    events: tuple[Event, ...]
    times: tuple[datetime, ...]
    accepted_at: datetime | None
    deadline: datetime | None
    ending: Ending

    def open_at(self, now: datetime) -> bool:
        """True when the case has begun by `now` and has not ended (concluded, refused,
        withdrawn) by then."""
        return self.times[0] <= now and not any(
            at <= now and event["type"] in _ENDINGS
            for event, at in zip(self.events, self.times, strict=True)
        )

    def until(self, now: datetime) -> list[Event]:
        """The events that have happened by `now`."""
        return [event for event, at in zip(self.events, self.times, strict=True) if at <= now]


class Scenario:
    """Plans case stories and releases their events as their time comes."""

    def __init__(
        self,
        rng: random.Random,
        registry: CenterRegistry,
        catalogue: Catalogue,
        *,
        late_share: float = 0.15,
        irregular_share: float = 0.1,
        tz: tzinfo = SHANGHAI,
        is_workday: WorkdayRule = weekdays,
    ) -> None:
        if not (0 <= late_share <= 1 and 0 <= irregular_share <= 1):
            raise ValueError("late_share and irregular_share must lie between 0 and 1")
        if late_share + irregular_share > 1:
            raise ValueError("late_share + irregular_share must not exceed 1")
        self._rng = rng
        self._catalogue = catalogue
        self._centers = [c for c in registry.all() if catalogue.offered_at(c)]
        if not self._centers:
            raise ValueError("no registered center offers any catalogued item")
        self._center_weights = [_CENTER_WEIGHT[c.level] for c in self._centers]
        self.late_share = late_share
        self.irregular_share = irregular_share
        self.calendar = WorkCalendar(tz, is_workday)
        self._serials: dict[str, set[int]] = {}
        self._queue: list[tuple[datetime, int, Event]] = []
        self._seq = 0

    # -- releasing events -------------------------------------------------------------

    def backlog(self, now: datetime, count: int) -> list[Event]:
        """Plan `count` stories begun days ago; return their past events, queue the rest."""
        return self.schedule(self.backlog_stories(now, count), now)

    def start_case(self, now: datetime) -> list[Event]:
        """Start one live case at `now`; return its events due now, queue the rest."""
        return self.schedule([self.new_story(now)], now)

    def schedule(self, stories: Iterable[CaseStory], now: datetime) -> list[Event]:
        """Queue the future events of `stories` and return the past ones.

        Past events come grouped by center (centers in random order), the way late batch
        uploads arrive; within a center's batch, case by case (cases in the order they
        began), each case's events together and in order. Why case by case and not in
        time order: a supervisor running on the wall clock sees a late case's `accepted`
        from days ago as overdue until its `concluded` arrives, so the two should arrive
        as close together as possible.
        """
        batches: dict[str, list[tuple[datetime, int, list[Event]]]] = {}
        for story in stories:
            past: list[Event] = []
            for at, event in zip(story.times, story.events, strict=True):
                if at <= now:
                    past.append(event)
                else:
                    self._seq += 1
                    heapq.heappush(self._queue, (at, self._seq, event))
            if past:
                self._seq += 1
                batches.setdefault(story.center_id, []).append((story.times[0], self._seq, past))
        order = sorted(batches)
        self._rng.shuffle(order)
        return [
            event
            for code in order
            for _, _, events in sorted(batches[code], key=lambda entry: entry[:2])
            for event in events
        ]

    def due(self, now: datetime, limit: int | None = None) -> list[Event]:
        """Queued events with occurred_at <= now, oldest first (at most `limit`)."""
        out: list[Event] = []
        while self._queue and self._queue[0][0] <= now and (limit is None or len(out) < limit):
            out.append(heapq.heappop(self._queue)[2])
        return out

    @property
    def pending(self) -> int:
        """How many planned events still lie in the future (or were not taken yet)."""
        return len(self._queue)

    def next_due_at(self) -> datetime | None:
        return self._queue[0][0] if self._queue else None

    # -- planning stories -------------------------------------------------------------

    def new_story(self, start: datetime) -> CaseStory:
        """A live case: the applicant walks in at `start`."""
        start = start.astimezone(self.calendar.tz).replace(microsecond=0)
        kind, irregularity = self._pick_kind()
        center, pool = self._pick_center_for(kind, irregularity)
        item = self._rng.choices(pool, weights=[i.weight for i in pool])[0]
        gaps = self._supplement_gaps(irregularity)
        return self._plan(center, item, kind, irregularity, start, gaps, now=start)

    def backlog_stories(self, now: datetime, count: int) -> list[CaseStory]:
        """Cases under way at `now`, accepted 1-15 working days before it.

        Only cases still open at `now` are taken (late yellow ones may go back up to 20
        working days). Why not finished ones too: a supervisor on the wall clock that
        receives a finished case's `accepted` from days ago cannot know that `concluded`
        follows, and would rightly raise its passed deadline: a backlog of finished
        cases would paint normal cases red.
        """
        now = now.astimezone(self.calendar.tz)
        stories: list[CaseStory] = []
        for _ in range(count):
            kind, irregularity = self._pick_kind()
            center, pool = self._pick_center_for(kind, irregularity)
            if kind == "late":
                item, accepted_on = self._late_anchor(pool, now)
                stories.append(
                    self._backlog_story(center, item, kind, irregularity, accepted_on, now)
                )
                continue
            for _attempt in range(_BACKLOG_ATTEMPTS):
                item, accepted_on = self._open_anchor(pool, now)
                story = self._backlog_story(center, item, kind, irregularity, accepted_on, now)
                if story.open_at(now):
                    break
            stories.append(story)
        return stories

    def _open_anchor(self, pool: list[Item], now: datetime) -> tuple[Item, date]:
        """An item of `pool` not decided on the spot, and an acceptance day 1-15 working
        days back that leaves most of its limit (a case under way concludes by 60% of it)."""
        cal = self.calendar
        procedural = [i for i in pool if not i.immediate] or pool
        for _attempt in range(_BACKLOG_ATTEMPTS):
            item = self._weighted(procedural)
            options = [
                day
                for back in range(1, 16)
                for day in [cal.workdays_before(now.date(), back)]
                if cal.fraction_elapsed(
                    cal.midnight(day) + timedelta(hours=12), item.promised_limit, now
                )
                < 0.4
            ]
            if options:
                return item, self._rng.choice(options)
        return item, cal.workdays_before(now.date(), 1)

    def _backlog_story(
        self,
        center: Center,
        item: Item,
        kind: Kind,
        irregularity: str | None,
        accepted_on: date,
        now: datetime,
    ) -> CaseStory:
        cal = self.calendar
        gaps = self._supplement_gaps(irregularity)
        # Supplements take working days: start early enough to be accepted on the day.
        first_day = cal.workdays_before(accepted_on, sum(gaps)) if gaps else accepted_on
        submitted = cal.office_time_on(self._rng, first_day)
        return self._plan(center, item, kind, irregularity, submitted, gaps, now=now)

    def _pick_center(self) -> Center:
        return self._rng.choices(self._centers, weights=self._center_weights)[0]

    def _pick_kind(self) -> tuple[Kind, str | None]:
        draw = self._rng.random()
        if draw < self.late_share:
            return "late", None
        if draw < self.late_share + self.irregular_share:
            return "irregular", self._rng.choices(IRREGULARITIES, IRREGULARITY_WEIGHTS)[0]
        return "normal", None

    def _pick_center_for(self, kind: Kind, irregularity: str | None) -> tuple[Center, list[Item]]:
        """A center, and the items a case of this kind could be filed under there (a
        center with none is drawn again; after many tries, any of its items will do)."""
        for _attempt in range(_BACKLOG_ATTEMPTS):
            center = self._pick_center()
            pool = self._candidates(center, kind, irregularity)
            if pool:
                return center, pool
        return center, list(self._catalogue.offered_at(center))

    def _candidates(self, center: Center, kind: Kind, irregularity: str | None) -> list[Item]:
        """Items a case of this kind can be filed under at `center`: its place's items
        that suit the kind (see `story.suits`); for an unknown item, another place's
        item that this place does not catalogue."""
        if irregularity == "catalogue.unknown_item":
            return self._catalogue.strangers(center)
        return [i for i in self._catalogue.offered_at(center) if suits(i, kind, irregularity)]

    def _weighted(self, items: list[Item]) -> Item:
        return self._rng.choices(items, weights=[i.weight for i in items])[0]

    def _supplement_gaps(self, irregularity: str | None) -> list[int]:
        """Working days the applicant needs to bring missing materials, per request."""
        cycles = 2 if irregularity == "supplement.repeated" else int(self._rng.random() < 0.12)
        return [self._rng.randint(1, 3) for _ in range(cycles)]

    def _late_anchor(self, pool: list[Item], now: datetime) -> tuple[Item, date]:
        """An item and acceptance day that make a case red (or yellow) at `now`.

        Red: the promised deadline passed at least an hour ago, accepted at most 15
        working days ago. Yellow: 82-98% of the limit used. Yellow needs a limit long
        enough for `now` to fall in its last fifth, so some moments only allow red.
        """
        cal = self.calendar
        red = self._rng.random() < _RED_SHARE
        for attempt in range(40):
            red = red or attempt >= 20
            item = self._weighted(pool)
            options: list[date] = []
            for back in range(1, 21):
                day = cal.workdays_before(now.date(), back)
                probe = cal.midnight(day) + timedelta(hours=12)
                if red:
                    overdue = now - cal.deadline(probe, item.promised_limit)
                    if back <= 15 and overdue >= timedelta(hours=1):
                        options.append(day)
                elif 0.82 <= cal.fraction_elapsed(probe, item.promised_limit, now) < 0.98:
                    options.append(day)
            if options:
                return item, self._rng.choice(options)
        item = self._weighted(pool)
        return item, cal.workdays_before(now.date(), 20)

    def _case_id(self, center: Center, year: int) -> str:
        """<center code>-<year>-<7 digits>, unique within this scenario."""
        used = self._serials.setdefault(center.code, set())
        serial = self._rng.randint(1, 9_999_999)
        while serial in used:
            serial = self._rng.randint(1, 9_999_999)
        used.add(serial)
        return f"{center.code}-{year}-{serial:07d}"

    def _plan(
        self,
        center: Center,
        item: Item,
        kind: Kind,
        irregularity: str | None,
        submitted: datetime,
        gaps: list[int],
        *,
        now: datetime,
    ) -> CaseStory:
        department = item.department_at(center)
        writer = StoryWriter(self._rng, center, self._case_id(center, submitted.year), department)
        # A case of another place's item is filed under the code it would have here.
        code = f"{center.code[:6]}-{item.base_code}" if item.place != center.code[:6] else None
        plan = CasePlan(self._rng, self.calendar, writer, item, kind, irregularity, now, code)
        ending = plan.run(submitted, gaps)
        return CaseStory(
            case_id=writer.case_id,
            center_id=center.code,
            item=item,
            kind=kind,
            irregularity=irregularity,
            events=tuple(writer.events),
            times=tuple(writer.times),
            accepted_at=plan.accepted_at,
            deadline=plan.deadline,
            ending=ending,
        )
