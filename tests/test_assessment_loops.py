"""The closed loops of the assessment (supervisor/assessment/loops.py): ratings given in a
month, bad ratings and complaints that fell due in it and whether they were acted on in
time, to the second, on Hechi's calendar; and the rates they give."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from supervisor.assessment.loops import LoopCounts, LoopFact, closed_loops
from supervisor.assessment.measures import measures_of
from supervisor.core.calendar import CalendarBook
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
    loops = closed_loops(facts, CALENDARS, SINCE, UNTIL)
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
        loops = closed_loops(facts, CALENDARS, since, until)
        assert loops["D"].complaints_due == 1, answered
        assert loops["D"].complaints_answered_in_time == in_time, answered
