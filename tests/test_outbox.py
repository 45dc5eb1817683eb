"""The worker's outbox (supervisor/worker/outbox.py): alerts written down with their case
until the broker acknowledges them, sent again after a failure or a recovery."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from supervisor.worker.json_table import JsonTable
from supervisor.worker.outbox import UNACKNOWLEDGED, Outbox, encode, split


class FakeProducer:
    """Hands out one future per message; the test acknowledges or fails them."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, asyncio.Future[Any]]] = []

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((key, value, future))
        return future

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(value) for _, value, _ in self.sent]

    async def ack(self, index: int) -> None:
        self.sent[index][2].set_result(None)
        await asyncio.sleep(0)  # the done callbacks run

    async def fail(self, index: int) -> None:
        self.sent[index][2].set_exception(ConnectionError("broker away"))
        await asyncio.sleep(0)


def alert(ident: str, **extra: Any) -> dict[str, Any]:
    return {"alert_id": ident, "rule_id": ident.split(":")[0], "title": "办件超期", **extra}


def resolution(ident: str) -> dict[str, Any]:
    return {"alert_id": ident, "status": "resolved", "reason": "迟到数据"}


STATE = {"case_id": "c1", "center_id": "451200", "status": "open"}


async def test_a_case_is_stored_with_its_alerts_until_they_are_acknowledged() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    delivered: list[str] = []
    await outbox.send(
        "c1",
        [
            (alert("deadline.overdue:c1"), lambda: delivered.append("alert")),
            (resolution("deadline.warning:c1"), lambda: delivered.append("resolution")),
        ],
    )
    assert [d["alert_id"] for d in producer.documents()] == [
        "deadline.overdue:c1",
        "deadline.warning:c1",
    ]
    stored = outbox.stored("c1", 3, dict(STATE))
    assert stored[UNACKNOWLEDGED] == [
        alert("deadline.overdue:c1"),
        resolution("deadline.warning:c1"),
    ]
    assert len(outbox) == 2 and delivered == []

    await producer.ack(0)
    assert delivered == ["alert"]
    assert outbox.settled(3) == []  # one still unacknowledged: nothing to write again
    await producer.ack(1)
    assert delivered == ["alert", "resolution"] and len(outbox) == 0
    assert outbox.settled(2) == []  # another partition
    assert outbox.settled(3) == [("c1", STATE)]  # written again without them
    assert outbox.settled(3) == []  # once


async def test_acknowledged_before_the_write_stores_the_state_alone() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    await outbox.send("c1", [(alert("fee.overcharge:c1"), None)])
    await producer.ack(0)
    assert outbox.stored("c1", 0, dict(STATE)) == STATE
    assert outbox.settled(0) == []


async def test_a_later_write_of_the_case_makes_the_settling_write_needless() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    await outbox.send("c1", [(alert("fee.overcharge:c1"), None)])
    assert UNACKNOWLEDGED in outbox.stored("c1", 1, dict(STATE))
    await producer.ack(0)
    newer = {**STATE, "status": "concluded"}
    assert outbox.stored("c1", 1, newer) == newer  # the next event of the case
    assert outbox.settled(1) == []  # nothing older written over it


async def test_a_quiet_partition_is_nudged_once_per_interval() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    await outbox.send("c1", [(alert("fee.overcharge:c1"), None)])
    outbox.stored("c1", 4, dict(STATE))
    await producer.ack(0)
    start = 1_000_000.0
    outbox._settled_since[4] = start  # as if settled then
    assert outbox.waiting(1.0, now=start + 0.5) == []
    assert outbox.waiting(1.0, now=start + 1.0) == [4]
    assert outbox.waiting(1.0, now=start + 1.5) == []  # nudged already
    assert outbox.waiting(1.0, now=start + 2.0) == [4]  # the tick was lost: again
    assert outbox.settled(4) == [("c1", STATE)]
    assert outbox.waiting(1.0, now=start + 5.0) == []


async def test_a_failed_message_stays_with_its_case_and_is_sent_again() -> None:
    producer = FakeProducer()
    again: list[tuple[str, int]] = []
    outbox = Outbox(producer.send, lambda reason, count: again.append((reason, count)))
    delivered: list[str] = []
    await outbox.send("c1", [(alert("fee.overcharge:c1"), lambda: delivered.append("x"))])
    await producer.fail(0)
    assert outbox.stored("c1", 0, dict(STATE))[UNACKNOWLEDGED] == [alert("fee.overcharge:c1")]
    assert await outbox.retry() == 1
    assert again == [("failed", 1)]
    assert producer.sent[1][:2] == producer.sent[0][:2]  # the same bytes again
    await producer.fail(1)
    assert await outbox.retry() == 1  # until acknowledged
    await producer.ack(2)
    assert delivered == ["x"]  # counted once, when acknowledged
    assert await outbox.retry() == 0
    assert outbox.settled(0) == [("c1", STATE)]


async def test_a_refused_send_is_kept_for_the_retry() -> None:
    calls = 0

    async def refusing(key: bytes, value: bytes) -> asyncio.Future[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("producer stopped")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    outbox = Outbox(refusing)
    await outbox.send("c1", [(alert("fee.overcharge:c1"), None)])
    assert len(outbox) == 1
    assert await outbox.retry() == 1
    await asyncio.sleep(0)
    assert len(outbox) == 0


async def test_a_recovery_sends_again_only_what_this_process_did_not_see_acknowledged() -> None:
    producer = FakeProducer()
    again: list[tuple[str, int]] = []
    outbox = Outbox(producer.send, lambda reason, count: again.append((reason, count)))
    await outbox.send("c1", [(alert("a:c1"), None), (alert("b:c1"), None)])
    await producer.ack(0)  # a acknowledged; b still in flight
    stored = [alert("a:c1"), alert("b:c1"), alert("c:c1"), resolution("a:c1")]
    assert await outbox.recovered("c1", stored) == 2  # c, and a's resolution
    assert again == [("recovered", 2)]
    assert [(d["alert_id"], d.get("status")) for d in producer.documents()[2:]] == [
        ("c:c1", None),
        ("a:c1", "resolved"),
    ]
    assert await outbox.recovered("c2", []) == 0


async def test_revoked_partitions_are_no_longer_written() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    for case, partition in (("c1", 0), ("c2", 1)):
        await outbox.send(case, [(alert(f"x:{case}"), None)])
        outbox.stored(case, partition, {**STATE, "case_id": case})
    await producer.ack(0)
    outbox.revoked([0, 5])
    await producer.ack(1)
    assert outbox.settled(0) == []
    assert outbox.settled(1) == [("c2", {**STATE, "case_id": "c2"})]


async def test_split_leaves_the_stored_value_alone() -> None:
    stored = {**STATE, UNACKNOWLEDGED: [alert("x:c1"), "not a message"]}
    state, documents = split(stored)
    assert state == STATE and documents == [alert("x:c1")]
    assert UNACKNOWLEDGED in stored
    assert split(STATE) == (STATE, [])
    assert split({**STATE, UNACKNOWLEDGED: "garbage"}) == (STATE, [])


async def test_a_message_sent_again_from_the_table_has_the_same_bytes() -> None:
    document = alert("deadline.overdue:451200-2026-1", raised_at="2026-11-27T09:00:00+08:00")
    document["details"] = {"limit_days": 5, "fee": 10.0}
    key, value = encode(document)
    table = JsonTable({})
    table["c"] = {UNACKNOWLEDGED: [document]}
    again = encode(table.get("c")[UNACKNOWLEDGED][0])  # through the table's JSON
    assert (key, value) == again
    assert json.loads(value) == document
    assert "办件超期".encode() in value  # UTF-8, not escaped


async def test_a_batch_can_wait_for_its_acknowledgements_and_be_written_once() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer.send)
    await outbox.send("c1", [(alert("deadline.overdue:c1"), None)])
    await outbox.send("c2", [(alert("deadline.overdue:c2"), None)])
    waiting = asyncio.ensure_future(outbox.acknowledged(["c1", "c2"]))
    await producer.ack(0)
    assert not waiting.done()
    await producer.fail(1)  # failed counts as done: it stays listed, for the retry
    await asyncio.wait_for(waiting, 1)
    assert outbox.stored("c1", 0, dict(STATE)) == STATE  # written once, without it
    assert outbox.stored("c2", 0, {**STATE, "case_id": "c2"})[UNACKNOWLEDGED] == [
        alert("deadline.overdue:c2")
    ]
    assert outbox.settled(0) == []
    await outbox.acknowledged(["c1", "unknown"])  # nothing to wait for
