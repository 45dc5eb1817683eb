"""Deadline ticks in batches (supervisor/worker/ticks.py): routing, grouping, wire format."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from supervisor.worker import ticks

CASES = [f"451221-2026-{n:07d}" for n in range(1000)]


def test_a_case_goes_where_kafkas_default_partitioner_sends_its_key() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 3, 6):
        every = list(range(partitions))
        for case_id in CASES:
            expected = partitioner(case_id.encode(), every, every)
            assert ticks.partition_of(case_id, partitions) == expected


def test_batches_group_cases_by_partition_and_bound_their_size() -> None:
    made = ticks.batches(CASES, 6, size=50)
    assert sorted(c for _, ids in made for c in ids) == sorted(CASES)  # each once
    for partition, ids in made:
        assert 1 <= len(ids) <= 50
        assert {ticks.partition_of(c, 6) for c in ids} == {partition}
    # within a partition the order given is kept
    for partition in range(6):
        mine = [c for p, ids in made if p == partition for c in ids]
        assert mine == [c for c in CASES if ticks.partition_of(c, 6) == partition]


def test_a_batch_keyed_by_its_first_case_lands_on_that_partition() -> None:
    for partition, ids in ticks.batches(CASES, 6):
        key, value = ticks.encode(ids)
        assert ticks.partition_of(key.decode(), 6) == partition
        assert ticks.decode(key, value) == ids


def test_an_older_workers_single_tick_is_understood() -> None:
    assert ticks.decode(b"451221-2026-0000001", b"tick") == ["451221-2026-0000001"]


def test_a_malformed_tick_fires_nothing() -> None:
    assert ticks.decode(b"k", b"{not json") == []
    assert ticks.decode(b"k", b'{"a": 1}') == []
    assert ticks.decode(b"k", b"[1, 2]") == []
    assert ticks.decode(None, None) == []


def test_a_case_whose_events_came_on_another_partition_is_ticked_there() -> None:
    """A center producing with another partitioner: the case's state is on the partition
    its events came on (`homes`), so its tick goes there, not where murmur2 sends it."""
    stray, regular = "451221-2026-0000001", "451221-2026-0000002"
    home = (ticks.partition_of(stray, 6) + 1) % 6
    grouped = dict(ticks.batches([stray, regular], 6, homes={stray: home}))
    assert stray in grouped[home]
    assert regular in grouped[ticks.partition_of(regular, 6)]
    assert dict(ticks.batches([stray], 6))[ticks.partition_of(stray, 6)] == [stray]
