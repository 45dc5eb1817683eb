"""The wall's in-memory hub: validation, order, bound, de-duplication, broadcast, and
resolutions (alerts a late event proved wrong)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from supervisor.core.alerts import Resolution
from supervisor.web.hub import (
    AlertHub,
    MalformedAlert,
    ResolveOutcome,
    SubscriptionEnded,
    decode_alert,
    decode_message,
    encode_snapshot,
    is_resolution,
    validate_alert,
)


def make_alert(
    n: int,
    *,
    severity: str = "red",
    center_id: str = "451221",
    raised_at: str | None = None,
    rule_id: str = "deadline.overdue",
) -> dict[str, Any]:
    case_id = f"{center_id}-2026-{n:07d}"
    return {
        "alert_id": f"{rule_id}:{case_id}",
        "rule_id": rule_id,
        "severity": severity,
        "case_id": case_id,
        "center_id": center_id,
        "raised_at": raised_at or f"2026-11-{n % 28 + 1:02d}T10:00:00+08:00",
        "title": "办件超期",
        "message": f"办件 {case_id} 已超过承诺时限",
        "details": {},
    }


#: What the engine writes when a late `concluded` proves a deadline alert wrong.
REASON = "迟到事件：办结（发生于 11-20 15:00）按事件时间补入后重新研判，该预警不再成立，予以撤销。"


def make_resolution(
    alert: dict[str, Any],
    *,
    reason: str = REASON,
    resolved_at: str = "2026-11-21T09:30:00+08:00",
) -> dict[str, Any]:
    """The resolution the worker publishes for `alert`: `Resolution.to_dict()` itself."""
    return Resolution(
        alert_id=alert["alert_id"],
        rule_id=alert["rule_id"],
        case_id=alert["case_id"],
        center_id=alert["center_id"],
        resolved_at=datetime.fromisoformat(resolved_at),
        reason=reason,
        details={"late_event_type": "concluded"},
    ).to_dict()


# -- validation ---------------------------------------------------------------------------


def test_decode_accepts_the_contract_example_and_keeps_extra_keys() -> None:
    raw = {**make_alert(1), "extra": "kept"}
    assert decode_alert(json.dumps(raw, ensure_ascii=False).encode()) == raw


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "tombstone"),
        (b"\xff\xfe not utf-8", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**make_alert(1), "severity": "orange"}).encode(), "severity"),
        (json.dumps({**make_alert(1), "alert_id": ""}).encode(), "alert_id"),
        (json.dumps({**make_alert(1), "case_id": None}).encode(), "case_id"),
        (json.dumps({**make_alert(1), "raised_at": "2026-11-01T10:00:00"}).encode(), "UTC offset"),
        (json.dumps({**make_alert(1), "raised_at": "yesterday"}).encode(), "ISO 8601"),
        (json.dumps({**make_alert(1), "details": []}).encode(), "details"),
    ],
)
def test_decode_rejects_what_is_not_an_alert(data: bytes | None, reason: str) -> None:
    with pytest.raises(MalformedAlert, match=reason):
        decode_alert(data)


def test_publish_validates_too() -> None:
    hub = AlertHub(5)
    with pytest.raises(MalformedAlert):
        hub.publish({"alert_id": "x"})
    assert len(hub) == 0


def test_validate_returns_the_same_object() -> None:
    alert = make_alert(1)
    assert validate_alert(alert) is alert


# -- order, bound, duplicates -------------------------------------------------------------


def test_recent_is_newest_first_by_raised_at_whatever_the_arrival_order() -> None:
    hub = AlertHub(10)
    for n in (3, 1, 2):
        hub.publish(make_alert(n))
    assert [a["case_id"][-1] for a in hub.recent()] == ["3", "2", "1"]


def test_offsets_are_compared_as_instants_and_ties_by_alert_id() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1, raised_at="2026-11-01T02:00:00Z"))  # 10:00 in Beijing
    hub.publish(make_alert(2, raised_at="2026-11-01T09:59:59+08:00"))
    hub.publish(make_alert(3, raised_at="2026-11-01T10:00:00+08:00"))
    assert [a["case_id"][-1] for a in hub.recent()] == ["3", "1", "2"]


def test_a_repeated_alert_id_changes_nothing() -> None:
    hub = AlertHub(10)
    assert hub.publish(make_alert(1)) is True
    assert hub.publish({**make_alert(1), "message": "changed"}) is False
    assert len(hub) == 1
    assert hub.recent()[0]["message"] == make_alert(1)["message"]


def test_the_list_keeps_only_the_newest_capacity_alerts() -> None:
    hub = AlertHub(3)
    for n in range(1, 7):
        hub.publish(make_alert(n))
    assert [a["case_id"][-1] for a in hub.recent()] == ["6", "5", "4"]
    assert make_alert(1)["alert_id"] not in hub


def test_an_evicted_or_too_old_alert_never_comes_back() -> None:
    hub = AlertHub(2)
    for n in (5, 6, 7):
        hub.publish(make_alert(n))
    # 5 was evicted; reading the topic again must not bring it back, nor an older one.
    assert hub.publish(make_alert(5)) is False
    assert hub.publish(make_alert(1)) is False
    assert [a["case_id"][-1] for a in hub.recent()] == ["7", "6"]


def test_filters_and_limit() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1, severity="red", center_id="451221"))
    hub.publish(make_alert(2, severity="yellow", center_id="451221"))
    hub.publish(make_alert(3, severity="red", center_id="451202"))
    hub.publish(make_alert(4, severity="yellow", center_id="451202"))
    assert [a["case_id"] for a in hub.recent(severity="red")] == [
        "451202-2026-0000003",
        "451221-2026-0000001",
    ]
    assert [a["severity"] for a in hub.recent(center_id="451221")] == ["yellow", "red"]
    assert len(hub.recent(limit=3)) == 3
    assert hub.recent(severity="red", center_id="451202", limit=5) == [
        make_alert(3, severity="red", center_id="451202")
    ]
    assert hub.recent(center_id="999999") == []


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AlertHub(0)


# -- broadcast ----------------------------------------------------------------------------


async def test_subscribers_get_each_new_alert_once() -> None:
    hub = AlertHub(10)
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish(make_alert(1))
    hub.publish(make_alert(1))  # repeat: not sent again
    hub.publish(make_alert(2))
    for subscription in (first, second):
        messages = [json.loads(await subscription.get()) for _ in range(2)]
        assert [m["type"] for m in messages] == ["alert", "alert"]
        assert [m["alert"]["case_id"][-1] for m in messages] == ["1", "2"]
        assert subscription.pending == 0
    hub.unsubscribe(first)
    assert hub.subscriber_count == 1


async def test_an_alert_too_old_to_keep_is_not_broadcast() -> None:
    hub = AlertHub(1)
    hub.publish(make_alert(5))
    subscription = hub.subscribe()
    hub.publish(make_alert(1))
    assert subscription.pending == 0


async def test_a_slow_subscriber_is_ended_without_blocking_the_others() -> None:
    hub = AlertHub(10, client_queue=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    received: list[str] = []
    for n in range(1, 5):
        assert hub.publish(make_alert(n)) is True  # never waits, even with slow full
        received.append(await fast.get())
    assert len(received) == 4
    assert slow.overflowed
    # The slow one ends at once: no backlog is drained to a client that is behind.
    with pytest.raises(SubscriptionEnded) as ended:
        await slow.get()
    assert ended.value.overflowed


async def test_close_wakes_a_waiting_subscriber() -> None:
    hub = AlertHub(10)
    subscription = hub.subscribe()
    waiter = asyncio.create_task(subscription.get())
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(SubscriptionEnded) as ended:
        await asyncio.wait_for(waiter, 1)
    assert not ended.value.overflowed
    assert hub.subscriber_count == 0


def test_snapshot_message_shape() -> None:
    message = json.loads(encode_snapshot([make_alert(1)]))
    assert message == {"type": "snapshot", "alerts": [make_alert(1)]}


# -- resolutions --------------------------------------------------------------------------


def test_decode_message_tells_a_resolution_from_an_alert() -> None:
    resolution = make_resolution(make_alert(1))
    decoded = decode_message(json.dumps(resolution, ensure_ascii=False).encode())
    assert decoded == resolution
    assert is_resolution(decoded)
    alert = decode_message(json.dumps(make_alert(1), ensure_ascii=False).encode())
    assert alert == make_alert(1)
    assert not is_resolution(alert)


def test_a_center_silent_resolution_has_an_empty_case_id() -> None:
    silent = {**make_alert(1, rule_id="center.silent"), "case_id": ""}
    resolution = make_resolution(silent)
    assert decode_message(json.dumps(resolution).encode())["case_id"] == ""


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"alert_id": ""}, "alert_id"),
        ({"alert_id": None}, "alert_id"),
        ({"rule_id": 7}, "rule_id"),
        ({"center_id": None}, "center_id"),
        ({"reason": None}, "reason"),
        ({"case_id": 123}, "case_id"),
        ({"resolved_at": "2026-11-21T09:30:00"}, "UTC offset"),
        ({"resolved_at": "soon"}, "ISO 8601"),
        ({"resolved_at": None}, "resolved_at"),
        ({"details": ["x"]}, "details"),
    ],
)
def test_decode_rejects_what_is_not_a_resolution(change: dict[str, Any], reason: str) -> None:
    bad = {**make_resolution(make_alert(1)), **change}
    with pytest.raises(MalformedAlert, match=reason):
        decode_message(json.dumps(bad).encode())
    hub = AlertHub(5)
    with pytest.raises(MalformedAlert):
        hub.resolve(bad)
    assert hub.pending_count == 0


def test_a_resolution_is_not_an_alert() -> None:
    # decode_alert (alerts only) still refuses it: it has no severity, title or raised_at.
    with pytest.raises(MalformedAlert):
        decode_alert(json.dumps(make_resolution(make_alert(1))).encode())


def test_a_resolution_marks_its_alert_resolved_and_keeps_it() -> None:
    hub = AlertHub(10)
    for n in (1, 2, 3):
        hub.publish(make_alert(n))
    resolution = make_resolution(make_alert(2))
    assert hub.resolve(resolution) is ResolveOutcome.APPLIED
    assert len(hub) == 3
    assert hub.resolved_count == 1
    shown = hub.recent()
    assert [a["case_id"][-1] for a in shown] == ["3", "2", "1"]  # same place
    assert shown[1] == {**make_alert(2), "resolution": resolution}
    assert "resolution" not in shown[0] and "resolution" not in shown[2]
    assert [a["case_id"][-1] for a in hub.recent(status="open")] == ["3", "1"]
    assert hub.recent(status="resolved") == [shown[1]]
    assert hub.recent(status="resolved", severity="yellow") == []


def test_recent_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        AlertHub(5).recent(status="closed")


def test_a_list_taken_before_the_resolution_is_not_changed_by_it() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1))
    before = hub.recent()
    hub.resolve(make_resolution(make_alert(1)))
    assert before == [make_alert(1)]
    assert "resolution" in hub.recent()[0]


def test_a_repeated_resolution_changes_nothing() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1))
    first = make_resolution(make_alert(1))
    assert hub.resolve(first) is ResolveOutcome.APPLIED
    again = make_resolution(make_alert(1), reason="another reason")
    assert hub.resolve(first) is ResolveOutcome.REPEAT
    assert hub.resolve(again) is ResolveOutcome.REPEAT
    assert hub.recent()[0]["resolution"] == first  # the first wins
    assert hub.resolved_count == 1


def test_a_resolution_read_before_its_alert_waits_for_it() -> None:
    hub = AlertHub(10)
    resolution = make_resolution(make_alert(1))
    assert hub.resolve(resolution) is ResolveOutcome.PENDING
    assert hub.pending_count == 1
    assert len(hub) == 0
    assert hub.resolve(resolution) is ResolveOutcome.REPEAT  # read twice: still one
    assert hub.pending_count == 1
    assert hub.publish(make_alert(1)) is True
    assert hub.recent() == [{**make_alert(1), "resolution": resolution}]
    assert hub.pending_count == 0
    assert hub.recent(status="open") == []
    assert hub.resolve(resolution) is ResolveOutcome.REPEAT


def test_waiting_resolutions_are_bounded_oldest_dropped() -> None:
    hub = AlertHub(10, pending_capacity=2)
    for n in (1, 2, 3):
        assert hub.resolve(make_resolution(make_alert(n))) is ResolveOutcome.PENDING
    assert hub.pending_count == 2
    hub.publish(make_alert(1))  # its resolution was dropped: shown open
    hub.publish(make_alert(3))
    assert [("resolution" in a, a["case_id"][-1]) for a in hub.recent()] == [
        (True, "3"),
        (False, "1"),
    ]
    assert hub.pending_count == 1  # 2's still waits


def test_a_resolved_alert_is_evicted_with_its_resolution() -> None:
    hub = AlertHub(2)
    hub.publish(make_alert(1))
    hub.resolve(make_resolution(make_alert(1)))
    hub.publish(make_alert(2))
    hub.publish(make_alert(3))
    assert make_alert(1)["alert_id"] not in hub
    assert hub.resolved_count == 0
    assert hub.pending_count == 0


def test_a_resolution_of_an_evicted_alert_waits_but_brings_nothing_back() -> None:
    hub = AlertHub(2)
    for n in (5, 6, 7):
        hub.publish(make_alert(n))
    assert hub.resolve(make_resolution(make_alert(5))) is ResolveOutcome.PENDING
    assert hub.publish(make_alert(5)) is False  # still too old to keep
    assert hub.pending_count == 0  # and its resolution is let go
    assert [a["case_id"][-1] for a in hub.recent()] == ["7", "6"]


def test_an_alert_cannot_bring_its_own_resolution() -> None:
    hub = AlertHub(5)
    hub.publish({**make_alert(1), "resolution": make_resolution(make_alert(1))})
    assert hub.recent() == [make_alert(1)]
    assert hub.resolved_count == 0


async def test_subscribers_get_each_new_resolution_once() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1))
    subscription = hub.subscribe()
    resolution = make_resolution(make_alert(1))
    hub.resolve(resolution)
    hub.resolve(resolution)  # repeat: not sent
    hub.resolve(make_resolution(make_alert(9)))  # unknown here: sent, a screen may have it
    hub.resolve(make_resolution(make_alert(9)))  # repeat: not sent
    messages = [json.loads(await subscription.get()) for _ in range(2)]
    assert messages == [
        {"type": "resolved", "resolution": resolution},
        {"type": "resolved", "resolution": make_resolution(make_alert(9))},
    ]
    assert subscription.pending == 0


async def test_an_alert_read_after_its_resolution_is_sent_resolved() -> None:
    hub = AlertHub(10)
    resolution = make_resolution(make_alert(1))
    hub.resolve(resolution)
    subscription = hub.subscribe()
    hub.publish(make_alert(1))
    message = json.loads(await subscription.get())
    assert message == {"type": "alert", "alert": {**make_alert(1), "resolution": resolution}}


def test_the_snapshot_carries_resolutions() -> None:
    hub = AlertHub(10)
    hub.publish(make_alert(1))
    hub.publish(make_alert(2, severity="yellow"))
    resolution = make_resolution(make_alert(1))
    hub.resolve(resolution)
    message = json.loads(encode_snapshot(hub.recent()))
    assert message["alerts"] == [
        make_alert(2, severity="yellow"),
        {**make_alert(1), "resolution": resolution},
    ]
