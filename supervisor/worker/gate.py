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
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("supervisor.worker.gate")


class TickGate:
    def __init__(self, events_topic: str) -> None:
        self._topic = events_topic
        self._handled: dict[Any, int] = {}  # TP -> next offset to handle
        self._barrier: dict[Any, int] | None = None
        self._covered: set[str] = set()  # due cases the barrier was noted for
        self._fresh: set[str] = set()  # due cases that came after it

    def handled(self, tp: Any, offset: int) -> None:
        """The agent handled the message at `offset` of events partition `tp`."""
        self._handled[tp] = offset + 1

    def due(self, case_ids: Iterable[str]) -> None:
        self._fresh.update(case_ids)

    @property
    def waiting(self) -> int:
        return len(self._covered) + len(self._fresh)

    async def release(self, consumer: Any) -> list[str]:
        """The due cases whose ticks may go now (every message that was on the events
        topic when they fell due has been handled)."""
        if self._barrier is None and self._fresh:
            tps = [tp for tp in consumer.assignment() if tp.topic == self._topic]
            try:
                self._barrier = dict(await consumer.highwaters(*tps)) if tps else {}
            except Exception:  # not started, rebalancing: ask again at the next tick
                log.debug("end offsets unavailable; deadlines wait", exc_info=True)
                return []
            self._covered, self._fresh = self._fresh, set()
        if self._barrier is None or not self._reached(self._barrier, consumer):
            return []
        released, self._covered, self._barrier = list(self._covered), set(), None
        return released

    def _reached(self, barrier: dict[Any, int], consumer: Any) -> bool:
        assigned = consumer.assignment()
        for tp, end in barrier.items():
            if tp not in assigned or end is None:
                continue  # moved to another worker: its owner judges those cases
            done = self._handled.get(tp)
            if done is None:  # nothing handled here since the partition was assigned
                committed = getattr(consumer, "_committed_offset", {})  # Faust's own record
                done = committed.get(tp) or 0
            if done < end:
                return False
        return True
