"""Every canonical rule of contract §4 (all but `center.silent`, which watches centers, not
cases): the case that fires it, with its `alert_id`, severity and `raised_at` to the
second, and the near miss that just does not. Then the worked examples of contract §2
that tests/core/test_engine.py does not already run through the engine.

Times are Beijing time. 2026 calendar facts used below (State Council schedule): National
Day 1-7 October off, Saturday 10 October a make-up working day, Sunday 11 October off;
Guangxi's 壮族三月三 2026 is Sunday 19 and Monday 20 April (rules/calendar/regions.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import pytest

from supervisor.core.alerts import Alert
from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner

from .factories import ROOT, accepted, engine, event

CASE = "451221-2026-0000001"  # a county center in Hechi, Guangxi (prefix 45)
FAR = "2027-06-30T00:00:00+08:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def shift(instant: str, seconds: int) -> str:
    return (at(instant) + timedelta(seconds=seconds)).isoformat()


@cache
def national() -> Engine:
    """One engine for the tests that need no fresh calendar: the engine keeps no case
    state (the runner does), and building a calendar indexes 25 years of days."""
    return engine()


@cache
def regional_engine() -> Engine:
    """The engine as replay and the worker build it: each center on its region's calendar."""
    return Engine(RuleBook.load(ROOT / "rules"), CalendarBook.load(ROOT / "rules" / "calendar"))


def run(*events: CaseEvent, until: str | None = None, eng: Engine | None = None) -> list[Alert]:
    runner = Runner(eng or national())
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until:
        alerts += runner.advance(at(until))
    return alerts


def of(alerts: list[Alert], rule_id: str) -> list[tuple[str, str, str]]:
    """(alert_id, severity, raised_at) of every alert of one rule, in order."""
    return [
        (a.alert_id, a.severity, a.raised_at.isoformat()) for a in alerts if a.rule_id == rule_id
    ]


# -- rules that fire on an event --------------------------------------------------------
#
# Each row: the rule, events that fire it, the one alert expected (alert_id, severity,
# raised_at = the offending event's own time), and the near miss: events that do not.

EVENT_RULES = [
    pytest.param(
        "supplement.repeated",
        [
            event("submitted", "2026-11-16T09:00:00+08:00"),
            event("supplement_requested", "2026-11-16T09:10:00+08:00", missing_materials=["a"]),
            event("supplement_received", "2026-11-17T09:00:00+08:00"),
            accepted("2026-11-17T10:00:00+08:00"),
            # a second request, even after acceptance, breaks 一次性告知
            event("supplement_requested", "2026-11-18T15:00:00+08:00", missing_materials=["b"]),
        ],
        (f"supplement.repeated:{CASE}", "red", "2026-11-18T15:00:00+08:00"),
        [
            event("submitted", "2026-11-16T09:00:00+08:00"),
            event(
                "supplement_requested", "2026-11-16T09:10:00+08:00", missing_materials=["a", "b"]
            ),
            event("supplement_received", "2026-11-17T09:00:00+08:00"),
            accepted("2026-11-17T10:00:00+08:00"),
        ],
        id="supplement.repeated: second request vs one complete request",
    ),
    pytest.param(
        "supplement.late",
        # Submitted Mon 16 Nov; 5 working days: Tue 17 .. Mon 23 → ends 24:00 Mon 23.
        [
            event("submitted", "2026-11-16T09:00:00+08:00"),
            event("supplement_requested", "2026-11-24T00:00:01+08:00"),
        ],
        (f"supplement.late:{CASE}", "yellow", "2026-11-24T00:00:01+08:00"),
        [
            event("submitted", "2026-11-16T09:00:00+08:00"),
            event("supplement_requested", "2026-11-23T23:59:59+08:00"),
        ],
        id="supplement.late: 6th working day 00:00:01 vs 5th working day 23:59:59",
    ),
    pytest.param(
        "supplement.late",
        # Submitted Wed 30 Sep; 5 working days: 8, 9, Sat 10 (make-up), 12, 13 Oct.
        [
            event("submitted", "2026-09-30T09:00:00+08:00"),
            event("supplement_requested", "2026-10-14T00:00:01+08:00"),
        ],
        (f"supplement.late:{CASE}", "yellow", "2026-10-14T00:00:01+08:00"),
        [
            event("submitted", "2026-09-30T09:00:00+08:00"),
            event("supplement_requested", "2026-10-13T23:59:59+08:00"),
        ],
        id="supplement.late: across National Day and its make-up Saturday",
    ),
    pytest.param(
        "suspension.no_reason",
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event("suspended", "2026-11-03T10:00:00+08:00", reason="等待检测结果"),
        ],
        (f"suspension.no_reason:{CASE}", "yellow", "2026-11-03T10:00:00+08:00"),
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event(
                "suspended", "2026-11-03T10:00:00+08:00", reason_code="testing", reason="等待检测"
            ),
        ],
        id="suspension.no_reason: free text without reason_code vs a reason_code",
    ),
    pytest.param(
        "extension.unapproved",
        [
            accepted("2026-09-30T10:00:00+08:00", 3),
            event(
                "extended", "2026-10-09T09:00:00+08:00", value=2, unit="working_day", reason="核查"
            ),
        ],
        (f"extension.unapproved:{CASE}", "red", "2026-10-09T09:00:00+08:00"),
        [
            accepted("2026-09-30T10:00:00+08:00", 3),
            event(
                "extended",
                "2026-10-09T09:00:00+08:00",
                value=2,
                unit="working_day",
                reason="核查",
                approved_by="局长",
            ),
        ],
        id="extension.unapproved: no approved_by vs approved",
    ),
    pytest.param(
        "extension.repeated",
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event(
                "extended",
                "2026-11-03T09:00:00+08:00",
                value=10.5,
                unit="working_day",
                approved_by="局长",
            ),
        ],
        (f"extension.repeated:{CASE}", "yellow", "2026-11-03T09:00:00+08:00"),
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event(
                "extended",
                "2026-11-03T09:00:00+08:00",
                value=10,
                unit="working_day",
                approved_by="局长",
            ),
        ],
        id="extension.repeated: 10.5 working days vs exactly 10",
    ),
    pytest.param(
        "extension.repeated",
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event(
                "extended",
                "2026-11-03T09:00:00+08:00",
                value=1,
                unit="working_day",
                approved_by="局长",
            ),
            event(
                "extended",
                "2026-11-04T09:00:00+08:00",
                value=1,
                unit="working_day",
                approved_by="局长",
            ),
        ],
        (f"extension.repeated:{CASE}", "yellow", "2026-11-04T09:00:00+08:00"),
        [
            accepted("2026-11-02T10:00:00+08:00"),
            event(
                "extended",
                "2026-11-03T09:00:00+08:00",
                value=2,
                unit="working_day",
                approved_by="局长",
            ),
        ],
        id="extension.repeated: a second extension vs one of the same total",
    ),
    pytest.param(
        "fee.overcharge",
        [
            accepted("2026-11-02T10:00:00+08:00", fee_standard=20),
            event("fee_charged", "2026-11-02T10:05:00+08:00", amount=20.01),
        ],
        (f"fee.overcharge:{CASE}", "red", "2026-11-02T10:05:00+08:00"),
        [
            accepted("2026-11-02T10:00:00+08:00", fee_standard=20),
            event("fee_charged", "2026-11-02T10:05:00+08:00", amount=20),
        ],
        id="fee.overcharge: one cent more vs the standard",
    ),
    pytest.param(
        "fee.overcharge",
        [
            accepted("2026-11-02T10:00:00+08:00", fee_standard=0.3),
            event("fee_charged", "2026-11-02T10:05:00+08:00", amount=0.1),
            event("fee_charged", "2026-11-02T10:06:00+08:00", amount=0.2),
            event("fee_charged", "2026-11-02T10:07:00+08:00", amount=0.01),
        ],
        (f"fee.overcharge:{CASE}", "red", "2026-11-02T10:07:00+08:00"),
        [
            accepted("2026-11-02T10:00:00+08:00", fee_standard=0.3),
            # 0.1 + 0.2 is 0.30000000000000004 in binary floating point: still the standard
            event("fee_charged", "2026-11-02T10:05:00+08:00", amount=0.1),
            event("fee_charged", "2026-11-02T10:06:00+08:00", amount=0.2),
        ],
        id="fee.overcharge: cents add up exactly (0.1 + 0.2 = 0.3)",
    ),
    pytest.param(
        "workflow.out_of_order",
        [
            event("submitted", "2026-11-02T09:00:00+08:00"),
            event("concluded", "2026-11-02T09:30:00+08:00", event_id="early-close"),
        ],
        (f"workflow.out_of_order:{CASE}:early-close", "yellow", "2026-11-02T09:30:00+08:00"),
        [
            event("submitted", "2026-11-02T09:00:00+08:00"),
            accepted("2026-11-02T09:10:00+08:00"),
            event("decided", "2026-11-03T09:00:00+08:00", outcome="approve"),
            event("concluded", "2026-11-03T09:30:00+08:00"),
            event("delivered", "2026-11-04T09:00:00+08:00"),
            event("evaluated", "2026-11-04T09:05:00+08:00", level=4),
            event("complained", "2026-11-05T09:00:00+08:00"),
            event("rectified", "2026-11-06T09:00:00+08:00"),
        ],
        id="workflow.out_of_order: concluded before accepted vs a lawful story",
    ),
    pytest.param(
        "workflow.no_decision",
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("concluded", "2026-11-03T09:00:00+08:00"),
        ],
        (f"workflow.no_decision:{CASE}", "red", "2026-11-03T09:00:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-03T08:59:59+08:00", outcome="deny", reason="不符合条件"),
            event("concluded", "2026-11-03T09:00:00+08:00"),
        ],
        id="workflow.no_decision: no decision vs a denial a second before",
    ),
    pytest.param(
        "workflow.step_skipped",
        [
            accepted("2026-11-02T09:00:00+08:00", required_steps=["review", "site", "approval"]),
            event("step_completed", "2026-11-03T09:00:00+08:00", step="review"),
            event("step_completed", "2026-11-03T10:00:00+08:00", step="approval"),
            event("decided", "2026-11-04T10:00:00+08:00", outcome="approve"),
        ],
        (f"workflow.step_skipped:{CASE}", "red", "2026-11-04T10:00:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00", required_steps=["review", "site", "approval"]),
            event("step_completed", "2026-11-03T09:00:00+08:00", step="approval"),
            event("step_completed", "2026-11-03T10:00:00+08:00", step="site"),
            event("step_completed", "2026-11-04T09:59:59+08:00", step="review"),
            event("decided", "2026-11-04T10:00:00+08:00", outcome="approve"),
        ],
        id="workflow.step_skipped: one step missing vs all done, in any order",
    ),
    pytest.param(
        "conclusion.too_fast",
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-02T09:05:00+08:00", outcome="approve"),
            event("concluded", "2026-11-02T09:09:59+08:00"),
        ],
        (f"conclusion.too_fast:{CASE}", "yellow", "2026-11-02T09:09:59+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-02T09:05:00+08:00", outcome="approve"),
            event("concluded", "2026-11-02T09:10:00+08:00"),
        ],
        id="conclusion.too_fast: 9 min 59 s vs 10 min",
    ),
    pytest.param(
        "conclusion.too_fast",
        [
            accepted("2026-11-02T09:00:00+08:00", immediate=False),
            event("decided", "2026-11-02T09:00:30+08:00", outcome="approve"),
            event("concluded", "2026-11-02T09:01:00+08:00"),
        ],
        (f"conclusion.too_fast:{CASE}", "yellow", "2026-11-02T09:01:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00", immediate=True),
            event("decided", "2026-11-02T09:00:30+08:00", outcome="approve"),
            event("concluded", "2026-11-02T09:01:00+08:00"),
        ],
        id="conclusion.too_fast: not immediate vs an immediate case (即办件)",
    ),
    pytest.param(
        "rejection.no_reason",
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-03T09:00:00+08:00", outcome="deny", legal_basis="第三十八条"),
        ],
        (f"rejection.no_reason:{CASE}", "red", "2026-11-03T09:00:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event(
                "decided",
                "2026-11-03T09:00:00+08:00",
                outcome="deny",
                reason="申请人不具备法定条件",
                legal_basis="第三十八条",
            ),
        ],
        id="rejection.no_reason: deny with a legal basis but no reason vs with a reason",
    ),
    pytest.param(
        "rejection.no_reason",
        [
            event(
                "not_accepted", "2026-11-02T09:00:00+08:00", reason="   ", legal_basis="第三十二条"
            )
        ],
        (f"rejection.no_reason:{CASE}", "red", "2026-11-02T09:00:00+08:00"),
        [
            event(
                "not_accepted",
                "2026-11-02T09:00:00+08:00",
                reason="不属于本机关职权范围",
                legal_basis="第三十二条",
            )
        ],
        id="rejection.no_reason: not_accepted with a blank reason vs a reason",
    ),
    pytest.param(
        "rejection.no_reason",
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-03T09:00:00+08:00", outcome="deny"),
        ],
        (f"rejection.no_reason:{CASE}", "red", "2026-11-03T09:00:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00"),
            event("decided", "2026-11-03T09:00:00+08:00", outcome="approve"),
        ],
        id="rejection.no_reason: a denial needs a reason, an approval does not",
    ),
    pytest.param(
        "evaluation.negative",
        [
            accepted("2026-11-02T09:00:00+08:00", immediate=True),
            event("concluded", "2026-11-02T09:30:00+08:00"),
            event("evaluated", "2026-11-02T10:00:00+08:00", level=2, comment="等太久"),
        ],
        (f"evaluation.negative:{CASE}", "yellow", "2026-11-02T10:00:00+08:00"),
        [
            accepted("2026-11-02T09:00:00+08:00", immediate=True),
            event("concluded", "2026-11-02T09:30:00+08:00"),
            event("evaluated", "2026-11-02T10:00:00+08:00", level=3),
        ],
        id="evaluation.negative: level 2 vs level 3",
    ),
]


@pytest.mark.parametrize("rule_id,fires,expected,misses", EVENT_RULES)
def test_the_case_fires_the_rule_at_the_event(
    rule_id: str,
    fires: list[CaseEvent],
    expected: tuple[str, str, str],
    misses: list[CaseEvent],
) -> None:
    assert of(run(*fires, until=FAR), rule_id) == [expected]


@pytest.mark.parametrize("rule_id,fires,expected,misses", EVENT_RULES)
def test_the_near_miss_does_not_fire_the_rule(
    rule_id: str,
    fires: list[CaseEvent],
    expected: tuple[str, str, str],
    misses: list[CaseEvent],
) -> None:
    assert of(run(*misses, until=FAR), rule_id) == []


@pytest.mark.parametrize(
    "level,negative", [(1, True), (2, True), (3, False), (4, False), (5, False)]
)
def test_bad_ratings_are_levels_1_and_2(level: int, negative: bool) -> None:
    alerts = run(
        accepted("2026-11-02T09:00:00+08:00", immediate=True),
        event("concluded", "2026-11-02T09:30:00+08:00"),
        event("evaluated", "2026-11-02T10:00:00+08:00", level=level),
        until=FAR,
    )
    rules = {a.rule_id for a in alerts}
    assert ("evaluation.negative" in rules) is negative
    assert ("evaluation.unrectified" in rules) is negative  # never rectified


def test_an_unapproved_over_long_extension_is_two_violations() -> None:
    alerts = run(
        accepted("2026-11-02T10:00:00+08:00"),
        event("extended", "2026-11-03T09:00:00+08:00", value=15, unit="working_day"),
    )
    assert sorted(of(alerts, "extension.unapproved") + of(alerts, "extension.repeated")) == [
        (f"extension.repeated:{CASE}", "yellow", "2026-11-03T09:00:00+08:00"),
        (f"extension.unapproved:{CASE}", "red", "2026-11-03T09:00:00+08:00"),
    ]


def test_a_month_long_natural_day_extension_is_longer_than_10_working_days() -> None:
    alerts = run(
        accepted("2026-11-02T10:00:00+08:00"),
        event(
            "extended",
            "2026-11-03T09:00:00+08:00",
            value=30,
            unit="natural_day",
            approved_by="局长",
        ),
    )
    assert of(alerts, "extension.repeated") == [
        (f"extension.repeated:{CASE}", "yellow", "2026-11-03T09:00:00+08:00")
    ]


@pytest.mark.parametrize("days,repeated", [(15, True), (14, False)])
def test_a_natural_day_extension_is_as_long_as_the_working_time_it_adds(
    days: int, repeated: bool
) -> None:
    # Accepted Wed 23 September with 30 working days: the promised deadline is 24:00 of
    # Wed 11 November (Mid-Autumn and National Day off, Saturday 10 October on). An
    # extension filed on Thu 24 September moves that deadline: 15 calendar days from it
    # hold 11 working days (longer than 10), 14 hold 10; counted from the filing, across
    # the holidays, either would be 5.
    alerts = run(
        accepted("2026-09-23T10:00:00+08:00", 30, statutory=None),
        event(
            "extended",
            "2026-09-24T10:00:00+08:00",
            value=days,
            unit="natural_day",
            approved_by="局长",
        ),
        until=FAR,
    )
    moved = at("2026-11-12T00:00:00+08:00") + timedelta(days=days)
    assert of(alerts, "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", moved.isoformat())
    ]
    assert bool(of(alerts, "extension.repeated")) is repeated


def test_each_decision_without_a_reason_is_its_own_violation() -> None:
    # refused at the door without a reason, accepted later, then denied without one: two
    # acts of the office each lacking its reason, two alerts (the second numbered)
    alerts = run(
        event("not_accepted", "2026-11-02T09:00:00+08:00", reason="", legal_basis="《条例》"),
        accepted("2026-11-03T09:00:00+08:00"),
        event("decided", "2026-11-04T09:00:00+08:00", outcome="deny", legal_basis="《条例》"),
    )
    assert of(alerts, "rejection.no_reason") == [
        (f"rejection.no_reason:{CASE}", "red", "2026-11-02T09:00:00+08:00"),
        (f"rejection.no_reason:{CASE}:2", "red", "2026-11-04T09:00:00+08:00"),
    ]


# -- workflow.out_of_order: the whole of contract §1 "The order a case may take" --------

BEFORE_ACCEPTED = {
    "submitted", "accepted", "supplement_requested", "supplement_received", "not_accepted",
    "withdrawn",
}  # fmt: skip
WHILE_OPEN = {
    "supplement_requested", "supplement_received", "step_completed", "suspended", "resumed",
    "extended", "fee_charged", "decided", "concluded", "delivered", "withdrawn", "evaluated",
    "rectified", "complained", "complaint_answered",
}  # fmt: skip
AFTER_CONCLUDED = {"delivered", "evaluated", "rectified", "complained", "complaint_answered"}
ALL_TYPES = sorted(WHILE_OPEN | AFTER_CONCLUDED | {"submitted", "accepted", "not_accepted"})

# Payloads that make each event lawful in itself, so only its place in the story is judged.
HARMLESS: dict[str, dict[str, object]] = {
    "not_accepted": {"reason": "材料不全", "legal_basis": "第三十二条"},
    "supplement_requested": {"missing_materials": ["营业执照"]},
    "step_completed": {"step": "review"},
    "suspended": {"reason_code": "testing", "reason": "检测"},
    "extended": {"value": 1, "unit": "working_day", "approved_by": "局长"},
    "fee_charged": {"amount": 0},
    "decided": {"outcome": "approve", "reason": "符合条件"},
    "evaluated": {"level": 5},
}
STORY = {
    "received": [event("submitted", "2026-11-02T09:00:00+08:00")],
    "open": [
        event("submitted", "2026-11-02T09:00:00+08:00"),
        accepted("2026-11-02T09:05:00+08:00", immediate=True),
    ],
    "concluded": [
        event("submitted", "2026-11-02T09:00:00+08:00"),
        accepted("2026-11-02T09:05:00+08:00", immediate=True),
        event("concluded", "2026-11-02T09:10:00+08:00"),
    ],
    # Refused at the door, or withdrawn before acceptance: still before `accepted`, which
    # §1 still allows (once).
    "not_accepted": [
        event("submitted", "2026-11-02T09:00:00+08:00"),
        event("not_accepted", "2026-11-02T09:05:00+08:00", **HARMLESS["not_accepted"]),
    ],
    "withdrawn before acceptance": [
        event("submitted", "2026-11-02T09:00:00+08:00"),
        event("withdrawn", "2026-11-02T09:05:00+08:00"),
    ],
    # Withdrawn after acceptance: between `accepted` and `concluded`, as §1 tells phases.
    "withdrawn after acceptance": [
        event("submitted", "2026-11-02T09:00:00+08:00"),
        accepted("2026-11-02T09:05:00+08:00", immediate=True),
        event("withdrawn", "2026-11-02T09:10:00+08:00"),
    ],
}
ALLOWED = {
    "received": BEFORE_ACCEPTED,
    "open": WHILE_OPEN,
    "concluded": AFTER_CONCLUDED,
    "not_accepted": BEFORE_ACCEPTED,
    "withdrawn before acceptance": BEFORE_ACCEPTED,
    "withdrawn after acceptance": WHILE_OPEN,
}


@pytest.mark.parametrize("status", list(STORY))
@pytest.mark.parametrize("kind", ALL_TYPES)
def test_each_event_in_each_state_is_in_order_or_flagged(status: str, kind: str) -> None:
    late = (
        accepted("2026-11-02T12:00:00+08:00", event_id="x", immediate=True)
        if kind == "accepted"
        else event(kind, "2026-11-02T12:00:00+08:00", event_id="x", **HARMLESS.get(kind, {}))
    )
    alerts = run(*STORY[status], late)
    expected = [] if kind in ALLOWED[status] else [f"workflow.out_of_order:{CASE}:x"]
    assert [a.alert_id for a in alerts] == expected


def test_a_case_refused_at_the_door_may_still_be_accepted_and_its_clock_runs() -> None:
    # §1: before `accepted`, `not_accepted` and `withdrawn` are allowed, and `accepted`
    # once: a refused (or withdrawn) application accepted later is timed from then.
    for first in ("not_accepted", "withdrawn"):
        alerts = run(
            event("submitted", "2026-11-02T09:00:00+08:00"),
            event(first, "2026-11-02T09:05:00+08:00", **HARMLESS.get(first, {})),
            accepted("2026-11-04T10:00:00+08:00", 1, statutory=None),
            until=FAR,
        )
        assert of(alerts, "deadline.overdue") == [
            (f"deadline.overdue:{CASE}", "red", "2026-11-06T00:00:00+08:00")
        ], first
        assert of(alerts, "workflow.out_of_order") == []


# -- rules that fire on a timer ---------------------------------------------------------
#
# Each row: the rule, the events that start its clock, the instant it is due, and the
# event(s) that stop it. Closed a second early: no alert. Closed a second late: the alert,
# raised at the due instant itself (contract §3). Nothing closed: the clock fires it at
# the due instant, not a second before.


def conclude(when: str) -> list[CaseEvent]:
    return [
        event("decided", when, outcome="approve", reason="符合条件"),
        event("concluded", when),
    ]


def resume(when: str) -> list[CaseEvent]:
    return [event("resumed", when)]


def deliver(when: str) -> list[CaseEvent]:
    return [event("delivered", when)]


def rectify(when: str) -> list[CaseEvent]:
    return [event("rectified", when)]


@dataclass(frozen=True)
class Timer:
    rule_id: str
    starts: list[CaseEvent]
    due: str
    stop: Callable[[str], list[CaseEvent]]
    severity: str
    occurrence: str = ""

    @property
    def expected(self) -> tuple[str, str, str]:
        return (f"{self.rule_id}:{CASE}{self.occurrence}", self.severity, self.due)


TIMERS = [
    pytest.param(
        # Mon 23 Nov + 5 working days (24..27, 30) = 24:00 Mon 30; 80% = 4 days → 24:00 Fri.
        Timer(
            "deadline.warning",
            [accepted("2026-11-23T10:00:00+08:00", 5, statutory=None)],
            "2026-11-28T00:00:00+08:00",
            conclude,
            "yellow",
        ),
        id="deadline.warning, 80% of 5 working days",
    ),
    pytest.param(
        # Fri 27 Nov + 0.5 working day = Mon 30 12:00; 80% of 12 h = 9 h 36 min.
        Timer(
            "deadline.warning",
            [accepted("2026-11-27T10:00:00+08:00", 0.5, statutory=None)],
            "2026-11-30T09:36:00+08:00",
            conclude,
            "yellow",
        ),
        id="deadline.warning, 80% of half a working day",
    ),
    pytest.param(
        Timer(
            "deadline.overdue",
            [accepted("2026-11-23T10:00:00+08:00", 5, statutory=None)],
            "2026-12-01T00:00:00+08:00",
            conclude,
            "red",
        ),
        id="deadline.overdue, 5 working days",
    ),
    pytest.param(
        # Tue 3 Nov + 20 working days = 24:00 Mon 30 Nov (the promised 5 passed long before).
        Timer(
            "deadline.statutory_overdue",
            [accepted("2026-11-02T10:00:00+08:00", 5, statutory=(20, "working_day"))],
            "2026-12-01T00:00:00+08:00",
            conclude,
            "red",
        ),
        id="deadline.statutory_overdue, 20 working days",
    ),
    pytest.param(
        # Suspended Wed 4 Nov 10:00; 30 working days later: Wed 16 Dec 10:00.
        Timer(
            "suspension.too_long",
            [
                accepted("2026-11-02T10:00:00+08:00", 60, statutory=None),
                event("suspended", "2026-11-04T10:00:00+08:00", reason_code="expert_review"),
            ],
            "2026-12-16T10:00:00+08:00",
            resume,
            "yellow",
        ),
        id="suspension.too_long, 30 working days in one stretch",
    ),
    pytest.param(
        # Approved Mon 2 Nov; 10 working days: 3..6, 9..13, 16 → 24:00 Mon 16 Nov.
        Timer(
            "delivery.overdue",
            [
                accepted("2026-11-02T09:00:00+08:00", 5, statutory=None),
                event("decided", "2026-11-02T10:00:00+08:00", outcome="approve"),
                event("concluded", "2026-11-02T11:00:00+08:00"),
            ],
            "2026-11-17T00:00:00+08:00",
            deliver,
            "yellow",
        ),
        id="delivery.overdue, 10 working days",
    ),
    pytest.param(
        # Approved Wed 30 Sep; 10 working days: 8, 9, Sat 10, 12..16, 19, 20 → 24:00 Tue 20.
        Timer(
            "delivery.overdue",
            [
                accepted("2026-09-29T09:00:00+08:00", 5, statutory=None),
                event("decided", "2026-09-30T10:00:00+08:00", outcome="approve"),
                event("concluded", "2026-09-30T11:00:00+08:00"),
            ],
            "2026-10-21T00:00:00+08:00",
            deliver,
            "yellow",
        ),
        id="delivery.overdue, across National Day",
    ),
    pytest.param(
        # A delivery before the decision hands over no result of it: the clock of the
        # approval Mon 2 Nov 10:00 runs as without it.
        Timer(
            "delivery.overdue",
            [
                accepted("2026-11-02T09:00:00+08:00", 5, statutory=None),
                event("delivered", "2026-11-02T09:30:00+08:00"),
                event("decided", "2026-11-02T10:00:00+08:00", outcome="approve"),
                event("concluded", "2026-11-02T11:00:00+08:00"),
            ],
            "2026-11-17T00:00:00+08:00",
            deliver,
            "yellow",
        ),
        id="delivery.overdue, delivered before the decision",
    ),
    pytest.param(
        # Bad rating Mon 2 Nov; 15 working days: 3..6, 9..13, 16..20, 23 → 24:00 Mon 23.
        Timer(
            "evaluation.unrectified",
            [
                accepted("2026-11-02T09:00:00+08:00", immediate=True),
                event("concluded", "2026-11-02T09:30:00+08:00"),
                event("evaluated", "2026-11-02T10:00:00+08:00", level=1),
            ],
            "2026-11-24T00:00:00+08:00",
            rectify,
            "red",
        ),
        id="evaluation.unrectified, 15 working days",
    ),
]


@pytest.mark.parametrize("timer", TIMERS)
def test_stopped_a_second_before_it_is_due_the_timer_never_fires(timer: Timer) -> None:
    alerts = run(*timer.starts, *timer.stop(shift(timer.due, -1)), until=FAR)
    assert of(alerts, timer.rule_id) == []


@pytest.mark.parametrize("timer", TIMERS)
def test_stopped_a_second_late_the_alert_is_raised_at_the_due_instant(timer: Timer) -> None:
    alerts = run(*timer.starts, *timer.stop(shift(timer.due, 1)))
    assert of(alerts, timer.rule_id) == [timer.expected]


@pytest.mark.parametrize("timer", TIMERS)
def test_the_clock_fires_the_timer_at_the_due_instant_not_before(timer: Timer) -> None:
    runner = Runner(national())
    for item in timer.starts:
        runner.feed(item)
    assert of(runner.advance(at(shift(timer.due, -1))), timer.rule_id) == []
    assert of(runner.advance(at(timer.due)), timer.rule_id) == [timer.expected]
    assert of(runner.advance(at(FAR)), timer.rule_id) == []  # once only


# -- the worked examples of contract §2 -------------------------------------------------


@pytest.mark.parametrize(
    "accepted_at,value,unit,deadline",
    [
        # Wed 30 Sep + 4 working days: Thu 8, Fri 9, Sat 10 (make-up), Sun 11 off, Mon 12.
        ("2026-09-30T10:00:00+08:00", 4, "working_day", "2026-10-13T00:00:00+08:00"),
        # Accepted on a National Day holiday: the clock starts Thursday 8 October.
        ("2026-10-03T11:00:00+08:00", 3, "working_day", "2026-10-11T00:00:00+08:00"),
        # Fri 27 Nov + 0.5 working day: twelve hours of Monday (the weekend is off).
        ("2026-11-27T10:00:00+08:00", 0.5, "working_day", "2026-11-30T12:00:00+08:00"),
        # Thu 26 Nov + 3 natural days ends on Sunday 29 → 24:00 of Monday 30.
        ("2026-11-26T10:00:00+08:00", 3, "natural_day", "2026-12-01T00:00:00+08:00"),
        # … 2 natural days ends on Saturday 28 → also 24:00 of Monday 30.
        ("2026-11-26T10:00:00+08:00", 2, "natural_day", "2026-12-01T00:00:00+08:00"),
        # … 1 natural day ends on Friday 27, a working day: unchanged.
        ("2026-11-26T10:00:00+08:00", 1, "natural_day", "2026-11-28T00:00:00+08:00"),
        # Thu 24 Sep + 10 natural days ends on Sun 4 Oct (National Day) → 24:00 Thu 8 Oct.
        ("2026-09-24T10:00:00+08:00", 10, "natural_day", "2026-10-09T00:00:00+08:00"),
    ],
)
def test_worked_examples_of_the_promised_deadline(
    accepted_at: str, value: float, unit: str, deadline: str
) -> None:
    runner = Runner(national())
    runner.feed(accepted(accepted_at, value, unit, statutory=None))
    assert of(runner.advance(at(shift(deadline, -1))), "deadline.overdue") == []
    assert of(runner.advance(at(deadline)), "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", deadline)
    ]


def test_a_deadline_crossing_into_2027_uses_the_fallback_calendar_and_says_so() -> None:
    # 2027's schedule is not published: the fallback is weekends plus the statutory
    # holidays (1 January), no make-up days. Mon 28 Dec + 5 working days: 29, 30, 31 Dec,
    # Mon 4 and Tue 5 Jan → 24:00 Tue 5 Jan 2027.
    eng = engine()
    runner = Runner(eng)
    runner.feed(accepted("2026-12-28T10:00:00+08:00", 5, statutory=None))
    assert of(runner.advance(at("2027-01-05T23:59:59+08:00")), "deadline.overdue") == []
    assert of(runner.advance(at("2027-01-06T00:00:00+08:00")), "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", "2027-01-06T00:00:00+08:00")
    ]
    assert 2027 in eng.calendar.unconfirmed_years_seen
    assert 2026 not in eng.calendar.unconfirmed_years_seen


def test_guangxi_sanyuesan_is_off_for_a_guangxi_center_only() -> None:
    # Accepted Fri 17 April 2026, 3 working days. In Guangxi, Mon 20 April is 三月三:
    # Tue 21, Wed 22, Thu 23 → 24:00 Thu. In Beijing (110101): Mon 20..Wed 22 → 24:00 Wed.
    guangxi, beijing = "451221-2026-0000001", "110101-2026-0000001"
    runner = Runner(regional_engine())
    for case_id, center_id in ((guangxi, "451221"), (beijing, "110101")):
        runner.feed(
            accepted(
                "2026-04-17T10:00:00+08:00",
                3,
                statutory=None,
                case_id=case_id,
                center_id=center_id,
            )
        )
    first = runner.advance(at("2026-04-23T00:00:00+08:00"))
    assert [
        (a.alert_id, a.center_id, a.raised_at.isoformat())
        for a in first
        if a.rule_id == "deadline.overdue"
    ] == [(f"deadline.overdue:{beijing}", "110101", "2026-04-23T00:00:00+08:00")]
    assert of(runner.advance(at("2026-04-23T23:59:59+08:00")), "deadline.overdue") == []
    assert of(runner.advance(at("2026-04-24T00:00:00+08:00")), "deadline.overdue") == [
        (f"deadline.overdue:{guangxi}", "red", "2026-04-24T00:00:00+08:00")
    ]


def test_a_township_center_inherits_its_region() -> None:
    # A 9-digit township center id under Hechi still starts with 45.
    township = "451221103-2026-0000001"
    alerts = run(
        accepted(
            "2026-04-17T10:00:00+08:00",
            3,
            statutory=None,
            case_id=township,
            center_id="451221103",
        ),
        until="2026-04-24T00:00:00+08:00",
        eng=regional_engine(),
    )
    assert of(alerts, "deadline.overdue") == [
        (f"deadline.overdue:{township}", "red", "2026-04-24T00:00:00+08:00")
    ]


@pytest.mark.parametrize(
    "suspended,resumed,deadline",
    [
        # Accepted Mon 23 Nov, 5 working days → 24:00 Mon 30 without suspension.
        # Fri 18:00 → Mon 09:00: 6 h of Friday + 9 h of Monday = 15 h; the weekend is free.
        ("2026-11-27T18:00:00+08:00", "2026-11-30T09:00:00+08:00", "2026-12-01T15:00:00+08:00"),
        # Sat 09:00 → Sun 17:00: no working time at all, nothing moves.
        ("2026-11-28T09:00:00+08:00", "2026-11-29T17:00:00+08:00", "2026-12-01T00:00:00+08:00"),
    ],
)
def test_a_suspension_over_a_weekend_counts_only_working_time(
    suspended: str, resumed: str, deadline: str
) -> None:
    alerts = run(
        accepted("2026-11-23T10:00:00+08:00", 5, statutory=None),
        event("suspended", suspended, reason_code="inspection"),
        event("resumed", resumed),
        until=FAR,
    )
    assert of(alerts, "deadline.overdue") == [(f"deadline.overdue:{CASE}", "red", deadline)]


def test_a_suspension_over_national_day_counts_the_make_up_saturday() -> None:
    # Accepted Mon 28 Sep, 3 working days: 29, 30 Sep, 8 Oct → 24:00 Thu 8 Oct.
    # Suspended Tue 29 Sep 12:00 → Mon 12 Oct 12:00: 12 h + 30 Sep + 8, 9, Sat 10 Oct + 12 h
    # = 5 working days. 24:00 Thu 8 + 5: Fri 9, Sat 10, Mon 12, Tue 13, Wed 14 → 24:00 Wed.
    alerts = run(
        accepted("2026-09-28T10:00:00+08:00", 3, statutory=None),
        event("suspended", "2026-09-29T12:00:00+08:00", reason_code="appraisal"),
        event("resumed", "2026-10-12T12:00:00+08:00"),
        until=FAR,
    )
    assert of(alerts, "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", "2026-10-15T00:00:00+08:00")
    ]


@pytest.mark.parametrize(
    "approved_by,promised,statutory",
    [
        # Promised 3 → 24:00 Sat 10 Oct, statutory 5 → 24:00 Tue 13 Oct; +2 working days.
        ("局长", "2026-10-14T00:00:00+08:00", "2026-10-16T00:00:00+08:00"),
        (None, "2026-10-11T00:00:00+08:00", "2026-10-14T00:00:00+08:00"),
    ],
    ids=["approved: both deadlines move", "unapproved: neither moves"],
)
def test_an_approved_extension_moves_the_promised_and_the_statutory_deadline(
    approved_by: str | None, promised: str, statutory: str
) -> None:
    approval = {"approved_by": approved_by} if approved_by else {}
    alerts = run(
        accepted("2026-09-30T10:00:00+08:00", 3, statutory=(5, "working_day")),
        event("extended", "2026-10-09T09:00:00+08:00", value=2, unit="working_day", **approval),
        until=FAR,
    )
    assert of(alerts, "deadline.overdue") == [(f"deadline.overdue:{CASE}", "red", promised)]
    assert of(alerts, "deadline.statutory_overdue") == [
        (f"deadline.statutory_overdue:{CASE}", "red", statutory)
    ]


def test_an_approved_extension_uploaded_late_still_moves_the_overdue_alert() -> None:
    # The extension of Fri 9 Oct is uploaded only after the clock has passed both the
    # original deadline (24:00 Sat 10 Oct) and the extended one (24:00 Tue 13 Oct). Judged
    # in event time, the case became overdue at 2026-10-14T00:00 (contract §2: an approved
    # extension moves the deadline; §3: raised_at is the deadline itself), so the overdue
    # alert left standing must say 2026-10-14T00:00, whatever its id.
    runner = Runner(national())
    raised = runner.feed(accepted("2026-09-30T10:00:00+08:00", 3, statutory=None))
    raised += runner.advance(at("2026-10-20T00:00:00+08:00"))
    raised += runner.feed(
        event(
            "extended",
            "2026-10-09T09:00:00+08:00",
            value=2,
            unit="working_day",
            approved_by="局长",
        )
    )
    resolved = {r.alert_id for r in runner.resolved}
    standing = [a for a in raised if a.alert_id not in resolved]
    assert [a.raised_at.isoformat() for a in standing if a.rule_id == "deadline.overdue"] == [
        "2026-10-14T00:00:00+08:00"
    ]


def test_a_half_day_approved_extension_moves_the_deadline_twelve_hours() -> None:
    # 24:00 Sat 10 Oct (make-up day) + 0.5 working day: Sunday off → Mon 12 Oct 12:00.
    alerts = run(
        accepted("2026-09-30T10:00:00+08:00", 3, statutory=None),
        event(
            "extended",
            "2026-10-09T09:00:00+08:00",
            value=0.5,
            unit="working_day",
            approved_by="局长",
        ),
        until=FAR,
    )
    assert of(alerts, "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", "2026-10-12T12:00:00+08:00")
    ]


def test_concluded_at_24_00_itself_is_in_time_whether_or_not_the_clock_ticked_first() -> None:
    # The limit of the contract's example ends at 24:00 Sat 10 Oct; a conclusion at that
    # very second has not let the deadline pass. The worker's clock may tick to 24:00
    # before the event arrives: the late event then resolves what the tick raised.
    closing = conclude("2026-10-11T00:00:00+08:00")
    quiet = run(accepted("2026-09-30T10:00:00+08:00", 3, statutory=None), *closing, until=FAR)
    assert of(quiet, "deadline.overdue") == []

    runner = Runner(national())
    runner.feed(accepted("2026-09-30T10:00:00+08:00", 3, statutory=None))
    ticked = runner.advance(at("2026-10-11T00:00:00+08:00"))
    assert of(ticked, "deadline.overdue") == [
        (f"deadline.overdue:{CASE}", "red", "2026-10-11T00:00:00+08:00")
    ]
    for item in closing:
        runner.feed(item)
    assert [r.alert_id for r in runner.resolved] == [f"deadline.overdue:{CASE}"]


# The rule ids of contract §4 that watch a case (center.silent watches a center).
CONTRACT_CASE_RULES = {
    "deadline.warning", "deadline.overdue", "deadline.statutory_overdue",
    "supplement.repeated", "supplement.late", "suspension.no_reason", "suspension.too_long",
    "extension.unapproved", "extension.repeated", "fee.overcharge", "workflow.out_of_order",
    "workflow.no_decision", "workflow.step_skipped", "conclusion.too_fast",
    "rejection.no_reason", "delivery.overdue", "evaluation.negative", "evaluation.unrectified",
}  # fmt: skip


def test_a_case_stored_with_its_first_delivery_is_read_as_delivered_after_the_decision() -> None:
    """A state stored before `delivered_at` kept the latest delivery holds the first: one
    before the decision, though the case was delivered again after it. Read back, it owes
    no delivery (its history says so); without that later delivery it does."""
    eng = engine()
    events = [
        accepted("2026-11-02T09:00:00+08:00", 5, statutory=None),
        event("delivered", "2026-11-02T09:30:00+08:00"),
        event("decided", "2026-11-02T10:00:00+08:00", outcome="approve"),
        event("concluded", "2026-11-02T11:00:00+08:00"),
        event("delivered", "2026-11-03T10:00:00+08:00"),
    ]
    state = None
    for item in events:
        state = eng.apply(state, item).state
    assert state is not None and state.delivered_at == datetime.fromisoformat(
        "2026-11-03T10:00:00+08:00"
    )
    stored = state.to_json()
    stored["delivered_at"] = "2026-11-02T09:30:00+08:00"  # as the earlier version kept it
    old = type(state).from_json(stored)
    assert not [t for t in eng.timers(old) if t.startswith("delivery.overdue")]
    stored["history"] = stored["history"][:-1]  # never delivered after the decision
    assert [t for t in eng.timers(type(state).from_json(stored)) if t.startswith("delivery")]


def test_the_library_covers_every_case_rule_of_the_contract() -> None:
    covered = {str(row.values[0]) for row in EVENT_RULES}
    covered |= {row.values[0].rule_id for row in TIMERS if isinstance(row.values[0], Timer)}
    assert covered == CONTRACT_CASE_RULES
    shipped = RuleBook.load(ROOT / "rules")
    assert {rule_id for rule_id in CONTRACT_CASE_RULES if shipped.get(rule_id) is None} == set()
