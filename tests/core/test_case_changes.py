"""Contract §6, "Alerts follow their case", as the engine sees it: what a case's own
events do to its deadline alerts (closed, superseded, concluded late), each at its
instant, once, and never for an alert the case has already changed.

Times are Beijing time. Accepted Monday 2026-11-23 09:00 with 5 working days: the promised
deadline is Monday 30 November 24:00 (2026-12-01T00:00); the warning, at 80 % of the limit
(4 working days from the clock's start on Tuesday 00:00), Friday 27 November 24:00
(2026-11-28T00:00).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from supervisor.core.alerts import Alert, CaseChange
from supervisor.core.events import CaseEvent
from supervisor.core.runner import Runner

from .factories import accepted, engine, event

CASE = "451221-2026-0000001"
ACCEPTED = "2026-11-23T09:00:00+08:00"
WARNING_AT = "2026-11-28T00:00:00+08:00"
DEADLINE = "2026-12-01T00:00:00+08:00"
STATUTORY = "2026-12-22T00:00:00+08:00"  # 20 working days: Monday 21 December 24:00
_ENGINE = engine()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def run(*steps: CaseEvent | str) -> tuple[list[Alert], list[CaseChange]]:
    """Feed events; a string advances the clock to that instant."""
    runner = Runner(_ENGINE)
    alerts: list[Alert] = []
    for step in steps:
        alerts += runner.advance(at(step)) if isinstance(step, str) else runner.feed(step)
    return alerts, runner.changes


def test_the_timeline_assumed_here() -> None:
    alerts, _ = run(accepted(ACCEPTED), "2026-12-31T00:00:00+08:00")
    assert {a.rule_id: a.raised_at for a in alerts} == {
        "deadline.warning": at(WARNING_AT),
        "deadline.overdue": at(DEADLINE),
        "deadline.statutory_overdue": at(STATUTORY),
    }


def test_a_warning_is_closed_by_a_conclusion_in_time() -> None:
    concluded = "2026-11-30T23:59:59+08:00"  # the last second before the deadline
    _, changes = run(accepted(ACCEPTED), WARNING_AT, event("concluded", concluded))
    [change] = changes
    assert change.alert_id == f"deadline.warning:{CASE}"
    assert change.change == "closed"
    assert change.reason == "concluded_in_time"
    assert change.at == at(concluded)
    record = change.to_dict()
    assert record["kind"] == "case_change"
    assert record["status"] == "closed"
    assert record["at"] == "2026-11-30T23:59:59+08:00"


def test_a_conclusion_at_the_deadline_itself_is_in_time() -> None:
    _, changes = run(accepted(ACCEPTED), WARNING_AT, event("concluded", DEADLINE))
    assert [(c.change, c.reason) for c in changes] == [("closed", "concluded_in_time")]


def test_a_withdrawal_closes_the_warning() -> None:
    withdrawn = "2026-11-29T10:00:00+08:00"
    _, changes = run(accepted(ACCEPTED), WARNING_AT, event("withdrawn", withdrawn))
    [change] = changes
    assert (change.change, change.reason, change.at) == ("closed", "case_withdrawn", at(withdrawn))


def test_the_red_alert_supersedes_the_warning_at_its_own_raised_at() -> None:
    alerts, changes = run(accepted(ACCEPTED), WARNING_AT, DEADLINE)
    assert [a.rule_id for a in alerts] == ["deadline.warning", "deadline.overdue"]
    [change] = changes
    assert change.alert_id == f"deadline.warning:{CASE}"
    assert change.change == "superseded"
    assert change.superseded_by == f"deadline.overdue:{CASE}"
    assert change.at == at(DEADLINE)
    assert change.to_dict()["status"] == "superseded"


def test_both_deadlines_passed_before_the_next_event_the_warning_is_still_superseded() -> None:
    _, changes = run(
        accepted(ACCEPTED), event("step_completed", "2026-12-02T10:00:00+08:00", step="x")
    )
    assert [(c.alert_id, c.change, c.at) for c in changes] == [
        (f"deadline.warning:{CASE}", "superseded", at(DEADLINE))
    ]


def test_a_case_concluded_late_keeps_its_red_card_annotated() -> None:
    # concluded Wednesday 2 December 12:00: 1.5 working days after the deadline
    concluded = "2026-12-02T12:00:00+08:00"
    _, changes = run(accepted(ACCEPTED), DEADLINE, event("concluded", concluded))
    late = [c for c in changes if c.change == "concluded_late"]
    [change] = late
    assert change.alert_id == f"deadline.overdue:{CASE}"
    assert change.case_concluded_at == at(concluded)
    assert change.late_working_days == 1.5
    record = change.to_dict()
    assert "status" not in record  # the alert's status does not change
    assert record["case_concluded_at"] == concluded
    assert record["late_working_days"] == 1.5
    # the warning was superseded, not closed, and is not touched again
    assert [c.change for c in changes if c.rule_id == "deadline.warning"] == ["superseded"]


def test_late_working_days_skip_days_off() -> None:
    # deadline Monday 30 November 24:00; concluded Monday 7 December 06:00: Tuesday to
    # Friday (4 days) and 6 hours of Monday = 4.25 working days
    concluded = "2026-12-07T06:00:00+08:00"
    _, changes = run(accepted(ACCEPTED), event("concluded", concluded))
    [late] = [c for c in changes if c.change == "concluded_late"]
    assert late.late_working_days == 4.25


@pytest.mark.parametrize(
    "concluded,days",
    [
        ("2026-12-01T03:00:00+08:00", 0.13),  # 0.125: half up, as by hand (round gives 0.12)
        ("2026-12-01T15:00:00+08:00", 0.63),  # 0.625 (round: 0.62)
        ("2026-12-01T00:07:12+08:00", 0.01),  # 0.005
        ("2026-12-01T00:07:11+08:00", 0.0),  # 0.00499...
    ],
)
def test_late_working_days_are_rounded_to_the_hundredth_half_up(
    concluded: str, days: float
) -> None:
    # deadline Monday 30 November 24:00; concluded on Tuesday, a working day
    _, changes = run(accepted(ACCEPTED), event("concluded", concluded))
    [late] = [c for c in changes if c.change == "concluded_late"]
    assert late.late_working_days == days


def test_both_red_cards_are_annotated_when_the_statutory_deadline_passed_too() -> None:
    _, changes = run(accepted(ACCEPTED), event("concluded", "2026-12-23T00:00:00+08:00"))
    late = {c.rule_id: c.late_working_days for c in changes if c.change == "concluded_late"}
    assert set(late) == {"deadline.overdue", "deadline.statutory_overdue"}
    assert late["deadline.statutory_overdue"] == 1.0


def test_nothing_changes_for_a_case_without_alerts() -> None:
    _, changes = run(accepted(ACCEPTED), event("concluded", "2026-11-24T10:00:00+08:00"))
    assert changes == []


def test_a_late_conclusion_in_time_resolves_the_red_card_and_closes_the_warning() -> None:
    """The township uploads its `concluded` after the deadline fired: in event time the
    case was concluded in time, so the red alert is resolved (a late event proved it
    wrong) and the warning, which did hold, is closed at the conclusion."""
    runner = Runner(_ENGINE)
    runner.feed(accepted(ACCEPTED))
    runner.advance(at("2026-12-01T10:00:00+08:00"))
    runner.feed(event("concluded", "2026-11-30T15:00:00+08:00"))
    assert [r.alert_id for r in runner.resolved] == [f"deadline.overdue:{CASE}"]
    closed = [c for c in runner.changes if c.change == "closed"]
    assert [(c.alert_id, c.at) for c in closed] == [
        (f"deadline.warning:{CASE}", at("2026-11-30T15:00:00+08:00"))
    ]


def test_each_change_is_made_once() -> None:
    runner = Runner(_ENGINE)
    runner.feed(accepted(ACCEPTED))
    runner.advance(at(DEADLINE))
    runner.feed(event("concluded", "2026-12-02T12:00:00+08:00"))
    runner.feed(event("delivered", "2026-12-03T12:00:00+08:00"))
    runner.feed(event("concluded", "2026-12-04T12:00:00+08:00"))  # out of order: recorded
    kinds = [(c.alert_id, c.change) for c in runner.changes]
    assert len(kinds) == len(set(kinds)) == 2
