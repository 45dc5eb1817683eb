"""The closed loops of the assessment (supervisor/assessment/loops.py): ratings given in a
month, bad ratings and complaints that fell due in it and whether they were acted on in
time, to the second, on Hechi's calendar; and the rates they give."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from supervisor import orders
from supervisor.assessment.loops import (
    LoopCounts,
    LoopFact,
    closed_loops,
    counted,
    order_replies,
)
from supervisor.assessment.measures import measures_of
from supervisor.core.calendar import CalendarBook
from supervisor.orders import Order
from supervisor.store.queries import Counts

ROOT = Path(__file__).resolve().parent.parent
CALENDARS = CalendarBook.load(ROOT / "rules" / "calendar")
SINCE = datetime.fromisoformat("2026-11-01T00:00:00+08:00")
UNTIL = datetime.fromisoformat("2026-12-01T00:00:00+08:00")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text if "T" in text else f"2026-{text}T10:00:00+08:00")


def rated(unit: str, case: str, when: str, level: int) -> LoopFact:
    return LoopFact(unit, case, "451221", "evaluated", at(when), level)


def did(unit: str, case: str, kind: str, when: str) -> LoopFact:
    return LoopFact(unit, case, "451221", kind, at(when))


def test_november_counted_by_hand() -> None:
    """15 working days after Monday 11-02 end at 24:00 of Monday 11-23; after Tuesday
    10-20, at 24:00 of Tuesday 11-10; after Tuesday 11-03, at 24:00 of Tuesday 11-24."""
    facts = [
        rated("A", "r1", "11-02", 1),  # put right 11-20: in time
        did("A", "r1", "rectified", "11-20"),
        rated("A", "r2", "11-02", 2),  # put right 11-25: late
        did("A", "r2", "rectified", "11-25"),
        rated("A", "r3", "11-10", 5),  # good
        rated("A", "r5", "10-20", 1),  # rated in October, due 11-10, never put right
        rated("B", "r4", "11-20", 2),  # due in December: not due this month
        did("B", "c1", "complained", "11-02"),  # due 11-23 24:00, answered 11-05
        did("B", "c1", "complained", "11-03"),  # due 11-24 24:00, answered 11-30: late
        did("B", "c1", "complaint_answered", "11-05"),
        did("B", "c1", "complaint_answered", "11-30"),
        did("B", "c2", "complained", "11-20"),  # due in December
        # to the second: put right at the due instant is in time, a second after is not
        rated("C", "r6", "2026-11-02T09:00:00+08:00", 1),
        did("C", "r6", "rectified", "2026-11-24T00:00:00+08:00"),
        rated("C", "r7", "2026-11-02T09:00:00+08:00", 1),
        did("C", "r7", "rectified", "2026-11-24T00:00:01+08:00"),
    ]
    loops = closed_loops(facts, CALENDARS, SINCE, UNTIL, now=UNTIL)
    assert loops["A"] == LoopCounts(evaluated=3, good=1, bad=2, bad_due=3, bad_rectified_in_time=1)
    assert loops["B"] == LoopCounts(
        evaluated=1, bad=1, complaints_due=2, complaints_answered_in_time=1
    )
    assert loops["C"] == LoopCounts(evaluated=2, bad=2, bad_due=2, bad_rectified_in_time=1)
    measures = measures_of(Counts(("A",), concluded=4), loops["A"])
    assert measures["evaluation_rate"] == 0.75
    assert measures["good_rate"] == 1 / 3 and measures["bad_rate"] == 2 / 3
    assert measures["bad_rectified_rate"] == 1 / 3
    b = measures_of(Counts(("B",)), loops["B"])
    assert b["complaint_answered_rate"] == 0.5 and b["evaluation_rate"] is None


def test_a_complaint_due_across_national_day_and_a_make_up_saturday() -> None:
    """Complained Wednesday 2026-09-30: 1-7 October are off, Saturday 10-10 is a make-up
    working day; the 15th working day after is Tuesday 10-27 (8, 9, 10, 12-16, 19-23, 26,
    27), so the answer is due at 24:00 of 10-27."""
    since = datetime.fromisoformat("2026-10-01T00:00:00+08:00")
    until = datetime.fromisoformat("2026-11-01T00:00:00+08:00")
    for answered, in_time in (
        ("2026-10-28T00:00:00+08:00", 1),
        ("2026-10-28T00:00:01+08:00", 0),
    ):
        facts = [
            did("D", "c9", "complained", "2026-09-30T10:00:00+08:00"),
            did("D", "c9", "complaint_answered", answered),
        ]
        loops = closed_loops(facts, CALENDARS, since, until, now=until)
        assert loops["D"].complaints_due == 1, answered
        assert loops["D"].complaints_answered_in_time == in_time, answered


DECEMBER = datetime.fromisoformat("2026-12-01T00:00:00+08:00")
JANUARY = datetime.fromisoformat("2027-01-01T00:00:00+08:00")
#: Monday 12-07 10:00: December is in progress.
MID_DECEMBER = at("12-07")


def order(order_id: str, issued: str, due: str, *replies: str) -> Order:
    """An order issued at 10:00 of `issued`, due at 24:00 of `due` (MM-DD), replied at
    10:00 of each of `replies` (each reply after the first answers a return, due a week
    after the due before)."""
    by = {"name": "王监察", "role": "inspector", "id": "svt_aaaaaaaaaaaa"}
    due_at = at(due).replace(hour=0) + timedelta(days=1)
    found = orders.apply(
        None,
        orders.issue_record(
            order_id,
            center_id="451221",
            case_id=f"case-{order_id}",
            alert_id=None,
            requirement="请核实并整改",
            days=5,
            due_at=due_at,
            by=by,
            at=at(issued),
        ),
        1,
    )
    for n, reply in enumerate(replies):
        if n:
            due_at += timedelta(days=7)
            returned = orders.step_record(
                order_id, "return", center_id="451221", note="请补充", by=by,
                at=at(reply) - timedelta(hours=1), due_at=due_at,
            )  # fmt: skip
            found = orders.apply(found, returned, 2 * n)
        replied = orders.step_record(
            order_id, "reply", center_id="451221", note="已整改",
            by={**by, "role": "director"}, at=at(reply),
        )  # fmt: skip
        found = orders.apply(found, replied, 2 * n + 1)
    return found


def test_a_month_in_progress_counts_no_reply_as_late_before_it_is_due() -> None:
    """At 12-07 10:00: two replies came in time (due 12-04, 12-03); three orders are due
    12-11 and 12-15 and not replied yet: not counted, neither in time nor late; one due
    12-15 was replied early (in time); one due 12-04 was never replied (late). 3 of 4."""
    due = [
        ("A", order("DB-1", "11-27", "12-04", "12-03")),
        ("A", order("DB-2", "11-26", "12-03", "12-02")),
        ("A", order("DB-3", "12-04", "12-11")),
        ("A", order("DB-4", "12-04", "12-11")),
        ("A", order("DB-5", "12-08", "12-15")),
        ("A", order("DB-6", "12-08", "12-15", "12-06")),
        ("A", order("DB-7", "11-27", "12-04")),
    ]
    now = order_replies(due, DECEMBER, JANUARY, now=MID_DECEMBER)
    assert now["A"] == LoopCounts(order_replies_due=4, order_replies_in_time=3)
    # once the month is over, every reply due in it counts: the three never given late
    over = order_replies(due, DECEMBER, JANUARY, now=JANUARY)
    assert over["A"] == LoopCounts(order_replies_due=7, order_replies_in_time=3)
    # November is over: a reply due 11-27 and given 12-05 is late there
    late = order_replies(
        [("A", order("DB-8", "11-20", "11-27", "12-05"))], SINCE, UNTIL, now=MID_DECEMBER
    )
    assert late["A"] == LoopCounts(order_replies_due=1, order_replies_in_time=0)


def test_a_month_in_progress_counts_no_bad_rating_or_complaint_as_late_before_it_is_due() -> None:
    """At 12-07 10:00. 15 working days after Monday 11-16 end at 24:00 of Monday 12-07;
    after Tuesday 11-17, at 24:00 of Tuesday 12-08; after Monday 11-09, at 24:00 of
    Monday 11-30 (November's)."""
    facts = [
        rated("A", "r1", "11-16", 1),  # due 12-07 24:00, not put right yet: not counted
        rated("A", "r2", "11-17", 2),  # due 12-08 24:00, put right 12-04: in time
        did("A", "r2", "rectified", "12-04"),
        did("B", "c1", "complained", "11-16"),  # due 12-07 24:00, not answered: not yet
        did("B", "c2", "complained", "11-17"),  # due 12-08 24:00, answered 12-03
        did("B", "c2", "complaint_answered", "12-03"),
        did("B", "c3", "complained", "11-09"),  # due 11-30 24:00: November's
    ]
    mid = closed_loops(facts, CALENDARS, DECEMBER, JANUARY, now=MID_DECEMBER)
    assert (mid["A"].bad_due, mid["A"].bad_rectified_in_time) == (1, 1)
    assert (mid["B"].complaints_due, mid["B"].complaints_answered_in_time) == (1, 1)
    # the next morning r1 and c1 are past their due: late
    later = closed_loops(facts, CALENDARS, DECEMBER, JANUARY, now=at("12-08"))
    assert (later["A"].bad_due, later["A"].bad_rectified_in_time) == (2, 1)
    assert (later["B"].complaints_due, later["B"].complaints_answered_in_time) == (2, 1)
    # to the second: at the due instant it counts, a second before it does not
    due = datetime.fromisoformat("2026-12-08T00:00:00+08:00")
    assert counted(due, None, due) == (True, False)
    assert counted(due, None, due - timedelta(seconds=1)) == (False, False)
    assert counted(due, due, due - timedelta(seconds=1)) == (True, True)
