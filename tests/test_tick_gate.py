"""The tick gate: due cases wait until the events on the broker when they fell due are read."""

from __future__ import annotations

from typing import Any, NamedTuple

import faust

from supervisor.worker.gate import GroupGate, TickGate, committed_offsets


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    """Just what the gate asks of Faust's consumer: assignment, fresh end offsets, and
    the committed offsets it keeps."""

    def __init__(
        self,
        ends: dict[TP, int],
        committed: dict[TP, int] | None = None,
        earliest: dict[TP, int] | None = None,
    ) -> None:
        self.ends = ends
        self._committed_offset = committed or {}
        self.earliest = earliest or {}
        self.queries = 0

    def assignment(self) -> set[TP]:
        return set(self.ends)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        self.queries += 1
        return {tp: self.ends[tp] for tp in tps}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest.get(tp, 0) for tp in tps}


E0, E1, T0 = TP("events", 0), TP("events", 1), TP("events-ticks", 0)


async def test_due_cases_wait_for_the_backlog_then_go() -> None:
    consumer = FakeConsumer({E0: 100, E1: 5, T0: 7}, committed={E1: 5})
    gate = TickGate("events")
    gate.due(["a", "b"])
    assert await gate.release(consumer) == []  # nothing of E0 handled yet
    for offset in range(98):
        gate.handled(E0, offset)
    consumer.ends[E0] = 500  # more arrives: the barrier noted stays at 100
    assert await gate.release(consumer) == []
    gate.handled(E0, 99)
    assert sorted(await gate.release(consumer)) == ["a", "b"]
    assert consumer.queries == 1 and gate.waiting == 0


async def test_cases_due_after_the_barrier_wait_for_the_next_one() -> None:
    consumer = FakeConsumer({E0: 10})
    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(consumer) == []
    gate.due(["late"])
    consumer.ends[E0] = 20
    for offset in range(10):
        gate.handled(E0, offset)
    assert await gate.release(consumer) == ["a"]  # its barrier (10) is reached
    assert await gate.release(consumer) == []  # the new barrier is 20
    for offset in range(10, 20):
        gate.handled(E0, offset)
    assert await gate.release(consumer) == ["late"]


async def test_a_partition_nothing_was_read_from_counts_by_its_committed_offset() -> None:
    caught_up = FakeConsumer({E0: 42}, committed={E0: 42})
    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(caught_up) == ["a"]
    behind = FakeConsumer({E0: 42}, committed={E0: 40})
    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(behind) == []


async def test_a_partition_moved_away_does_not_hold_the_others() -> None:
    consumer = FakeConsumer({E0: 10, E1: 10})
    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(consumer) == []
    del consumer.ends[E1]  # revoked in a rebalance
    for offset in range(10):
        gate.handled(E0, offset)
    assert await gate.release(consumer) == ["a"]


async def test_end_offsets_unavailable_means_wait() -> None:
    class Broken(FakeConsumer):
        async def highwaters(self, *tps: TP) -> dict[TP, int]:
            raise RuntimeError("consumer not started")

    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(Broken({E0: 1})) == []
    assert gate.waiting == 1


async def test_a_partition_revoked_and_given_back_does_not_stall_the_gate() -> None:
    consumer = FakeConsumer({E0: 10})
    gate = TickGate("events")
    gate.handled(E0, 4)  # read up to 5 before the partition moved away
    del consumer.ends[E0]
    gate.due(["a"])
    assert await gate.release(consumer) == ["a"]  # nothing assigned: nothing to wait for
    consumer.ends[E0] = 10  # given back, read meanwhile by another worker up to 10
    consumer._committed_offset = {E0: 10}
    gate.due(["b"])
    assert await gate.release(consumer) == ["b"]


async def test_a_partition_emptied_by_retention_counts_from_its_earliest_offset() -> None:
    consumer = FakeConsumer({E0: 500}, earliest={E0: 500})  # nothing committed, all expired
    gate = TickGate("events")
    gate.due(["a"])
    assert await gate.release(consumer) == ["a"]


async def test_behind_reports_unread_messages() -> None:
    consumer = FakeConsumer({E0: 10})
    gate = TickGate("events")
    assert await gate.behind(consumer)
    for offset in range(10):
        gate.handled(E0, offset)
    assert not await gate.behind(consumer)


class GroupConsumer(FakeConsumer):
    """Adds what the group gate asks: the events topic's partition count."""

    def topic_partitions(self, topic: str) -> int | None:
        return len([tp for tp in self.ends if tp.topic == topic]) or None


async def test_silence_waits_for_the_whole_group_then_notes_a_new_barrier() -> None:
    consumer = GroupConsumer({E0: 10, E1: 20})
    committed = {0: 10, 1: 3}  # another worker owns partition 1 and is behind

    async def offsets() -> dict[int, int]:
        return dict(committed)

    local = TickGate("events")
    gate = GroupGate(local, "events", offsets)
    assert await gate.behind(consumer)  # partition 1: 3 of 20 committed
    consumer.ends[E1] = 40  # more arrives meanwhile: the noted barrier stays at 20
    committed[1] = 20
    assert not await gate.behind(consumer)  # reached: silence may be judged
    assert await gate.behind(consumer)  # a new barrier (40) is noted and not reached
    committed[1] = 40
    assert not await gate.behind(consumer)


async def test_own_partitions_count_what_was_handled_before_it_is_committed() -> None:
    consumer = GroupConsumer({E0: 10, E1: 5})

    async def offsets() -> dict[int, int]:
        return {1: 5}  # partition 0 is ours; nothing committed yet

    local = TickGate("events")
    gate = GroupGate(local, "events", offsets)
    assert await gate.behind(consumer)
    local.handled(E0, 9)
    assert not await gate.behind(consumer)


async def test_empty_or_expired_partitions_are_not_a_backlog_and_failures_wait() -> None:
    consumer = GroupConsumer({E0: 0, E1: 50}, earliest={E1: 50})  # E1: all expired

    async def offsets() -> dict[int, int]:
        return {}

    gate = GroupGate(TickGate("events"), "events", offsets)
    assert not await gate.behind(consumer)

    async def unreachable() -> dict[int, int]:
        raise ConnectionError("no broker")

    consumer.ends[E0] = 3
    waiting = GroupGate(TickGate("events"), "events", unreachable)
    assert await waiting.behind(consumer)  # unknown progress: silence is not proven


async def test_the_lag_is_unknown_rather_than_zero_when_the_broker_does_not_answer() -> None:
    consumer = FakeConsumer({E0: 10, E1: 4}, committed={E1: 4})
    gate = TickGate("events")
    gate.handled(E0, 5)
    assert await gate.lag(consumer) == {E0: 4, E1: 0}

    async def down(*tps: TP) -> dict[TP, int]:
        raise ConnectionError("broker down")

    consumer.highwaters = down  # type: ignore[method-assign]
    assert await gate.lag(consumer) is None  # the metric keeps its last figures


def test_fausts_consumer_still_keeps_the_committed_offsets_read_through_it() -> None:
    """`committed_offsets` reads a private field of Faust's consumer (it has no public
    one); a Faust release that renames it must fail here, not leave the gate, the lag
    and the watchdog counting without it."""
    app = faust.App("probe-committed", broker="kafka://127.0.0.1:1", autodiscover=False)
    consumer: Any = app.consumer  # built, not started: no broker needed
    tp = TP("case-events", 0)
    consumer._committed_offset[tp] = 42
    assert committed_offsets(consumer)[tp] == 42
