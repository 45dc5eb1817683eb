"""Deadlines that fell due wait until the events already on the broker have been read.

Why: a deadline tick travels on its own topic. A worker behind a backlog (after downtime,
or a township's day of events arriving at once) would otherwise judge a case by the wall
clock while the case's `extended` or `concluded` still waits unread on the events topic,
and raise a false alert. The settle period alone cannot see this: it counts from when the
agent *handled* a case's last event.

How: when cases fall due, the gate notes the end offsets of this worker's events
partitions (a fresh query to the broker) and lets the ticks go only once the agent has
handled every message up to them. In the steady state that is a few milliseconds; behind
a backlog it is when the backlog is read, so the alerts are the ones replay gives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

log = logging.getLogger("supervisor.worker.gate")


def committed_offsets(consumer: Any) -> Mapping[Any, int | None]:
    """The offset the group committed per partition, as Faust's `consumer` last knew it
    (where reading resumed after an assignment). Faust keeps it in the consumer's private
    `_committed_offset` and offers no public reading: this is the one place that reads it,
    and tests/test_tick_gate.py fails on a Faust release that renames it."""
    offsets: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    return offsets


class TickGate:
    def __init__(self, events_topic: str) -> None:
        self._topic = events_topic
        self._handled: dict[Any, int] = {}  # TP -> next offset to handle
        self._barrier: dict[Any, tuple[int, int]] | None = None
        self._covered: set[str] = set()  # due cases the barrier was noted for
        self._fresh: set[str] = set()  # due cases that came after it

    def handled(self, tp: Any, offset: int) -> None:
        """The agent handled the message at `offset` of events partition `tp`."""
        self._handled[tp] = offset + 1

    def handled_partitions(self) -> dict[int, int]:
        """The next offset to handle per events partition number."""
        return {tp.partition: n for tp, n in self._handled.items()}

    def next_to_handle(self, tp: Any) -> int | None:
        """The next offset of events partition `tp` the agent has to handle (None: it
        handled none since the partition was assigned)."""
        return self._handled.get(tp)

    def due(self, case_ids: Iterable[str]) -> None:
        self._fresh.update(case_ids)

    @property
    def waiting(self) -> int:
        return len(self._covered) + len(self._fresh)

    def revoked(self, tps: Iterable[Any]) -> None:
        """Partitions moved to another worker: what was handled of them here is stale if
        they ever come back."""
        for tp in tps:
            self._handled.pop(tp, None)

    async def release(self, consumer: Any) -> list[str]:
        """The due cases whose ticks may go now (every message that was on the events
        topic when they fell due has been handled)."""
        if self._barrier is None and self._fresh:
            barrier = await self._ends(consumer)
            if barrier is None:
                return []
            self._barrier = barrier
            self._covered, self._fresh = self._fresh, set()
        if self._barrier is None or not self._reached(self._barrier, consumer):
            return []
        released, self._covered, self._barrier = list(self._covered), set(), None
        return released

    async def behind(self, consumer: Any) -> bool:
        """Whether messages already on the events topic wait unread here (e.g. after
        downtime): then nothing should be judged by the wall clock yet."""
        ends = await self._ends(consumer)
        return ends is None or not self._reached(ends, consumer)

    async def lag(self, consumer: Any) -> dict[Any, int] | None:
        """Messages not yet handled per owned events partition: the end offsets, fresh
        from the broker, minus what the agent handled (or where reading resumed); None
        when the broker does not answer (the last figures stand: a broker outage is not
        a worker that owns nothing)."""
        ends = await self._ends(consumer)
        if ends is None:
            return None
        committed = committed_offsets(consumer)
        return {
            tp: max(0, end - max(self._handled.get(tp, 0), committed.get(tp) or 0, earliest))
            for tp, (earliest, end) in ends.items()
        }

    async def _ends(self, consumer: Any) -> dict[Any, tuple[int, int]] | None:
        """(earliest, end) offsets of this worker's events partitions, fresh from the
        broker; None when they cannot be had (not started, rebalancing)."""
        tps = [tp for tp in consumer.assignment() if tp.topic == self._topic]
        if not tps:
            return {}
        try:
            ends = await consumer.highwaters(*tps)
            starts = await consumer.earliest_offsets(*tps)
        except Exception:
            log.debug("offsets unavailable; deadlines wait", exc_info=True)
            return None
        return {tp: (starts.get(tp) or 0, ends[tp]) for tp in tps if ends.get(tp) is not None}

    def _reached(self, barrier: dict[Any, tuple[int, int]], consumer: Any) -> bool:
        assigned = consumer.assignment()
        for tp in [tp for tp in self._handled if tp not in assigned]:
            del self._handled[tp]  # revoked meanwhile
        committed = committed_offsets(consumer)
        for tp, (earliest, end) in barrier.items():
            if tp not in assigned:
                continue  # moved to another worker: its owner judges those cases
            done = max(
                self._handled.get(tp, 0),
                committed.get(tp) or 0,  # where reading resumed after assignment
                earliest,  # retention removed what came before
            )
            if done < end:
                return False
        return True


#: Reads the consumer group's committed offsets of the events topic: partition -> offset.
CommittedOffsets = Callable[[], Awaitable[dict[int, int]]]


class GroupGate:
    """Whether the whole consumer group has read what was on the events topic: the gate
    of `center.silent`, which the leader judges for every center while the center's
    events are spread over every worker's partitions.

    Why a barrier, as for deadlines: the other workers' progress is only known through
    the offsets they commit (every few seconds), so "committed up to the end now" would
    almost never hold on a live stream. Instead the end offsets are noted once, and the
    silence may be judged when every partition's committed (or, for this worker's own
    partitions, handled) offset has passed them; then a new barrier is noted. Behind a
    backlog anywhere in the group (a worker restarting, a partition handed over) no
    silence is judged, so a center whose events wait unread is not called silent."""

    def __init__(self, local: TickGate, topic: str, committed: CommittedOffsets) -> None:
        self._local = local
        self._topic = topic
        self._committed = committed
        self._barrier: dict[int, int] | None = None

    async def behind(self, consumer: Any) -> bool:
        if self._barrier is None:
            self._barrier = await self._ends(consumer)
            if self._barrier is None:
                return True
        try:
            committed = await self._committed()
        except Exception:
            log.debug("the group's offsets are unavailable; silence waits", exc_info=True)
            return True
        handled = self._local.handled_partitions()
        for partition, end in self._barrier.items():
            if max(committed.get(partition, 0), handled.get(partition, 0)) < end:
                return True
        self._barrier = None  # reached: the next judgement notes a fresh one
        return False

    async def _ends(self, consumer: Any) -> dict[int, int] | None:
        """End offsets of every partition of the events topic, less what retention
        removed (an empty partition or one nobody committed is not a backlog)."""
        count = consumer.topic_partitions(self._topic)
        if not count:
            return None
        tps = [TP(self._topic, p) for p in range(count)]
        try:
            ends = await consumer.highwaters(*tps)
            starts = await consumer.earliest_offsets(*tps)
        except Exception:
            log.debug("offsets unavailable; silence waits", exc_info=True)
            return None
        return {
            tp.partition: ends[tp]
            for tp in tps
            if ends.get(tp) is not None and ends[tp] > (starts.get(tp) or 0)
        }


def group_offsets(bootstrap: str, group: str, topic: str) -> CommittedOffsets:
    """The committed offsets of `group` on `topic`, through an admin client of its own
    (Faust's consumer runs in another thread and only answers for its own partitions)."""
    admin: AIOKafkaAdminClient | None = None

    async def read() -> dict[int, int]:
        nonlocal admin
        if admin is None:
            client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{group}-gate")
            try:
                await client.start()
            except Exception:
                await client.close()  # a broker blip at start: a fresh client next time
                raise
            admin = client
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    return read
