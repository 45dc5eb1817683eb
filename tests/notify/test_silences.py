"""Silences: they hold, expire by themselves, can be lifted early, and are audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from supervisor.notify import silences
from supervisor.notify.silences import SilenceError, SilenceState

from .factories import (
    CITY_DIRECTOR,
    COUNTY,
    COUNTY_DIRECTOR,
    INSPECTOR,
    TOWNSHIP,
    Run,
    alert,
    change,
    sent_to,
    t,
)

#: Who a red `deadline.overdue` alert of the county or a township below it goes to.
RED_DEADLINE = [CITY_DIRECTOR, COUNTY_DIRECTOR, "inspection-office"]

MON = "2026-11-23"


def silence(
    state: SilenceState | None = None,
    *,
    now: str = f"{MON}T09:00:00+08:00",
    until: str = f"{MON}T12:00:00+08:00",
    **match: Any,
) -> tuple[SilenceState, dict[str, Any]]:
    match.setdefault("center_id", COUNTY)
    return silences.create(
        state or SilenceState(),
        by=INSPECTOR,
        reason="南丹县政务服务中心系统迁移，联系人电话 13800001111",
        now=t(now),
        until=t(until),
        **match,
    )


def test_a_silence_holds_then_expires_by_itself() -> None:
    run = Run()
    _, record = silence(below=True)
    run.apply(record, f"{MON}T09:00:00+08:00")
    held = alert(1, center=TOWNSHIP)
    out = run.apply(held, f"{MON}T10:00:00+08:00")
    assert out.outbox == []  # recorded, not sent
    assert [(s.alert_id, s.kind) for s in out.suppressed] == [(held["alert_id"], "alert")]
    track = run.state.alerts[held["alert_id"]]
    assert track.muted_by == record["silence_id"] and track.next_escalation is None
    assert run.advance(f"{MON}T11:59:59+08:00").audit == []
    out = run.advance(f"{MON}T12:00:00+08:00")
    assert [(a["action"], a["silence_id"], a["at"]) for a in out.audit] == [
        ("expire", record["silence_id"], f"{MON}T12:00:00+08:00")
    ]
    assert run.advance(f"{MON}T12:30:00+08:00").audit == []  # audited once
    after = alert(2, center=TOWNSHIP)
    assert sent_to(run.apply(after, f"{MON}T13:30:00+08:00")) == RED_DEADLINE
    # the muted alert stays muted: never notified, never escalated
    later = run.advance("2026-11-30T17:30:00+08:00")
    assert {e.alert_id for e in later.escalations} == {after["alert_id"]}
    assert all(n.alerts[0].alert_id != held["alert_id"] for n in later.outbox)


def test_a_silence_lifted_early() -> None:
    run = Run()
    state, record = silence()
    run.apply(record, f"{MON}T09:00:00+08:00")
    assert run.apply(alert(1), f"{MON}T09:30:00+08:00").outbox == []
    _, lifted = silences.lift(
        state,
        record["silence_id"],
        by=INSPECTOR,
        now=t(f"{MON}T10:00:00+08:00"),
        reason="迁移提前完成",
    )
    assert lifted["action"] == "lift" and lifted["by"]["name"] == "王监察"
    run.apply(lifted, f"{MON}T10:00:00+08:00")
    assert sent_to(run.apply(alert(2), f"{MON}T10:01:00+08:00")) == RED_DEADLINE
    assert run.advance(f"{MON}T12:00:00+08:00").audit == []  # lifted: no expiry record
    listed = silences.listing(run.state.silences, t(f"{MON}T12:00:00+08:00"))
    assert [(s.id, status) for s, status in listed] == [(record["silence_id"], "lifted")]


def test_without_below_the_centers_under_it_are_not_silenced() -> None:
    run = Run()
    run.apply(silence()[1], f"{MON}T09:00:00+08:00")
    assert run.apply(alert(1, center=COUNTY), f"{MON}T09:30:00+08:00").outbox == []
    assert sent_to(run.apply(alert(2, center=TOWNSHIP), f"{MON}T09:30:00+08:00")) == RED_DEADLINE


def test_a_silence_by_rule_prefix_and_by_case() -> None:
    run = Run()
    run.apply(silence(center_id=None, rule="deadline.*")[1], f"{MON}T09:00:00+08:00")
    assert (
        run.apply(alert(1, rule="deadline.statutory_overdue"), f"{MON}T09:30:00+08:00").outbox == []
    )
    assert sent_to(run.apply(alert(2, rule="fee.overcharge"), f"{MON}T09:30:00+08:00")) == [
        CITY_DIRECTOR,
        COUNTY_DIRECTOR,
        "inspection-office",  # red fee.overcharge: the inspection office's route too
    ]
    case = alert(3, rule="workflow.no_decision")
    by_case = Run()
    by_case.apply(silence(center_id=None, case_id=case["case_id"])[1], f"{MON}T09:00:00+08:00")
    assert by_case.apply(case, f"{MON}T09:30:00+08:00").outbox == []
    assert sent_to(
        by_case.apply(alert(4, rule="workflow.no_decision"), f"{MON}T09:30:00+08:00")
    ) == [
        CITY_DIRECTOR,
        COUNTY_DIRECTOR,
    ]


def test_a_yellow_alert_silenced_when_its_digest_falls_due_is_left_out() -> None:
    run = Run()
    kept, held = alert(1, severity="yellow"), alert(2, severity="yellow", rule="supplement.late")
    run.apply(kept, f"{MON}T09:00:00+08:00")
    run.apply(held, f"{MON}T09:01:00+08:00")
    run.apply(
        silence(center_id=None, rule="supplement.late", now=f"{MON}T09:10:00+08:00")[1],
        f"{MON}T09:10:00+08:00",
    )
    out = run.advance(f"{MON}T09:30:00+08:00")
    assert [(n.recipient.id, [a.alert_id for a in n.alerts]) for n in out.outbox] == [
        (COUNTY_DIRECTOR, [kept["alert_id"]]),
    ]
    assert [(s.alert_id, s.kind) for s in out.suppressed] == [(held["alert_id"], "digest")]


def test_an_alert_notified_before_a_silence_pauses_during_it_and_resumes() -> None:
    run = Run()
    red = alert(center=TOWNSHIP)
    run.apply(red, f"{MON}T09:00:00+08:00")  # notified; escalation due 11:00
    run.apply(silence(below=True, until=f"{MON}T14:00:00+08:00")[1], f"{MON}T09:30:00+08:00")
    out = run.advance(f"{MON}T13:59:00+08:00")
    assert out.escalations == []
    assert [(s.kind, s.at) for s in out.suppressed] == [
        ("escalation", t(f"{MON}T11:00:00+08:00")),
        ("repeat", t(f"{MON}T13:30:00+08:00")),  # 09:00 + 4 h, held past lunch
    ]
    # tried again two office hours later (11:00 -> 12:00, 13:30 -> 14:30), the silence over
    assert run.advance(f"{MON}T14:29:59+08:00").escalations == []
    assert [e.level for e in run.advance(f"{MON}T14:30:00+08:00").escalations] == [1]


def test_who_why_and_when_are_kept_and_personal_data_masked() -> None:
    state, record = silence()
    assert record["kind"] == "silence" and record["action"] == "create"
    assert record["by"] == INSPECTOR and record["at"] == f"{MON}T09:00:00+08:00"
    assert "13800001111" not in json.dumps(record, ensure_ascii=False)
    assert "138****1111" in record["reason"]
    kept = state.silences[record["silence_id"]]
    assert kept.created_by["name"] == "王监察" and kept.starts_at == t(f"{MON}T09:00:00+08:00")


def test_the_same_request_twice_is_one_silence_and_records_apply_once() -> None:
    state, record = silence()
    again, second = silence(state)
    assert second["silence_id"] == record["silence_id"] and again == state
    assert silences.apply_record(state, record) == state
    lifted_state, lifted = silences.lift(
        state, record["silence_id"], by=INSPECTOR, now=t(f"{MON}T10:00:00+08:00")
    )
    assert silences.apply_record(lifted_state, lifted) == lifted_state
    rebuilt = SilenceState()
    for r in (record, lifted, record, lifted):  # the audit topic read twice
        rebuilt = silences.apply_record(rebuilt, r)
    assert rebuilt == lifted_state


def test_listing_statuses_and_json_round_trip() -> None:
    state, first = silence(now=f"{MON}T09:00:00+08:00", until=f"{MON}T10:00:00+08:00")
    state, second = silence(
        state,
        now=f"{MON}T09:00:00+08:00",
        starts_at=t(f"{MON}T11:00:00+08:00"),
        until=f"{MON}T12:00:00+08:00",
        rule="fee.overcharge",
    )
    now = t(f"{MON}T09:30:00+08:00")
    assert [status for _, status in silences.listing(state, now)] == ["active", "pending"]
    later = t(f"{MON}T10:30:00+08:00")
    assert [(s.id, st) for s, st in silences.listing(state, later)] == [
        (second["silence_id"], "pending"),
        (first["silence_id"], "expired"),
    ]
    text = json.dumps(state.to_json(), ensure_ascii=False)
    assert SilenceState.from_json(json.loads(text)) == state


def test_ended_silences_are_forgotten_after_a_month() -> None:
    state, record = silence()
    state, audit = silences.expire(state, t(f"{MON}T12:00:00+08:00"))
    assert [a["action"] for a in audit] == ["expire"]
    kept, _ = silences.expire(state, t(f"{MON}T12:00:00+08:00") + timedelta(days=29))
    assert record["silence_id"] in kept.silences
    gone, _ = silences.expire(state, t(f"{MON}T12:00:00+08:00") + timedelta(days=30))
    assert gone.silences == {}


@pytest.mark.parametrize(
    "kwargs,problem",
    [
        ({"center_id": None}, "needs a center, a rule or a case"),
        ({"center_id": "4512"}, "not a 6- or 9-digit division code"),
        ({"center_id": None, "rule": "deadline*"}, "not a rule id"),
        ({"center_id": None, "case_id": "x", "below": True}, "'below' needs a center"),
        ({"until": f"{MON}T09:00:00+08:00"}, "must end after it begins"),
        ({"until": "2026-12-31T09:00:00+08:00"}, "at most 31 days"),
    ],
)
def test_a_bad_silence_is_refused(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(SilenceError, match=problem):
        silence(**kwargs)


def test_a_silence_needs_a_reason_and_a_name() -> None:
    with pytest.raises(SilenceError, match="needs a reason"):
        silences.create(
            SilenceState(),
            by=INSPECTOR,
            reason=" ",
            now=t(f"{MON}T09:00:00+08:00"),
            until=t(f"{MON}T10:00:00+08:00"),
            center_id=COUNTY,
        )
    with pytest.raises(SilenceError, match="who asked"):
        silences.create(
            SilenceState(),
            by={"role": "inspector"},
            reason="迁移",
            now=t(f"{MON}T09:00:00+08:00"),
            until=t(f"{MON}T10:00:00+08:00"),
            center_id=COUNTY,
        )


def test_lifting_an_unknown_or_ended_silence_is_refused() -> None:
    state, record = silence()
    with pytest.raises(SilenceError, match="no silence"):
        silences.lift(state, "sil-000000000000", by=INSPECTOR, now=t(f"{MON}T10:00:00+08:00"))
    with pytest.raises(SilenceError, match="already expired"):
        silences.lift(state, record["silence_id"], by=INSPECTOR, now=t(f"{MON}T12:00:00+08:00"))
    lifted, _ = silences.lift(
        state, record["silence_id"], by=INSPECTOR, now=t(f"{MON}T10:00:00+08:00")
    )
    with pytest.raises(SilenceError, match="already lifted"):
        silences.lift(lifted, record["silence_id"], by=INSPECTOR, now=t(f"{MON}T10:30:00+08:00"))


def test_a_silence_never_starts_before_it_was_created() -> None:
    state, record = silence(starts_at=t(f"{MON}T08:00:00+08:00"))
    assert state.silences[record["silence_id"]].starts_at == t(f"{MON}T09:00:00+08:00")


def test_acknowledged_during_a_silence_stays_quiet_after_it() -> None:
    run = Run()
    red = alert()
    run.apply(red, f"{MON}T09:00:00+08:00")
    run.apply(silence(until=f"{MON}T10:00:00+08:00")[1], f"{MON}T09:10:00+08:00")
    run.apply(
        change(red["alert_id"], "acknowledge", f"{MON}T09:20:00+08:00"), f"{MON}T09:20:00+08:00"
    )
    assert run.advance("2026-11-27T17:00:00+08:00").outbox == []


def test_a_silence_read_with_its_end_before_its_start_expires_cleanly() -> None:
    """A record written by hand (or fuzzed) whose end lies in year 1: it ends when it
    starts, and its expiry is recorded with an instant in range instead of raising."""
    record = {
        "id": "sil-0123456789ab",
        "center_id": COUNTY,
        "starts_at": f"{MON}T09:00:00+08:00",
        "ends_at": "0001-01-01T00:00:00+23:59",
        "reason": "手工录入",
        "created_by": {"name": "王监察", "role": "inspector"},
        "created_at": f"{MON}T09:00:00+08:00",
    }
    silence = silences.Silence.model_validate(record)
    assert silence.ends_at == silence.starts_at
    state = SilenceState(silences={silence.id: silence})
    state, written = silences.expire(state, t(f"{MON}T10:00:00+08:00"))
    assert [r["action"] for r in written] == ["expire"]
    assert state.silences[silence.id].expired_at == silence.starts_at
