"""Stand-ins for the broker, for unit tests of the notifier service (service.py) that must
interleave its tasks deterministically, which a real broker does not let a test do.

`FakeBroker` keeps each topic's records in order. Its producer (`FakeProducer`) appends a
record at once, as the broker does on receiving it, but acknowledges it only when the test
says so (`hold_acks` / `release_acks`): the moment between "the broker has it, a consumer
can read it" and "the writer knows it is saved" is where the notifier's own records used
to be read back and taken for someone else's. `FakeTail` reads a topic from an offset.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord, TopicPartition


class FakeBroker:
    def __init__(self) -> None:
        self.topics: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
        self._acks = asyncio.Event()
        self._acks.set()
        self._written = asyncio.Condition()

    def hold_acks(self) -> None:
        """From now, writes are stored (readable) but not acknowledged."""
        self._acks.clear()

    def release_acks(self) -> None:
        self._acks.set()

    def records(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return self.topics.setdefault(topic, [])

    async def append(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> None:
        log = self.records(topic)
        record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
            topic,
            0,
            len(log),
            0,
            0,
            key,
            value,
            None,
            len(key or b""),
            len(value or b""),
            tuple(headers or ()),
        )
        log.append(record)
        async with self._written:
            self._written.notify_all()

    async def wait_written(self, timeout: float) -> None:
        async with self._written:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written.wait(), timeout)

    async def acknowledged(self) -> None:
        await self._acks.wait()


class FakeProducer:
    """What the notifier needs of AIOKafkaProducer: `send` (stored now, a future that
    resolves on acknowledgement) and `send_and_wait`."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.sent: list[tuple[str, bytes | None]] = []

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key))
        await self.broker.append(topic, key, value, headers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def ack() -> None:
            await self.broker.acknowledged()
            if not future.done():
                future.set_result(None)

        task = asyncio.create_task(ack())
        future.add_done_callback(lambda _: task.cancel())
        return future

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> None:
        await (await self.send(topic, value=value, key=key, headers=headers))

    async def stop(self) -> None:
        pass


class FakeTail:
    """What the notifier needs of the consumer following its state topic: `getmany`
    from where it was put (the topic's end when made, as `_restore` does)."""

    def __init__(self, broker: FakeBroker, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.position = len(broker.records(topic))

    async def getmany(
        self, timeout_ms: int = 0
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        log = self.broker.records(self.topic)
        if self.position >= len(log):
            await self.broker.wait_written(timeout_ms / 1000)
        batch = log[self.position :]
        self.position += len(batch)
        return {TopicPartition(self.topic, 0): batch} if batch else {}

    async def stop(self) -> None:
        pass


async def _confirmed() -> bool:
    return True


def owning(notifier: Any) -> None:
    """Make `notifier` the active one, as the group would (its lease always confirmed),
    without a control consumer: for tests of what it does while active."""
    notifier.active = True
    notifier.role = "active"
    notifier.confirm_owner = _confirmed
