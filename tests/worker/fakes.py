"""Fakes for the worker's parts, so they run without a broker: a producer whose sends
are acknowledged at once (or held), a Kafka message, a consumer with no partitions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from supervisor import deadletters
from supervisor.core.engine import Engine
from supervisor.core.runner import DueIndex
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.case_agent import CaseAgent, Topics
from supervisor.worker.case_store import CaseStore
from supervisor.worker.gate import TickGate
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.outbox import Outbox
from supervisor.worker.outputs import Outputs
from supervisor.worker.watchdog import HeldLock
from tests.core.factories import engine as shipped_engine

CN = ZoneInfo("Asia/Shanghai")
EVENTS = "case-events"
TICKS = "app-ticks"


@dataclass
class Message:
    """The fields of a Kafka message the agent reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = 0.0
    tp: Any = None

    def __post_init__(self) -> None:
        self.tp = (self.topic, self.partition)


class Producer:
    """Records every record sent; acknowledges it at once unless `hold` is set."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.letters: list[deadletters.Record] = []
        self.ticks: list[tuple[bytes, bytes, int]] = []
        self.hold = False
        self.pending: list[asyncio.Future[Any]] = []

    def _future(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.hold:
            self.pending.append(future)
        else:  # acknowledged at the next turn of the loop, as a broker's would be
            asyncio.get_running_loop().call_soon(future.set_result, None)
        return future

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        self.sent.append((key, value))
        return self._future()

    async def send_letter(self, letter: deadletters.Record) -> asyncio.Future[Any]:
        self.letters.append(letter)
        return self._future()

    async def send_tick(self, key: bytes, value: bytes, partition: int) -> None:
        self.ticks.append((key, value, partition))

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(value) for _, value in self.sent]


class Consumer:
    """No partitions: every offset query answers at once (the gate lets ticks go)."""

    def assignment(self) -> list[Any]:
        return []


@dataclass
class Clock:
    at: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=CN)

    def __call__(self) -> datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@dataclass
class RecordedFacts:
    """The agent's facts, as the event ids they were made for (`facts`); `flushed` lists
    the partitions flushed, `dropped` those dropped, in order."""

    facts: list[str]
    flushed: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)

    async def __call__(self, engine: Engine, event: Any, state: Any, partition: int) -> None:
        self.facts.append(event.event_id)

    async def flush(self, partition: int) -> None:
        self.flushed.append(partition)

    def drop(self, partitions: Iterable[int]) -> None:
        self.dropped.extend(sorted(partitions))


@dataclass
class Parts:
    """One worker's parts over a dict table, a fake producer and a settable clock."""

    engine: Engine = field(default_factory=shipped_engine)
    producer: Producer = field(default_factory=Producer)
    clock: Clock = field(default_factory=Clock)
    table: dict[str, Any] = field(default_factory=dict)
    handled: dict[str, Any] = field(default_factory=dict)
    released: set[str] = field(default_factory=set)
    facts: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    settle_seconds: float = 0.0
    #: a batch per message by default: each message's state written with it, as the
    #: tests of one message expect; the batching tests set more
    batch_events: int = 1
    batch_seconds: float = 3600.0
    #: partition -> its end offset on the broker (none: nothing unread after a message)
    highwater: dict[int, int] = field(default_factory=dict)
    catch_up_events: int = 10_000
    catch_up_seconds: float = 10.0
    #: no wait for the alerts' acknowledgement: a held producer's alerts are written
    #: down with their case (outbox.py)
    ack_wait: float = 0.0

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = WorkerMetrics.create(self.registry)
        self.outbox = Outbox(self.producer.send)
        self.alert_log = AlertLog(logging.getLogger("tests.worker"))
        self.index = DueIndex()
        self.gate = TickGate(EVENTS)
        self.outputs = Outputs(
            send_alert=self.producer.send,
            send_letter=self.producer.send_letter,
            outbox=self.outbox,
            metrics=self.metrics,
            centers={"451221"},
            alert_log=self.alert_log,
        )
        self.store = CaseStore(
            self.table,
            outbox=self.outbox,
            index=self.index,
            engine=lambda: self.engine,
            dumps=lambda value: json.dumps(value, ensure_ascii=False).encode(),
            settle_seconds=self.settle_seconds,
        )
        self.agent = CaseAgent(
            topics=Topics(EVENTS, TICKS, 3),
            engine=lambda: self.engine,
            store=self.store,
            outputs=self.outputs,
            gate=self.gate,
            handled=self.handled,
            released=self.released,
            busy=HeldLock(),
            now=self.clock,
            latest=self.clock,
            future_tolerance=timedelta(minutes=5),
            metrics=self.metrics,
            centers={"451221"},
            facts=RecordedFacts(self.facts),
            forward=self._forward,
            unread=self._unread,
            batch_events=self.batch_events,
            batch_seconds=self.batch_seconds,
            catch_up_events=self.catch_up_events,
            catch_up_seconds=self.catch_up_seconds,
            ack_wait=self.ack_wait,
        )

    def _unread(self, tp: Any, offset: int) -> int:
        _, partition = tp
        return max(0, self.highwater.get(partition, 0) - offset - 1)

    async def _forward(self, event: Any) -> None:
        self.forwarded.append(event.event_id)

    def sample(self, name: str, **labels: str) -> float:
        """A metric's value now (0 when it has no sample yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0
