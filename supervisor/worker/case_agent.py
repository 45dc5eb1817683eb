"""The case agent: every message of the worker's partitions, judged one at a time, the
case states written in batches.

Two topics feed it (app.py): the case events, and the internal ticks the timers send
for the cases whose deadline fell due (timers.py). For an event it runs the pipeline's
stages (supervisor/core/pipeline.py: decode, validate, not from the future, dedupe,
evaluate) and emits what they decided: a refusal to the dead-letter topic, a duplicate
counted, a judged event's alerts handed to the producer at once, its state staged in
the store, its fact (when a figure changed) framed to go with the batch (facts.py) and
its center noted.

The states are written per partition in batches (`flush`): after `batch_events` events
of the partition, or once its oldest staged state is `batch_seconds` old, or at any tick
of the partition (the timers send an empty one to a quiet partition whose states wait).
A partition catching up a backlog (more than `catch_up_events` of its events unread
after the first of a batch, as far as the consumer knows) has longer batches, up to
`catch_up_events` events or `catch_up_seconds`: its cases' events lie days apart in a
backlog read in minutes, so a longer batch writes each case fewer times (about a quarter
fewer writes on a backlog of 200,000 events: bench/RESULTS.md), while nobody waits yet
for the facts or the commit a batch brings.
A flush first waits, at most `ack_wait` seconds, for the broker to acknowledge the
batch's alerts, so each case is written once, without alerts left to send; then it
writes each changed case once, records how far the partition was handled and hands the
batch's facts to the producer. Only then are the batch's events acknowledged to Faust
(`run`'s `ack`), so no offset is committed before the state that records its event:
after a crash the events of an unwritten batch are read and judged again, and their
alerts, sent again with the same ids, are de-duplicated by the readers (the alerts topic
is at least once).

For a tick it flushes the partition, then advances the cases this worker released
itself, hands their alerts over, waits for the acknowledgements together and writes each
case once.

A graceful stop (SIGTERM, SIGINT: worker/main.py) first `drain`s the agent: no further
event is judged (each is left unacknowledged, read again at the next start), and each
partition's batch in hand is written at an empty tick sent to it, its events then
acknowledged, so Faust's stop commits them and the next start does not judge them again.

The case events come a fetch at a time (one message of Faust's stream for what a fetch
returned for a partition: worker/transport.py) and are taken apart before the agent
(worker/fetches.py): the agent handles one event at a time, and a fetch is acknowledged
to Faust once each of its events is. A stop finishes the fetch in hand.

Everything happens inside stream iteration, the only place Faust lets us write the
table safely (and for the partition of the message in hand: hence a flush per
partition, at one of its own messages), and under `busy`, so a reload of the rules puts
a new engine in force only between two messages. The agent's collaborators are passed
in, so it runs without a broker: `handle(message)` takes any object with Kafka's
message fields.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Container, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from supervisor.core import pipeline
from supervisor.core.engine import Engine, Outcome
from supervisor.core.events import CaseEvent
from supervisor.core.pipeline import FutureCheck, Processed
from supervisor.core.state import CaseState
from supervisor.worker import fetches, refusals
from supervisor.worker import ticks as tick_batches
from supervisor.worker.case_store import CaseStore
from supervisor.worker.continuity import ReadBack
from supervisor.worker.gate import TickGate
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.outbox import overdue
from supervisor.worker.outputs import Outputs
from supervisor.worker.parts import Parts
from supervisor.worker.watchdog import HeldLock

log = logging.getLogger("supervisor.worker")

#: When the engine failed to advance a case, it is tried again this much later.
RETRY_ADVANCE = timedelta(minutes=1)
#: A partition's batch is written after this many events of it ...
BATCH_EVENTS = 2000
#: ... or once its oldest staged state waited this long (seconds). Two seconds write
#: each case about half as often as half a second did (bench/RESULTS.md).
BATCH_SECONDS = 2.0
#: A partition with more unread events than this is catching up: its batches hold up to
#: this many events ...
CATCH_UP_EVENTS = 10_000
#: ... or this many seconds.
CATCH_UP_SECONDS = 10.0
#: A flush waits at most this long for the batch's alerts to be acknowledged (seconds);
#: those still unacknowledged are written down with their case (outbox.py).
ACK_WAIT = 1.0
#: The future check's reading of the clock is taken again after this long (seconds).
READING_SECONDS = 1.0
#: A graceful stop waits at most this long for the batches in hand to be written
#: (seconds): well inside the stop's deadline (supervisor/shutdown.py), which Faust's own
#: stop needs a few seconds of.
DRAIN_SECONDS = 3.0
#: While the stop drains, a flush waits at most this long for its alerts (seconds), so
#: a slow broker still leaves time for every partition's batch; alerts unacknowledged by
#: then are written down with their case and sent again at the next start (outbox.py).
DRAIN_ACK_WAIT = 0.25


class Facts(Protocol):
    """Where a judged event's fact goes (facts.FactPublisher): framed per partition, sent
    once the partition's states are written, dropped with a partition handed over."""

    async def __call__(
        self, engine: Engine, event: CaseEvent, state: CaseState, partition: int
    ) -> None: ...

    async def flush(self, partition: int) -> None: ...

    def drop(self, partitions: Iterable[int]) -> None: ...


class KafkaMessage(Protocol):
    """The fields of a Kafka message the agent reads (Faust's `Message`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float
    tp: Any


@dataclass(frozen=True)
class Topics:
    """The names and partition count the agent tells its messages apart by."""

    events: str
    ticks: str
    partitions: int


class CaseAgent:
    """Handles each message of the events and ticks topics (`run` over Faust's stream,
    `handle` for one). `engine` gives the engine in force, `now` the deadline clock and
    `latest` the latest time it read (for the future check, clock.py); `released` holds
    the cases whose tick this worker sent (shared with the timers); `handled` is the
    table of the next offset to handle per events partition (continuity.py);
    `facts` and `forward` take a judged event to the facts and to the centers agent;
    `unread(tp, offset)` the events of partition `tp` after `offset` as far as the
    consumer knows. `batch_events`, `batch_seconds`, `catch_up_events`,
    `catch_up_seconds` and `ack_wait`: see the module docstring."""

    def __init__(
        self,
        *,
        topics: Topics,
        engine: Callable[[], Engine],
        store: CaseStore,
        outputs: Outputs,
        gate: TickGate,
        handled: Any,
        released: set[str],
        busy: HeldLock,
        now: Callable[[], datetime],
        latest: Callable[[], datetime],
        future_tolerance: timedelta,
        metrics: WorkerMetrics,
        centers: Container[str],
        facts: Facts,
        forward: Callable[[CaseEvent], Awaitable[None]],
        unread: Callable[[Any, int], int] = lambda tp, offset: 0,
        batch_events: int = BATCH_EVENTS,
        batch_seconds: float = BATCH_SECONDS,
        catch_up_events: int = CATCH_UP_EVENTS,
        catch_up_seconds: float = CATCH_UP_SECONDS,
        ack_wait: float = ACK_WAIT,
    ) -> None:
        self.topics = topics
        self._engine = engine
        self.store = store
        self.outputs = outputs
        self.gate = gate
        self.handled = handled
        self.released = released
        self.busy = busy
        self._now = now
        self._latest = latest
        self._future_tolerance = future_tolerance
        self.metrics = metrics
        self._centers = centers
        self.facts = facts
        self._forward = forward
        self._unread = unread
        self.batch_events = batch_events
        self.batch_seconds = batch_seconds
        self.catch_up_events = catch_up_events
        self.ack_wait = ack_wait
        self._catching_up: set[int] = set()  # partitions whose batches are longer
        #: a catching-up partition's batch bounds (never shorter than the usual ones)
        self._catch_up_bounds = (
            max(batch_events, catch_up_events),
            max(batch_seconds, catch_up_seconds),
        )
        self._batched: dict[int, int] = {}  # partition -> events judged since its flush
        self._since: dict[int, float] = {}  # partition -> monotonic, its batch's first
        self._nudged: dict[int, float] = {}
        self._next_offset: dict[int, int] = {}  # partition -> next offset, as of the batch
        #: partition -> the stream's events (Faust's) judged and not acknowledged yet
        self._held: dict[int, list[Any]] = {}
        self._revocations = 0  # revocations so far
        self._revoked_at: dict[int, int] = {}  # partition -> its last revocation's number
        self._draining = False  # a stop began: no further event is judged
        self._fetching: int | None = None  # partition of a fetch begun, more of it to come
        self._handed_over: set[int] = set()  # partitions revoked since the stop began
        #: set whenever judged events were acknowledged or dropped, for `drain`
        self._acknowledged = asyncio.Event()
        self._warned_misrouted: set[str] = set()
        self._future: FutureCheck | None = None
        self._future_read = 0.0  # monotonic time of its reading
        # Children of labelled metrics, looked up once per label value (labels() costs a
        # few µs, several times an event): both label sets are bounded (event types,
        # centers).
        self._staged = metrics.case_states.labels("staged")
        self._written = metrics.case_states.labels("written")
        self._consumed = functools.cache(metrics.events_consumed.labels)
        self._last_event = functools.cache(metrics.center_last_event.labels)

    async def run(self, events: AsyncIterable[Any], ack: Callable[[Any], Awaitable[Any]]) -> None:
        """The agent's body, over Faust's stream events (a fetch's as its parts,
        continuity-checked, not acked by the stream: `install`): each message handled
        whole before the next (a reload waits for it to be done); an event is
        acknowledged (`ack`) once its partition's batch is written, a tick once handled."""
        async for event in events:
            message = event.message
            partition = message.partition
            revocations = self._revocations
            async with self.busy:
                if (
                    self._draining
                    and message.topic != self.topics.ticks
                    and not fetches.begun(event)
                ):
                    continue  # a stop began: judged at the next start, so never acknowledged
                fetches.begin(event)
                self._fetching = partition if fetches.continued(event) else None
                flushed = await self.handle(message)
            if self.revoked_since(partition, revocations):
                continue  # its partition was revoked meanwhile: judged again by its owner
            held = self._held.setdefault(partition, [])
            held.append(event)
            if flushed:
                for done in held:
                    await ack(done)
                if self._held.get(partition) is held:  # not revoked meanwhile
                    self._held[partition] = []
                self._acknowledged.set()

    async def handle(self, message: KafkaMessage) -> bool:
        """One message of either topic, under the engine in force. Returns True when its
        partition's batch was written with it (every message of the partition judged so
        far, this one included, may then be acknowledged)."""
        engine = self._engine()
        partition = message.partition
        since = self._revocations  # a revocation after it makes the message another's
        # cases whose alerts were all acknowledged: stored again without them
        self.store.write_settled(partition)
        if message.topic == self.topics.ticks:
            await self.flush(partition)
            await self.fire(engine, message, since)
            return True
        self.gate.handled(message.tp, message.offset)
        self._next_offset[partition] = message.offset + 1
        await self.judge(engine, message, since)
        count = self._batched[partition] = self._batched.get(partition, 0) + 1
        now = time.monotonic()
        began = self._since.setdefault(partition, now)
        if count == 1:
            self._note_backlog(message)
        if partition in self._catching_up:
            events, seconds = self._catch_up_bounds
        else:
            events, seconds = self.batch_events, self.batch_seconds
        if count >= events or now - began >= seconds:
            await self.flush(partition)
            return True
        return False

    def _note_backlog(self, message: KafkaMessage) -> None:
        """At the first event of a batch: is its partition catching up (more than
        `catch_up_events` of its events unread after this one)? Asked once a batch, not
        once an event: reading the high watermark cost 1.5 % of the worker's CPU."""
        if self.catch_up_events and self._unread(message.tp, message.offset) > self.catch_up_events:
            self._catching_up.add(message.partition)
        else:
            self._catching_up.discard(message.partition)

    def waiting(self, now: float | None = None) -> list[int]:
        """Partitions whose batch has waited `batch_seconds` (a catching-up partition's:
        `catch_up_seconds`) for a message of the partition to write it, each returned
        once per that time: the timers send them an empty tick."""
        if not self._catching_up:
            return overdue(self._since, self._nudged, self.batch_seconds, now)
        live = {p: t for p, t in self._since.items() if p not in self._catching_up}
        behind = {p: t for p, t in self._since.items() if p in self._catching_up}
        return overdue(live, self._nudged, self.batch_seconds, now) + overdue(
            behind, self._nudged, self._catch_up_bounds[1], now
        )

    async def flush(self, partition: int) -> None:
        """Write the partition's batch: its alerts acknowledged first (at most `ack_wait`
        seconds), each changed case once, then how far the partition was handled (the
        `handled` table: continuity.py). Inside stream iteration of that partition."""
        self._batched[partition] = 0
        self._since.pop(partition, None)
        cases = self.store.staged_cases(partition)
        if cases:
            wait = min(self.ack_wait, DRAIN_ACK_WAIT) if self._draining else self.ack_wait
            await self.outputs.outbox.acknowledged(cases, timeout=wait)
            self._written.inc(self.store.flush(partition))
        offset = self._next_offset.pop(partition, None)
        if offset is not None:
            self.handled[str(partition)] = offset  # all before it: judged and written
        await self.facts.flush(partition)  # the batch's facts, now that it is written

    async def drain(
        self,
        send_tick: Callable[[bytes, bytes, int], Awaitable[Any]],
        timeout: float = DRAIN_SECONDS,
    ) -> int:
        """Before a graceful stop: begin no further fetch (the one in hand is finished:
        fetches.py), and write each partition's batch in hand at an empty tick sent to it
        with `send_tick` (a table is written only in stream iteration, at a message of
        its partition). Returns how many partitions were still unwritten after `timeout`
        seconds: their events are judged again at the next start, as after a crash. Done
        when every judged event is acknowledged, so Faust's stop, which follows, commits
        them all."""
        self._draining = True
        pending: list[int] = []

        async def write() -> None:
            async with self.busy:  # the message in hand finished first
                pass
            while holding := self._holding(fetching=True):
                # the fetch in hand is finished first: its partition's events are held
                if new := [partition for partition in holding if partition not in pending]:
                    pending.extend(new)
                    for partition in new:
                        try:
                            await send_tick(b"", b"[]", partition)
                        except Exception as exc:  # the others are still worth their tick
                            log.warning(
                                "no tick to partition %d before stopping: %r", partition, exc
                            )
                    continue  # acknowledged meanwhile, perhaps: looked at again first
                self._acknowledged.clear()
                await self._acknowledged.wait()

        # The flushes come one partition after another, each waiting for its alerts at
        # most DRAIN_ACK_WAIT: a broker that does not answer at all leaves the batches to
        # the next start (nothing is lost).
        with suppress(TimeoutError):
            await asyncio.wait_for(write(), timeout)
        left = self._holding()
        written = [p for p in pending if p not in left and p not in self._handed_over]
        if written:
            log.info("wrote the batch in hand of partitions %s before stopping", written)
        if left:
            log.warning(
                "stopping with the batch in hand of partitions %s unwritten after %.0f s: "
                "their events are judged again at the next start",
                left,
                timeout,
            )
        return len(left)

    def _holding(self, fetching: bool = False) -> list[int]:
        """The partitions with judged events not acknowledged yet (their batch unwritten),
        and with `fetching` the partition of a fetch begun and not finished."""
        holding = {partition for partition, held in self._held.items() if held}
        if fetching and self._fetching is not None:
            holding.add(self._fetching)
        return sorted(holding)

    def revoked(self, partitions: set[int]) -> None:
        """Partitions handed to another worker: their judged events are forgotten, never
        acknowledged (their states were dropped unwritten: the next owner reads them),
        and so is a message of theirs being handled now."""
        self._revocations += 1
        if self._draining:
            self._handed_over |= partitions
        self.facts.drop(partitions)
        for partition in partitions:
            self._revoked_at[partition] = self._revocations
            self._held.pop(partition, None)
            self._batched.pop(partition, None)
            self._since.pop(partition, None)
            self._next_offset.pop(partition, None)
            self._catching_up.discard(partition)
        if self._fetching in partitions:
            self._fetching = None  # the rest of its fetch is not passed on (fetches.py)
        self._acknowledged.set()

    def revoked_since(self, partition: int, revocations: int) -> bool:
        """Whether `partition` was revoked since the agent had made `revocations`
        revocations: what was judged there since then is another generation's to judge
        (its owner's, perhaps this worker again), so nothing of it may be staged or
        written. Faust revokes partitions while the agent awaits (the producer, the
        broker's acknowledgements): it does not wait for the message in hand."""
        return self._revoked_at.get(partition, 0) > revocations

    async def fire(self, engine: Engine, message: KafkaMessage, since: int) -> None:
        """A batch of due cases of this partition (worker/ticks.py): all their alerts
        acknowledged together, then their states written, unless the partition was
        revoked meanwhile (`since`: the revocations before the message was taken)."""
        current = self._now()
        fired: list[Outcome] = []
        index = self.store.index
        for key in tick_batches.decode(message.key, message.value):
            # Only the ticks this worker released itself fire: its own timer, gate and
            # settle period judged them. A tick of a worker that lost the partition (or
            # of this one before a restart) is a hint it ignores: the recovery indexed
            # every case it owns.
            if key not in self.released:
                continue
            self.released.discard(key)
            state = self.store.load(key)
            if state is None:
                continue
            try:
                outcome = engine.advance(state, current)
            except Exception:  # a bug must not stop every other case
                log.exception("engine failed to advance case %s; will retry", key)
                index.schedule(key, current + RETRY_ADVANCE)
                continue
            if outcome.alerts or outcome.changes:
                fired.append(outcome)
            else:
                index.schedule(key, engine.next_due(state))
        published_at = self._now()
        for outcome in fired:
            await self.outputs.raise_alerts(
                outcome.state.case_id,
                outcome.alerts,
                [],
                published_at,
                changes=outcome.changes,
                by_timer=True,
            )
        # A batch of deadlines waits for its acknowledgements (one round trip), so each
        # case is written once, not with and then without its alerts.
        await self.outputs.outbox.acknowledged(outcome.state.case_id for outcome in fired)
        self.outputs.alert_log.raised(alert for outcome in fired for alert in outcome.alerts)
        if self.revoked_since(message.partition, since):
            return  # the partition's next owner fires them again (its recovery indexed them)
        for outcome in fired:
            self.store.keep(outcome.state, message.partition, by_event=False)

    def evaluate(self, engine: Engine, message: KafkaMessage) -> tuple[Processed, Any]:
        """The pipeline's stages on the message (no `now`: deadlines the event time
        already passed fire inside them; those passed only by the wall clock wait for the
        timer and the settle time), then the worker's own last check: the stored value
        the result would make must fit (refusals.py). Returns the result and, when
        measured, the state's JSON to write. A failure of the engine is a refusal too: a bug
        on one event must not stop the others."""
        stored: dict[str, Any] | None = None
        try:
            # An event stamped too far ahead of the clock is refused (pipeline.py).
            future = self._future_check()
            result = pipeline.run(
                pipeline.Message(message.value or b"", engine, self.store.load, future)
            )
            if result.state is not None and not result.duplicate and not result.rejected:
                sending = [*result.alerts, *result.resolved, *result.changes]
                size = len(message.value or b"")
                stored, too_large = self.store.measured(result.state, sending, size)
                if too_large is not None:
                    result = Processed(None, None, rejected=too_large)
        except Exception as exc:
            failure = refusals.engine_failure(exc)
            if failure.bug:  # the frames, not the message: it may quote the event
                log.error(
                    "engine failed on %s[%s]@%s: %s\n%s",
                    message.topic,
                    message.partition,
                    message.offset,
                    failure.reason,
                    failure.frames,
                )
            result = Processed(None, None, rejected=failure.reason)
        return result, stored

    def _future_check(self) -> FutureCheck:
        """The check of events from the future, on a reading of the clock at most
        `READING_SECONDS` old (an event beyond it is checked again on a fresh one before
        it is refused: FutureCheck): reading the guarded clock for every event cost more
        than the check itself."""
        now = time.monotonic()
        if self._future is None or now - self._future_read >= READING_SECONDS:
            self._future = FutureCheck(self._latest(), self._future_tolerance, latest=self._latest)
            self._future_read = now
        return self._future

    async def judge(self, engine: Engine, message: KafkaMessage, since: int) -> None:
        """An event: its stages, then emit what they decided (`since`: as for `fire`)."""
        result, stored = self.evaluate(engine, message)
        if result.rejected is not None:
            await self.outputs.refuse(message, result.rejected, future=result.rejected_future)
            return
        assert result.event is not None and result.state is not None
        if result.duplicate:
            self.metrics.events_duplicate.inc()
            return
        await self.emit(engine, message, result.event, result, stored, since)

    async def emit(
        self,
        engine: Engine,
        message: KafkaMessage,
        event: CaseEvent,
        result: Processed,
        stored: dict[str, Any] | None,
        since: int,
    ) -> None:
        """A judged event's way out: counted, its alerts, resolutions and changes handed
        to the producer, its state staged, its fact framed (sent with the batch:
        facts.py) and its center told (centers.py); nothing staged, framed or told once
        its partition was revoked (`since`: as for `fire`)."""
        assert result.state is not None
        self._consumed(event.type.value).inc()
        home = tick_batches.partition_of(event.case_id, self.topics.partitions)
        if self.store.note_partition(event.case_id, message.partition, home):
            self.misrouted(event.center_id, message.partition)
        if event.center_id in self._centers:  # a bounded label set
            self._last_event(event.center_id).set(time.time())
        ingested = message.timestamp if message.timestamp else None
        if result.alerts or result.resolved or result.changes:
            await self.outputs.raise_alerts(
                result.state.case_id,
                result.alerts,
                result.resolved,
                self._now(),
                changes=result.changes,
                ingested=ingested,
            )
            self.outputs.alert_log.raised(result.alerts)
            if self.revoked_since(message.partition, since):
                return  # judged again by the partition's owner: staged, it would outlive
                # the revocation that dropped the partition's states (case_store.py)
        self.store.stage(result.state, message.partition, by_event=True, value=stored)
        self._staged.inc()
        await self.facts(engine, event, result.state, message.partition)
        await self._forward(event)
        if message.timestamp:
            self.metrics.processing.observe(max(0.0, time.time() - message.timestamp))

    def misrouted(self, center_id: str, partition: int) -> None:
        """An event on another partition than Kafka's default partitioner (murmur2) gives
        its case id: the case's state is kept on that partition, and its deadline ticks
        are sent there (the store's `homes`), but the contract's producers use murmur2,
        and a center that changes partitioner midway splits its cases' events over two
        partitions. Counted, and logged once per center."""
        self.metrics.events_misrouted.inc()
        if center_id not in self._warned_misrouted:
            self._warned_misrouted.add(center_id)
            log.error(
                "center %s: events arrive on partition %d, not on the one Kafka's default "
                "partitioner (murmur2) gives their case_id. Its producer must key each event "
                "by its case_id and use murmur2 (librdkafka: partitioner=murmur2_random)",
                center_id,
                partition,
            )


def _unread(app: Any, tp: Any, offset: int) -> int:
    """The events of `tp` after `offset` by the consumer's latest fetch (its high
    watermark, which Faust's fetch loop reads for each message too); 0 when not known
    (no fetch yet, the partition revoked meanwhile)."""
    try:
        highwater = app.consumer.highwater(tp)
    except Exception:  # aiokafka asserts the partition is assigned
        return 0
    return 0 if highwater is None else max(0, highwater - offset - 1)


def install(
    parts: Parts,
    *,
    facts: Facts,
    forward: Callable[[CaseEvent], Awaitable[None]],
) -> CaseAgent:
    """The case agent on `parts.app`, over the events and ticks topics: each message
    after what skipped the agent was read back and stale ticks dropped (continuity.py).
    The stream does not acknowledge its events: the agent does, once written."""
    app, settings = parts.app, parts.settings
    ticks = parts.channels.ticks.get_topic_name()
    agent = CaseAgent(
        topics=Topics(settings.topic_events, ticks, settings.partitions),
        engine=parts.engine,
        store=parts.store,
        outputs=parts.outputs,
        gate=parts.gate,
        handled=parts.channels.handled,
        released=parts.released,
        busy=parts.worker.busy,
        now=parts.now,
        latest=parts.now.latest,
        future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
        metrics=parts.metrics,
        centers=parts.centers,
        facts=facts,
        forward=forward,
        unread=functools.partial(_unread, app),
        batch_events=settings.batch_events,
        batch_seconds=settings.batch_seconds,
        catch_up_events=settings.catch_up_batch_events,
        catch_up_seconds=settings.catch_up_batch_seconds,
        ack_wait=settings.batch_ack_wait_seconds,
    )

    parts.worker.drain = functools.partial(agent.drain, parts.channels.send_tick)

    @app.agent(parts.channels.source, name="cases")
    async def cases(stream: Any) -> None:
        """Each message of the events and ticks topics (supervisor/worker/case_agent.py)."""
        quiet = stream.noack()  # StreamT does not declare it; Stream has it

        async def ack(event: Any) -> None:
            if isinstance(event, ReadBack):  # read back: not Faust's to acknowledge
                return
            whole = fetches.acknowledged(event)  # a fetch once its last part is
            if whole is not None:
                await quiet.ack(whole)

        def current(fetched: Any) -> bool:  # as Faust's stream tests each message
            return bool(
                app.flow_control.is_active() and fetched.generation_id == app.consumer_generation_id
            )

        events = parts.continuity.checked(
            fetches.parts(quiet.events(), current),
            bootstrap=settings.bootstrap_servers,
            ticks_topic=ticks,
            committed=parts.committed,
            drop=ack,
        )
        await agent.run(events, ack)

    return agent
