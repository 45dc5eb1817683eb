"""Contract §6 in the alert journal: what the worker's `case_change` records do to an
alert's status, open counts and history, and that a person's change and the case's never
undo one another."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from supervisor.core.alerts import CaseChange
from supervisor.web.hub import MalformedAlert, decode_record
from supervisor.web.journal import Action, Journal, lifecycle_record

CASE = "451221-2026-0000001"
WARNING = f"deadline.warning:{CASE}"
OVERDUE = f"deadline.overdue:{CASE}"
INSPECTOR = {"name": "王监察", "role": "inspector", "token": "t1"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def alert(alert_id: str, severity: str, raised: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "rule_id": alert_id.split(":", 1)[0],
        "severity": severity,
        "case_id": CASE,
        "center_id": "451221",
        "raised_at": raised,
        "title": "…",
        "message": "…",
        "details": {},
    }


def change(alert_id: str, kind: Any, when: str, **extra: Any) -> dict[str, Any]:
    return CaseChange(
        alert_id=alert_id,
        rule_id=alert_id.split(":", 1)[0],
        case_id=CASE,
        center_id="451221",
        change=kind,
        at=at(when),
        **extra,
    ).to_dict()


def test_a_warning_closed_by_its_case_leaves_the_open_counts() -> None:
    journal = Journal()
    journal.apply(0, alert(WARNING, "yellow", "2026-11-28T00:00:00+08:00"))
    assert journal.open_alerts(lambda c: True) == {"451221": {"red": 0, "yellow": 1}}
    applied = journal.apply(
        1, change(WARNING, "closed", "2026-11-30T15:00:00+08:00", reason="concluded_in_time")
    )
    assert applied.message is not None
    view = applied.message["alert"]
    assert view["status"] == "closed"
    assert view["last_change"]["action"] == "case_closed"
    assert view["last_change"]["reason"] == "concluded_in_time"
    assert view["last_change"]["by"]["role"] == "system"
    assert journal.open_alerts(lambda c: True) == {}


def test_a_superseded_warning_leaves_one_open_card_for_the_case() -> None:
    journal = Journal()
    journal.apply(0, alert(WARNING, "yellow", "2026-11-28T00:00:00+08:00"))
    journal.apply(1, alert(OVERDUE, "red", "2026-12-01T00:00:00+08:00"))
    journal.apply(
        2, change(WARNING, "superseded", "2026-12-01T00:00:00+08:00", superseded_by=OVERDUE)
    )
    entry = journal.get(WARNING)
    assert entry is not None and entry.status == "superseded"
    assert entry.history[-1]["superseded_by"] == OVERDUE
    assert journal.open_alerts(lambda c: True) == {"451221": {"red": 1, "yellow": 0}}


def test_a_late_conclusion_annotates_the_red_card_and_keeps_it_open() -> None:
    journal = Journal()
    journal.apply(0, alert(OVERDUE, "red", "2026-12-01T00:00:00+08:00"))
    record = change(
        OVERDUE,
        "concluded_late",
        "2026-12-02T12:00:00+08:00",
        case_concluded_at=at("2026-12-02T12:00:00+08:00"),
        late_working_days=1.5,
    )
    applied = journal.apply(1, record)
    assert applied.message is not None
    view = applied.message["alert"]
    assert view["status"] == "open"
    assert view["case_concluded_at"] == "2026-12-02T12:00:00+08:00"
    assert view["late_working_days"] == 1.5
    assert journal.open_alerts(lambda c: True) == {"451221": {"red": 1, "yellow": 0}}
    assert journal.apply(2, record).entry is None  # the same record again: nothing new


def test_a_person_resolved_it_first_the_case_changes_nothing() -> None:
    journal = Journal()
    journal.apply(0, alert(WARNING, "yellow", "2026-11-28T00:00:00+08:00"))
    resolve = lifecycle_record(
        WARNING,
        "resolve",
        by=INSPECTOR,
        at=at("2026-11-29T10:00:00+08:00"),
        disposition="verified",
    )
    journal.apply(1, resolve)
    applied = journal.apply(
        2, change(WARNING, "closed", "2026-11-30T15:00:00+08:00", reason="concluded_in_time")
    )
    assert applied.entry is None
    entry = journal.get(WARNING)
    assert entry is not None and entry.status == "resolved"


def test_an_acknowledged_or_appealed_warning_is_still_closed() -> None:
    steps: tuple[tuple[Action, dict[str, Any]], ...] = (
        ("acknowledge", {}),
        ("appeal", {"reason": "已按期办结"}),
    )
    for action, extra in steps:
        journal = Journal()
        journal.apply(0, alert(WARNING, "yellow", "2026-11-28T00:00:00+08:00"))
        by = INSPECTOR if action == "acknowledge" else {"name": "李主任", "role": "director"}
        journal.apply(
            1,
            lifecycle_record(WARNING, action, by=by, at=at("2026-11-29T10:00:00+08:00"), **extra),
        )
        journal.apply(
            2, change(WARNING, "closed", "2026-11-30T15:00:00+08:00", reason="case_withdrawn")
        )
        entry = journal.get(WARNING)
        assert entry is not None and entry.status == "closed"


def test_a_change_read_before_its_alert_is_applied_when_the_alert_comes() -> None:
    journal = Journal()
    journal.apply(
        0, change(WARNING, "closed", "2026-11-30T15:00:00+08:00", reason="concluded_in_time")
    )
    journal.apply(1, alert(WARNING, "yellow", "2026-11-28T00:00:00+08:00"))
    entry = journal.get(WARNING)
    assert entry is not None and entry.status == "closed"


def test_the_feed_reads_a_case_change_as_one() -> None:
    """The alerts topic's reader (hub.decode_record) takes a case change as what it is,
    not as a malformed alert, and refuses one that is not a change of the contract."""
    record = change(
        OVERDUE,
        "concluded_late",
        "2026-12-02T12:00:00+08:00",
        case_concluded_at=at("2026-12-02T12:00:00+08:00"),
        late_working_days=1.5,
    )
    assert decode_record(json.dumps(record)) == record
    with pytest.raises(MalformedAlert):
        decode_record(json.dumps({**record, "change": "reopened"}))
    with pytest.raises(MalformedAlert):
        decode_record(json.dumps({**record, "late_working_days": "1.5"}))
