"""The alert journal: positions, the lifecycle and its refusals, replay after a position."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor.web.hub import MalformedAlert, validate_record
from supervisor.web.journal import Entry, Journal, Refused, check, lifecycle_record

AT = datetime.fromisoformat("2026-11-27T10:00:00+08:00")
INSPECTOR = {"name": "王监察", "role": "inspector", "token": "t1"}
DIRECTOR = {"name": "李主任", "role": "director", "center": "451221", "token": "t2"}


def alert(
    n: int, center: str = "451221", raised: str = "2026-11-27T09:00:00+08:00"
) -> dict[str, Any]:
    return {
        "alert_id": f"deadline.overdue:{center}-2026-{n:07d}",
        "rule_id": "deadline.overdue",
        "severity": "red",
        "case_id": f"{center}-2026-{n:07d}",
        "center_id": center,
        "raised_at": raised,
        "title": "办件超期",
        "message": "…",
        "details": {},
    }


def change(
    alert_id: str, action: Any, by: dict[str, Any] = INSPECTOR, **extra: Any
) -> dict[str, Any]:
    return lifecycle_record(alert_id, action, by=by, at=AT, **extra)


def test_every_record_gets_its_position_and_a_repeat_is_ignored() -> None:
    journal = Journal()
    first = journal.apply(0, alert(1))
    assert first.message is not None and first.message["seq"] == 0
    assert first.message["alert"]["status"] == "open"
    assert journal.apply(0, alert(1)).entry is None  # the same position read again
    assert journal.apply(5, alert(1)).entry is None  # the same alert published again
    assert journal.head == 5 and len(journal) == 1


def test_the_whole_lifecycle_with_its_audit_trail() -> None:
    journal = Journal()
    a = alert(1)
    journal.apply(0, a)
    acked = journal.apply(1, change(a["alert_id"], "acknowledge", note="已查看"))
    assert acked.message is not None and acked.message["type"] == "change"
    assert acked.message["alert"]["status"] == "acknowledged"
    resolved = journal.apply(
        2, change(a["alert_id"], "resolve", disposition="rectified", note="已督促整改")
    )
    entry = resolved.entry
    assert entry is not None and entry.status == "resolved" and entry.disposition == "rectified"
    assert [(h["seq"], h["action"], h["by"]["name"]) for h in entry.history] == [
        (1, "acknowledge", "王监察"),
        (2, "resolve", "王监察"),
    ]
    assert entry.history[1]["note"] == "已督促整改" and entry.history[1]["at"] == AT.isoformat()
    again = journal.apply(3, change(a["alert_id"], "resolve", disposition="verified"))
    assert again.entry is None and again.refused and "resolved" in again.refused


def test_an_appeal_accepted_withdraws_and_rejected_goes_back() -> None:
    journal = Journal()
    journal.apply(0, alert(1))
    journal.apply(1, alert(2))
    journal.apply(2, change(alert(1)["alert_id"], "acknowledge"))
    journal.apply(3, change(alert(1)["alert_id"], "appeal", by=DIRECTOR, reason="数据录入错误"))
    journal.apply(4, change(alert(2)["alert_id"], "appeal", by=DIRECTOR, reason="系统故障"))
    assert journal.get(alert(1)["alert_id"]).status == "appealed"  # type: ignore[union-attr]
    journal.apply(5, change(alert(1)["alert_id"], "reject_appeal", note="理由不成立"))
    journal.apply(6, change(alert(2)["alert_id"], "accept_appeal", note="属实，摘牌"))
    assert journal.get(alert(1)["alert_id"]).status == "acknowledged"  # type: ignore[union-attr]
    assert journal.get(alert(2)["alert_id"]).status == "withdrawn"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "status,action",
    [
        ("resolved", "resolve"),
        ("resolved", "acknowledge"),
        ("withdrawn", "appeal"),
        ("acknowledged", "acknowledge"),
        ("open", "accept_appeal"),
        ("appealed", "resolve"),
    ],
)
def test_refused_transitions(status: str, action: str) -> None:
    with pytest.raises(Refused):
        check(status, action)


def test_a_resolve_needs_a_disposition_and_an_appeal_a_reason() -> None:
    with pytest.raises(ValueError, match="disposition"):
        lifecycle_record("x", "resolve", by=INSPECTOR, at=AT)
    with pytest.raises(ValueError, match="reason"):
        lifecycle_record("x", "appeal", by=DIRECTOR, at=AT, reason="  ")


def test_the_worker_withdrawal_after_a_late_event() -> None:
    journal = Journal()
    a = alert(1)
    journal.apply(0, a)
    resolution = {
        "alert_id": a["alert_id"],
        "status": "resolved",
        "rule_id": "deadline.overdue",
        "case_id": a["case_id"],
        "center_id": "451221",
        "resolved_at": "2026-11-27T11:00:00+08:00",
        "reason": "迟到事件……",
        "details": {},
    }
    applied = journal.apply(1, resolution)
    assert applied.message is not None
    assert applied.message["alert"]["status"] == "withdrawn"
    assert applied.message["alert"]["resolution"]["reason"] == "迟到事件……"
    assert applied.message["alert"]["last_change"]["action"] == "system_withdraw"


def test_a_change_read_before_its_alert_applies_when_the_alert_comes() -> None:
    journal = Journal()
    journal.apply(0, change(alert(1)["alert_id"], "acknowledge"))
    applied = journal.apply(1, alert(1))
    assert applied.message is not None and applied.message["alert"]["status"] == "acknowledged"


def test_replay_after_a_position_gives_exactly_what_was_missed_in_scope() -> None:
    journal = Journal(replayable=100)
    journal.apply(0, alert(1))
    journal.apply(1, alert(2, center="451224103"))
    journal.apply(2, alert(3, center="451200"))
    journal.apply(3, change(alert(1)["alert_id"], "acknowledge"))
    in_county = lambda center: center.startswith("451224")  # noqa: E731
    everything = lambda center: True  # noqa: E731
    assert [m["seq"] for m in journal.since(0, everything) or []] == [1, 2, 3]
    assert [m["seq"] for m in journal.since(0, in_county) or []] == [1]
    assert journal.since(3, everything) == []
    small = Journal(replayable=2)
    for n in range(5):
        small.apply(n, alert(n))
    assert small.since(0, everything) is None  # too old: a snapshot instead
    assert [m["seq"] for m in small.since(2, everything) or []] == [3, 4]


def test_select_filters_and_orders_newest_first() -> None:
    journal = Journal()
    journal.apply(0, alert(1, raised="2026-11-20T09:00:00+08:00"))
    journal.apply(1, alert(2, raised="2026-11-27T09:00:00+08:00", center="451224103"))
    journal.apply(2, {**alert(3, raised="2026-11-25T09:00:00+08:00"), "severity": "yellow"})
    journal.apply(3, change(alert(1)["alert_id"], "acknowledge"))

    def ids(entries: list[Entry]) -> list[str]:
        return [e.alert["case_id"][-1] for e in entries]

    assert ids(journal.select()) == ["2", "3", "1"]
    assert ids(journal.select(severity="red")) == ["2", "1"]
    assert ids(journal.select(status="acknowledged")) == ["1"]
    assert ids(journal.select(centers=lambda c: c == "451221")) == ["3", "1"]
    assert ids(
        journal.select(
            since=datetime.fromisoformat("2026-11-21T00:00:00+08:00"),
            until=datetime.fromisoformat("2026-11-26T00:00:00+08:00"),
        )
    ) == ["3"]


def test_the_kept_alerts_are_bounded() -> None:
    journal = Journal(keep=3)
    for n in range(10):
        journal.apply(n, alert(n))
    assert len(journal) == 3 and journal.get(alert(9)["alert_id"]) is not None


@given(
    hours=st.lists(st.integers(min_value=0, max_value=48), min_size=1, max_size=60),
    keep=st.integers(min_value=1, max_value=20),
    limit=st.integers(min_value=1, max_value=10),
)
def test_the_order_index_matches_a_full_sort_whatever_the_arrival_and_eviction(
    hours: list[int], keep: int, limit: int
) -> None:
    """Lists walk a sorted index and stop at their limit; it must agree with sorting
    every kept alert newest first (ties: the later position first), after evictions."""
    journal = Journal(keep=keep)
    for seq, hour in enumerate(hours):
        raised = f"2026-11-{20 + hour // 24:02d}T{hour % 24:02d}:00:00+08:00"
        journal.apply(seq, alert(seq, raised=raised))
    expected = sorted(
        journal.entries(),
        key=lambda e: (datetime.fromisoformat(e.alert["raised_at"]), e.seq),
        reverse=True,
    )
    assert journal.select() == expected
    assert journal.select(limit=limit) == expected[:limit]
    since = datetime.fromisoformat("2026-11-21T00:00:00+08:00")
    assert journal.select(since=since) == [
        e for e in expected if datetime.fromisoformat(e.alert["raised_at"]) >= since
    ]


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "alert",
                    "acknowledge",
                    "resolve",
                    "appeal",
                    "accept_appeal",
                    "reject_appeal",
                    "withdraw",
                ]
            ),
            st.integers(min_value=0, max_value=8),  # which alert
            st.sampled_from(["451221", "451224103"]),
            st.sampled_from(["red", "yellow"]),
        ),
        max_size=60,
    ),
    keep=st.integers(min_value=1, max_value=6),
)
def test_the_open_counts_agree_with_the_statuses_after_any_changes(
    steps: list[tuple[str, int, str, str]], keep: int
) -> None:
    """The headline and the board read counts kept as statuses change; they must always
    equal a count of the kept alerts' statuses (changes refused, repeated, read before
    their alert, evictions included)."""
    journal = Journal(keep=keep)
    for seq, (action, n, center, severity) in enumerate(steps):
        alert_id = alert(n, center=center)["alert_id"]
        if action == "alert":
            record = {**alert(n, center=center), "severity": severity}
        elif action == "withdraw":
            record = {
                "status": "resolved",  # the worker's resolution after a late event
                "alert_id": alert_id,
                "rule_id": "deadline.overdue",
                "case_id": alert(n, center=center)["case_id"],
                "center_id": center,
                "resolved_at": "2026-11-27T10:00:00+08:00",
                "reason": "迟到事件",
                "details": {},
            }
        else:
            extra: dict[str, Any] = {"disposition": "verified"} if action == "resolve" else {}
            if action == "appeal":
                extra = {"reason": "已按时办结"}
            who = DIRECTOR if action == "appeal" else INSPECTOR
            record = change(alert_id, action, by=who, **extra)
        journal.apply(seq, record)
    scanned: dict[str, dict[str, int]] = {}
    for entry in journal.entries():
        if entry.status in ("open", "acknowledged", "appealed"):
            counts = scanned.setdefault(entry.alert["center_id"], {"red": 0, "yellow": 0})
            counts[entry.alert["severity"]] += 1
    assert journal.open_alerts(lambda center: True) == scanned
    assert journal.open_alerts(lambda center: center == "451221") == {
        c: n for c, n in scanned.items() if c == "451221"
    }


def test_an_escalation_is_a_history_entry_that_keeps_the_status() -> None:
    journal = Journal()
    a = alert(1, center="451224103")
    journal.apply(0, a)
    step = {
        "kind": "escalation",
        "alert_id": a["alert_id"],
        "rule_id": "deadline.overdue",
        "center_id": "451224103",
        "level": 1,
        "to_center": "451224",
        "recipient_id": "dir-451224",
        "recipient_name": "东兰县中心主任",
        "at": "2026-11-27T15:30:00+08:00",
        "waited_working_hours": 2.0,
        "notification_id": f"{a['alert_id']}:dir-451224:escalation:1",
    }
    applied = journal.apply(1, step)
    assert applied.message is not None and applied.message["type"] == "change"
    shown = applied.message["alert"]
    assert shown["status"] == "open" and shown["escalation_level"] == 1
    assert shown["last_change"]["action"] == "escalate"
    assert shown["last_change"]["to_center"] == "451224"
    assert journal.apply(2, step).entry is None  # the same step twice: nothing new
    assert journal.apply(3, {"kind": "silence", "action": "create"}).entry is None


def test_an_evicted_alert_delivered_again_does_not_come_back_open() -> None:
    journal = Journal(keep=2)
    journal.apply(0, alert(1))
    journal.apply(1, change(alert(1)["alert_id"], "acknowledge"))
    journal.apply(2, alert(2))
    journal.apply(3, alert(3))  # alert 1 is evicted
    assert journal.get(alert(1)["alert_id"]) is None
    again = journal.apply(4, alert(1))  # the worker publishes it again (at least once)
    assert again.message is None and journal.get(alert(1)["alert_id"]) is None


def test_a_delivery_attempt_is_a_quiet_history_entry() -> None:
    journal = Journal()
    a = alert(1)
    journal.apply(0, a)
    attempt = {
        "kind": "delivery",
        "alert_id": a["alert_id"],
        "notification_id": f"{a['alert_id']}:director-451221:alert:0",
        "notification_kind": "alert",
        "channel": "webhook",
        "recipient_name": "南丹县中心主任",
        "attempt": 1,
        "outcome": "retry",
        "at": "2026-11-27T10:00:05+08:00",
        "error": "503 Service Unavailable",
        "next_at": "2026-11-27T10:00:10+08:00",
        "dead": False,
    }
    applied = journal.apply(1, attempt)
    assert applied.message is None  # the walls are not told of each attempt
    entry = journal.get(a["alert_id"])
    assert entry is not None and entry.status == "open"
    assert entry.history[-1]["action"] == "notify"
    assert (entry.history[-1]["channel"], entry.history[-1]["outcome"]) == ("webhook", "retry")
    # an attempt is no step: the alert's last change stays the step before it (none here;
    # after a closing step, that step, so the wall still says why it closed)
    assert "last_change" not in entry.view()
    journal.apply(2, change(a["alert_id"], "acknowledge"))
    journal.apply(3, {**attempt, "attempt": 2, "outcome": "sent"})
    assert journal.get(a["alert_id"]).view()["last_change"]["action"] == "acknowledge"  # type: ignore[union-attr]


ACCOUNTABLE_ALERT = "deadline.overdue:451224103-2026-0000042"
ACCOUNTABLE_AT = datetime.fromisoformat("2026-11-28T09:00:00+08:00")


@pytest.mark.parametrize(
    "accountability",
    [
        {"person": "张某"},
        {"person": "", "measure": "x"},
        "张某",
        {"person": "x" * 101, "measure": "y"},
    ],
)
def test_a_malformed_accountability_is_refused_in_the_journal(accountability: object) -> None:
    record = lifecycle_record(
        ACCOUNTABLE_ALERT,
        "resolve",
        by={"name": "王监察", "role": "inspector"},
        at=ACCOUNTABLE_AT,
        disposition="verified",
    )
    record["accountability"] = accountability
    with pytest.raises(MalformedAlert, match="问责"):
        validate_record(record)
    with pytest.raises(ValueError, match="问责"):
        lifecycle_record(
            ACCOUNTABLE_ALERT,
            "resolve",
            by={"name": "王监察", "role": "inspector"},
            at=ACCOUNTABLE_AT,
            disposition="held_accountable",
            accountability=accountability,  # type: ignore[arg-type]
        )
