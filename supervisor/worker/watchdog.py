"""The worker notices when its consumer stalls, and gets it going again.

Why: faust-streaming 0.15 sometimes leaves an event unconsumed after a table recovery
(about one restart in six here; a known faust-streaming fault). The event is not acknowledged, so
never committed, but the consumer's position is past it: the partition looks consumed,
and nothing fetches it again until the next rebalance seeks back to the committed
offsets. A later message on the same partition shows the gap, and continuity.py reads
it back; with no later message the event waits, which can be days on a quiet center:
its case is judged that late. A path to it in Faust's code: as a recovery ends, Faust
seeks its partitions to the committed offsets and then resumes its flow control, which
empties the agents' queues; an event its fetcher delivered just after the seek is
dropped from the queue with the position already past it. (Events emptied from the
queue at that moment were seen here, in bursts produced during recoveries; those had
come before the seek and were fetched again: the race itself was not caught in the act.)

What the watchdog watches, once a second, for each events partition this worker owns:
its end offset on the broker (the high watermark) and the next offset the agent has to
handle. A partition with unread events whose position does not move for
`SUPERVISOR_STALL_SECONDS` while the worker is otherwise idle is stalled. Idle means the
table recovery is complete, no rebalance is under way, and the agent is not held up by
one message (a rules reload, a dead letter waiting for the broker): those are reasons
to wait, not stalls, so they restart the count. A broker that does not answer restarts
it too (nothing can be judged).

What it does, least invasive first (`action`):
1. `seek`: the partition is resumed if Faust left it paused, and its fetch position is
   set back to the next offset the agent has to handle, through Faust's own
   `seek_wait` (the call its recovery uses: it runs in the consumer's thread and resets
   Faust's read offset, so the message is fetched and delivered again). Nothing before
   that offset is read twice; what follows and had reached the agent is ignored as
   applied (event ids), at worst a dead letter is written twice (as after a rebalance).
2. `rejoin`: a partition still stalled after `SEEK_ATTEMPTS` seeks makes the consumer
   rejoin its group (aiokafka's `request_rejoin`, in the consumer's thread): a
   rebalance, after which Faust seeks every partition to its committed offset, which
   is what ends the stall without a watchdog. It pauses the whole group for a few
   seconds, hence the last resort.
Each action is logged and counted (`supervisor_worker_stalls_total{action}`).

The decision (`StallDetector`) is pure: readings and a time in, stalls out; the wiring
(`Watchdog`, `install`) reads the offsets and acts on Faust's consumer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, cast

from supervisor.worker.gate import committed_offsets

log = logging.getLogger("supervisor.worker.watchdog")

#: How often the watchdog reads the offsets (two ListOffsets calls to the broker).
CHECK_SECONDS: Final = 1.0
#: Seeks tried on a partition still stalled at the same offset before a rejoin.
SEEK_ATTEMPTS: Final = 2
#: The agent holding one message this long is busy, not stalled (a rules reload, an
#: acknowledgement the broker is slow to give): the stall count restarts.
AGENT_HELD_SECONDS: Final = 2.0

Action = Literal["seek", "rejoin"]
ACTIONS: Final[tuple[Action, ...]] = ("seek", "rejoin")


@dataclass(frozen=True)
class Reading:
    """One events partition at one instant."""

    end: int  # the partition's end offset on the broker (its high watermark)
    position: int  # the next offset the agent has to handle there

    @property
    def unread(self) -> int:
        return max(0, self.end - self.position)


@dataclass(frozen=True)
class Stall:
    """A partition with unread events whose position has not moved for `seconds`."""

    tp: Any
    position: int
    end: int
    seconds: float  # since the position last moved (or the count last restarted)
    attempt: int  # 1 at the first action at this position, then 2, 3…

    @property
    def action(self) -> Action:
        return action_for(self.attempt)


def action_for(attempt: int) -> Action:
    """The least invasive action first: seeks, then a rejoin of the group."""
    return "seek" if attempt <= SEEK_ATTEMPTS else "rejoin"


@dataclass
class _Watch:
    position: int
    since: float  # when the position was first seen (or the count restarted)
    acted: float  # when the watchdog last acted on it (`since` before any action)
    attempts: int = 0


class StallDetector:
    """Decides which partitions are stalled, from readings given with their time.

    Pure (no clock, no I/O): `observe(now, readings)` is called at every check, with
    `readings=None` when the worker is not idle or the offsets could not be read; every
    count restarts then. A partition is stalled when it had unread events at every
    reading for `stall_seconds` at the same position; it is reported again every
    `stall_seconds` while it stays so (with the attempt number), and forgotten as soon
    as its position moves, it has nothing left to read, or it is no longer assigned.
    """

    def __init__(self, stall_seconds: float) -> None:
        if stall_seconds <= 0:
            raise ValueError("stall_seconds must be positive")
        self.stall_seconds = stall_seconds
        self._watched: dict[Any, _Watch] = {}

    def observe(self, now: float, readings: Mapping[Any, Reading] | None) -> list[Stall]:
        if readings is None:
            self._watched.clear()
            return []
        for tp in [tp for tp in self._watched if tp not in readings]:
            del self._watched[tp]  # revoked
        stalls = []
        for tp, reading in readings.items():
            watched = self._watched.get(tp)
            if reading.unread == 0:
                self._watched.pop(tp, None)
            elif watched is None or watched.position != reading.position:
                self._watched[tp] = _Watch(reading.position, since=now, acted=now)
            elif now - watched.acted >= self.stall_seconds:
                watched.attempts += 1
                watched.acted = now
                stalls.append(
                    Stall(tp, reading.position, reading.end, now - watched.since, watched.attempts)
                )
        return stalls


class HeldLock(asyncio.Lock):
    """An asyncio.Lock that knows since when it is held: the agent's `Worker.busy`, so
    the watchdog can tell an agent held up by one message from a stalled consumer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.held_since: float | None = None

    async def acquire(self) -> Literal[True]:
        await super().acquire()
        self.held_since = self._clock()
        return True

    def release(self) -> None:
        self.held_since = None
        super().release()

    def held_for(self, now: float) -> float:
        """Seconds the lock has been held without a break (0 when free)."""
        return 0.0 if self.held_since is None else max(0.0, now - self.held_since)


class Offsets(Protocol):
    """What the watchdog reads from the broker (worker/ticks.py's BrokerOffsets)."""

    async def highwaters(self, *tps: Any) -> Mapping[Any, int]: ...

    async def earliest_offsets(self, *tps: Any) -> Mapping[Any, int]: ...


class Watchdog:
    """The detector wired to a Faust app: reads, decides, acts, logs and counts.

    `handled(tp)`: the next offset the agent has to handle on `tp` (None before its
    first message there: reading resumes from Faust's committed offset); `stalls(action)`
    counts an action (the metric)."""

    def __init__(
        self,
        app: Any,
        topic: str,
        stall_seconds: float,
        offsets: Offsets,
        handled: Callable[[Any], int | None],
        busy: HeldLock,
        stalls: Callable[[Action], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.topic = topic
        self.detector = StallDetector(stall_seconds)
        self._offsets = offsets
        self._handled = handled
        self._busy = busy
        self._count = stalls
        self._clock = clock

    def idle(self, now: float) -> bool:
        """Recovered, not rebalancing, and the agent not held up by one message."""
        recovery = cast(Any, self.app.tables).recovery  # Faust's TableManager.recovery
        return bool(
            recovery.completed.is_set()
            and not recovery.in_recovery
            and not self.app.rebalancing
            and self._busy.held_for(now) < AGENT_HELD_SECONDS
        )

    async def readings(self) -> dict[Any, Reading] | None:
        """End offset and position of each owned events partition; None when they
        cannot be had (the broker does not answer, the consumer is not started)."""
        consumer = self.app.consumer
        try:
            tps = [tp for tp in consumer.assignment() if tp.topic == self.topic]
            if not tps:
                return {}
            ends = await self._offsets.highwaters(*tps)
            starts = await self._offsets.earliest_offsets(*tps)
        except Exception:
            log.debug("offsets unavailable: stall counts restart", exc_info=True)
            return None
        committed = committed_offsets(consumer)
        readings = {}
        for tp in tps:
            end = ends.get(tp)
            if end is None:
                continue
            position = max(self._handled(tp) or 0, committed.get(tp) or 0, starts.get(tp) or 0)
            readings[tp] = Reading(end=end, position=position)
        return readings

    async def check(self) -> list[Stall]:
        """One look: the stalls found, each acted upon."""
        now = self._clock()
        readings = await self.readings() if self.idle(now) else None
        if readings is not None and not self.idle(self._clock()):
            readings = None  # a rebalance began while the offsets were read
        stalls = self.detector.observe(self._clock(), readings)
        for stall in stalls:
            await self.act(stall)
        return stalls

    async def act(self, stall: Stall) -> None:
        tp, action = stall.tp, stall.action
        if tp not in self.app.consumer.assignment():
            return  # revoked since the reading: its new owner reads it
        self._count(action)
        log.warning(
            "%s[%d]: %d event(s) from offset %d unread for %.0f s while the worker is "
            "idle (a faust-streaming stall): %s",
            tp.topic,
            tp.partition,
            stall.end - stall.position,
            stall.position,
            stall.seconds,
            "fetching them again" if action == "seek" else "rejoining the group (a rebalance)",
        )
        try:
            if action == "seek":
                await self.seek(tp, stall.position)
            else:
                await self.rejoin()
        except Exception:  # the next check sees whether it is still stalled
            log.exception("%s[%d]: the watchdog's %s failed", tp.topic, tp.partition, action)

    async def seek(self, tp: Any, offset: int) -> None:
        """Resume `tp` if Faust left it paused, and fetch it again from `offset`."""
        consumer = self.app.consumer
        if tp in getattr(consumer, "_paused_partitions", ()):
            consumer.resume_partitions({tp})
        await consumer.seek_wait({tp: offset})

    async def rejoin(self) -> None:
        """Make the consumer rejoin its group: a rebalance, whose recovery seeks every
        partition to its committed offset."""
        thread = self.app.consumer._thread  # Faust's AIOKafkaConsumerThread
        coordinator = thread._ensure_consumer()._coordinator  # aiokafka's GroupCoordinator
        await thread.call_thread(coordinator.request_rejoin)  # on the consumer's loop


def install(
    app: Any,
    topic: str,
    stall_seconds: float,
    offsets: Offsets,
    handled: Callable[[Any], int | None],
    busy: HeldLock,
    stalls: Callable[[Action], None],
) -> Watchdog | None:
    """Add the watchdog's timer to `app` (none when `stall_seconds` is 0: disabled)."""
    if stall_seconds <= 0:
        return None
    watchdog = Watchdog(app, topic, stall_seconds, offsets, handled, busy, stalls)

    async def watch_for_stalls() -> None:
        """Look for stalled events partitions (worker/watchdog.py)."""
        try:
            await watchdog.check()
        except Exception:  # a bug here must not stop the timer, nor the worker
            log.exception("the stall watchdog failed; it looks again in %.0f s", CHECK_SECONDS)

    timer = cast(Callable[..., Callable[..., Awaitable[None]]], app.timer)
    timer(interval=CHECK_SECONDS)(watch_for_stalls)
    return watchdog
