"""Where the web service writes lifecycle changes: the alert journal (the alerts topic).

A change is not applied when the API receives it but when it is read back from the
topic, in the topic's order, like every other record; so every web instance and every
wall sees the same history, and a restart loses nothing that was acknowledged by the
broker. `write()` returns the record's position; the API then waits for the hub to reach
it (read-your-write) before answering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from supervisor.settings import Settings
from supervisor.store.projection import Projection, Record
from supervisor.web.consumer import AlertFeed

#: Seconds a write waits for the broker before the request is answered 503: with the
#: broker away, aiokafka waits for metadata without end, and a person's click with it.
WRITE_TIMEOUT: Final = 15.0


class JournalUnavailable(Exception):
    """The journal (the alerts topic) could not take a record in time: answered 503
    (errors.py). A record whose wait ended may still be written once the broker is back;
    the journal's read-back check then applies it or refuses it, as for any record."""


class JournalWriter(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, record: dict[str, Any]) -> int: ...


class KafkaJournalWriter:
    """Produces to the alerts topic with acks from every in-sync replica."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=f"{self._settings.app_id}-web",
            acks="all",
            enable_idempotence=True,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def write(self, record: dict[str, Any], timeout: float = WRITE_TIMEOUT) -> int:
        """The record's position once the broker has it; JournalUnavailable when the
        broker does not take it within `timeout` seconds or refuses it."""
        if self._producer is None:
            raise RuntimeError("the journal writer is not started")
        sending = self._producer.send_and_wait(
            self._settings.topic_alerts,
            key=str(record.get("alert_id") or record.get("silence_id") or "").encode(),
            value=json.dumps(record, ensure_ascii=False).encode(),
        )
        try:
            metadata = await asyncio.wait_for(sending, timeout)
        except (TimeoutError, KafkaError) as exc:
            raise JournalUnavailable(type(exc).__name__) from exc
        return int(metadata.offset)


class LocalJournalWriter:
    """Writes at the next position straight into the read model and the hub, as if read
    back from the topic: a web service without Kafka (tests, tools). Same contract as
    the Kafka writer."""

    def __init__(
        self,
        feed: AlertFeed,
        projection: Projection,
        topic: str,
        ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._ready = ready
        self._feed = feed
        self._projection = projection
        self._topic = topic
        self._lock = asyncio.Lock()
        self._next = 0

    async def start(self) -> None:
        self._next = max(self._next, self._feed.hub_head + 1)

    async def stop(self) -> None:
        return None

    async def write(self, record: dict[str, Any]) -> int:
        await self._ready()
        async with self._lock:  # positions in the order they are given
            seq = max(self._next, self._feed.hub_head + 1)
            self._next = seq + 1
            value = json.dumps(record, ensure_ascii=False).encode()
            await self._feed.project(self._projection, [Record(self._topic, 0, seq, value)])
        return seq
