"""The worker's alert log lines are bounded per second (supervisor/worker/alert_log.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from supervisor.core.alerts import Alert
from supervisor.worker.alert_log import AlertLog

CST = timezone(timedelta(hours=8))


def alert(rule: str, n: int) -> Alert:
    return Alert(
        alert_id=f"{rule}:451200-2026-{n:07d}",
        rule_id=rule,
        severity="red",
        case_id=f"451200-2026-{n:07d}",
        center_id="451200",
        raised_at=datetime(2026, 11, 27, 9, 0, tzinfo=CST),
        title="办件超期",
        message="",
        details={},
    )


def test_each_alert_gets_a_line_until_the_second_is_full(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.2]
    lines = AlertLog(logging.getLogger("test.alerts"), per_second=3, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "test.alerts")
    lines.raised([alert("deadline.overdue", n) for n in range(4)])
    lines.raised([alert("fee.overcharge", 9)])
    assert [r.getMessage().split()[1] for r in caplog.records] == ["red"] * 3
    assert "deadline.overdue:451200-2026-0000000" in caplog.records[0].getMessage()
    caplog.clear()
    lines.flush()  # the same second: nothing yet
    assert caplog.records == []
    now[0] = 101.0
    lines.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "2 more alerts raised (deadline.overdue 1, fee.overcharge 1), not logged one by one "
        "(more than 3 a second)"
    ]
    caplog.clear()
    lines.raised([alert("deadline.overdue", 20)])  # a new second: one by one again
    assert len(caplog.records) == 1 and "0000020" in caplog.records[0].getMessage()
    now[0] = 105.5
    lines.flush()
    assert len(caplog.records) == 1  # nothing unlogged: no count line
