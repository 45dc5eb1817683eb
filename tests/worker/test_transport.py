"""The worker's transport (supervisor/worker/transport.py): what Faust's fetch loop asks
of `wait_first` is answered as before, without the tasks when nothing has to wait; a
fetch's case events of a partition are handed over as one, and acknowledged as each."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport import conductor as faust_conductor
from faust.transport import consumer as faust_consumer
from faust.transport import producer as faust_producer
from faust.types import TP, ConsumerMessage, Message

from supervisor.settings import Settings
from supervisor.worker.process import faust_app
from supervisor.worker.transport import (
    FETCH_MAX_WAIT_MS,
    FETCH_MIN_BYTES,
    PRODUCER_BUFFER,
    EagerConsumer,
    Fetched,
    GatheringConsumerThread,
    RoomyProducer,
)

LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="outside")


@pytest.fixture
async def consumer(tmp_path: Path) -> EagerConsumer:
    """The worker's consumer, built and not started (no broker needed), on this loop."""
    settings = Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(tmp_path / "data"), "SUPERVISOR_STORE": "memory://"}
    )
    built: Any = faust_app(settings).consumer
    assert isinstance(built, EagerConsumer)
    built.loop = asyncio.get_running_loop()
    return built


async def test_a_hand_over_that_never_waits_runs_in_the_fetch_loops_own_task(
    consumer: EagerConsumer,
) -> None:
    ran_in: list[asyncio.Task[Any] | None] = []

    async def hand_over() -> str:
        ran_in.append(asyncio.current_task())
        LABEL.set("inside")  # a task's context is a copy: so is the eager step's
        return "delivered"

    suspended = asyncio.Event()
    waiter = suspended.wait()
    results = await consumer.wait_first(hand_over(), waiter)
    assert results.results == ["delivered"] and not results.stopped
    assert ran_in == [asyncio.current_task()]  # no task of its own
    assert LABEL.get() == "outside"
    assert inspect.getcoroutinestate(waiter) == inspect.CORO_CLOSED  # never awaited


async def test_a_hand_over_that_waits_goes_on_in_a_task(consumer: EagerConsumer) -> None:
    room = asyncio.Event()

    async def hand_over() -> str:
        await room.wait()  # a full stream buffer
        return "delivered"

    waiting = asyncio.ensure_future(consumer.wait_first(hand_over(), asyncio.Event().wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    room.set()
    results = await asyncio.wait_for(waiting, 1)
    assert results.results == ["delivered"] and not results.stopped


async def test_a_suspended_flow_abandons_a_hand_over_still_waiting(
    consumer: EagerConsumer,
) -> None:
    """A rebalance sets `suspend_flow`: the message is not delivered, as with Faust's own."""
    cancelled = asyncio.Event()

    async def hand_over() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "delivered"

    suspend = asyncio.Event()
    waiting = asyncio.ensure_future(consumer.wait_first(hand_over(), suspend.wait()))
    await asyncio.sleep(0.01)
    suspend.set()
    results = await asyncio.wait_for(waiting, 1)
    assert results.results == [True]  # the suspension won
    await asyncio.wait_for(cancelled.wait(), 1)


@pytest.mark.parametrize("waits_first", [False, True])
async def test_an_error_of_the_hand_over_reaches_the_fetch_loop(
    consumer: EagerConsumer, waits_first: bool
) -> None:
    async def hand_over() -> None:
        if waits_first:
            await asyncio.sleep(0)
        raise ValueError("undecodable")

    other = asyncio.Event().wait()
    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(hand_over(), other)
    if not waits_first:
        assert inspect.getcoroutinestate(other) == inspect.CORO_CLOSED


async def test_a_stopped_consumer_takes_fausts_own_path(consumer: EagerConsumer) -> None:
    consumer._stopped.set()

    async def hand_over() -> str:
        return "delivered"

    results = await consumer.wait_first(hand_over(), asyncio.Event().wait())
    assert results.stopped  # Faust's answer: the consumer is stopping


#: faust-streaming 0.15.3's fetch loop, which `EagerConsumer._drain_messages` follows.
FAUSTS_FETCH_LOOP = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def test_the_fetch_loop_followed_is_still_fausts() -> None:
    """The worker's fetch loop is faust-streaming's own with the messages grouped; a
    release that changes Faust's must fail here, to be read and followed again."""
    loop = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert hashlib.sha256(loop.encode()).hexdigest() == FAUSTS_FETCH_LOOP
    assert "self.wait_first(" in loop and "callback(message), self.suspend_flow.wait()" in loop


def consumer_message(topic: str, partition: int, offset: int, generation: int = 1) -> Message:
    return ConsumerMessage(
        topic,
        partition,
        offset,
        1.0 + offset,
        0,
        None,
        b"key-%d" % offset,
        b"value-%d" % offset,
        None,
        generation_id=generation,
    )


def test_a_fetch_stands_for_its_last_message_and_carries_them_all() -> None:
    messages = [consumer_message("case-events", 2, offset) for offset in (5, 6, 7)]
    fetched = Fetched.of(messages)
    assert fetched.messages == messages
    assert (fetched.topic, fetched.partition, fetched.offset) == ("case-events", 2, 7)
    assert fetched.tp == TP("case-events", 2) and fetched.timestamp == 8.0
    assert fetched.value == b"" and fetched.generation_id == 1
    assert fetched.serialized_value_size == sum(len(m.value or b"") for m in messages)


def acking(consumer: EagerConsumer, *topics: str) -> None:
    """Acknowledgements counted for `topics`, as Faust's conductor does for a source."""
    consumer.app.topics._acking_topics.update(topics)  # type: ignore[attr-defined]


async def test_a_fetch_acknowledged_acknowledges_each_of_its_offsets(
    consumer: EagerConsumer,
) -> None:
    acking(consumer, "case-events")
    tp = TP("case-events", 0)
    fetched = Fetched.of([consumer_message("case-events", 0, offset) for offset in (0, 1, 2)])
    consumer._unacked_messages.add(fetched)
    fetched.incref()
    assert fetched.ack(consumer)  # the stream's acknowledgement, as Faust makes it
    assert consumer._acked[tp] == [0, 1, 2] and fetched.acked
    assert all(message.acked for message in fetched.messages)
    assert fetched not in consumer._unacked_messages
    assert consumer._new_offset(tp) == 3  # what Faust commits: the three, one by one
    assert not consumer.ack(fetched)  # once only


class Handed:
    """The conductor's side of the fetch loop: what it was handed, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


class Fetcher:
    """The service that runs the fetch loop (`drain` stops it after its last fetch)."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()


async def drain(consumer: EagerConsumer, *fetches: list[tuple[TP, Message]]) -> list[Message]:
    """Run the worker's fetch loop over `fetches` (each one `getmany`), then stop it."""
    handed, fetcher = Handed(), Fetcher()
    rounds = iter(fetches)

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        records = next(rounds, None)
        if records is None:
            fetcher._stopped.set()
            return
        for record in records:
            yield record

    consumer.callback = handed
    consumer.getmany = getmany  # type: ignore[method-assign]
    await consumer._drain_messages(fetcher)  # type: ignore[arg-type]
    return handed.messages


async def test_a_fetchs_case_events_are_handed_over_a_partition_at_a_time(
    consumer: EagerConsumer,
) -> None:
    acking(consumer, "case-events", "ticks")
    events = [TP("case-events", 0), TP("case-events", 1)]
    ticks = TP("ticks", 0)

    def record(tp: TP, offset: int) -> tuple[TP, Message]:
        return tp, consumer_message(tp.topic, tp.partition, offset)

    # Faust's getmany takes the partitions in turn; one message of partition 1 alone
    first = [record(events[0], 0), record(ticks, 4), record(events[1], 9), record(events[0], 1)]
    first += [record(ticks, 5), record(events[0], 2)]
    # a message read again below the read offset is dropped, as Faust drops it; a hole
    # in the offsets is recorded as Faust records it, for the commit to pass
    second = [record(events[0], 1), record(events[0], 6), record(events[0], 7)]
    handed = await drain(consumer, first, second)

    def shape(message: Message) -> Any:
        if isinstance(message, Fetched):
            return (message.tp, [each.offset for each in message.messages])
        return (message.tp, message.offset)

    assert [shape(message) for message in handed] == [
        (events[0], [0, 1, 2]),
        (ticks, 4),  # not a grouped topic: one by one, as Faust hands them
        (ticks, 5),
        (events[1], 9),  # a single message goes as itself
        (events[0], [6, 7]),
    ]
    assert consumer._read_offset[events[0]] == 7 and consumer._read_offset[ticks] == 5
    assert [(gap.begin, gap.end) for gap in consumer._gap[events[0]]] == [(3, 7)]


async def test_a_partition_under_pressure_is_still_fetched(consumer: EagerConsumer) -> None:
    """A stream queue under pressure does not take its partition out of the fetches:
    Faust would put such partitions back one at a time, in a set's order, and starve
    one behind the others; a full queue holds the fetch loop instead."""
    held = {TP("case-events", 0), TP("case-events", 1)}
    consumer._active_partitions = set(held)
    consumer.on_buffer_full(TP("case-events", 1))
    assert consumer._active_partitions == held
    assert not consumer._buffered_partitions


def test_fausts_conductor_still_waits_on_a_full_queue() -> None:
    """What keeps the bound without the pause: Faust's conductor calls the consumer's
    `on_buffer_full` under pressure, and waits to put into a full queue."""
    conductor = inspect.getsource(faust_conductor.ConductorCompiler.build)
    assert "consumer_on_buffer_full(tp)" in conductor
    assert "if queue.full():" in conductor
    assert "dest_chan.put(dest_event)" in conductor


def test_a_flushs_changelog_messages_do_not_stop_the_streams(tmp_path: Path) -> None:
    """Hundreds of table writes queued at once (a batch flush) leave the next message
    free to go on: its wait for the producer's buffer to ebb returns without waiting for
    a single send (a coroutine that finishes at its first step)."""
    settings = Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(tmp_path / "data"), "SUPERVISOR_STORE": "memory://"}
    )
    producer: Any = faust_app(settings).producer
    assert isinstance(producer, RoomyProducer)
    buffer = producer.buffer
    assert buffer.max_messages == PRODUCER_BUFFER
    for _ in range(2000):  # a batch of 2,000 cases written
        buffer.pending.put_nowait(object())
    ebb = buffer.wait_until_ebb()
    with pytest.raises(StopIteration):
        ebb.send(None)
    assert buffer.size > faust_producer.ProducerBuffer.max_messages  # Faust's would wait


def test_fausts_streams_still_wait_on_the_producers_buffer_bound() -> None:
    """The room given rests on how faust-streaming bounds its producer's buffer: each
    message handed to the streams first waits until fewer than `max_messages` are
    queued. A release that bounds it another way must fail here."""
    conductor = inspect.getsource(faust_conductor.ConductorCompiler.build)
    assert "await wait_until_producer_ebb()" in conductor
    ebb = inspect.getsource(faust_producer.ProducerBuffer.wait_until_ebb)
    assert "if self.size > self.max_messages:" in ebb


async def test_the_workers_fetches_gather_a_little(tmp_path: Path) -> None:
    """The consumer the worker's thread builds asks the broker to hold a fetch until it
    has 16 KiB, or 100 ms have passed, rather than to answer at the first message (and
    less long than Faust's 1.5 s, which an idle fetch waits in full)."""
    settings = Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(tmp_path / "data"), "SUPERVISOR_STORE": "memory://"}
    )
    app = faust_app(settings)
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]
    assert isinstance(thread, GatheringConsumerThread)
    built: Any = thread._create_worker_consumer(app.transport)
    try:
        assert built._fetch_min_bytes == FETCH_MIN_BYTES == 16 * 1024
        assert built._fetch_max_wait_ms == FETCH_MAX_WAIT_MS == 100
    finally:
        await built.stop()  # never started: closes what its constructor opened


def test_aiokafkas_fetcher_still_takes_the_consumers_fetch_bounds_at_start() -> None:
    """The bounds are set on the consumer after Faust built it; they act because
    aiokafka's consumer hands them to its fetcher when it starts. A release that reads
    them elsewhere must fail here."""
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_min_bytes=self._fetch_min_bytes" in start
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start
