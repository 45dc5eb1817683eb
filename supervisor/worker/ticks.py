"""Deadline ticks in batches, and the broker offsets the tick gate asks for.

Why batches. The timer used to send one tick message per case whose deadline fell due,
and the agent fired each in its own pass: one message on the ticks topic, one table
write and one wait for the broker's acknowledgement of its alert, per case. When 100,000
deadlines fall due in a minute (every case accepted on one busy day with the same limit)
that is 1,700 round trips a second, more than the agent can do, and the alerts come
minutes late (bench/deadline_lateness.py). Now the timer groups the due cases by the
partition they live on and sends one tick message per partition and `BATCH` cases; the
agent advances all of them, publishes all their alerts, waits for the acknowledgements
together, then writes their states. The order of the guarantee is unchanged: every alert
is acknowledged before the state that records it is written.

A tick message goes to the partition its cases' keys hash to (Kafka's default
partitioner, murmur2, as the single ticks keyed by case_id did), so the agent that
receives it owns those cases and the table writes it makes go to that partition's
changelog. The value is a JSON list of case ids; the old single tick (`b"tick"`, the case
id as key) is still understood, for ticks left on the topic by an older worker.

Why `BrokerOffsets`. The gate (gate.py) asks for the end and earliest offsets of the
events partitions each time cases fall due. Faust's `consumer.highwaters()` and
`earliest_offsets()` go through its consumer thread, and took 0.5 s and 1.5 s here every
time (they wait for the thread's fetch loop): each deadline waited two seconds for them.
`BrokerOffsets` asks the broker with a client of its own on the worker's event loop and
takes the assignment and Faust's committed offsets from the Faust consumer as before.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import murmur2

from supervisor.worker.gate import committed_offsets

log = logging.getLogger("supervisor.worker.ticks")

#: Case ids in one tick message at most (about 30 bytes each).
BATCH: Final = 200
#: The value of a single tick of an older worker (the case id is the key).
SINGLE: Final = b"tick"


@functools.lru_cache(maxsize=65_536)
def partition_of(case_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the key `case_id` (aiokafka's and
    the Java client's: murmur2 of the key bytes, made positive, modulo the count).
    Remembered: the agent asks it for every event, a case has several, and aiokafka's
    murmur2 is pure Python (~4 µs for a case id here)."""
    return int(murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


def batches(
    case_ids: Iterable[str],
    partitions: int,
    size: int = BATCH,
    homes: Mapping[str, int] | None = None,
) -> list[tuple[int, list[str]]]:
    """(partition, case ids) tick messages for `case_ids`: grouped by partition, at most
    `size` ids each, in the order given within a partition. A case goes to the partition
    its state is on: the one in `homes` (a case whose events came on another partition
    than murmur2 gives), else murmur2's."""
    homes = homes or {}
    grouped: dict[int, list[str]] = {}
    for case_id in case_ids:
        home = homes.get(case_id)
        partition = partition_of(case_id, partitions) if home is None else home
        grouped.setdefault(partition, []).append(case_id)
    return [
        (partition, ids[first : first + size])
        for partition, ids in sorted(grouped.items())
        for first in range(0, len(ids), size)
    ]


def encode(case_ids: list[str]) -> tuple[bytes, bytes]:
    """Key (the first case id: it hashes to the same partition) and value of a tick."""
    return case_ids[0].encode(), json.dumps(case_ids, separators=(",", ":")).encode()


def decode(key: bytes | None, value: bytes | None) -> list[str]:
    """The case ids a tick message asks to fire: a batch, or an older worker's single
    tick (its key). Anything else is logged and ignored."""
    if value == SINGLE:
        return [(key or b"").decode("utf-8", "replace")]
    try:
        ids = json.loads(value or b"")
    except ValueError:
        ids = None
    if isinstance(ids, list) and all(isinstance(i, str) for i in ids):
        return ids
    log.warning("ignoring a malformed tick message (key %r)", key)
    return []


class BrokerOffsets:
    """The part of Faust's consumer the tick gate uses, with offsets asked on this loop.

    `assignment()` and `_committed_offset` are the Faust consumer's; `highwaters()` and
    `earliest_offsets()` ask the broker through an AIOKafkaConsumer without a group,
    started at first use and stopped by `stop()`.
    """

    def __init__(self, consumer: Any, bootstrap_servers: str, client_id: str) -> None:
        self._consumer = consumer  # a callable returning Faust's consumer (set at start)
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._client: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()

    def assignment(self) -> Any:
        return self._consumer().assignment()

    def __getattr__(self, name: str) -> Any:  # anything else: the Faust consumer's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._consumer(), name)

    @property
    def _committed_offset(self) -> Mapping[Any, int | None]:  # as the Faust consumer's
        return committed_offsets(self._consumer())

    async def _started(self) -> AIOKafkaConsumer:
        async with self._starting:  # three timers may ask at once: one client
            if self._client is None:
                client = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    group_id=None,
                    enable_auto_commit=False,
                )
                try:
                    await client.start()
                except Exception:
                    await client.stop()  # not left half-open: a fresh one next time
                    raise
                self._client = client
            return self._client

    async def highwaters(self, *tps: Any) -> dict[Any, int]:
        client = await self._started()
        return dict(await client.end_offsets(list(tps)))

    async def earliest_offsets(self, *tps: Any) -> dict[Any, int]:
        client = await self._started()
        return dict(await client.beginning_offsets(list(tps)))

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.stop()
