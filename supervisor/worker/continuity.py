"""No case event skipped around a rebalance: the agent checks that the offsets it handles
on each events partition follow each other, and reads a gap back from the broker.

Why: faust-streaming 0.15 can drop a message around a rebalance without it ever reaching
the agent. A message queued for the agent under the previous consumer generation (or
while flow control was suspended) is skipped by `Stream.__aiter__` *and acknowledged*,
and its re-fetched copy can be dropped by the consumer's read-offset check when a
message fetched before the seek to the committed offsets is delivered after it
(`Consumer._drain_messages`). The acknowledgement lets the commit pass it: the event is
lost for good, not only late. tests/integration/test_scale_out.py showed it (a worker
joining mid-stream: a case's `decided` never applied, so a false `workflow.no_decision`;
a bad rating never applied, so a missing `evaluation.negative`), in about one run of six.

How: per events partition the worker keeps the next offset it expects: the one after the
last it handled since the partition was assigned, or, before that, the committed offset
it resumed from (the partition's start when nothing was committed: a worker once skipped
a partition's first eight events). A message beyond it means the messages in between
never reached the agent: they are read from the broker with a plain consumer (no group,
nothing committed) and handled first, in order, so each case still sees its events in
order; then the message itself. Offsets of a partition are contiguous for the producers
the centers use; a real hole (records deleted by retention, transaction markers) simply
reads back nothing. Re-delivered messages (an offset below the expected one) are handled
as before: the engine ignores an event_id it already applied.

A worker taking a partition over also resumes from where its previous owner had got to:
the agent records the next offset it has to handle in the `handled` table with each batch
of states it writes (worker/case_agent.py), and after the recovery `restore` starts the
partition there instead of at Faust's committed offset. A span Faust acknowledged
without the previous owner handling it (the owner was killed, or lost the partition,
before a later message showed the gap) is then read back like any gap; what the owner
did handle in its last batch comes again and is ignored as applied
(tests/integration/test_read_back.py).

This holds for a partition a worker keeps through a rebalance too: every rebalance
revokes all partitions, and the states judged there and not written yet are dropped
(case_store.py), so the position judged is forgotten with them (`revoked`) and the one
written restored. Kept instead, it once lost a span read back below the committed
offset: judged, dropped unwritten, and never read again, since Faust resumes at the
committed offset (a false `workflow.step_skipped` in tests/integration/test_scale_out.py;
tests/integration/test_kept_partition.py recreates it).

Stale ticks: a tick sent before this worker's current assignment (by the worker that
owned the partition before, or by this one in an earlier generation) is dropped: the
recovery after the assignment indexed every owned case again, and this worker's own
timer, gate and settle period judge them. Fired as it came, such a tick raised deadline
alerts before the new owner had read the case's last events (then resolved them: the
scale-out test saw it).

Ticks of partition p fire deadlines of cases whose events are on events partition p,
so before a tick is handled the same check runs against Faust's committed offset of
events partition p: a commit beyond what the agent handled means messages were
acknowledged without being handled, and they are read back before the deadline is
judged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("supervisor.worker.continuity")

#: Messages read back at once (a gap is a handful around a rebalance; a larger one is
#: read back in rounds of this many).
MAX_READ_BACK = 2000
#: The longest wait between two attempts to read back a span the broker did not deliver.
READ_BACK_RETRY_MAX = 30.0


@dataclass(frozen=True)
class Record:
    """A message read back from the broker, shaped like the Faust message the agent
    handles (the fields it uses)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float  # seconds, as Faust's message.timestamp
    tp: Any


class Continuity:
    """The next offset the agent expects on each events partition it owns."""

    def __init__(
        self,
        topic: str,
        read_back: Callable[[int], None] | None = None,
        stale: Callable[[], None] | None = None,
    ) -> None:
        """`read_back(n)` is told of n offsets found missing, `stale()` of a stale tick
        dropped (for the metrics: both are rare, and worth seeing on a dashboard)."""
        self.topic = topic
        self._on_read_back = read_back or (lambda count: None)
        self._on_stale = stale or (lambda: None)
        self._next: dict[Any, int] = {}  # TP -> next offset to handle
        self.read_back_total = 0  # offsets found missing (for the log and the tests)
        self.stale_ticks = 0  # ticks dropped: sent before the current assignment
        self._assigned_at: float | None = None

    def assigned(self, tps: Iterable[Any], at: float | None = None) -> None:
        """A new assignment (at `at`, Unix seconds; now by default): a partition not
        kept from the previous one starts afresh (another worker may have handled it
        meanwhile), and ticks sent before it are stale (see `checked`)."""
        keep = {tp for tp in tps if getattr(tp, "topic", None) == self.topic}
        for tp in [tp for tp in self._next if tp not in keep]:
            del self._next[tp]
        self._assigned_at = time.time() if at is None else at

    def revoked(self, tps: Iterable[Any]) -> None:
        """Partitions revoked (at a rebalance, all of them, kept or not): their
        positions are forgotten. The states judged there and not written yet were
        dropped with them (case_store.py), so a partition assigned back must start from
        what was written (`restore`), not from what was judged: Faust resumes at the
        committed offset, and what was read back below it would otherwise be lost."""
        for tp in tps:
            self._next.pop(tp, None)

    def restore(self, tp: Any, offset: int) -> None:
        """After a recovery: the next offset the partition's last owner (perhaps this
        worker, before the rebalance) had still to handle, as written with its states
        (recorded in a table, see worker/case_agent.py), for a partition not followed
        since the assignment. Reading then resumes from Faust's committed offset,
        which may be past it: what Faust acknowledged without the previous owner
        handling it is read back, as any gap (what it did handle comes again and is
        ignored as applied)."""
        if tp not in self._next and offset >= 0:
            self._next[tp] = offset

    def gap(self, tp: Any, offset: int, committed: int | None) -> tuple[int, int] | None:
        """The offsets [start, end) that never reached the agent before `offset`, if any.
        `committed`: Faust's committed offset of `tp` (where reading resumed); None when
        nothing was committed (or 0): reading began at the start of the partition (the
        consumer resets to the earliest offset), so the gap starts there (a read from 0
        begins at the partition's first record)."""
        expected = self._next.get(tp, committed or 0)
        if offset <= expected:
            return None
        return expected, offset

    def unhandled(self, tp: Any, committed: int | None) -> tuple[int, int] | None:
        """Offsets acknowledged (committed) without having reached the agent."""
        expected = self._next.get(tp)
        if expected is None or committed is None or committed <= expected:
            return None
        return expected, committed

    def handled(self, tp: Any, offset: int) -> None:
        if offset + 1 > self._next.get(tp, -1):
            self._next[tp] = offset + 1

    async def checked(
        self,
        events: AsyncIterable[Any],
        *,
        bootstrap: str,
        ticks_topic: str,
        committed: Callable[[Any], int | None],
        drop: Callable[[Any], Awaitable[Any]] | None = None,
    ) -> AsyncIterator[Any]:
        """The agent's stream, with what never reached it put back in place: before an
        events message beyond a gap, and before a tick of a partition whose committed
        offset passed what the agent handled, the missing messages are read back from
        the broker and yielded first, in order (as `ReadBack` items, which carry a
        `message` like Faust's events). `committed(tp)`: Faust's committed offset;
        `drop(event)` acknowledges an event not passed on (a stale tick)."""
        from faust.types import TP

        async for event in events:
            message = event.message
            tp: Any = None
            span = None
            if message.topic == self.topic:
                tp = message.tp
                span = self.gap(tp, message.offset, committed(tp))
            elif message.topic == ticks_topic:
                tp = TP(self.topic, message.partition)
                span = self.unhandled(tp, committed(tp))
            if span is not None:
                async for record in self._read_span(bootstrap, tp, span):
                    self.handled(tp, record.offset)
                    yield ReadBack(record)
                self.handled(tp, span[1] - 1)
            if message.topic == self.topic:
                self.handled(message.tp, message.offset)
            elif message.topic == ticks_topic and self._stale(message):
                self.stale_ticks += 1
                self._on_stale()
                log.info(
                    "%s[%d]@%d: a tick sent before this worker's partitions were assigned "
                    "is dropped; its cases were indexed again at the recovery",
                    message.topic,
                    message.partition,
                    message.offset,
                )
                if drop is not None:
                    await drop(event)
                continue
            yield event

    def _stale(self, message: Any) -> bool:
        """A tick sent before the current assignment: by another worker that owned the
        partition, perhaps before this one read the case's last events, or by this one
        in an earlier generation. Either way the recovery that followed the assignment
        indexed every owned case again, so this worker's own timer and gate (and the
        settle period) judge its cases; firing the old tick could raise a deadline alert
        before the events that prevent it are read."""
        sent: float | None = getattr(message, "timestamp", None)
        if not sent or self._assigned_at is None:
            return False
        return sent < self._assigned_at

    async def _read_span(
        self, bootstrap: str, tp: Any, span: tuple[int, int]
    ) -> AsyncIterator[Record]:
        start, end = span
        log.warning(
            "%s[%d]: offsets %d to %d never reached the agent (skipped around a "
            "rebalance): reading them back from the broker",
            tp.topic,
            tp.partition,
            start,
            end - 1,
        )
        self.read_back_total += end - start
        self._on_read_back(end - start)
        failures = 0
        while start < end:
            try:
                records, reached = await read_back(
                    bootstrap, tp, start, min(end, start + MAX_READ_BACK)
                )
            except Exception as exc:  # the broker or the partition's leader is away
                failures += 1
                delay = min(READ_BACK_RETRY_MAX, 2.0**failures)
                log.warning(
                    "%s[%d]: reading back offsets from %d failed (%s); trying again in "
                    "%.0f s: nothing after them is handled meanwhile",
                    tp.topic,
                    tp.partition,
                    start,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            for record in records:
                yield record
            if not records and reached <= start:
                return  # the partition ends before the span: nothing to read back
            # `reached` is past what retention deleted and past transaction markers, and
            # never past a record not read
            start = max(reached, records[-1].offset + 1) if records else reached

    def skipped(
        self, assignment: Iterable[Any], committed: Callable[[Any], int | None]
    ) -> list[Any]:
        """Events partitions whose committed offset passed what the agent handled (for a
        timer to send them a check, when no later message would show the gap)."""
        return [
            tp
            for tp in assignment
            if getattr(tp, "topic", None) == self.topic
            and self.unhandled(tp, committed(tp)) is not None
        ]


@dataclass(frozen=True)
class ReadBack:
    """A read-back record in the agent's stream (it has a `message`, as Faust's events)."""

    message: Record


async def read_back(
    bootstrap: str, tp: Any, start: int, end: int, timeout: float = 30.0
) -> tuple[list[Record], int]:
    """The records of partition `tp` with offsets in [start, end), straight from the
    broker (a plain consumer: no group, nothing committed), and the offset reached:
    `end`, or the partition's end if it is shorter. Offsets retention deleted and
    transaction markers hold no record and are passed. Raises (TimeoutError, a Kafka
    error) when the broker does not deliver for `timeout` seconds: the caller must not
    take the span as read."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    partition = TopicPartition(tp.topic, tp.partition)
    records: list[Record] = []
    try:
        consumer.assign([partition])
        stop = min(end, (await consumer.end_offsets([partition]))[partition])
        consumer.seek(partition, start)
        position = start
        quiet_since = time.monotonic()
        while position < stop:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            got = batch.get(partition, [])
            moved = await consumer.position(partition)  # also past markers, deleted data
            if got or moved > position:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > timeout:
                raise TimeoutError(f"no record from offset {position} for {timeout:.0f} s")
            position = max(position, moved)
            for record in got:
                position = max(position, record.offset + 1)
                if start <= record.offset < end:
                    records.append(
                        Record(
                            topic=record.topic,
                            partition=record.partition,
                            offset=record.offset,
                            key=record.key,
                            value=record.value,
                            timestamp=record.timestamp / 1000.0,
                            tp=tp,
                        )
                    )
    finally:
        await consumer.stop()
    return records, min(max(position, stop), end)  # a fetch may run past `end`: not read
