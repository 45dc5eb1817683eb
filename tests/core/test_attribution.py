"""Contract §7, "Who handled it": department, window and staff in every alert's details:
for a rule fired by an event, those of that event; for a deadline, the latest known for
the case."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from supervisor.core.alerts import Alert
from supervisor.core.events import CaseEvent, decode, from_document
from supervisor.core.runner import Runner

from .factories import accepted, engine, event_doc

_ENGINE = engine()


def by(
    kind: str,
    at: str,
    department: str | None,
    window: str | None,
    staff: str | None,
    **payload: Any,
) -> CaseEvent:
    document = event_doc(kind, at, **payload)
    for key, value in (("department", department), ("window_id", window), ("staff_id", staff)):
        if value is not None:
            document[key] = value
    return from_document(document)


def who(alert: Alert) -> tuple[object, object, object]:
    return (alert.details["department"], alert.details["window_id"], alert.details["staff_id"])


def run(*events: CaseEvent, until: str | None = None) -> list[Alert]:
    runner = Runner(_ENGINE)
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until:
        alerts += runner.advance(datetime.fromisoformat(until))
    return alerts


def test_an_event_rule_carries_the_events_own_attribution() -> None:
    alerts = run(
        by(
            "accepted",
            "2026-11-23T09:00:00+08:00",
            "南丹县市场监督管理局",
            "W12",
            "nd-0107",
            item_code="X",
            promised_limit={"value": 5, "unit": "working_day"},
        ),
        by(
            "extended",
            "2026-11-24T09:00:00+08:00",
            "南丹县自然资源局",
            "W03",
            "nd-0200",
            value=2,
            unit="working_day",
        ),
    )
    [unapproved] = [a for a in alerts if a.rule_id == "extension.unapproved"]
    assert who(unapproved) == ("南丹县自然资源局", "W03", "nd-0200")


def test_an_event_without_attribution_gives_none_not_the_cases() -> None:
    alerts = run(
        by(
            "accepted",
            "2026-11-23T09:00:00+08:00",
            "南丹县市场监督管理局",
            "W12",
            "nd-0107",
            item_code="X",
            promised_limit={"value": 5, "unit": "working_day"},
        ),
        by("concluded", "2026-11-24T10:00:00+08:00", None, None, None),
        by("evaluated", "2026-11-25T10:00:00+08:00", None, None, None, level=1),
    )
    [negative] = [a for a in alerts if a.rule_id == "evaluation.negative"]
    assert who(negative) == (None, None, None)


def test_a_deadline_carries_the_latest_known_for_the_case() -> None:
    alerts = run(
        by(
            "accepted",
            "2026-11-23T09:00:00+08:00",
            "南丹县市场监督管理局",
            "W12",
            "nd-0107",
            item_code="X",
            promised_limit={"value": 5, "unit": "working_day"},
        ),
        by("step_completed", "2026-11-24T09:00:00+08:00", None, "W07", "nd-0300", step="review"),
        by("step_completed", "2026-11-25T09:00:00+08:00", None, None, None, step="approval"),
        until="2026-12-01T00:00:00+08:00",
    )
    [overdue] = [a for a in alerts if a.rule_id == "deadline.overdue"]
    assert who(overdue) == ("南丹县市场监督管理局", "W07", "nd-0300")


def test_every_alert_of_the_contract_examples_is_attributed() -> None:
    root = Path(__file__).resolve().parents[2]
    lines = (root / "tests/fixtures/contract-examples.jsonl").read_text(encoding="utf-8")
    # the first case left open (its conclusion and what follows it taken out), so that
    # its deadlines fire with the case's latest attribution
    concluded_and_after = {"ex-011", "ex-012", "ex-013", "ex-020"}
    events = [decode(line) for line in lines.splitlines() if line.strip()]
    events = [e for e in events if e.event_id not in concluded_and_after]
    alerts = run(*events, until="2026-12-31T00:00:00+08:00")
    assert alerts
    for alert in alerts:
        assert {"department", "window_id", "staff_id"} <= set(alert.details)
        assert alert.details["staff_id"] == "nd-0107"


def test_a_case_without_any_attribution_has_none() -> None:
    alerts = run(accepted("2026-11-23T09:00:00+08:00"), until="2026-12-01T00:00:00+08:00")
    assert alerts and all(who(a) == (None, None, None) for a in alerts)


def test_the_ids_are_masked_like_any_text() -> None:
    alerts = run(
        by(
            "accepted",
            "2026-11-23T09:00:00+08:00",
            None,
            None,
            "13977881234",
            item_code="X",
            promised_limit={"value": 5, "unit": "working_day"},
        ),
        by(
            "extended",
            "2026-11-24T09:00:00+08:00",
            None,
            None,
            "13977881234",
            value=2,
            unit="working_day",
        ),
    )
    [unapproved] = [a for a in alerts if a.rule_id == "extension.unapproved"]
    assert unapproved.details["staff_id"] == "139****1234"
