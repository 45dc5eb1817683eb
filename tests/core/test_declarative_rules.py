"""Rules written in YAML alone (issue 3 §3): each declarative kind fires, and just misses.

The rules are the shipped examples (rules/examples/local-rules.yaml) loaded beside the
canonical ones, so the examples an office copies are proved to do what they say."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from supervisor.core.alerts import Alert
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent
from supervisor.core.runner import Runner

from .factories import ROOT, accepted, engine, event


@pytest.fixture(scope="module")
def local_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    rules = tmp_path_factory.mktemp("rules")
    shutil.copy(ROOT / "rules/canonical.yaml", rules / "canonical.yaml")
    shutil.copy(ROOT / "rules/examples/local-rules.yaml", rules / "local.yaml")
    return engine(Path(rules))


def local(eng: Engine, *events: CaseEvent, until: str | None = None) -> list[tuple[str, str]]:
    runner = Runner(eng)
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until:
        alerts += runner.advance(datetime.fromisoformat(until))
    return [(a.alert_id, a.raised_at.isoformat()) for a in alerts if a.rule_id.startswith("local.")]


CASE = "451221-2026-0000001"
MON = "2026-11-23T09:00:00+08:00"


def test_deadline_kind_fires_at_its_limit_and_not_when_stopped(local_engine: Engine) -> None:
    # submitted Monday 23 Nov; 5 working days not counting the 23rd end at 24:00 Mon 30th
    alerts = local(local_engine, event("submitted", MON), until="2026-12-02T00:00:00+08:00")
    assert alerts == [(f"local.acceptance_late:{CASE}", "2026-12-01T00:00:00+08:00")]
    near = local(
        local_engine,
        event("submitted", MON),
        accepted("2026-11-30T23:59:59+08:00"),
        until="2026-12-02T00:00:00+08:00",
    )
    assert near == []


def test_deadline_kind_message_shows_limit_and_deadline(local_engine: Engine) -> None:
    runner = Runner(local_engine)
    runner.feed(event("submitted", MON))
    alert = next(
        a
        for a in runner.advance(datetime.fromisoformat("2026-12-02T00:00:00+08:00"))
        if a.rule_id == "local.acceptance_late"
    )
    assert "5个工作日" in alert.message and "2026-11-30 24:00" in alert.message
    assert alert.severity == "yellow" and alert.title == "收件后未及时受理"


def test_threshold_kind_sums_fees(local_engine: Engine) -> None:
    base = [accepted(MON, fee_standard=1000)]
    fired = local(
        local_engine,
        *base,
        event("fee_charged", "2026-11-23T10:00:00+08:00", amount=150),
        event("fee_charged", "2026-11-23T11:00:00+08:00", amount=50.01),
    )
    assert fired == [(f"local.fee_cap:{CASE}", "2026-11-23T11:00:00+08:00")]
    near = local(
        local_engine,
        *base,
        event("fee_charged", "2026-11-23T10:00:00+08:00", amount=150),
        event("fee_charged", "2026-11-23T11:00:00+08:00", amount=50),
    )
    assert near == []


def test_count_kind_fires_on_the_second_complaint(local_engine: Engine) -> None:
    one = [accepted(MON), event("complained", "2026-11-24T09:00:00+08:00")]
    assert local(local_engine, *one) == []
    two = local(local_engine, *one, event("complained", "2026-11-24T10:00:00+08:00"))
    assert two == [(f"local.complaints_repeated:{CASE}", "2026-11-24T10:00:00+08:00")]


def test_sequence_kind_checks_steps_before_a_denial_only(local_engine: Engine) -> None:
    deny = event("decided", "2026-11-24T09:00:00+08:00", outcome="deny", reason="材料不实")
    assert local(local_engine, accepted(MON), deny) == [
        (f"local.denial_unreviewed:{CASE}", "2026-11-24T09:00:00+08:00")
    ]
    reviewed = event("step_completed", "2026-11-23T15:00:00+08:00", step="审查")
    deny_again = event("decided", "2026-11-24T09:00:00+08:00", outcome="deny", reason="材料不实")
    assert local(local_engine, accepted(MON), reviewed, deny_again) == []
    approve = event("decided", "2026-11-24T09:00:00+08:00", outcome="approve")
    assert local(local_engine, accepted(MON), approve) == []


def test_absence_kind_fires_unless_the_expected_event_comes(local_engine: Engine) -> None:
    complaint = event("complained", "2026-11-24T09:00:00+08:00")
    fired = local(local_engine, accepted(MON), complaint, until="2026-12-03T00:00:00+08:00")
    assert fired == [(f"local.complaint_unanswered:{CASE}", "2026-12-02T00:00:00+08:00")]
    near = local(
        local_engine,
        accepted(MON),
        event("complained", "2026-11-24T09:00:00+08:00"),
        event("rectified", "2026-12-01T23:59:59+08:00"),
        until="2026-12-03T00:00:00+08:00",
    )
    assert near == []


def test_deadline_kind_pauses_while_suspended(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        """
rules:
  - id: local.review_time
    kind: deadline
    severity: red
    title: 审查超时
    message: "{case_id} {deadline}"
    params:
      start: accepted
      stop: [decided, withdrawn]
      limit: {value: 2, unit: working_day}
""",
        encoding="utf-8",
    )
    eng = engine(tmp_path)
    plain = local(eng, accepted(MON), until="2026-12-31T00:00:00+08:00")
    assert plain == [(f"local.review_time:{CASE}", "2026-11-26T00:00:00+08:00")]
    paused = local(
        eng,
        accepted(MON),
        event("suspended", "2026-11-24T12:00:00+08:00", reason_code="expert_review"),
        event("resumed", "2026-11-27T12:00:00+08:00"),  # Tue 12:00 -> Fri 12:00 = 3 days
        until="2026-12-31T00:00:00+08:00",
    )
    assert paused == [(f"local.review_time:{CASE}", "2026-12-01T00:00:00+08:00")]


def test_local_rules_do_not_change_the_canonical_alerts(local_engine: Engine) -> None:
    events = [
        accepted("2026-09-30T10:00:00+08:00", 3),
        event("fee_charged", "2026-10-08T10:00:00+08:00", amount=500),
    ]
    plain, extended = Runner(engine()), Runner(local_engine)
    a = [x for e in events for x in plain.feed(e)] + plain.advance(
        datetime.fromisoformat("2026-10-20T00:00:00+08:00")
    )
    b = [x for e in events for x in extended.feed(e)] + extended.advance(
        datetime.fromisoformat("2026-10-20T00:00:00+08:00")
    )
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b if not x.rule_id.startswith("local")]
    assert {x.rule_id for x in b} - {x.rule_id for x in a} == {"local.fee_cap"}


def test_a_suspension_on_the_start_day_does_not_move_a_yaml_deadline(tmp_path: Path) -> None:
    """The start's own day is not counted, so time suspended on it is not added back
    (as for the canonical deadline)."""
    (tmp_path / "r.yaml").write_text(
        """
rules:
  - id: local.review_time
    kind: deadline
    severity: red
    title: 审查超时
    message: "{case_id}"
    params: {start: accepted, stop: [decided], limit: {value: 1}}
""",
        encoding="utf-8",
    )
    eng = engine(tmp_path)
    same_day = local(
        eng,
        accepted(MON),
        event("suspended", "2026-11-23T10:00:00+08:00", reason_code="testing"),
        event("resumed", "2026-11-23T16:00:00+08:00"),
        until="2026-11-30T00:00:00+08:00",
    )
    assert same_day == [(f"local.review_time:{CASE}", "2026-11-25T00:00:00+08:00")]
