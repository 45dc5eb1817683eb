"""The agent's check that no events message skipped it (supervisor/worker/continuity.py);
the real rebalances are in tests/integration/test_scale_out.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import NamedTuple

import pytest

from supervisor.worker import continuity
from supervisor.worker.continuity import Continuity, Record


class TP(NamedTuple):
    topic: str
    partition: int


EVENTS = "case-events"
P0, P1 = TP(EVENTS, 0), TP(EVENTS, 1)


def test_contiguous_offsets_have_no_gap() -> None:
    seen = Continuity(EVENTS)
    assert seen.gap(P0, 0, None) is None  # nothing committed yet: from the start
    for offset in range(5):
        assert seen.gap(P0, offset, 0) is None
        seen.handled(P0, offset)
    assert seen.gap(P0, 5, 3) is None


def test_a_skipped_message_is_a_gap_to_read_back() -> None:
    seen = Continuity(EVENTS)
    for offset in (235, 236, 237):
        seen.handled(P0, offset)
    assert seen.gap(P0, 240, 238) == (238, 240)  # 238 and 239 never reached the agent
    assert seen.gap(P1, 7, 7) is None  # another partition: from its committed offset


def test_a_partition_never_committed_starts_at_its_beginning() -> None:
    seen = Continuity(EVENTS)
    assert seen.gap(P1, 8, None) == (0, 8)  # its first eight events skipped the agent
    assert seen.gap(P0, 0, None) is None


def test_a_partition_taken_over_starts_at_its_committed_offset() -> None:
    seen = Continuity(EVENTS)
    assert seen.gap(P1, 100, 100) is None
    assert seen.gap(P1, 103, 100) == (100, 103)


def test_redelivered_messages_are_no_gap_and_do_not_move_back() -> None:
    seen = Continuity(EVENTS)
    for offset in range(10):
        seen.handled(P0, offset)
    assert seen.gap(P0, 4, 4) is None  # re-fetched from the committed offset
    seen.handled(P0, 4)
    assert seen.gap(P0, 10, 5) is None


def test_a_partition_lost_and_won_back_starts_afresh() -> None:
    seen = Continuity(EVENTS)
    seen.handled(P0, 50)
    seen.handled(P1, 70)
    seen.assigned([P1, TP("ticks", 0)])  # P0 went to another worker
    assert seen.gap(P0, 80, 75) == (75, 80)  # judged against the committed offset now
    assert seen.gap(P1, 72, 71) == (71, 72)  # kept: judged against what it handled


def test_acknowledged_but_unhandled_offsets() -> None:
    seen = Continuity(EVENTS)
    assert seen.unhandled(P0, 10) is None  # nothing handled here yet
    seen.handled(P0, 9)
    assert seen.unhandled(P0, 10) is None
    assert seen.unhandled(P0, 12) == (10, 12)


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    tp: object
    timestamp: float = 0.0  # Unix seconds (Faust's message.timestamp)


@dataclass
class Event:
    message: Message


def events_at(topic: str, partition: int, *offsets: int) -> list[Event]:
    tp = TP(topic, partition) if topic == EVENTS else (topic, partition)
    return [Event(Message(topic, partition, o, tp)) for o in offsets]


async def stream_of(items: list[Event]) -> AsyncIterator[Event]:
    for item in items:
        yield item


async def offsets_through(
    seen: Continuity, items: list[Event], committed: Callable[[TP], int | None]
) -> list[int]:
    """The offsets of what `seen.checked` yields from `items` (read back ones included)."""
    return [
        e.message.offset
        async for e in seen.checked(
            stream_of(items), bootstrap="b:9092", ticks_topic="ticks", committed=committed
        )
    ]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Offsets 0-999 of events partition 0 exist, but 240 (a hole); the reads made."""
    calls: list[tuple[int, int]] = []

    async def read_back(
        bootstrap: str, tp: TP, start: int, end: int, timeout: float = 30.0
    ) -> tuple[list[Record], int]:
        calls.append((start, end))
        records = [
            Record(EVENTS, tp.partition, o, b"k", f"v{o}".encode(), 0.0, tp)
            for o in range(start, end)
            if o != 240
        ]
        return records, min(end, 1000)

    monkeypatch.setattr(continuity, "read_back", read_back)
    return calls


async def test_the_stream_gets_what_skipped_it_back_in_place(
    broker: list[tuple[int, int]],
) -> None:
    counted: list[int] = []
    seen = Continuity(EVENTS, read_back=counted.append)
    stream = events_at(EVENTS, 0, 235, 236, 237, 241, 242)  # 238-240 skipped
    out = await offsets_through(seen, stream, lambda tp: 235)
    assert out == [235, 236, 237, 238, 239, 241, 242]  # 240: a hole, nothing there
    assert broker == [(238, 241)]  # one read: the consumer's position passes the hole
    assert seen.read_back_total == 3 and counted == [3]  # the metric is told


async def test_a_tick_waits_for_what_was_acknowledged_unhandled(
    broker: list[tuple[int, int]],
) -> None:
    seen = Continuity(EVENTS)
    stream = events_at(EVENTS, 0, 10, 11) + events_at("ticks", 0, 5) + events_at("ticks", 1, 6)
    committed = {TP(EVENTS, 0): 14}  # 12 and 13 acknowledged, never handled

    out = [
        (e.message.topic, e.message.offset)
        async for e in seen.checked(
            stream_of(stream),
            bootstrap="b:9092",
            ticks_topic="ticks",
            committed=lambda tp: committed.get(tp),
        )
    ]
    assert out == [
        (EVENTS, 10),
        (EVENTS, 11),
        (EVENTS, 12),
        (EVENTS, 13),
        ("ticks", 5),
        ("ticks", 6),
    ]
    assert seen.skipped([TP(EVENTS, 0), TP(EVENTS, 1)], lambda tp: committed.get(tp)) == []
    committed[TP(EVENTS, 0)] = 20
    assert seen.skipped([TP(EVENTS, 0), TP(EVENTS, 1)], lambda tp: committed.get(tp)) == [
        TP(EVENTS, 0)
    ]


async def test_a_tick_sent_before_the_assignment_is_dropped(
    broker: list[tuple[int, int]],
) -> None:
    """The worker that owned partition 0 sent a tick just before the rebalance: the new
    owner drops it (its recovery indexed the case again) instead of firing the case
    before it has read the case's last events."""
    stale_counted: list[None] = []
    seen = Continuity(EVENTS, stale=lambda: stale_counted.append(None))
    seen.assigned([P0], at=1000.0)
    stale, fresh = events_at("ticks", 0, 7, 8)
    stale.message.timestamp, fresh.message.timestamp = 999.5, 1000.5
    out = await offsets_through(seen, [stale, fresh], lambda tp: None)
    assert out == [8] and seen.stale_ticks == 1 and len(stale_counted) == 1


async def test_a_read_back_the_broker_does_not_deliver_is_tried_again_never_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker away during a read-back (a restart, a leader election): the span is read
    again until it comes; nothing after it is handled as if the gap were filled."""
    attempts: list[int] = []

    async def read_back(
        bootstrap: str, tp: TP, start: int, end: int, timeout: float = 30.0
    ) -> tuple[list[Record], int]:
        attempts.append(start)
        if len(attempts) < 3:
            raise TimeoutError("no record for 30 s")
        records = [Record(EVENTS, tp.partition, o, b"k", b"v", 0.0, tp) for o in range(start, end)]
        return records, end

    async def no_wait(delay: float) -> None:
        return None

    monkeypatch.setattr(continuity, "read_back", read_back)
    monkeypatch.setattr("supervisor.worker.continuity.asyncio.sleep", no_wait)
    seen = Continuity(EVENTS)
    stream = events_at(EVENTS, 0, 10, 13)  # 11-12 skipped
    out = await offsets_through(seen, stream, lambda tp: 10)
    assert out == [10, 11, 12, 13]
    assert attempts == [11, 11, 11]


async def test_a_partition_taken_over_resumes_from_where_its_last_owner_had_got_to(
    broker: list[tuple[int, int]],
) -> None:
    """The previous owner recorded 238 as the next offset it had to handle; Faust's group
    offset says 241 (it acknowledged 238-240 unhandled): they are read back first."""
    seen = Continuity(EVENTS)
    seen.assigned([P0])
    seen.restore(P0, 238)
    stream = events_at(EVENTS, 0, 241, 242)
    out = await offsets_through(seen, stream, lambda tp: 241)
    assert out == [238, 239, 241, 242]  # 240: a hole in the fake broker
    assert broker == [(238, 241)]


def test_a_restored_offset_never_moves_a_partition_already_followed() -> None:
    seen = Continuity(EVENTS)
    seen.handled(P0, 500)
    # followed since its assignment (a restore that comes late, or again): its own
    # position stands; a rebalance forgets it first (`revoked`, the test below)
    seen.restore(P0, 238)
    assert seen.gap(P0, 501, committed=None) is None


async def test_a_partition_kept_through_a_rebalance_resumes_from_what_was_written(
    broker: list[tuple[int, int]],
) -> None:
    """Every rebalance revokes all partitions, the kept ones too, and drops their states
    judged and not written: the position judged goes with them. Kept, it lost the span
    read back below the committed offset in the first generation: Faust resumes at 241,
    and 238-239 were neither written nor read again."""
    seen = Continuity(EVENTS)
    seen.assigned([P0])
    seen.restore(P0, 238)  # written by the last owner; Faust committed 241
    first = events_at(EVENTS, 0, 241, 242, 243)
    committed = 241
    out = await offsets_through(seen, first, lambda tp: committed)
    assert out == [238, 239, 241, 242, 243]  # judged, but not written before ...
    seen.revoked([P0, TP("ticks", 0)])  # ... the rebalance that keeps P0 here
    seen.assigned([P0])
    seen.restore(P0, 238)  # still what was written
    again = events_at(EVENTS, 0, 241, 242)  # Faust resumes at the committed offset
    out = await offsets_through(seen, again, lambda tp: committed)
    assert out == [238, 239, 241, 242]
    assert broker == [(238, 241), (238, 241)]
