"""Late events (issue 3 §5): applied in event-time order; an alert they prove wrong is
resolved with the reason, never silently dropped; re-deliveries change nothing."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from supervisor.core.engine import Engine, Outcome
from supervisor.core.events import CaseEvent
from supervisor.core.state import CaseState

from .factories import ROOT, accepted, engine, event

ACCEPTED = "2026-09-30T10:00:00+08:00"  # 3 working days: deadline 2026-10-11T00:00+08:00
OVERDUE = "deadline.overdue:451221-2026-0000001"
WARNING = "deadline.warning:451221-2026-0000001"


def feed(eng: Engine, *events: CaseEvent, state: CaseState | None = None) -> Outcome:
    outcome = Outcome(state) if state else None
    for item in events:
        outcome = eng.apply(outcome.state if outcome else None, item)
    assert outcome is not None
    return outcome


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_concluded_uploaded_after_the_deadline_resolves_the_overdue_alert() -> None:
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3)).state
    fired = eng.advance(case, at("2026-10-12T09:00:00+08:00"))
    assert [a.alert_id for a in fired.alerts] == [WARNING, OVERDUE]

    late = eng.apply(fired.state, event("concluded", "2026-10-10T16:00:00+08:00"))

    assert late.alerts == [] or all(a.rule_id != "deadline.overdue" for a in late.alerts)
    assert [r.alert_id for r in late.resolved] == [OVERDUE]  # the warning was true
    resolution = late.resolved[0].to_dict()
    assert resolution["status"] == "resolved"
    assert resolution["rule_id"] == "deadline.overdue"
    assert resolution["resolved_at"] == "2026-10-12T09:00:00+08:00"
    assert "办结" in resolution["reason"] and "2026-10-10 16:00" in resolution["reason"]
    assert resolution["details"]["late_event_type"] == "concluded"
    assert late.state.status == "concluded"
    assert OVERDUE in late.state.retracted and OVERDUE not in late.state.fired
    due = eng.next_due(late.state)
    assert due is None or due > at("2026-10-12T09:00:00+08:00")


def test_a_late_event_that_changes_nothing_resolves_nothing() -> None:
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3)).state
    fired = eng.advance(case, at("2026-10-12T09:00:00+08:00")).state
    late = eng.apply(fired, event("step_completed", "2026-10-09T10:00:00+08:00", step="审查"))
    assert late.resolved == [] and late.alerts == []
    assert set(late.state.fired) == {WARNING, OVERDUE}


def test_arrival_order_is_not_event_order_for_the_workflow() -> None:
    """`concluded` arrives before the `decided` that preceded it: no 体外循环 alert stands."""
    eng = engine()
    first = feed(
        eng,
        accepted(ACCEPTED, 3),
        event("concluded", "2026-10-09T11:00:00+08:00"),
    )
    assert [a.rule_id for a in first.alerts] == ["workflow.no_decision"]
    late = eng.apply(first.state, event("decided", "2026-10-09T10:00:00+08:00", outcome="approve"))
    assert [r.rule_id for r in late.resolved] == ["workflow.no_decision"]
    assert late.alerts == []  # and no out-of-order alert for `decided` after `concluded`


def test_a_late_event_can_also_raise_what_arrival_order_hid() -> None:
    """A second supplement request uploaded late is still a repeated request."""
    eng = engine()
    case = feed(
        eng,
        event("submitted", "2026-11-16T09:00:00+08:00"),
        event("supplement_requested", "2026-11-17T09:00:00+08:00", missing_materials=["a"]),
    ).state
    late = eng.apply(
        case,
        event("supplement_requested", "2026-11-16T10:00:00+08:00", missing_materials=["b"]),
    )
    assert [(a.rule_id, a.raised_at.isoformat()) for a in late.alerts] == [
        ("supplement.repeated", "2026-11-17T09:00:00+08:00")
    ]
    assert late.resolved == []


def test_a_resolved_alert_that_becomes_true_again_gets_a_new_revision_id() -> None:
    """A late suspension moves the deadline: the fired overdue is resolved; when the
    moved deadline passes in turn, the alert is raised again under `...:r2`."""
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3)).state
    case = eng.advance(case, at("2026-10-11T00:00:00+08:00")).state
    assert OVERDUE in case.fired
    late = eng.apply(
        case, event("suspended", "2026-10-08T00:00:00+08:00", reason_code="expert_review")
    )
    assert {r.alert_id for r in late.resolved} == {WARNING, OVERDUE}
    resumed = eng.apply(late.state, event("resumed", "2026-10-12T00:00:00+08:00"))
    # suspended from the start of Thursday 8th to Monday 12th: the three working days of
    # 8, 9 and 10 October did not count, so the limit ends at the end of 14 October
    assert resumed.resolved == []
    again = eng.advance(resumed.state, at("2026-10-16T00:00:00+08:00"))
    assert [(a.alert_id, a.raised_at.isoformat()) for a in again.alerts] == [
        (f"{WARNING}:r2", "2026-10-14T09:36:00+08:00"),
        (f"{OVERDUE}:r2", "2026-10-15T00:00:00+08:00"),
    ]


def test_re_delivered_late_event_changes_nothing() -> None:
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3)).state
    case = eng.advance(case, at("2026-10-12T09:00:00+08:00")).state
    concluded = event("concluded", "2026-10-10T16:00:00+08:00")
    once = eng.apply(case, concluded)
    twice = eng.apply(once.state, concluded)
    assert twice.duplicate and twice.alerts == [] and twice.resolved == []
    assert twice.state is once.state


def test_state_with_history_survives_the_table_round_trip() -> None:
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3), event("step_completed", ACCEPTED, step="a")).state
    case = eng.advance(case, at("2026-10-12T09:00:00+08:00")).state
    restored = CaseState.from_json(case.to_json())
    late_a = eng.apply(case, event("concluded", "2026-10-10T16:00:00+08:00", event_id="c1"))
    late_b = eng.apply(restored, event("concluded", "2026-10-10T16:00:00+08:00", event_id="c1"))
    assert [r.to_dict() for r in late_a.resolved] == [r.to_dict() for r in late_b.resolved]
    assert late_a.state.to_json() == late_b.state.to_json()


def test_an_alert_of_a_rule_switched_off_since_is_not_resolved_by_a_late_event(
    tmp_path: Path,
) -> None:
    """After a live reload switched `deadline.overdue` off, a late event re-judges the
    case; the rule off cannot judge its old alert wrong, so the alert stays as it was."""
    eng = engine()
    case = feed(
        eng,
        accepted(ACCEPTED, 3),
        event("decided", "2026-10-09T10:00:00+08:00", outcome="approve"),
    ).state
    case = eng.advance(case, at("2026-10-12T09:00:00+08:00")).state
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / "canonical.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "  - id: deadline.overdue\n", "  - id: deadline.overdue\n    enabled: false\n"
        ),
        encoding="utf-8",
    )
    reloaded = engine(tmp_path / "rules")
    late = reloaded.apply(case, event("concluded", "2026-10-10T16:00:00+08:00"))
    assert late.resolved == [] and late.alerts == []
    assert OVERDUE in late.state.fired and WARNING in late.state.fired


def test_a_late_approved_extension_moves_a_fired_deadline_to_a_revision() -> None:
    """The overdue alert said 24:00 on 10 October; a late approved extension of 2 working
    days proves the deadline was 24:00 on 13 October: the first is resolved, saying so,
    and the alert is raised again as `:r2` at the right instant."""
    eng = engine()
    case = feed(eng, accepted(ACCEPTED, 3, statutory=None)).state
    case = eng.advance(case, at("2026-10-20T00:00:00+08:00")).state
    assert case.fired[OVERDUE].isoformat() == "2026-10-11T00:00:00+08:00"
    late = eng.apply(
        case,
        event(
            "extended",
            "2026-10-09T09:00:00+08:00",
            value=2,
            unit="working_day",
            approved_by="局长",
            reason="需现场核查",
        ),
    )
    assert {r.alert_id for r in late.resolved} == {OVERDUE, WARNING}
    overdue = next(r for r in late.resolved if r.alert_id == OVERDUE)
    assert "延期" in overdue.reason and "2026-10-13 24:00" in overdue.reason
    assert [(a.alert_id, a.raised_at.isoformat()) for a in late.alerts] == [
        (f"{WARNING}:r2", "2026-10-13T00:00:00+08:00"),
        (f"{OVERDUE}:r2", "2026-10-14T00:00:00+08:00"),
    ]


def test_a_live_rule_change_then_an_unrelated_late_event_re_raises_nothing(
    tmp_path: Path,
) -> None:
    """The warning fired under share 0.8; the rules reload to 0.5; an irrelevant step
    arrives five minutes out of order. Only what the late event changes counts: nothing."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / "canonical.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("share: 0.8", "share: 0.5"), encoding="utf-8"
    )
    old, new = engine(), engine(tmp_path / "rules")
    case = feed(
        old,
        accepted("2026-10-12T10:00:00+08:00", 5),
        event("step_completed", "2026-10-15T11:00:00+08:00", step="审查"),
    ).state
    fired = old.advance(case, at("2026-10-19T09:00:00+08:00"))
    assert [a.rule_id for a in fired.alerts] == ["deadline.warning"]
    late = new.apply(
        fired.state, event("step_completed", "2026-10-15T10:55:00+08:00", step="受理审核")
    )
    assert late.resolved == [] and late.alerts == []
    assert WARNING in late.state.fired


def test_the_case_history_keeps_no_personal_data() -> None:
    """A late event needs the case's events, not the applicant: the changelog-backed
    table never holds a name, ID number or phone."""
    eng = engine()
    doc = {
        **event("submitted", "2026-11-16T09:00:00+08:00").model_dump(
            mode="json", exclude_none=True
        ),
        "applicant": {"name": "张三丰", "id_number": "452701199001011234", "phone": "13800001111"},
    }
    from supervisor.core.events import from_document

    state = eng.apply(None, from_document(doc)).state
    stored = json.dumps(state.to_json(), ensure_ascii=False)
    assert (
        "张三丰" not in stored
        and "13800001111" not in stored
        and "452701199001011234" not in stored
    )
