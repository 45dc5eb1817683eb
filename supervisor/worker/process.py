"""One worker process: its Faust app, the topics and tables it declares, and the parts
the entry point and the tests hold (`Worker`). `supervisor/worker/app.py` wires the
worker's modules to them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import faust
from prometheus_client import CollectorRegistry

from supervisor.core.engine import Engine
from supervisor.core.runner import DueIndex
from supervisor.kafka.admin import MESSAGE_MAX_BYTES, PRODUCER_MAX_REQUEST_SIZE
from supervisor.settings import Settings
from supervisor.worker import transport
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.reload import RulesWatcher
from supervisor.worker.watchdog import HeldLock

#: Items the agent's stream queues (fetches, each at most a partition's fetch of 1 MiB,
#: or ticks) before the fetch loop waits for it. Faust's bound, 4,096 items, would hold
#: millions of events of a backlog; at 4 the worker read its backlog about an eighth
#: slower (bench/RESULTS.md).
SOURCE_QUEUE_ITEMS = 16

log = logging.getLogger("supervisor.worker")

Clock = Callable[[], datetime]


async def _nothing() -> int:
    return 0


def ticks_topic(settings: Settings) -> str:
    return f"{settings.app_id}-ticks"


def wall_clock(zone: str) -> Clock:
    tz = ZoneInfo(zone)
    return lambda: datetime.now(tz)


@dataclass
class Worker:
    """The parts of one worker process, for the entry point and the tests."""

    app: faust.App
    engine: Engine
    metrics: WorkerMetrics
    registry: CollectorRegistry
    index: DueIndex = field(default_factory=DueIndex)
    #: held by the agent while it handles one message; the engine changes only between two
    #: (it knows since when it is held: the stall watchdog waits for a busy agent)
    busy: HeldLock = field(default_factory=HeldLock)
    #: re-indexes the deadlines of the cases this worker owns (set by create_app)
    reindex: Callable[[], Awaitable[int]] = field(default=lambda: _nothing())
    #: before a graceful stop: the batches in hand written, returns how many partitions
    #: were left unwritten (set by create_app: CaseAgent.drain)
    drain: Callable[[], Awaitable[int]] = field(default=lambda: _nothing())
    watcher: RulesWatcher | None = None

    async def use_engine(self, engine: Engine) -> None:
        """Put `engine` in force between two messages, and schedule every owned case's
        deadlines again under it (changed thresholds move them). Alerts already raised
        are not raised again: each case keeps the ids it fired."""
        async with self.busy:
            self.engine = engine
            try:
                await self.reindex()
            except Exception:  # the index keeps its entries: each case is judged again
                log.exception("re-indexing the deadlines under the new rules failed")


def faust_app(settings: Settings) -> faust.App:
    """The worker's Faust app, as `settings` say, on the eager transport (transport.py)."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=str(settings.data_dir / settings.app_id),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_bind=settings.web_host,  # web_host is only the advertised name; bind is the socket
        web_port=settings.worker_web_port,
        web_enabled=True,
        stream_wait_empty=False,
        autodiscover=False,
        # the largest record sent: above every bound of ours, under every topic's limit
        # (supervisor/kafka/admin.py)
        producer_max_request_size=PRODUCER_MAX_REQUEST_SIZE,
        # a few ms of gathering: one produce request carries many facts, changelog
        # records and alerts (bench/RESULTS.md: -10 % CPU an event); only a batch's write
        # waits for an acknowledgement, so no event waits for it
        producer_linger=settings.producer_linger_seconds,
    )
    # the case events a fetch at a time (transport.Fetched, fetches.py); the ticks are few
    transport.install(app, fetched_topics=frozenset({settings.topic_events}))
    return app


@dataclass(frozen=True)
class Channels:
    """The topics and tables of the worker's app: the agent reads `source` (the events
    and the ticks), the timers write `ticks`, refused messages go to `dead_letters`;
    `cases` holds the case states, `handled` per events partition (key: its number) the
    next offset the agent has to handle (continuity.py, recovery.py)."""

    source: Any
    ticks: Any
    dead_letters: Any
    cases: Any
    handled: Any

    async def send_tick(self, key: bytes, value: bytes, partition: int) -> Any:
        """A tick to the agent on `partition` of the ticks topic (an empty one, `b""` and
        `b"[]"`, only makes it write what waits there: the timers', the stop's)."""
        return await self.ticks.send(key=key, value=value, partition=partition)


def declare(app: faust.App, settings: Settings) -> Channels:
    """The worker's topics and tables on `app` (raw bytes in and out of the topics; JSON
    keys and values in the tables' changelogs: Faust's codec, but for the values of
    `cases`, which the worker encodes itself, once: worker/json_table.py)."""
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(settings.topic_events, ticks_topic(settings), **raw)
    # a fetch's case events come as one item (transport.Fetched): Faust's bound of 4,096
    # items would let the fetch loop pull millions of events of a backlog into memory.
    # Set on the topic, which its clones copy: `App.topic` takes `maxsize` and drops it.
    source.maxsize = SOURCE_QUEUE_ITEMS
    ticks = app.topic(ticks_topic(settings), partitions=settings.partitions, internal=True, **raw)
    dead_letters = app.topic(settings.topic_dlq, **raw)
    cases = app.Table(
        "cases",
        default=None,
        partitions=settings.partitions,
        key_type=str,  # keys are JSON in the changelog (Faust's default) ...
        value_type=bytes,  # ... and so are values, encoded once (json_table.py): raw here
        extra_topic_configs={"max.message.bytes": str(MESSAGE_MAX_BYTES)},
    )
    handled = app.Table("handled", default=None, partitions=settings.partitions, key_type=str)
    return Channels(source, ticks, dead_letters, cases, handled)
