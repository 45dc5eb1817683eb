"""The worker's Kafka transport: Faust's aiokafka transport, with a consumer that hands
the case events a fetch returned for a partition to the streams as one message
(`Fetched`, taken apart again for the agent by worker/fetches.py), and each hand-over
without four tasks of its own (`EagerConsumer`), fetches that gather a little
(`GatheringConsumerThread`) and a producer with room for a batch's changelog messages
(`RoomyProducer`), all below.

Why: faust-streaming's fetch loop (`Consumer._drain_messages`) hands every message to
the conductor with `self.wait_first(callback(message), self.suspend_flow.wait())`, so
that a rebalance (which sets `suspend_flow`) abandons a hand-over still waiting on a
full stream buffer. `wait_first` wraps each of its arguments, and the service's
`stopped` and `crashed` events, in a task, waits for the first with `asyncio.wait` and
cancels the rest: four tasks and a wait for every message, about a tenth of the worker's
CPU (bench/RESULTS.md), although almost every hand-over finishes without waiting for
anything (the flow is not suspended, the buffer not full, the payload raw bytes).

`EagerConsumer.wait_first` first runs such a hand-over synchronously, up to its first
wait, as Python 3.12's eager tasks do: one that finishes there is done, with no task at
all, and gives the loop one turn (as the tasks did: without it the fetch loop hands a
hundred messages over between two turns, the stream's buffer fills, Faust pauses the
partitions and waits on the broker); one that has to wait (a full buffer, flow control)
goes on in a task raced against `suspend_flow` exactly as before. Nothing Faust decides
changes: the same code runs in the same order, in a copy of the context as a task would,
and a stopped or crashed consumer takes Faust's own path. Only the fetch loop calls
`wait_first` with a coroutine (`Service.wait` with an event takes the unchanged path).

The overrides rest on a private loop of faust-streaming (pinned in pyproject.toml),
which `EagerConsumer._drain_messages` follows; tests/worker/test_transport.py fails if
Faust's changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import types
from collections.abc import Coroutine, Generator
from typing import Any

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerMessage, Message
from faust.types.tuples import ack_lock
from mode import ServiceT
from mode.services import WaitArgT, WaitResults
from mode.utils.times import Seconds


@types.coroutine
def _carry_on(coro: Coroutine[Any, Any, Any], waiting: Any) -> Generator[Any, Any, Any]:
    """Drive `coro`, already stepped once and waiting on `waiting`, to its end: what it
    waits on is passed up to the task running this, and what the task sends (or throws:
    a cancellation) is passed down."""
    while True:
        try:
            sent = yield waiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # every throw (a cancellation) is `coro`'s
            try:
                waiting = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting = coro.send(sent)
            except StopIteration as done:
                return done.value


async def _rest(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """`_carry_on` as a native coroutine: a task takes no generator from Python 3.12."""
    return await _carry_on(coro, waiting)


def _close(coros: tuple[WaitArgT, ...]) -> None:
    """Close the coroutines never started (or Python warns that they were never awaited)."""
    for coro in coros:
        if inspect.iscoroutine(coro):
            coro.close()


#: A fetch returns once the broker holds this many bytes for it (aiokafka's default: 1,
#: i.e. at once) ...
FETCH_MIN_BYTES = 16 * 1024
#: ... or once it waited this long (ms; Faust sets 1,500, aiokafka's default 500).
FETCH_MAX_WAIT_MS = 100


class GatheringConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, whose fetches the broker holds up to 100 ms to gather
    16 KiB. With aiokafka's own settings a fetch returns as soon as one message is there:
    at 2,000 events a second a fetch request, its response and a hand-over between the
    threads every few events, a quarter to a third of the worker's CPU an event
    (bench/RESULTS.md). What it costs: an event of a quiet partition waits at most those
    100 ms more, and an idle worker's fetches come back empty ten times a second rather
    than once in 1.5 s (bench/worker_idle.py: a few ms of CPU a second). 100 ms, not less:
    at 20 ms an idle worker spent three times its CPU on them.

    aiokafka's consumer takes the two as arguments, which Faust does not pass on: they
    are set on the consumer Faust built, before it starts (its fetcher reads them then;
    tests/worker/test_transport.py fails if it stops doing so)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class Fetched(ConsumerMessage):
    """The messages of one partition that one fetch returned (`messages`, in order),
    handed to the streams as one message: Faust's per-message path (the conductor, the
    stream's queue and iteration, the sensors, a turn of the loop) is paid once a fetch
    instead of once an event. It stands for its last message (offset, timestamp, key);
    its value is empty (the agent reads `messages`: worker/fetches.py). Acknowledged, it
    acknowledges each of its messages (`EagerConsumer.ack`), so Faust commits exactly the
    offsets it would have committed for them one by one."""

    __slots__ = ("messages",)
    messages: list[Message]

    @classmethod
    def of(cls, messages: list[Message]) -> Fetched:
        last = messages[-1]
        fetched = cls(
            last.topic,
            last.partition,
            last.offset,
            last.timestamp,
            last.timestamp_type,
            last.headers,
            last.key,
            b"",
            None,
            serialized_key_size=0,
            serialized_value_size=sum(message.serialized_value_size for message in messages),
            tp=last.tp,
            time_in=messages[0].time_in,
            generation_id=last.generation_id,
        )
        fetched.messages = messages
        return fetched


class EagerConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, whose hand-over of a fetched message runs eagerly, on
    a `GatheringConsumerThread`; the messages a fetch returned for a partition of a topic
    in `transport.fetched_topics` are handed over as one (`Fetched`)."""

    transport: EagerTransport

    def ack(self, message: Message) -> bool:
        if not isinstance(message, Fetched):
            return super().ack(message)
        with ack_lock:
            if message.acked:
                return False
            message.acked = True
            self._unacked_messages.discard(message)
        # each as Faust acknowledges a message: the offsets to commit, the gaps filled
        acked = False
        for each in message.messages:
            acked = super().ack(each) or acked
        return acked

    def on_buffer_full(self, tp: TP) -> None:
        """Nothing: a partition whose stream queue is under pressure is still fetched.

        Faust takes such a partition out of its fetches, and puts one of those taken out
        back each time an item is taken from a queue at its low mark, picked from a `set`
        of callbacks (mode's `FlowControlQueue`). The agent's queue holds a few fetches
        (worker/process.py) and stays busy through a backlog, so the same partitions came
        back first each time while another waited: 16 s and more behind the others,
        which the stall watchdog took for a stalled consumer and read again. A full
        queue holds the fetch loop anyway (the conductor waits to put into it), for every
        partition alike, and aiokafka's fetcher holds one fetch a partition."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop (`Consumer._drain_messages`, faust-streaming 0.15.3), with
        the messages of each fetch grouped by partition: those of a topic in
        `transport.fetched_topics` handed over as one `Fetched`, the others one by one
        as Faust does. The same checks per message (a re-delivered offset below the read
        one dropped, a gap in the offsets recorded for the commit), the same hand-over
        (raced against a suspended flow), the read offset moved after it."""
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set  # type: ignore[attr-defined]
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        grouped = self.transport.fetched_topics

        async def hand_over(message: Message) -> None:
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            await self.wait_first(callback(message), self.suspend_flow.wait())

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(faust_consumer.CONSUMER_FETCHING)
                fetched: dict[TP, list[Message]] = {}
                reached: dict[TP, int] = {}
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                async for tp, message in ait:
                    offset = message.offset
                    r_offset = reached[tp] if tp in reached else get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        self.log.dev("DROPPED MESSAGE ROFF %r", offset)
                        continue
                    if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    reached[tp] = offset
                    fetched.setdefault(tp, []).append(message)
                for tp, messages in fetched.items():
                    if tp.topic in grouped:
                        await hand_over(messages[0] if len(messages) == 1 else Fetched.of(messages))
                        set_read_offset(tp, messages[-1].offset)
                    else:
                        for message in messages:
                            await hand_over(message)
                            set_read_offset(tp, message.offset)
                self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(faust_consumer.CONSUMER_FETCHING)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return GatheringConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        # mode types `timeout` as Seconds with a default of None: passed on only when given
        limit: dict[str, Seconds] = {} if timeout is None else {"timeout": timeout}
        first = coros[0] if coros else None
        if not inspect.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
            return await super().wait_first(*coros, **limit)
        context = contextvars.copy_context()
        try:
            waiting = context.run(first.send, None)
        except StopIteration as done:
            _close(coros[1:])
            await asyncio.sleep(0)  # one turn of the loop a message, as the tasks took
            return WaitResults([first], [done.value], False)
        except BaseException:  # raised by the hand-over: Faust's wait_first raises it too
            _close(coros[1:])
            raise
        rest = self.loop.create_task(_rest(first, waiting), context=context)
        return await super().wait_first(rest, *coros[1:], **limit)


#: Table changelog messages the streams may leave queued for the producer before the
#: next message waits for them to be sent (Faust's bound is 100).
PRODUCER_BUFFER = 20_000


class RoomyProducer(faust_aiokafka.Producer):
    """Faust's aiokafka producer with room for a flush's changelog messages.

    A table write queues its changelog message in the producer's buffer, sent by a task
    of its own; above `max_messages` queued, Faust makes every stream wait, before its
    next message, until that many were sent. A batch flush writes hundreds of cases at
    once, so with Faust's 100 each flush stopped the agent 50-100 ms (the producer's
    "producer flush took" log lines) while the events behind it waited. With room for
    them, the messages are sent between the next events. A commit still sends them all
    first (Faust's consumer flushes the producer before committing offsets)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = PRODUCER_BUFFER


class EagerTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with `EagerConsumer` and `RoomyProducer`."""

    Consumer = EagerConsumer
    Producer = RoomyProducer
    #: topics whose messages a fetch returned are handed over a partition at a time
    fetched_topics: frozenset[str] = frozenset()


def install(app: faust.App, fetched_topics: frozenset[str] = frozenset()) -> None:
    """Give `app` the eager transport (before anything reads `app.transport`), handing
    the messages of `fetched_topics` over a fetch and a partition at a time (`Fetched`)."""
    app.transport = EagerTransport(app.conf.broker_consumer, app)
    app.transport.fetched_topics = fetched_topics
