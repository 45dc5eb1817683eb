"""The hub: record validation, the journal behind it, broadcast by scope, slow clients,
snapshots and what a reconnecting client missed."""

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
    SubscriptionEnded,
    decode_alert,
    decode_message,
    decode_record,
    is_resolution,
)
from supervisor.web.journal import lifecycle_record


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
    raw = json.dumps({**make_alert(1), "extra": {"kept": True}}).encode()
    alert = decode_alert(raw)
    assert alert["extra"] == {"kept": True} and alert["alert_id"] == make_alert(1)["alert_id"]


@pytest.mark.parametrize(
    "data,reason",
    [
        (None, "tombstone"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**make_alert(1), "severity": "blue"}).encode(), "severity"),
        (json.dumps({**make_alert(1), "alert_id": ""}).encode(), "alert_id"),
        (json.dumps({**make_alert(1), "raised_at": "2026-11-20T10:00:00"}).encode(), "offset"),
        (json.dumps({**make_alert(1), "details": []}).encode(), "details"),
    ],
)
def test_decode_rejects_what_is_not_an_alert(data: bytes | None, reason: str) -> None:
    with pytest.raises(MalformedAlert, match=reason):
        decode_alert(data)


def test_decode_tells_the_three_kinds_of_record_apart() -> None:
    alert = make_alert(1)
    resolution = make_resolution(alert)
    change = lifecycle_record(
        alert["alert_id"],
        "acknowledge",
        by={"name": "王"},
        at=datetime.fromisoformat("2026-11-27T10:00:00+08:00"),
    )
    assert not is_resolution(decode_message(json.dumps(alert).encode()))
    assert is_resolution(decode_message(json.dumps(resolution).encode()))
    assert decode_record(json.dumps(change).encode())["action"] == "acknowledge"
    with pytest.raises(MalformedAlert, match="action"):
        decode_record(json.dumps({**change, "action": "delete"}).encode())
    with pytest.raises(MalformedAlert, match="by"):
        decode_record(json.dumps({**change, "by": "王"}).encode())


def test_a_center_silent_resolution_has_an_empty_case_id() -> None:
    silent = {**make_alert(1), "rule_id": "center.silent", "case_id": ""}
    resolution = {**make_resolution(silent), "case_id": ""}
    assert decode_message(json.dumps(resolution).encode())["case_id"] == ""


def test_apply_validates_and_changes_nothing_on_a_bad_record() -> None:
    hub = AlertHub(5)
    with pytest.raises(MalformedAlert):
        hub.apply(0, {**make_alert(1), "severity": "blue"})
    assert len(hub) == 0 and hub.head == -1


# -- the journal through the hub --------------------------------------------------------------


def test_recent_is_newest_first_by_raised_at_whatever_the_arrival_order() -> None:
    hub = AlertHub(5)
    for n in (3, 1, 2):
        hub.publish(make_alert(n))
    assert [a["case_id"][-1] for a in hub.recent()] == ["3", "2", "1"]
    assert [a["seq"] for a in hub.recent()] == [0, 2, 1]


def test_a_repeated_alert_id_changes_nothing() -> None:
    hub = AlertHub(5)
    assert hub.publish(make_alert(1)) is True
    assert hub.publish(make_alert(1)) is False
    assert len(hub) == 1


def test_a_worker_resolution_withdraws_the_alert_and_keeps_it() -> None:
    hub = AlertHub(5)
    alert = make_alert(1)
    hub.publish(alert)
    assert hub.resolve(make_resolution(alert)) is True
    shown = hub.recent()[0]
    assert shown["status"] == "withdrawn" and shown["resolution"]["reason"] == REASON
    assert hub.resolve(make_resolution(alert)) is False  # read twice: nothing changes
    assert hub.recent(status="open") == [] and hub.resolved_count == 1


def test_recent_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        AlertHub(5).recent(status="lost")


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AlertHub(0)


# -- sockets --------------------------------------------------------------------------------


def texts(subscription: Any) -> list[dict[str, Any]]:
    out = []
    while subscription.pending:
        out.append(json.loads(subscription._queue.get_nowait()))
    return out


async def test_subscribers_get_each_change_once_within_their_scope() -> None:
    hub = AlertHub(5)
    everything = hub.subscribe()
    county = hub.subscribe(lambda code: code.startswith("451224"))
    hub.publish(make_alert(1))
    hub.publish(make_alert(2, center_id="451224103"))
    hub.publish(make_alert(2, center_id="451224103"))  # repeat: not sent
    at = datetime.fromisoformat("2026-11-27T10:00:00+08:00")
    hub.apply(3, lifecycle_record(make_alert(1)["alert_id"], "acknowledge", by={}, at=at))
    assert [(m["type"], m["seq"]) for m in texts(everything)] == [
        ("alert", 0),
        ("alert", 1),
        ("change", 3),
    ]
    assert [(m["type"], m["alert"]["center_id"]) for m in texts(county)] == [("alert", "451224103")]


async def test_a_slow_subscriber_is_ended_without_blocking_the_others() -> None:
    hub = AlertHub(5, client_queue=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    for n in range(3):
        hub.publish(make_alert(n))
        if n < 2:
            await fast.get()
    await fast.get()
    with pytest.raises(SubscriptionEnded) as ended:
        await slow.get()
    assert ended.value.overflowed


async def test_get_many_takes_what_queued_up_in_order_and_stops_at_the_end() -> None:
    hub = AlertHub(5, client_queue=10)
    subscription = hub.subscribe()
    for n in range(4):
        hub.publish(make_alert(n))
    first = await subscription.get_many(3)
    assert [json.loads(t)["seq"] for t in first] == [0, 1, 2]  # at most the limit
    assert [json.loads(t)["seq"] for t in await subscription.get_many(3)] == [3]
    waiting = asyncio.create_task(subscription.get_many(3))
    await asyncio.sleep(0)
    hub.close()  # wakes a batch waiting for its first message, as get() is woken
    with pytest.raises(SubscriptionEnded):
        await waiting


async def test_close_wakes_a_waiting_subscriber() -> None:
    hub = AlertHub(5)
    subscription = hub.subscribe()
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(SubscriptionEnded) as ended:
        await waiting
    assert not ended.value.overflowed


def test_the_snapshot_holds_the_newest_capacity_alerts_in_scope_and_the_position() -> None:
    hub = AlertHub(2)
    for n in range(4):
        hub.publish(make_alert(n, center_id="451221" if n % 2 else "451224103"))
    snapshot = json.loads(hub.snapshot())
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 3
    assert [a["seq"] for a in snapshot["alerts"]] == [3, 2]
    mine = json.loads(hub.snapshot(lambda code: code == "451221"))
    assert [a["seq"] for a in mine["alerts"]] == [3, 1]


def test_missed_gives_what_came_after_a_position_or_asks_for_a_snapshot() -> None:
    hub = AlertHub(5, replayable=3)
    for n in range(6):
        hub.publish(make_alert(n))
    assert [json.loads(t)["seq"] for t in hub.missed(3) or []] == [4, 5]
    assert hub.missed(5) == []
    assert hub.missed(0) is None  # older than what is kept


async def test_wait_for_returns_once_the_position_is_applied() -> None:
    hub = AlertHub(5)
    waiter = asyncio.create_task(hub.wait_for(1, timeout=2))
    await asyncio.sleep(0)
    hub.publish(make_alert(1))
    await asyncio.sleep(0)
    assert not waiter.done()
    hub.publish(make_alert(2))
    assert await waiter is True
    assert await hub.wait_for(7, timeout=0.05) is False


async def test_positions_applied_ahead_of_the_read_model_are_waited_for_until_stored() -> None:
    """The feed shows the walls a batch before its transaction: the API's read-your-write
    waits until the read model holds it too."""
    hub = AlertHub(5)
    hub.publish(make_alert(1))  # position 0, applied without a read model to wait for
    assert hub.stored == 0
    hub.ahead_of_store(1)
    for n in (1, 2, 3):
        hub.apply(n, make_alert(n + 1))
    assert (hub.head, hub.stored) == (3, 0)
    waiter = asyncio.create_task(hub.wait_for(2, timeout=2))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # on the walls, not yet in the read model
    hub.stored_to(2)
    assert await waiter is True
    assert hub.stored == 2
    hub.ahead_of_store(4)  # already ahead from 3: unchanged
    assert hub.stored == 2
    hub.stored_to(3)
    assert hub.stored == hub.head == 3
    hub.stored_to(3)  # said twice: nothing changes
    assert hub.stored == 3
