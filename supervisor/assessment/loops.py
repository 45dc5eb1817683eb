"""The closed loops a unit is assessed on besides its cases (好差评, complaints,
supervision orders): how many ratings it was given, how many good and bad, and of the
bad ratings, the complaints and the replies to orders whose time to act fell due in the
period, how many were acted on in time. Pure: the facts and the calendars come in.

- A rating (`evaluated`, level 1-5) is good at 4 or 5, bad (差评) at 1 or 2. A bad rating
  is put right by the case's next `rectified` (one follow-up puts right every bad rating
  before it, as the engine counts), due by 24:00 of the RECTIFY_WORKING_DAYS-th working
  day after the rating (`evaluation.unrectified`'s default).
- A complaint (`complained`) is answered by a `complaint_answered`, the earliest complaint
  still unanswered first, due by 24:00 of the 15th working day after it (contract §8).
- A supervision order (督办单) asks for a reply by its due time, and once more by a new
  due each time it is sent back (`supervisor.orders.rounds`): each reply asked for is
  counted, in time when it came by its due.

A bad rating, a complaint or a reply to an order counts in the period its due time falls
in (24:00 of the last day of a month is that month's), once that time has passed, acted
on in time or not; before it, only once acted on, as in time: in a month still in
progress, what still has time and has not been acted on yet is not counted, neither in
time nor late (`counted`). A rating counts among the ratings of the period it was given
in. Each is counted for the unit its fact names (who handled the case, contract §7; an
order: its case's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from supervisor.core.calendar import CalendarBook
from supervisor.orders import Order, rounds

#: Working days a bad rating has to be put right (rules/canonical.yaml's default).
RECTIFY_WORKING_DAYS: Final = 15
#: Working days a complaint has to be answered (contract §8).
ANSWER_WORKING_DAYS: Final = 15
#: Ratings at or above it are good (好评), at or below BAD_LEVEL bad (差评).
GOOD_LEVEL: Final = 4
BAD_LEVEL: Final = 2
#: The measures (scheme.MEASURES) that need the loops: an assessment whose scheme reads
#: none of them does not read the facts they come from.
LOOP_MEASURES: Final = frozenset(
    {"evaluation_rate", "good_rate", "bad_rate", "bad_rectified_rate", "complaint_answered_rate"}
)
#: The measures that need the supervision orders, and the appeals decided.
ORDER_MEASURES: Final = frozenset({"order_reply_rate"})
APPEAL_MEASURES: Final = frozenset({"appeal_upheld_rate"})


@dataclass(frozen=True)
class LoopFact:
    """One fact of a loop: the unit it names, its case and center, what and when."""

    key: str
    case_id: str
    center_id: str
    event_type: str
    at: datetime  # aware
    level: int | None = None


@dataclass
class LoopCounts:
    """One unit's loops over a period."""

    evaluated: int = 0
    good: int = 0
    bad: int = 0
    bad_due: int = 0
    bad_rectified_in_time: int = 0
    complaints_due: int = 0
    complaints_answered_in_time: int = 0
    order_replies_due: int = 0
    order_replies_in_time: int = 0
    appeals_decided: int = 0
    appeals_upheld: int = 0


def counted(due: datetime, done: datetime | None, now: datetime) -> tuple[bool, bool]:
    """Whether something due at `due` and acted on at `done` (None: not yet) counts at
    `now`, and whether in time (by its due, to the second). It counts once its due time
    has passed, or earlier once acted on (then in time): a month still in progress must
    not count as late what still has time."""
    in_time = done is not None and done <= due
    return due <= now or in_time, in_time


def closed_loops(
    facts: Iterable[LoopFact],
    calendars: CalendarBook,
    since: datetime,
    until: datetime,
    *,
    now: datetime,
) -> dict[str, LoopCounts]:
    """The loops of [since, until) per unit key as they stand at `now` (aware; `counted`),
    from the facts of the period and of enough time before it that every bad rating and
    complaint due in it is among them."""
    by_case: dict[str, list[LoopFact]] = {}
    for one in facts:
        by_case.setdefault(one.case_id, []).append(one)
    found: dict[str, LoopCounts] = {}
    for case_facts in by_case.values():
        case_facts.sort(key=lambda one: one.at)
        _ratings(case_facts, calendars, since, until, now, found)
        _complaints(case_facts, calendars, since, until, now, found)
    return found


def _ratings(
    facts: list[LoopFact],
    calendars: CalendarBook,
    since: datetime,
    until: datetime,
    now: datetime,
    found: dict[str, LoopCounts],
) -> None:
    rectified = [one.at for one in facts if one.event_type == "rectified"]
    for rating in (one for one in facts if one.event_type == "evaluated"):
        counts = found.setdefault(rating.key, LoopCounts())
        level = rating.level or 0
        if since <= rating.at < until:
            counts.evaluated += 1
            counts.good += level >= GOOD_LEVEL
            counts.bad += 1 <= level <= BAD_LEVEL
        if not 1 <= level <= BAD_LEVEL:
            continue
        due = calendars.for_center(rating.center_id).working_deadline(
            rating.at, RECTIFY_WORKING_DAYS
        )
        if not since < due <= until:
            continue
        follow_up = next((at for at in rectified if at >= rating.at), None)
        due_now, in_time = counted(due, follow_up, now)
        counts.bad_due += due_now
        counts.bad_rectified_in_time += in_time


def _complaints(
    facts: list[LoopFact],
    calendars: CalendarBook,
    since: datetime,
    until: datetime,
    now: datetime,
    found: dict[str, LoopCounts],
) -> None:
    waiting: list[LoopFact] = []
    answered: list[tuple[LoopFact, datetime | None]] = []
    for one in facts:
        if one.event_type == "complained":
            waiting.append(one)
        elif one.event_type == "complaint_answered" and waiting:
            answered.append((waiting.pop(0), one.at))
    answered += [(complaint, None) for complaint in waiting]
    for complaint, answer in answered:
        due = calendars.for_center(complaint.center_id).working_deadline(
            complaint.at, ANSWER_WORKING_DAYS
        )
        due_now, in_time = counted(due, answer, now)
        if since < due <= until and due_now:
            counts = found.setdefault(complaint.key, LoopCounts())
            counts.complaints_due += 1
            counts.complaints_answered_in_time += in_time


def order_replies(
    orders: Iterable[tuple[str, Order]], since: datetime, until: datetime, *, now: datetime
) -> dict[str, LoopCounts]:
    """The replies to supervision orders due in (since, until] per unit key as they stand
    at `now` (aware; `counted`: a reply not due yet and not come yet is not counted), and
    how many came by their due (督办单按期回复率)."""
    found: dict[str, LoopCounts] = {}
    for key, order in orders:
        for due, replied in rounds(order):
            due_now, in_time = counted(due, replied, now)
            if since < due <= until and due_now:
                counts = found.setdefault(key, LoopCounts())
                counts.order_replies_due += 1
                counts.order_replies_in_time += in_time
    return found
