"""The eager hand-over (supervisor/worker/transport.py): what Faust's fetch loop asks of
`wait_first` is answered as before, without the tasks when nothing has to wait."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport import conductor as faust_conductor
from faust.transport import consumer as faust_consumer
from faust.transport import producer as faust_producer

from supervisor.settings import Settings
from supervisor.worker.process import faust_app
from supervisor.worker.transport import (
    FETCH_MAX_WAIT_MS,
    FETCH_MIN_BYTES,
    PRODUCER_BUFFER,
    EagerConsumer,
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


def test_fausts_fetch_loop_still_hands_messages_over_through_wait_first() -> None:
    """The override answers the call in faust-streaming's private fetch loop; a release
    that hands messages over another way must fail here, not quietly lose the saving."""
    loop = inspect.getsource(faust_consumer.Consumer._drain_messages)
    assert "self.wait_first(" in loop and "callback(message), self.suspend_flow.wait()" in loop


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
