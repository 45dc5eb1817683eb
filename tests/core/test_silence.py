"""`center.silent`: 2 office hours without an event from a watched center, to the second."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from supervisor.core.alerts import Alert
from supervisor.core.calendar import CalendarBook, WorkCalendar
from supervisor.core.rules import RuleBook, SilenceParams
from supervisor.core.runner import Runner
from supervisor.core.silence import CenterWatch, office_add

from .factories import ROOT, engine, event

HOURS = SilenceParams()  # 09:00-12:00, 13:30-17:30
CENTER = "451221"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    "start,hours,expected",
    [
        ("2026-11-23T09:00:00+08:00", 2, "2026-11-23T11:00:00+08:00"),  # Monday morning
        ("2026-11-23T07:00:00+08:00", 2, "2026-11-23T11:00:00+08:00"),  # before opening
        ("2026-11-23T11:00:00+08:00", 2, "2026-11-23T14:30:00+08:00"),  # across lunch
        ("2026-11-23T12:30:00+08:00", 2, "2026-11-23T15:30:00+08:00"),  # during lunch
        ("2026-11-27T16:00:00+08:00", 2, "2026-11-30T09:30:00+08:00"),  # Friday -> Monday
        ("2026-11-27T20:00:00+08:00", 2, "2026-11-30T11:00:00+08:00"),  # evening
        ("2026-09-30T16:00:00+08:00", 2, "2026-10-08T09:30:00+08:00"),  # National Day
        ("2026-10-09T17:00:00+08:00", 1, "2026-10-10T09:30:00+08:00"),  # make-up Saturday
        ("2026-11-23T09:00:00+08:00", 7, "2026-11-23T17:30:00+08:00"),  # a whole day
    ],
)
def test_office_time(start: str, hours: float, expected: str) -> None:
    cal = WorkCalendar("Asia/Shanghai")
    assert office_add(cal, t(start), hours * 3600, HOURS).isoformat() == expected


def watch(rules_dir: Path | None = None) -> CenterWatch:
    return CenterWatch(
        RuleBook.load(rules_dir or ROOT / "rules"), CalendarBook.load(ROOT / "rules/calendar")
    )


def run(
    *times: str, until: str | None = None, watched: frozenset[str] = frozenset({CENTER})
) -> tuple[list[Alert], Runner]:
    runner = Runner(engine(), watch=watch(), watched=watched)
    alerts: list[Alert] = []
    for n, at in enumerate(times):
        alerts += runner.feed(event("submitted", at, case_id=f"{CENTER}-2026-{n:07d}"))
    if until:
        alerts += runner.advance(t(until))
    return [a for a in alerts if a.rule_id == "center.silent"], runner


def test_a_gap_of_two_office_hours_fires_at_its_end() -> None:
    alerts, _ = run("2026-11-23T09:00:00+08:00", "2026-11-23T11:30:00+08:00")
    assert [(a.alert_id, a.raised_at.isoformat()) for a in alerts] == [
        ("center.silent:451221:20261123T090000", "2026-11-23T11:00:00+08:00")
    ]
    alert = alerts[0]
    assert alert.severity == "yellow" and alert.title == "中心数据中断"
    assert alert.case_id == "" and alert.center_id == CENTER
    assert "2026-11-23 09:00" in alert.message and "2 个办公小时" in alert.message
    # contract §7: every alert says who handled it; a center's silence is nobody's case
    assert (alert.details["department"], alert.details["window_id"]) == (None, None)
    assert alert.details["staff_id"] is None


def test_near_miss_one_second_short() -> None:
    alerts, _ = run("2026-11-23T09:00:00+08:00", "2026-11-23T10:59:59+08:00")
    assert alerts == []


def test_nights_and_weekends_are_not_silence() -> None:
    alerts, _ = run("2026-11-27T17:00:00+08:00", "2026-11-30T09:59:59+08:00")
    assert alerts == []  # 17:00-17:30 Friday, 09:00-09:59:59 Monday: 1.5 h less a second


def test_one_alert_per_silent_stretch_and_the_end_of_input_fires_too() -> None:
    alerts, _ = run("2026-11-23T09:00:00+08:00", until="2026-11-30T00:00:00+08:00")
    assert [a.raised_at.isoformat() for a in alerts] == ["2026-11-23T11:00:00+08:00"]


def test_only_watched_centers_are_judged() -> None:
    alerts, _ = run("2026-11-23T09:00:00+08:00", "2026-11-24T09:00:00+08:00", watched=frozenset())
    assert alerts == []


def test_a_late_event_inside_the_stretch_resolves_the_alert() -> None:
    alerts, runner = run("2026-11-23T09:00:00+08:00", until="2026-11-23T12:00:00+08:00")
    assert len(alerts) == 1
    runner.feed(event("submitted", "2026-11-23T10:30:00+08:00", case_id="451221-2026-late"))
    resolved = [r for r in runner.resolved if r.rule_id == "center.silent"]
    assert [r.alert_id for r in resolved] == [alerts[0].alert_id]
    assert "2026-11-23 10:30" in resolved[0].reason
    assert resolved[0].to_dict()["case_id"] == ""


def test_a_late_event_outside_the_stretch_changes_nothing() -> None:
    alerts, runner = run("2026-11-23T09:00:00+08:00", until="2026-11-23T12:00:00+08:00")
    runner.feed(event("submitted", "2026-11-23T08:30:00+08:00", case_id="451221-2026-early"))
    assert runner.resolved == [] and len(alerts) == 1


def test_switched_off_rule_raises_nothing(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / "canonical.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  - id: center.silent\n", "  - id: center.silent\n    enabled: false\n"
    )
    path.write_text(text, encoding="utf-8")
    runner = Runner(engine(), watch=watch(tmp_path / "rules"), watched={CENTER})
    runner.feed(event("submitted", "2026-11-23T09:00:00+08:00"))
    assert runner.advance(t("2026-11-30T00:00:00+08:00")) == []


def test_the_state_survives_a_json_round_trip() -> None:
    w = watch()
    state = w.seen(None, CENTER, t("2026-11-23T09:00:00+08:00")).state
    fired = w.advance(state, t("2026-11-23T12:00:00+08:00")).state
    restored = type(fired).from_json(fired.to_json())
    assert restored == fired
    assert w.due(restored) is None  # already alerted for this stretch


def test_a_late_event_splits_a_past_silence_and_what_is_left_is_judged() -> None:
    """Events at 09:00 and 16:00, a silence alerted from 09:00; an event at 09:05 comes
    late: the alert is resolved, and 09:05-16:00 (5 h 25 min of office time) is a
    silence of its own, raised at 11:05."""
    alerts, runner = run("2026-11-23T09:00:00+08:00", "2026-11-23T16:00:00+08:00")
    assert [a.alert_id for a in alerts] == ["center.silent:451221:20261123T090000"]
    late = runner.feed(event("submitted", "2026-11-23T09:05:00+08:00", case_id="451221-x"))
    assert [r.alert_id for r in runner.resolved] == ["center.silent:451221:20261123T090000"]
    assert [(a.alert_id, a.raised_at.isoformat()) for a in late] == [
        ("center.silent:451221:20261123T090500", "2026-11-23T11:05:00+08:00")
    ]
    assert [a for a in runner.advance(t("2026-11-23T18:00:00+08:00"))] == []


def test_a_late_event_that_leaves_too_short_a_gap_raises_nothing_new() -> None:
    alerts, runner = run("2026-11-23T09:00:00+08:00", "2026-11-23T11:30:00+08:00")
    assert len(alerts) == 1
    late = runner.feed(event("submitted", "2026-11-23T10:00:00+08:00", case_id="451221-y"))
    assert len(runner.resolved) == 1 and late == []
