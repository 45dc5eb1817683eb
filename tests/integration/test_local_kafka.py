"""The local Kafka 4 broker really works with the project's client, aiokafka 0.14.

Round trips with keys (per-key partition and order), consumer-group offsets, explicit
topic creation, and the idempotence of `start()` that every command relies on.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supervisor.kafka import local
from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings

TopicName = Callable[..., str]
Record = tuple[bytes, bytes, int, int]  # key, value, partition, offset


async def _consume(consumer: AIOKafkaConsumer, count: int, timeout: float = 30.0) -> list[Record]:
    """Read `count` records or fail after `timeout`."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        assert time.monotonic() < deadline, f"got {len(records)} of {count} records in time"
        batches = await consumer.getmany(timeout_ms=500)
        for batch in batches.values():
            records.extend((r.key, r.value, r.partition, r.offset) for r in batch)
    return records


async def _partitions(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return len(described["partitions"])
    finally:
        await admin.close()


@pytest.mark.integration
async def test_keyed_messages_round_trip(kafka_bootstrap: str, topic_name: TopicName) -> None:
    topic = topic_name("roundtrip")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    keys = [f"case-{i}".encode() for i in range(6)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for seq in range(5):
            for key in keys:
                await producer.send(topic, key=key, value=f"{key.decode()}#{seq}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=topic_name("group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records = await _consume(consumer, len(keys) * 5)
        await consumer.commit()
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(3)]
    finally:
        await consumer.stop()

    by_key: dict[bytes, list[tuple[bytes, int]]] = defaultdict(list)
    for key, value, partition, _ in records:
        by_key[key].append((value, partition))
    assert set(by_key) == set(keys)
    for key, seen in by_key.items():
        assert [v for v, _ in seen] == [f"{key.decode()}#{s}".encode() for s in range(5)]
        assert len({p for _, p in seen}) == 1, f"{key!r} spread over partitions"
    assert len({r[2] for r in records}) > 1, "6 keys should use more than one partition"
    assert sum(c or 0 for c in committed) == len(records)


@pytest.mark.integration
async def test_consumer_group_resumes_after_committed_offset(
    kafka_bootstrap: str, topic_name: TopicName
) -> None:
    topic, group = topic_name("resume"), topic_name("group")
    await ensure_topics(kafka_bootstrap, {topic: 2})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()

    async def consume_new(count: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            values = [v for _, v, _, _ in await _consume(consumer, count)]
            await consumer.commit()
            extra = await consumer.getmany(timeout_ms=500)
            assert not any(extra.values()), "nothing beyond the committed offset expected"
            return values
        finally:
            await consumer.stop()

    try:
        for i in range(3):
            await producer.send_and_wait(topic, key=b"k", value=f"first-{i}".encode())
        assert await consume_new(3) == [b"first-0", b"first-1", b"first-2"]
        for i in range(2):
            await producer.send_and_wait(topic, key=b"k", value=f"second-{i}".encode())
        assert await consume_new(2) == [b"second-0", b"second-1"]
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_two_group_members_split_the_partitions(
    kafka_bootstrap: str, topic_name: TopicName
) -> None:
    topic, group = topic_name("split"), topic_name("group")
    await ensure_topics(kafka_bootstrap, {topic: 4})
    members = [
        AIOKafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, group_id=group, auto_offset_reset="earliest"
        )
        for _ in range(2)
    ]
    for member in members:
        await member.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            await asyncio.gather(*(m.getmany(timeout_ms=200) for m in members))
            assigned = [{tp.partition for tp in m.assignment()} for m in members]
            if all(assigned) and sum(map(len, assigned)) == 4:
                break
            assert time.monotonic() < deadline, f"no rebalance to 2 members: {assigned}"
        assert assigned[0] | assigned[1] == {0, 1, 2, 3}
        assert not assigned[0] & assigned[1]
    finally:
        for member in members:
            await member.stop()


@pytest.mark.integration
async def test_ensure_topics_creates_partitions_and_is_idempotent(
    kafka_bootstrap: str, topic_name: TopicName
) -> None:
    four, one = topic_name("four"), topic_name("one")
    await ensure_topics(kafka_bootstrap, {four: 4, one: 1})
    assert await _partitions(kafka_bootstrap, four) == 4
    assert await _partitions(kafka_bootstrap, one) == 1

    # Again, concurrently, and mixed with a new topic: no error, nothing changed.
    six = topic_name("six")
    await asyncio.gather(
        ensure_topics(kafka_bootstrap, {four: 4, one: 1}),
        ensure_topics(kafka_bootstrap, {four: 4, six: 6}),
        ensure_topics(kafka_bootstrap, {six: 6}),
    )
    assert await _partitions(kafka_bootstrap, four) == 4
    assert await _partitions(kafka_bootstrap, six) == 6
    # An existing topic is never altered, even when asked for another count.
    await ensure_topics(kafka_bootstrap, {one: 3})
    assert await _partitions(kafka_bootstrap, one) == 1


async def test_ensure_topics_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError, match="partitions must be >= 1"):
        await ensure_topics("127.0.0.1:1", {"bad": 0})


@pytest.mark.integration
def test_start_is_idempotent(kafka_bootstrap: str, kafka_settings: Settings) -> None:
    if not kafka_settings.uses_local_kafka:
        pytest.skip(reason="KAFKA_BOOTSTRAP_SERVERS points at an external cluster")
    first = local.start_broker(kafka_settings)
    began = time.monotonic()
    second = local.start_broker(kafka_settings)
    elapsed = time.monotonic() - began
    assert second.bootstrap == first.bootstrap == kafka_bootstrap
    assert second.pid == first.pid is not None
    assert not second.started
    assert elapsed < 5.0, f"reusing a running broker took {elapsed:.1f} s"
    info = local.status(kafka_settings)
    assert info["running"] and info["answering"] and info["pid"] == first.pid


def test_cluster_id_is_kraft_shaped() -> None:
    for _ in range(200):
        cluster_id = local.new_cluster_id()
        assert len(cluster_id) == 22 and "=" not in cluster_id
        assert not cluster_id.startswith("-")
