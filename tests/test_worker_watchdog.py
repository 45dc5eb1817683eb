"""The stall watchdog (supervisor/worker/watchdog.py) and the worker's shutdown deadline
(supervisor/worker/main.py), without Kafka: an injected clock, a fake Faust app.

The decision is pure: readings (end offset, position) per partition and a time in, the
stalled partitions out. The wiring is checked against a fake consumer that records what
the watchdog asks of it: a seek through `seek_wait`, a resume of a paused partition, a
rejoin through the consumer thread. tests/integration/test_stall.py checks the real
thing on the broker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from faust.types import TP
from prometheus_client import CollectorRegistry

from supervisor.settings import Settings
from supervisor.shutdown import FORCED_EXIT_STATUS, ShutdownDeadline
from supervisor.worker import watchdog
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.watchdog import (
    AGENT_HELD_SECONDS,
    HeldLock,
    Reading,
    StallDetector,
    Watchdog,
    action_for,
)

EVENTS = "case-events"
P0, P1 = TP(EVENTS, 0), TP(EVENTS, 1)


# -- the decision ------------------------------------------------------------------------


def test_a_partition_with_unread_events_and_no_progress_is_stalled_after_the_delay() -> None:
    detector = StallDetector(15)
    stuck = {P0: Reading(end=8, position=7)}
    assert detector.observe(100.0, stuck) == []
    assert detector.observe(114.9, stuck) == []
    [stall] = detector.observe(115.0, stuck)
    assert (stall.tp, stall.position, stall.end, stall.seconds, stall.attempt) == (
        P0,
        7,
        8,
        15.0,
        1,
    )
    assert stall.action == "seek"


def test_progress_or_nothing_to_read_is_never_a_stall() -> None:
    detector = StallDetector(15)
    for second in range(60):  # a steady stream: the position moves, the lag stays
        assert detector.observe(float(second), {P0: Reading(end=second + 5, position=second)}) == []
    for second in range(60, 120):  # all read: nothing is waiting
        assert detector.observe(float(second), {P0: Reading(end=59, position=59)}) == []


def test_a_stalled_partition_is_reported_again_then_the_action_escalates() -> None:
    detector = StallDetector(10)
    stuck = {P0: Reading(end=3, position=2)}
    found = []
    for second in range(0, 46):
        found += detector.observe(float(second), stuck)
    assert [(s.attempt, s.action, s.seconds) for s in found] == [
        (1, "seek", 10.0),
        (2, "seek", 20.0),
        (3, "rejoin", 30.0),
        (4, "rejoin", 40.0),
    ]
    assert [action_for(n) for n in range(1, 5)] == ["seek", "seek", "rejoin", "rejoin"]


def test_the_position_moving_ends_the_stall_and_restarts_the_attempts() -> None:
    detector = StallDetector(10)
    assert detector.observe(0.0, {P0: Reading(5, 2)}) == []
    assert [s.attempt for s in detector.observe(10.0, {P0: Reading(5, 2)})] == [1]
    assert detector.observe(11.0, {P0: Reading(5, 3)}) == []  # the seek helped
    assert detector.observe(20.9, {P0: Reading(5, 3)}) == []
    assert [s.attempt for s in detector.observe(21.0, {P0: Reading(5, 3)})] == [1]


def test_not_idle_restarts_every_count() -> None:
    """A recovery, a rebalance, a busy agent or offsets that cannot be read (None)."""
    detector = StallDetector(10)
    detector.observe(0.0, {P0: Reading(5, 2)})
    assert detector.observe(9.0, None) == []
    assert detector.observe(10.0, {P0: Reading(5, 2)}) == []  # counted from here
    assert detector.observe(19.0, {P0: Reading(5, 2)}) == []
    assert len(detector.observe(20.0, {P0: Reading(5, 2)})) == 1


def test_partitions_are_judged_apart_and_a_revoked_one_is_forgotten() -> None:
    detector = StallDetector(10)
    detector.observe(0.0, {P0: Reading(5, 2), P1: Reading(9, 9)})
    detector.observe(5.0, {P0: Reading(5, 2), P1: Reading(10, 9)})
    assert [s.tp for s in detector.observe(10.0, {P0: Reading(5, 2), P1: Reading(10, 9)})] == [P0]
    assert [s.tp for s in detector.observe(15.0, {P0: Reading(5, 2), P1: Reading(10, 9)})] == [P1]
    detector.observe(16.0, {P1: Reading(10, 9)})  # P0 revoked
    assert detector.observe(25.0, {P0: Reading(5, 2), P1: Reading(10, 10)}) == []  # afresh


def test_the_delay_must_be_positive() -> None:
    with pytest.raises(ValueError):
        StallDetector(0)


# -- the agent's lock --------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_agents_lock_knows_since_when_it_is_held() -> None:
    clock = Clock()
    lock = HeldLock(clock)
    assert lock.held_for(clock.now) == 0.0
    async with lock:
        clock.now += 3
        assert lock.locked()
        assert lock.held_for(clock.now) == 3.0
    assert lock.held_for(clock.now) == 0.0 and not lock.locked()


# -- the wiring, on a fake Faust app -------------------------------------------------------


@dataclass
class Recovery:
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    in_recovery: bool = False


@dataclass
class Coordinator:
    rejoins: int = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


@dataclass
class AioConsumer:
    _coordinator: Coordinator = field(default_factory=Coordinator)


@dataclass
class Thread:
    consumer: AioConsumer = field(default_factory=AioConsumer)

    def _ensure_consumer(self) -> AioConsumer:
        return self.consumer

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return fun(*args)


@dataclass
class Consumer:
    assigned: set[Any] = field(default_factory=lambda: {P0, P1, TP("ticks", 0)})
    _committed_offset: dict[Any, int | None] = field(default_factory=dict)
    _paused_partitions: set[Any] = field(default_factory=set)
    _thread: Thread = field(default_factory=Thread)
    seeks: list[dict[Any, int]] = field(default_factory=list)
    resumed: list[set[Any]] = field(default_factory=list)

    def assignment(self) -> set[Any]:
        return set(self.assigned)

    def resume_partitions(self, tps: set[Any]) -> None:
        self.resumed.append(set(tps))
        self._paused_partitions -= tps

    async def seek_wait(self, partitions: Mapping[Any, int]) -> None:
        self.seeks.append(dict(partitions))


@dataclass
class Tables:
    recovery: Recovery = field(default_factory=Recovery)


@dataclass
class App:
    consumer: Consumer = field(default_factory=Consumer)
    tables: Tables = field(default_factory=Tables)
    rebalancing: bool = False


@dataclass
class Offsets:
    ends: dict[Any, int] = field(default_factory=dict)
    starts: dict[Any, int] = field(default_factory=dict)
    down: bool = False
    asked: list[tuple[Any, ...]] = field(default_factory=list)

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        if self.down:
            raise ConnectionError("the broker is away")
        self.asked.append(tps)
        return {tp: self.ends[tp] for tp in tps if tp in self.ends}

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        return {tp: self.starts.get(tp, 0) for tp in tps}


class Harness:
    """A watchdog on a fake app, with the metrics it counts into."""

    def __init__(self, stall_seconds: float = 15) -> None:
        self.clock = Clock()
        self.app = App()
        self.app.tables.recovery.completed.set()
        self.offsets = Offsets()
        self.handled: dict[Any, int] = {}
        self.busy = HeldLock(self.clock)
        self.registry = CollectorRegistry()
        metrics = WorkerMetrics.create(self.registry)
        self.watchdog = Watchdog(
            self.app,
            EVENTS,
            stall_seconds,
            self.offsets,
            handled=self.handled.get,
            busy=self.busy,
            stalls=lambda action: metrics.stalls.labels(action).inc(),
            clock=self.clock,
        )

    async def run(self, seconds: int) -> list[watchdog.Stall]:
        """One check a second for `seconds` seconds."""
        found = []
        for _ in range(seconds):
            found += await self.watchdog.check()
            self.clock.now += 1
        return found

    def counted(self, action: str) -> float:
        value = self.registry.get_sample_value("supervisor_worker_stalls_total", {"action": action})
        assert value is not None
        return value


async def test_a_stalled_partition_is_fetched_again_from_where_the_agent_is() -> None:
    h = Harness()
    h.offsets.ends = {P0: 8, P1: 4}
    h.handled[P0] = 7  # the agent handled offsets up to 6: 7 waits
    h.handled[P1] = 4  # nothing waits on P1
    h.app.consumer._committed_offset = {P0: 5, P1: 4}  # committed a little behind
    stalls = await h.run(16)
    assert [(s.tp, s.position, s.action) for s in stalls] == [(P0, 7, "seek")]
    assert h.app.consumer.seeks == [{P0: 7}]
    assert h.app.consumer.resumed == []  # it was not paused
    assert h.counted("seek") == 1 and h.counted("rejoin") == 0
    assert all(TP("ticks", 0) not in asked for asked in h.offsets.asked)  # events only


async def test_the_position_is_where_reading_resumes_before_the_first_message() -> None:
    """No message handled yet: Faust's committed offset; nothing committed: the earliest
    offset retention kept."""
    h = Harness()
    h.offsets.ends = {P0: 12, P1: 30}
    h.offsets.starts = {P0: 0, P1: 25}
    h.app.consumer._committed_offset = {P0: 10, P1: None}
    await h.run(16)
    assert sorted(h.app.consumer.seeks, key=lambda seek: sorted(seek.values())) == [
        {P0: 10},
        {P1: 25},
    ]


async def test_a_partition_faust_left_paused_is_resumed_before_the_seek() -> None:
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    h.app.consumer._paused_partitions = {P0}
    await h.run(16)
    assert h.app.consumer.resumed == [{P0}]
    assert h.app.consumer.seeks == [{P0: 2}]


async def test_when_seeking_does_not_help_the_consumer_rejoins_its_group() -> None:
    h = Harness(stall_seconds=10)
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    stalls = await h.run(31)
    assert [s.action for s in stalls] == ["seek", "seek", "rejoin"]
    assert h.app.consumer._thread.consumer._coordinator.rejoins == 1
    assert h.counted("seek") == 2 and h.counted("rejoin") == 1


@pytest.mark.parametrize("state", ["recovering", "not recovered", "rebalancing", "agent held"])
async def test_no_stall_while_the_worker_is_busy_otherwise(state: str) -> None:
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    recovery = h.app.tables.recovery
    if state == "recovering":
        recovery.in_recovery = True
    elif state == "not recovered":
        recovery.completed.clear()
    elif state == "rebalancing":
        h.app.rebalancing = True
    else:
        await h.busy.acquire()  # e.g. a rules reload holds the agent
        h.clock.now += AGENT_HELD_SECONDS
    assert await h.run(60) == []
    assert h.app.consumer.seeks == [] and h.offsets.asked == []
    # once idle again the count starts from zero
    recovery.in_recovery, h.app.rebalancing = False, False
    recovery.completed.set()
    if h.busy.locked():
        h.busy.release()
    assert await h.run(15) == []
    assert len(await h.run(1)) == 1


async def test_an_agent_busy_for_a_moment_does_not_hide_a_stall() -> None:
    """A message handled in a few milliseconds, now and then, is not a busy agent."""
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    await h.busy.acquire()  # held at the instant of every check, but just taken
    stalls = []
    for _ in range(16):
        h.busy.held_since = h.clock.now
        stalls += await h.watchdog.check()
        h.clock.now += 1
    assert len(stalls) == 1


async def test_a_broker_that_does_not_answer_restarts_the_count() -> None:
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    await h.run(10)
    h.offsets.down = True
    assert await h.run(30) == []
    h.offsets.down = False
    assert await h.run(15) == []
    assert len(await h.run(1)) == 1


async def test_a_partition_revoked_before_the_seek_is_left_to_its_new_owner() -> None:
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}
    await h.run(15)
    h.app.consumer.assigned = set()  # revoked between the reading and the action
    await h.watchdog.act(watchdog.Stall(P0, 2, 3, 15.0, 1))
    assert h.app.consumer.seeks == []
    assert h.counted("seek") == 0


async def test_a_failing_action_is_logged_and_the_next_check_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    h.offsets.ends = {P0: 3}
    h.handled[P0] = 2
    h.app.consumer.assigned = {P0}

    async def broken(partitions: Mapping[Any, int]) -> None:
        raise RuntimeError("consumer thread gone")

    h.app.consumer.seek_wait = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="supervisor.worker.watchdog"):
        assert len(await h.run(16)) == 1
    assert "unread for 15 s while the worker is idle" in caplog.text
    assert "the watchdog's seek failed" in caplog.text


def test_install_adds_nothing_when_disabled() -> None:
    assert (
        watchdog.install(object(), EVENTS, 0, Offsets(), {}.get, HeldLock(), lambda a: None) is None
    )


def test_the_stall_delay_is_a_setting() -> None:
    assert Settings.from_env({}).stall_seconds == 15.0
    assert Settings.from_env({"SUPERVISOR_STALL_SECONDS": "0"}).stall_seconds == 0.0


# -- the shutdown deadline ---------------------------------------------------------------


def test_the_deadline_exits_once_after_its_delay() -> None:
    exits: list[int] = []
    done = threading.Event()

    def exit(status: int) -> None:
        exits.append(status)
        done.set()

    deadline = ShutdownDeadline(0.2, exit=exit)
    assert not deadline.armed
    deadline.arm()
    deadline.arm()  # a second signal does not restart the countdown
    assert deadline.armed
    assert done.wait(5)
    assert exits == [FORCED_EXIT_STATUS]


def test_a_process_that_stopped_in_time_is_not_exited() -> None:
    exits: list[int] = []
    deadline = ShutdownDeadline(0.2, exit=exits.append)
    deadline.arm()
    deadline.cancel()
    threading.Event().wait(0.5)
    assert exits == []
