"""Plain aiokafka producing and consuming for tests: what a center or a reader would do."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord


async def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[str, bytes | dict[str, Any]]]
) -> None:
    """Send (key, value) pairs in order; dict values are sent as UTF-8 JSON."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            body = (
                value
                if isinstance(value, bytes)
                else json.dumps(value, ensure_ascii=False).encode()
            )
            await producer.send_and_wait(topic, key=key.encode(), value=body)
    finally:
        await producer.stop()


async def produce_pipelined(
    bootstrap: str, topic: str, messages: Iterable[tuple[str, bytes]]
) -> None:
    """Send many (key, value) pairs without waiting for each; an idempotent producer keeps
    each partition's order. For backlogs of thousands of messages."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20
    )
    await producer.start()
    try:
        pending = [await producer.send(topic, key=key.encode(), value=v) for key, v in messages]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def collect(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 60.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read the topic from the beginning until `done(records)` or the timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def alerts_of(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    """The alerts and resolutions of alerts-topic records; what cases did to their
    alerts (contract §6, `"kind": "case_change"`) is left out: see `changes_of`."""
    documents = (json.loads(r.value) for r in records if r.value is not None)
    return [d for d in documents if d.get("kind") != "case_change"]


def changes_of(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[dict[str, Any]]:
    """The case changes (contract §6) of alerts-topic records."""
    documents = (json.loads(r.value) for r in records if r.value is not None)
    return [d for d in documents if d.get("kind") == "case_change"]


async def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(every)
    return condition()


async def collect_until_quiet(
    bootstrap: str,
    topic: str,
    not_before: float,
    quiet: float,
    timeout: float = 120.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read the topic from the beginning until it has been quiet (no new record) for
    `quiet` seconds, counted from `not_before` (a `time.monotonic()`) at the earliest."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    last = not_before
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            now = time.monotonic()
            for part in batch.values():
                records.extend(part)
                if part:
                    last = max(last, now)
            if now - last >= quiet:
                return records
    finally:
        await consumer.stop()
    raise AssertionError(f"{topic} was not quiet for {quiet}s within {timeout}s")


async def produce_paced(
    bootstrap: str,
    topic: str,
    batches: Sequence[Sequence[tuple[str, bytes]]],
    interval: float,
    before: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """A stream rather than a backlog: one batch of (key, value) pairs every `interval`
    seconds, each batch pipelined and acknowledged before the next. `before(i)` is awaited
    before batch i is sent (to kill or start a process at a known point of the stream, or
    to hold the stream until something happened). An idempotent producer keeps each
    partition's order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        for number, batch in enumerate(batches):
            if before is not None:
                await before(number)
            began = time.monotonic()
            pending = [await producer.send(topic, key=key.encode(), value=v) for key, v in batch]
            await asyncio.gather(*pending)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))
    finally:
        await producer.stop()
