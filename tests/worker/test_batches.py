"""The case agent's batches (supervisor/worker/case_agent.py, case_store.py) without a
broker: states staged and written once per batch, events acknowledged only after their
batch is written, a batch dropped unwritten when its partition is revoked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from supervisor.worker import case_agent, fetches, json_table
from supervisor.worker import ticks as tick_batches
from supervisor.worker.outbox import UNACKNOWLEDGED
from tests.core.factories import event_doc

from .fakes import TICKS, Message, Parts, Producer
from .test_case_agent import CASE, accepted, event_message

OTHER = "451221-2026-0000002"
PARTITION = tick_batches.partition_of(CASE, 3)


class CountingTable(dict[str, Any]):
    """A dict that counts its writes per key."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes[key] = self.writes.get(key, 0) + 1
        super().__setitem__(key, value)


def message_of(case_id: str, document: dict[str, Any], offset: int) -> Message:
    raw = json.dumps(document).encode()
    return Message("case-events", PARTITION, offset, case_id.encode(), raw, timestamp=1.0)


def other_case() -> dict[str, Any]:
    return {**accepted(), "case_id": OTHER, "event_id": "evt-other-accepted"}


def fee_charged(amount: float) -> dict[str, Any]:
    return event_doc("fee_charged", "2026-11-23T09:10:00+08:00", case_id=CASE, amount=amount)


async def test_a_batch_writes_each_changed_case_once_and_reads_what_it_staged() -> None:
    parts = Parts(table=CountingTable(), batch_events=3)
    parts.clock.move(hours=1)
    assert not await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    # the second event of the case is judged against the first's state, not yet written
    assert not await parts.agent.handle(event_message(fee_charged(50.0), offset=1))
    assert parts.table == {}
    assert parts.store.load(CASE) is not None
    assert [d["rule_id"] for d in parts.producer.documents()] == ["fee.overcharge"]
    assert len(parts.index) == 1  # scheduled when staged
    assert await parts.agent.handle(message_of(OTHER, other_case(), offset=2))
    table = parts.table
    assert isinstance(table, CountingTable)
    assert table.writes == {CASE: 1, OTHER: 1}
    assert (parts.store.staged, parts.store.writes) == (3, 2)
    stored = parts.store.load(CASE)
    assert stored is not None and len(stored.history) == 2
    assert parts.handled == {str(PARTITION): 3}  # the next offset to handle


def catching_up() -> Parts:
    """Batches of 2 events or 2 s; of 3 events or 60 s on a partition with more than 3
    events unread (offsets 0 to 9 on the broker)."""
    return Parts(
        table=CountingTable(),
        batch_events=2,
        batch_seconds=2.0,
        highwater={PARTITION: 10},
        catch_up_events=3,
        catch_up_seconds=60.0,
    )


async def test_a_partition_catching_up_a_backlog_writes_longer_batches() -> None:
    """More events unread after the one in hand than a catch-up batch holds: the batch
    runs to the catch-up bounds, so its cases are written fewer times; near the end of
    the backlog, the usual bounds again."""
    parts = catching_up()
    parts.clock.move(hours=1)
    table = parts.table
    assert isinstance(table, CountingTable)
    assert not await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    assert not await parts.agent.handle(event_message(fee_charged(50.0), offset=1))
    assert table == {}  # 8 unread after it: the usual batch of 2 would be written now
    assert await parts.agent.handle(message_of(OTHER, other_case(), offset=2))
    assert table.writes == {CASE: 1, OTHER: 1}
    # 1 unread after offset 8: the usual batch of 2 events, and its nudge after 2 s
    began = time.monotonic()
    assert not await parts.agent.handle(message_of(CASE, fee_charged(60.0), offset=8))
    assert parts.agent.waiting(now=began + 3) == [PARTITION]
    other_fee = {**fee_charged(70.0), "case_id": OTHER}
    assert await parts.agent.handle(message_of(OTHER, other_fee, offset=9))
    assert table.writes == {CASE: 2, OTHER: 2}


async def test_the_timers_nudge_a_catching_up_partition_after_its_longer_time() -> None:
    parts = catching_up()
    parts.clock.move(hours=1)
    began = time.monotonic()
    assert not await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    assert parts.agent.waiting(now=began + 3) == []  # not after the usual 2 s
    assert parts.agent.waiting(now=began + 61) == [PARTITION]


async def test_the_flush_waits_for_the_alerts_so_a_case_is_written_once() -> None:
    parts = Parts(table=CountingTable(), ack_wait=5.0)
    parts.clock.move(hours=1)
    await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    await parts.agent.handle(event_message(fee_charged(50.0), offset=1))
    assert UNACKNOWLEDGED not in parts.table[CASE]
    await asyncio.sleep(0)
    await parts.agent.handle(Message(TICKS, PARTITION, 0, b"", b"[]"))
    table = parts.table
    assert isinstance(table, CountingTable)
    assert table.writes == {CASE: 2}  # one per batch (one event each): no settle write


async def test_alerts_not_acknowledged_in_time_are_written_with_their_case() -> None:
    parts = Parts(ack_wait=0.01)
    parts.producer.hold = True
    parts.clock.move(hours=1)
    await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    await parts.agent.handle(event_message(fee_charged(50.0), offset=1))
    assert [d["rule_id"] for d in parts.table[CASE][UNACKNOWLEDGED]] == ["fee.overcharge"]


@dataclass
class Event:
    """A stream event: the message (or a fetch of them), acknowledged by the test's `ack`."""

    message: Any


async def stream(*items: Event) -> AsyncIterator[Event]:
    for item in items:
        yield item


async def test_events_are_acknowledged_only_once_their_batch_is_written() -> None:
    parts = Parts(batch_events=2)
    parts.clock.move(hours=1)
    acked: list[int] = []
    written_when_acked: list[bool] = []

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)
        written_when_acked.append(CASE in parts.table)

    first = Event(event_message(accepted(), offset=0))
    second = Event(message_of(OTHER, other_case(), offset=1))
    third = Event(event_message(fee_charged(10.0), offset=2))
    await parts.agent.run(stream(first, second, third), ack)
    assert acked == [0, 1]  # the third waits for its batch
    assert all(written_when_acked)
    # a quiet partition's batch is written at the empty tick the timers send it
    assert parts.agent.waiting(now=1e12) == [PARTITION]
    assert parts.agent.waiting(now=1e12) == []  # once per batch_seconds
    tick = Event(Message(TICKS, PARTITION, 0, b"", b"[]"))
    await parts.agent.run(stream(tick), ack)
    assert acked == [0, 1, 2, 0]
    stored = parts.store.load(CASE)
    assert stored is not None and len(stored.history) == 2


async def test_a_revoked_partition_drops_its_batch_unwritten_and_unacknowledged() -> None:
    parts = Parts(batch_events=10)
    acked: list[int] = []

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)

    await parts.agent.run(stream(Event(event_message(accepted(), offset=0))), ack)
    parts.store.revoked({PARTITION})
    parts.agent.revoked({PARTITION})
    assert parts.table == {} and acked == []
    assert parts.store.load(CASE) is None  # the next owner judges the event again
    assert parts.agent.waiting(now=1e12) == []


class Feed:
    """A stream fed while the agent runs: `put` a message, `end` it; `send_tick` puts an
    empty tick, as the broker would hand it back."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.ticks: list[int] = []

    def put(self, message: Message) -> None:
        self.queue.put_nowait(Event(message))

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def send_tick(self, key: bytes, value: bytes, partition: int) -> None:
        self.ticks.append(partition)
        self.put(Message(TICKS, partition, len(self.ticks), key, value))

    async def events(self) -> AsyncIterator[Event]:
        while (item := await self.queue.get()) is not None:
            yield item


async def test_a_stop_writes_the_batch_in_hand_and_judges_no_further_event() -> None:
    parts = Parts(batch_events=10)
    parts.clock.move(hours=1)
    feed, acked = Feed(), list[tuple[str, int]]()

    async def ack(event: Event) -> None:
        acked.append((event.message.topic, event.message.offset))

    running = asyncio.create_task(parts.agent.run(feed.events(), ack))
    feed.put(event_message(accepted(fee_standard=10.0), offset=0))
    while parts.store.load(CASE) is None:  # judged, staged, not written
        await asyncio.sleep(0)
    assert parts.table == {} and acked == []

    assert await parts.agent.drain(feed.send_tick, timeout=5.0) == 0  # none left unwritten
    assert feed.ticks == [PARTITION]
    assert acked == [("case-events", 0), (TICKS, 1)]  # Faust's stop commits them
    assert len(parts.table[CASE]["history"]) == 1
    assert parts.handled == {str(PARTITION): 1}
    # an event read after the stop began is neither judged nor acknowledged: the next
    # start reads it from the committed offset
    feed.put(event_message(fee_charged(50.0), offset=1))
    feed.end()
    await running
    assert acked == [("case-events", 0), (TICKS, 1)]
    assert parts.producer.documents() == []  # fee.overcharge waits for the next start
    assert len(parts.table[CASE]["history"]) == 1


async def overcharged(parts: Parts) -> tuple[Feed, list[int], asyncio.Task[None]]:
    """The agent running over a feed (the offsets it acknowledges listed), once a case's
    second event raised `fee.overcharge`, handed to a producer that holds it unacknowledged."""
    parts.clock.move(hours=1)
    parts.producer.hold = True
    feed, acked = Feed(), list[int]()

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)

    running = asyncio.create_task(parts.agent.run(feed.events(), ack))
    feed.put(event_message(accepted(fee_standard=10.0), offset=0))
    feed.put(event_message(fee_charged(50.0), offset=1))
    while not parts.producer.pending:  # judged: the alert handed to the producer
        await asyncio.sleep(0)
    return feed, acked, running


async def test_a_stop_ends_only_once_the_written_batch_is_acknowledged() -> None:
    """The flush waits for the batch's alerts; the stop waits for the flush and for the
    events' acknowledgement, or Faust's stop could commit before them."""
    parts = Parts(batch_events=10, ack_wait=5.0)
    feed, acked, running = await overcharged(parts)  # the broker has not acknowledged yet
    draining = asyncio.create_task(parts.agent.drain(feed.send_tick, timeout=10.0))
    while not feed.ticks:
        await asyncio.sleep(0)
    for _ in range(20):  # the tick is handled: its flush waits for the acknowledgement
        await asyncio.sleep(0)
    assert not draining.done() and acked == []
    for future in parts.producer.pending:
        future.set_result(None)
    assert await draining == 0
    assert acked == [0, 1, 1]  # both events, then the tick (its offset: the first tick)
    assert len(parts.table[CASE]["history"]) == 2
    feed.end()
    await running


async def test_a_stop_does_not_wait_long_for_alerts_the_broker_does_not_acknowledge() -> None:
    parts = Parts(batch_events=10, ack_wait=60.0)
    feed, acked, running = await overcharged(parts)  # never acknowledged
    assert await parts.agent.drain(feed.send_tick, timeout=5.0) == 0
    assert acked == [0, 1, 1]
    # written with the alert the broker never acknowledged: sent again at the next start
    assert [d["rule_id"] for d in parts.table[CASE][UNACKNOWLEDGED]] == ["fee.overcharge"]
    feed.end()
    await running


async def test_a_partition_handed_over_while_stopping_is_not_said_to_be_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts(batch_events=10)
    parts.clock.move(hours=1)
    feed, acked = Feed(), list[int]()

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)

    async def handed_over(key: bytes, value: bytes, partition: int) -> None:
        # a rebalance takes the partition before the tick comes back
        parts.store.revoked({partition})
        parts.agent.revoked({partition})

    running = asyncio.create_task(parts.agent.run(feed.events(), ack))
    feed.put(event_message(accepted(), offset=0))
    while parts.store.load(CASE) is None:
        await asyncio.sleep(0)
    with caplog.at_level(logging.INFO, logger="supervisor.worker"):
        assert await parts.agent.drain(handed_over, timeout=5.0) == 0
    assert "wrote the batch in hand" not in caplog.text
    assert parts.table == {} and acked == []  # the next owner judges it
    feed.end()
    await running


async def test_a_stop_whose_ticks_do_not_come_back_leaves_the_batch_to_the_next_start() -> None:
    parts = Parts(batch_events=10)
    parts.clock.move(hours=1)
    sent: list[int] = []

    async def lost_tick(key: bytes, value: bytes, partition: int) -> None:
        sent.append(partition)  # the broker is away: the tick never reaches the agent

    acked: list[int] = []

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)

    await parts.agent.run(stream(Event(event_message(accepted(), offset=0))), ack)
    assert await parts.agent.drain(lost_tick, timeout=0.05) == 1
    assert sent == [PARTITION]
    assert parts.table == {} and acked == []  # as after a crash: judged again at the start


@dataclass
class Fetch:
    """A fetch as the transport hands it over (transport.Fetched): its messages."""

    messages: list[Message]
    generation_id: int = 1
    topic: str = "case-events"
    partition: int = PARTITION


def always(fetched: Any) -> bool:
    return True


class Acked(list[Any]):
    """The stream events acknowledged to Faust, as the worker's agent acknowledges them
    (case_agent.install): a fetch once its last part is."""

    async def ack(self, event: Any) -> None:
        whole = fetches.acknowledged(event)
        if whole is not None:
            self.append(whole)


def fetch_of(*messages: Message) -> Event:
    return Event(Fetch(list(messages)))


async def test_a_fetch_is_acknowledged_once_the_batch_of_its_last_part_is_written() -> None:
    parts = Parts(batch_events=2)
    parts.clock.move(hours=1)
    acked = Acked()

    fetch = fetch_of(
        event_message(accepted(), offset=0),
        message_of(OTHER, other_case(), offset=1),
        event_message(fee_charged(10.0), offset=2),
    )
    await parts.agent.run(fetches.parts(stream(fetch), always), acked.ack)
    assert acked == []  # two of its three parts written: not yet committed
    assert CASE in parts.table and OTHER in parts.table
    tick = Event(Message(TICKS, PARTITION, 0, b"", b"[]"))
    await parts.agent.run(fetches.parts(stream(tick), always), acked.ack)
    assert acked == [fetch, tick]  # the third's batch written at the tick
    stored = parts.store.load(CASE)
    assert stored is not None and len(stored.history) == 2


async def stop_within(
    parts: Parts, in_hand: Event, after: int, *later: Event
) -> tuple[Feed, Acked, int]:
    """The agent over `in_hand`, then `later`, then a feed; a stop begins once the part
    of `in_hand` at offset `after` is judged. Returns the feed, what was acknowledged
    and the partitions `drain` left unwritten; the agent is ended."""
    parts.clock.move(hours=1)
    feed, acked = Feed(), Acked()
    go, judged = asyncio.Event(), asyncio.Event()

    async def fetched() -> AsyncIterator[Any]:
        async for part in fetches.parts(stream(in_hand), always):
            yield part
            if part.message.offset == after:
                judged.set()  # the agent asks for the next part once this one is judged
                await go.wait()
        for event in later:
            yield event
        async for item in feed.events():
            yield item

    running = asyncio.create_task(parts.agent.run(fetches.parts(fetched(), always), acked.ack))
    await judged.wait()
    draining = asyncio.create_task(parts.agent.drain(feed.send_tick, timeout=5.0))
    await asyncio.sleep(0)
    go.set()
    left = await draining
    feed.end()
    await running
    return feed, acked, left


async def test_a_stop_finishes_the_fetch_in_hand_and_begins_no_other() -> None:
    parts = Parts(batch_events=10)
    in_hand = fetch_of(
        event_message(accepted(fee_standard=10.0), offset=0),
        message_of(OTHER, other_case(), offset=1),
    )
    later = fetch_of(event_message(fee_charged(50.0), offset=2))
    feed, acked, left = await stop_within(parts, in_hand, 0, later)
    assert left == 0
    assert feed.ticks == [PARTITION]
    assert acked[0] is in_hand and len(acked) == 2  # the fetch, then the tick
    assert CASE in parts.table and OTHER in parts.table  # both parts written
    assert len(parts.table[CASE]["history"]) == 1  # the later fetch never judged
    assert parts.producer.documents() == []


async def test_a_stop_waits_for_a_fetch_begun_after_its_last_batch_was_written() -> None:
    """The fetch's first two parts were written (a batch of two) when the stop began:
    nothing is held, and yet the fetch's third part is still to be judged and written
    before Faust's stop commits."""
    parts = Parts(batch_events=2)
    in_hand = fetch_of(
        event_message(accepted(fee_standard=10.0), offset=0),
        message_of(OTHER, other_case(), offset=1),
        event_message(fee_charged(50.0), offset=2),
    )
    feed, acked, left = await stop_within(parts, in_hand, 1)
    assert left == 0
    assert feed.ticks == [PARTITION]
    assert acked[0] is in_hand  # the whole fetch, its third part written at the tick
    assert len(parts.table[CASE]["history"]) == 2


async def test_a_staged_state_is_written_without_measuring_it_again() -> None:
    """The first event of a case measures its state (an encoding); the second stays
    within the bound it gave; the batch's write of the case measures nothing again."""
    parts = Parts(batch_events=2)
    parts.clock.move(hours=1)
    dumps = parts.store._dumps
    measured: list[Any] = []

    def counting(value: Any) -> bytes:
        measured.append(value)
        return dumps(value)

    parts.store._dumps = counting
    assert not await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    assert await parts.agent.handle(event_message(fee_charged(5.0), offset=1))
    assert len(measured) == 1 and parts.store.writes == 1
    stored = parts.table[CASE]
    assert len(stored["history"]) == 2


async def test_a_case_is_measured_exactly_before_it_nears_the_bound() -> None:
    """States are not encoded per event while their case is far below the bound, yet the
    event refused is the one an exact measure of every state refuses (about the ninth
    of these 63 KB events: tests/test_poison.py)."""
    from supervisor.core.pipeline import process
    from supervisor.worker.refusals import encoded_size, state_refusal

    documents = [accepted()] + [
        event_doc(
            "supplement_received",
            f"2026-11-23T09:{n:02d}:00+08:00",
            case_id=CASE,
            note=f"{n}" + "材" * 21_000,
        )
        for n in range(1, 12)
    ]
    # the exact measure of every state, as the worker did before
    parts = Parts(batch_events=4)
    parts.clock.move(hours=1)
    states: dict[str, Any] = {}
    expected = None
    raws = [json.dumps(document, ensure_ascii=False).encode() for document in documents]
    for n, raw in enumerate(raws):
        result = process(parts.engine, raw, states.get)
        assert result.state is not None
        size = encoded_size(result.state.to_json(), json_table.dumps)
        if state_refusal(size) is not None:
            expected = n
            break
        states[CASE] = result.state
    assert expected is not None and expected > 4
    for n, raw in enumerate(raws):
        await parts.agent.handle(event_message(raw, offset=n))
    refused = [
        int(dict(letter.headers)["source"].rsplit(b"/", 1)[1]) for letter in parts.producer.letters
    ]
    assert refused == list(range(expected, len(documents)))  # that one, and each after it
    assert all(
        b"would exceed" in dict(letter.headers)["reason"] for letter in parts.producer.letters
    )


async def test_a_message_whose_partition_is_revoked_while_handled_is_not_acknowledged() -> None:
    parts = Parts(ack_wait=5.0)
    parts.producer.hold = True  # the flush waits for the alert ...
    parts.clock.move(hours=1)
    acked: list[int] = []

    async def ack(event: Event) -> None:
        acked.append(event.message.offset)

    await parts.agent.handle(event_message(accepted(fee_standard=10.0), offset=0))
    acked.clear()
    charged = Event(event_message(fee_charged(50.0), offset=1))
    running = asyncio.ensure_future(parts.agent.run(stream(charged), ack))
    await asyncio.sleep(0.05)
    parts.store.revoked({PARTITION})  # ... while the partition is handed over
    parts.agent.revoked({PARTITION})
    for future in parts.producer.pending:
        future.set_result(None)
    await running
    assert acked == []
    stored = parts.store.load(CASE)
    assert stored is not None and len(stored.history) == 1  # the second was not written


class GatedProducer(Producer):
    """A producer whose `send` waits until `gate` opens: the agent awaits it, as it awaits
    a real producer's buffer, and Faust may revoke partitions meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        await self.gate.wait()
        return await super().send(key, value)


async def test_an_event_whose_partition_is_revoked_while_its_alert_is_sent_is_not_staged() -> None:
    """Faust revokes without waiting for the message in hand (stream_wait_empty is off):
    staged after the revocation, the state would outlive the drop of the partition's
    batch, and a partition won back later would read it instead of its owner's."""
    producer = GatedProducer()
    producer.gate.set()
    parts = Parts(producer=producer, batch_events=10)
    parts.clock.move(hours=1)
    first = accepted(fee_standard=10.0)
    await parts.agent.handle(event_message(first, offset=0))
    producer.gate.clear()
    handling = asyncio.ensure_future(
        parts.agent.handle(event_message(fee_charged(50.0), offset=1))  # an alert to send
    )
    await asyncio.sleep(0.01)
    parts.store.revoked({PARTITION})
    parts.agent.revoked({PARTITION})
    producer.gate.set()
    await handling
    assert parts.store.pending_states() == []
    assert parts.store.load(CASE) is None  # judged again, from the start, by its owner
    assert parts.facts == [first["event_id"]]  # no fact for the second either


async def test_a_deadline_whose_partition_is_revoked_while_it_fires_is_not_written() -> None:
    producer = GatedProducer()
    producer.gate.set()
    parts = Parts(producer=producer)
    await parts.agent.handle(event_message(accepted(days=1), offset=0))
    written = dict(parts.table)
    parts.clock.move(days=3)
    parts.released.add(CASE)
    producer.gate.clear()
    key, value = tick_batches.encode([CASE])
    firing = asyncio.ensure_future(parts.agent.handle(Message(TICKS, PARTITION, 0, key, value)))
    await asyncio.sleep(0.01)
    parts.store.revoked({PARTITION})
    parts.agent.revoked({PARTITION})
    producer.gate.set()
    await firing
    assert parts.producer.sent  # handed over before the revocation was known ...
    assert parts.table == written  # ... but the next owner writes the case, not this one


def test_the_events_unread_come_from_the_consumers_high_watermark() -> None:
    """What the agent asks of Faust's consumer to know a partition is catching up: its
    high watermark; nothing unread when there is none yet or the partition was revoked
    (aiokafka asserts it is assigned)."""

    class Consumer:
        def __init__(self, highwater: int | None = None) -> None:
            self._highwater = highwater

        def highwater(self, tp: Any) -> int | None:
            if tp == "revoked":
                raise AssertionError("Partition is not assigned")
            return self._highwater

    class App:
        def __init__(self, consumer: Consumer) -> None:
            self.consumer = consumer

    assert case_agent._unread(App(Consumer(120)), "tp", 99) == 20  # offsets 100 to 119
    assert case_agent._unread(App(Consumer(120)), "tp", 119) == 0
    assert case_agent._unread(App(Consumer(None)), "tp", 5) == 0
    assert case_agent._unread(App(Consumer(120)), "revoked", 5) == 0
