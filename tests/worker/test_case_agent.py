"""The case agent (supervisor/worker/case_agent.py) without a broker: a dict for the
table, a producer that records, a clock the test sets. The real-broker tests
(tests/integration) prove the whole; these pin each way a message can go."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from supervisor.worker import ticks as tick_batches
from supervisor.worker.case_store import HOME
from supervisor.worker.outbox import UNACKNOWLEDGED
from tests.core.factories import event_doc

from .fakes import EVENTS, TICKS, Message, Parts

CASE = "451221-2026-0000001"


def event_message(
    document: dict[str, Any] | bytes, offset: int = 0, partition: int = -1
) -> Message:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    if partition < 0:
        partition = tick_batches.partition_of(CASE, 3)
    return Message(EVENTS, partition, offset, CASE.encode(), raw, timestamp=1.0)


def accepted(days: int = 1, **extra: Any) -> dict[str, Any]:
    return event_doc(
        "accepted",
        "2026-11-23T09:00:00+08:00",
        case_id=CASE,
        item_code="451221-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": days, "unit": "working_day"},
        **extra,
    )


async def test_an_event_is_judged_stored_indexed_and_passed_on() -> None:
    parts = Parts()
    document = accepted()
    await parts.agent.handle(event_message(document))
    assert set(parts.table) == {CASE}
    assert parts.table[CASE]["case_id"] == CASE
    assert len(parts.index) == 1  # its deadline is scheduled
    assert parts.facts == parts.forwarded == [document["event_id"]]
    assert parts.sample("supervisor_worker_events_consumed_total", type="accepted") == 1
    # where the agent had got to on the partition, for a worker that takes it over: the
    # next offset to handle, once the batch holding offset 0 is written
    assert parts.handled == {str(tick_batches.partition_of(CASE, 3)): 1}


async def test_a_message_that_is_no_event_goes_to_the_dead_letters_and_nothing_else() -> None:
    parts = Parts()
    await parts.agent.handle(event_message(b"{not json", offset=7))
    [letter] = parts.producer.letters
    assert letter.value == b"{not json"
    assert dict(letter.headers)["source"].endswith(b"/7")
    assert parts.table == {} and parts.facts == []
    assert parts.sample("supervisor_worker_events_rejected_total", reason="malformed") == 1


async def test_an_event_from_the_future_is_refused_as_such() -> None:
    parts = Parts()
    parts.clock.move(days=-2)  # the worker's clock is two days behind the event
    await parts.agent.handle(event_message(accepted()))
    [letter] = parts.producer.letters
    assert b"from the future" in dict(letter.headers)["reason"]
    assert parts.table == {}
    assert parts.sample("supervisor_worker_events_rejected_total", reason="future") == 1


async def test_the_future_check_reads_the_clock_again_before_refusing() -> None:
    parts = Parts()
    parts.clock.move(days=-2)
    await parts.agent.handle(event_message(b"{not json", offset=0))  # a reading kept
    parts.clock.move(days=2)  # now the event below is in the present
    await parts.agent.handle(event_message(accepted(), offset=1))
    assert len(parts.producer.letters) == 1 and CASE in parts.table


async def test_a_redelivered_event_is_counted_and_changes_nothing() -> None:
    parts = Parts()
    document = accepted()
    await parts.agent.handle(event_message(document, offset=0))
    stored = parts.table[CASE]
    await parts.agent.handle(event_message(document, offset=1))
    assert parts.table[CASE] is stored
    assert parts.facts == [document["event_id"]]
    assert parts.sample("supervisor_worker_events_duplicate_total") == 1


async def test_a_misrouted_case_lives_on_the_partition_its_events_come_from() -> None:
    parts = Parts()
    other = (tick_batches.partition_of(CASE, 3) + 1) % 3
    await parts.agent.handle(event_message(accepted(), partition=other))
    assert parts.store.homes == {CASE: other}
    assert parts.table[CASE][HOME] == other  # read back at a recovery
    assert parts.sample("supervisor_worker_events_misrouted_total") == 1


def events_of(stored: dict[str, Any]) -> list[str]:
    return [document["event_id"] for document in stored["history"]]


async def test_a_case_on_two_partitions_is_written_whole_whichever_comes_first() -> None:
    # A producer that keys a case's events otherwise than by case_id (no key, another
    # key) puts them on two partitions: the case is staged on both, the later state made
    # from the earlier. Each order of the two writes leaves the whole case, nothing
    # stops, and the event after them is judged on all three (supplement.repeated).
    home = tick_batches.partition_of(CASE, 3)
    other = (home + 1) % 3
    opened = accepted()
    first = event_doc("supplement_requested", "2026-11-23T09:30:00+08:00", case_id=CASE)
    for order in ((home, other), (other, home)):
        parts = Parts(batch_events=100)
        parts.clock.move(hours=2)
        await parts.agent.handle(event_message(opened, offset=0, partition=home))
        await parts.agent.handle(event_message(first, offset=0, partition=other))
        for partition in order:
            await parts.agent.flush(partition)
        assert events_of(parts.table[CASE]) == [opened["event_id"], first["event_id"]]
        assert parts.store.writes == 1  # the later state, once
        again = event_doc("supplement_requested", "2026-11-23T10:00:00+08:00", case_id=CASE)
        await parts.agent.handle(event_message(again, offset=1, partition=home))
        await parts.agent.flush(home)
        assert len(events_of(parts.table[CASE])) == 3
        rules = {document["rule_id"] for document in parts.producer.documents()}
        assert "supplement.repeated" in rules


async def test_a_revoked_partition_leaves_a_two_partition_case_its_earlier_state() -> None:
    home = tick_batches.partition_of(CASE, 3)
    other = (home + 1) % 3
    parts = Parts(batch_events=100)
    parts.clock.move(hours=2)
    document = accepted()
    await parts.agent.handle(event_message(document, offset=0, partition=home))
    later = event_doc("supplement_requested", "2026-11-23T09:30:00+08:00", case_id=CASE)
    await parts.agent.handle(event_message(later, offset=0, partition=other))
    parts.agent.revoked({other})
    parts.store.revoked({other})
    state = parts.store.load(CASE)
    assert state is not None and [d["event_id"] for d in state.history] == [document["event_id"]]
    await parts.agent.flush(home)
    assert events_of(parts.table[CASE]) == [document["event_id"]]


async def test_a_released_tick_fires_the_deadline_and_writes_the_case_once_acknowledged() -> None:
    parts = Parts()
    partition = tick_batches.partition_of(CASE, 3)
    await parts.agent.handle(event_message(accepted(days=1)))
    parts.clock.move(days=3)
    key, value = tick_batches.encode([CASE])
    tick = Message(TICKS, partition, 0, key, value)
    await parts.agent.handle(tick)  # not released by this worker: a hint, ignored
    assert parts.producer.sent == []
    parts.released.add(CASE)
    await parts.agent.handle(tick)
    rules = {document["rule_id"] for document in parts.producer.documents()}
    assert any(rule.startswith("deadline.") for rule in rules), rules
    assert CASE not in parts.released
    # acknowledged before the write: the stored value lists nothing unacknowledged
    assert UNACKNOWLEDGED not in parts.table[CASE]


async def test_alerts_not_acknowledged_are_stored_with_the_case_then_settled() -> None:
    parts = Parts()
    parts.producer.hold = True
    parts.clock.move(hours=1)
    partition = tick_batches.partition_of(CASE, 3)
    await parts.agent.handle(event_message(accepted(fee_standard=10.0)))
    charged = event_doc("fee_charged", "2026-11-23T09:10:00+08:00", case_id=CASE, amount=50.0)
    await parts.agent.handle(event_message(charged, offset=1))
    assert parts.producer.sent, "the overcharge alert was handed to the producer"
    [listed] = [parts.table[CASE][UNACKNOWLEDGED]]
    assert [d["rule_id"] for d in listed] == ["fee.overcharge"]
    for future in parts.producer.pending:
        future.set_result(None)
    await asyncio.sleep(0)  # the outbox hears of it
    await parts.agent.handle(Message(TICKS, partition, 1, b"", b"[]"))  # an empty tick
    assert UNACKNOWLEDGED not in parts.table[CASE]  # written again without them


async def test_a_resolution_is_dated_when_the_late_event_was_judged() -> None:
    """The engine dates it by the case's last instant (when its deadline fired, a week
    before a township's upload, say); published, it is dated by the worker's clock."""
    from datetime import datetime

    from supervisor.core.alerts import Resolution

    parts = Parts()
    fired = datetime.fromisoformat("2026-11-24T00:00:00+08:00")
    wrong = Resolution(
        alert_id=f"deadline.overdue:{CASE}",
        rule_id="deadline.overdue",
        case_id=CASE,
        center_id="451221",
        resolved_at=fired,
        reason="迟到事件",
        details={},
    )
    parts.clock.at = datetime.fromisoformat("2026-12-01T01:30:30+00:00")
    await parts.outputs.raise_alerts(CASE, [], [wrong], parts.clock())
    [(_, value)] = parts.producer.sent
    assert json.loads(value)["resolved_at"] == "2026-12-01T09:30:30+08:00"
    # a clock behind the case's own time (a rehearsal's) never dates it earlier
    await parts.outputs.raise_alerts(CASE, [], [wrong], fired.replace(day=20))
    assert json.loads(parts.producer.sent[-1][1])["resolved_at"] == "2026-11-24T00:00:00+08:00"
