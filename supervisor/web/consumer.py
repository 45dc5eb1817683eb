"""Feeds the read model and the hub from Kafka, and counts the dead letters.

Two `AIOKafkaConsumer`s without a consumer group:

- the projection's, in two lanes of their own, each read from the offsets the read
  model stored with its rows (supervisor/store/projection.py): the journal (the alerts
  topic's one partition: its offsets are the positions walls resume from, see
  journal.py), fetched as soon as a record is there; and the case facts and events
  (every partition), for which the broker holds a fetch up to `GATHER_MS` to gather
  more. Each batch is written to the database with its offsets in one transaction (one
  lane at a time); the journal's records are applied to the hub for the walls as soon
  as they are read, and written behind while the lane fetches on (write_behind.py):
  their transaction may wait for the other lane's (the API's reads wait for both:
  hub.py, "Ahead of the read model"). So an alert reaches the walls without waiting
  for statistics, and the facts and events of a busy day are written a few hundred at
  a time instead of a few dozen, which halves the web service's CPU an event
  (bench/RESULTS.md); a wall's figures, counted again at most once a second, are at
  most that quarter of a second later. A restart
  reads only what the database does not hold yet: start-up does not grow with history.
  A database that is down is retried with backoff, the batch kept: nothing is lost and
  the rest waits (/healthz says so).
- dead letters (rejected case events): from the end. The counter says how many were
  rejected while this process ran; re-counting the whole history at every restart would
  show a burst of rejections that did not happen.

Topics are never created here: the consumer waits until the topics exist (asking the
cluster, which does not create them), so the worker stays the one that decides
partitions. A broker that goes away is retried with backoff, and aiokafka reconnects by
itself once consuming. `connected` is what the last metadata probe found, since
aiokafka's fetch loop hides connection errors.

Any record at all, on any of the topics, is survived: too large, not UTF-8 or not JSON,
nested deep enough to exhaust the recursion limit, of the wrong types or with times no
calendar can hold. It is counted (`supervisor_web_alerts_malformed_total`,
`supervisor_web_projected_records_total{result="malformed"}`), logged with its topic,
partition and offset and the reason, never with its value (it may be huge, or personal
data), and skipped; the next record is read as if nothing happened. An error that is not
the record's (a bug) is handled the same way, with its traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from supervisor.kafka.admin import partitions_of
from supervisor.settings import Settings
from supervisor.store.projection import Outcome, Projection, Record
from supervisor.web.hub import (
    AlertHub,
    MalformedAlert,
    decode_record,
    parse_raised_at,
)
from supervisor.web.journal import kind_of
from supervisor.web.metrics import WebMetrics
from supervisor.web.write_behind import WriteBehind

log = logging.getLogger(__name__)

#: Seconds between metadata probes while consuming (sets how fast /healthz notices).
PROBE_INTERVAL: Final = 10.0
#: Seconds a probe may take before the cluster counts as unreachable.
PROBE_TIMEOUT: Final = 5.0
#: Seconds between checks for a topic that does not exist yet.
TOPIC_POLL: Final = 2.0
#: Upper bound of the reconnect backoff, in seconds.
MAX_BACKOFF: Final = 30.0
#: Records in one batch at most: one database transaction each.
BATCH_RECORDS: Final = 5_000
#: How long the broker may hold a fetch of facts and events until it has
#: `GATHER_BYTES` for us (ms): a transaction per fetch of a few dozen records cost twice
#: the CPU of one per few hundred (bench/RESULTS.md).
GATHER_MS: Final = 250
GATHER_BYTES: Final = 1024 * 1024
#: What a database that is down (or a network between) raises.
DATABASE_DOWN: Final = (SQLAlchemyError, OSError, ConnectionError)


def where(topic: str, partition: int | None, offset: int | None) -> str:
    """A record's place for the log, `topic[partition]@offset` ("?" when unknown)."""
    shown = "?" if partition is None else str(partition)
    return f"{topic}[{shown}]@{'?' if offset is None else offset}"


class FollowState(StrEnum):
    """Where the consumer of one topic stands, as /healthz reports it."""

    CONNECTING = "connecting"
    WAITING_FOR_TOPIC = "waiting_for_topic"
    CONSUMING = "consuming"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class Lane:
    """One consumer of the projection: the topics it reads and how long the broker may
    hold its fetches to gather records (`fetch_max_wait_ms`, `fetch_min_bytes`). The
    journal's lane reads only partition 0 of its one topic (its offsets are positions)."""

    name: str
    topics: tuple[str, ...]
    journal: bool
    fetch_max_wait_ms: int = 500
    fetch_min_bytes: int = 1


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertFeed:
    """Reads the topics into the read model, the hub and the metrics.

    `run()` is the long-running task (cancel it to stop). `handle_alert()` and
    `handle_dead_letter()` are the per-message logic, callable without Kafka.
    `clock` gives the current time (aware); tests pass a fixed one.
    """

    def __init__(
        self,
        settings: Settings,
        hub: AlertHub,
        metrics: WebMetrics,
        *,
        clock: Callable[[], datetime] = _utc_now,
        projection: Projection | None = None,
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._projection = projection
        self._metrics = metrics
        self._clock = clock
        self._started_at = clock()
        self._last_message_at: datetime | None = None
        self._states: dict[str, FollowState] = {
            settings.topic_alerts: FollowState.CONNECTING,
            settings.topic_dlq: FollowState.CONNECTING,
        }
        if projection is not None:
            self._states[settings.topic_facts] = FollowState.CONNECTING
            self._states[settings.topic_events] = FollowState.CONNECTING
        self.caught_up = asyncio.Event()
        self.database_ok = True
        self.on_projected: Callable[[], None] | None = None  # called after each batch
        self._read: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset read
        self._writing = asyncio.Lock()  # one lane's batch written at a time
        self._lanes_behind: set[str] = set()  # lanes not read to where they ended at start

    #: Set once every topic has been read to where it ended at the start: a socket
    #: served before would get a partial snapshot, then history as if it were live.
    caught_up: asyncio.Event
    #: False while the read model's database does not answer (the projection waits).
    database_ok: bool

    @property
    def connected(self) -> bool:
        """True when the alerts consumer reaches the cluster (even if the topic is absent)."""
        return self._states[self._settings.topic_alerts] in (
            FollowState.WAITING_FOR_TOPIC,
            FollowState.CONSUMING,
        )

    @property
    def last_message_at(self) -> datetime | None:
        """When the last message (alert, malformed or dead letter) was read, if ever."""
        return self._last_message_at

    @property
    def hub_head(self) -> int:
        """The last journal position applied to the hub."""
        return self._hub.head

    def topic_states(self) -> dict[str, str]:
        return {topic: str(state) for topic, state in self._states.items()}

    # -- per message -------------------------------------------------------------------

    def handle_alert(
        self, value: bytes | None, timestamp_ms: int | None = None, offset: int | None = None
    ) -> bool:
        """Count one alerts-topic record and apply it at its position (the offset in the
        topic's single partition); return whether it changed anything.

        A malformed record is counted and logged (where it is and why, not what it
        holds), never raised: one bad message must not stop the wall (nor, being re-read
        after a restart, stop it again every time).
        """
        self._last_message_at = self._clock()
        try:
            record = decode_record(value)
        except MalformedAlert as exc:
            self._metrics.alerts_malformed.inc()
            log.warning(
                "skipping a malformed record at %s (%d bytes): %s",
                where(self._settings.topic_alerts, 0, offset),
                len(value or b""),
                exc,
            )
            return False
        seq = self._hub.head + 1 if offset is None else offset
        kind = kind_of(record)
        if kind == "resolution":
            self._metrics.alert_resolutions.labels(rule_id=record["rule_id"]).inc()
        elif kind == "alert":
            self._metrics.alerts_received.labels(
                rule_id=record["rule_id"], severity=record["severity"]
            ).inc()
        applied = self._hub.apply(seq, record)
        if applied.refused:
            log.info("lifecycle change at %d refused: %s", seq, applied.refused)
        if applied.message is None:
            return False
        if kind == "alert":
            delay = self._push_delay(record, timestamp_ms)
            if delay is not None:
                self._metrics.alert_push_delay.observe(delay)
        return True

    def handle_dead_letter(self, value: bytes | None) -> None:
        """Count one rejected case event; its content is the worker's business."""
        self._last_message_at = self._clock()
        self._metrics.dlq_messages.inc()

    def _push_delay(self, alert: dict[str, Any], timestamp_ms: int | None) -> float | None:
        """Seconds since the alert was produced, or None for backlog read at start.

        The Kafka timestamp (when the worker produced it) measures the pipeline; raised_at
        is only the fallback, because for a late batch upload it can be days old.
        """
        try:  # a producer may set any timestamp, up to year 292 million
            if timestamp_ms is not None and timestamp_ms >= 0:
                produced = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
            else:
                produced = parse_raised_at(alert)
        except (ValueError, OverflowError, OSError):
            return None
        if produced < self._started_at:
            return None
        return max(0.0, (self._clock() - produced).total_seconds())

    def _on_alert_record(self, record: Any) -> None:
        if record.partition != 0:
            # Positions are offsets of one partition; a second one would break them.
            self._metrics.alerts_malformed.inc()
            log.error(
                "%s has more than one partition; record %d/%d skipped (create it with one)",
                self._settings.topic_alerts,
                record.partition,
                record.offset,
            )
            return
        self._guarded(
            record,
            self._settings.topic_alerts,
            lambda: self.handle_alert(record.value, record.timestamp, record.offset),
        )

    def _on_dead_letter_record(self, record: Any) -> None:
        self._guarded(
            record, self._settings.topic_dlq, lambda: self.handle_dead_letter(record.value)
        )

    def _guarded(
        self,
        record: Any,
        topic: str,
        handle: Callable[[], object],
        counter: Any = None,
    ) -> None:
        """Run `handle` for `record`; an exception it lets out is counted (`counter`,
        default the malformed alerts), logged with the record's place and skipped."""
        try:
            handle()
        except Exception:
            # A bug, not bad data; still skip the message, or a restart would re-read it
            # and fail again forever. The traceback, not the value.
            (counter or self._metrics.alerts_malformed).inc()
            log.exception(
                "error handling the record at %s; skipped",
                where(topic, getattr(record, "partition", None), getattr(record, "offset", None)),
            )

    # -- Kafka -------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the topics until cancelled; never returns otherwise."""
        self._started_at = self._clock()
        async with asyncio.TaskGroup() as group:
            if self._projection is not None:
                group.create_task(self._project(self._projection))
            else:
                group.create_task(
                    self._follow(self._settings.topic_alerts, "earliest", self._on_alert_record)
                )
            group.create_task(
                self._follow(self._settings.topic_dlq, "latest", self._on_dead_letter_record)
            )

    # -- the projection -----------------------------------------------------------------

    def lanes(self) -> list[Lane]:
        """The projection's consumers: the journal, read at once, and the facts and
        events, gathered (module docstring)."""
        settings = self._settings
        return [
            Lane("journal", (settings.topic_alerts,), journal=True),
            Lane(
                "figures",
                (settings.topic_facts, settings.topic_events),
                journal=False,
                fetch_max_wait_ms=GATHER_MS,
                fetch_min_bytes=GATHER_BYTES,
            ),
        ]

    async def _project(self, projection: Projection) -> None:
        """Read the journal, the facts and the events into the read model, each lane
        from the offsets it stored; `caught_up` once every lane is."""
        lanes = self.lanes()
        self._lanes_behind = {lane.name for lane in lanes}
        async with asyncio.TaskGroup() as group:
            for lane in lanes:
                group.create_task(self._follow_lane(projection, lane))

    def _lane_caught_up(self, lane: Lane) -> None:
        self._lanes_behind.discard(lane.name)
        if not self._lanes_behind:
            self.caught_up.set()

    async def _follow_lane(self, projection: Projection, lane: Lane) -> None:
        """One lane until cancelled: reconnect with backoff after a Kafka error, and
        assign again when a topic that was missing appears."""
        backoff = 1.0
        while True:
            for name in lane.topics:
                self._set_state(name, FollowState.CONNECTING)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"{self._settings.app_id}-web",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=60_000,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                fetch_max_wait_ms=lane.fetch_max_wait_ms,
                fetch_min_bytes=lane.fetch_min_bytes,
            )
            try:
                await consumer.start()
                partitions, missing = await self._assign(consumer, lane)
                stored = await self._with_database(projection.positions)
                for partition in partitions:
                    at = stored.get((partition.topic, partition.partition))
                    if at is None:
                        await consumer.seek_to_beginning(partition)
                    else:
                        consumer.seek(partition, at)
                backoff = 1.0
                await self._consume_lane(consumer, projection, lane, missing)
                log.info("kafka: %s created; reading it too", ", ".join(sorted(missing)))
                continue  # a topic that was missing exists now: assign it too
            except (KafkaError, TimeoutError) as exc:
                log.warning("kafka %s: %r; retrying in %.0f s", lane.name, exc, backoff)
            except Exception:
                log.exception("kafka %s: unexpected error; retrying in %.0f s", lane.name, backoff)
            finally:
                await _stop(consumer, lane.name)
            for name in lane.topics:
                self._set_state(name, FollowState.DISCONNECTED)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _assign(
        self, consumer: AIOKafkaConsumer, lane: Lane
    ) -> tuple[list[TopicPartition], set[str]]:
        """Wait for a topic of the lane, then take its partitions: the journal's first
        (its offsets are the journal's positions), every partition of the facts and
        events topics that exist. The topics still missing (a worker not started yet)
        are returned, and looked for again at each probe. A lane waiting for its topics
        has nothing to catch up with."""
        wanted = list(lane.topics)
        while True:
            present = await partitions_of(self._settings.bootstrap_servers, wanted)
            if present:
                break
            for name in wanted:
                self._set_state(name, FollowState.WAITING_FOR_TOPIC)
            self._lane_caught_up(lane)
            await asyncio.sleep(TOPIC_POLL)
        partitions: list[TopicPartition] = []
        missing: set[str] = set()
        for name in wanted:
            if name not in present:
                missing.add(name)
                self._set_state(name, FollowState.WAITING_FOR_TOPIC)
                continue
            self._set_state(name, FollowState.CONSUMING)
            if lane.journal:
                partitions.append(TopicPartition(name, 0))
                if len(present[name]) > 1:
                    log.error(
                        "%s has %d partitions; only partition 0 is the journal "
                        "(create it with one)",
                        name,
                        len(present[name]),
                    )
            else:
                partitions.extend(TopicPartition(name, number) for number in present[name])
        consumer.assign(partitions)
        return partitions, missing

    async def _consume_lane(
        self, consumer: AIOKafkaConsumer, projection: Projection, lane: Lane, missing: set[str]
    ) -> None:
        """Project the lane's batches until cancelled, or until a missing topic appears
        (then return: the caller assigns it too). The journal's are pushed to the hub at
        once and written behind (write_behind.py); the others written as they come."""

        async def write(records: list[Record], *, pushed: bool = False) -> None:
            async with self._writing:
                await self.project(projection, records, pushed=pushed)

        if not lane.journal:
            await self._read_lane(consumer, lane, missing, write)
            return
        behind: WriteBehind[Record] = WriteBehind(
            functools.partial(write, pushed=True), BATCH_RECORDS
        )

        async def show(records: list[Record]) -> None:
            self._push(records, ahead=True)  # to the walls at once; the read model follows
            await behind.put(records)

        behind.start()
        try:
            await self._read_lane(consumer, lane, missing, show)
            await behind.drain()
        finally:
            await behind.stop()

    async def _read_lane(
        self,
        consumer: AIOKafkaConsumer,
        lane: Lane,
        missing: set[str],
        take: Callable[[list[Record]], Awaitable[None]],
    ) -> None:
        """Hand the lane's batches to `take` until cancelled, or until a missing topic
        appears."""
        # Caught up: every partition read to where it ended at the start, so that the
        # figures a wall asks for first already count what the topics held.
        ends = await consumer.end_offsets(list(consumer.assignment()))
        behind = {tp: end for tp, end in ends.items() if end > 0}
        next_probe = time.monotonic() + PROBE_INTERVAL
        while True:
            if behind:
                for tp, end in list(behind.items()):
                    if await consumer.position(tp) >= end:
                        del behind[tp]
            if not behind:
                self._lane_caught_up(lane)
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
            records = [
                Record(tp.topic, tp.partition, r.offset, r.value, r.timestamp)
                for tp, found in batches.items()
                for r in found
            ]
            if records:
                await take(records)
            if time.monotonic() >= next_probe:
                await self._probe(consumer, *(n for n in lane.topics if n not in missing))
                next_probe = time.monotonic() + PROBE_INTERVAL
                if missing and missing & await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT):
                    return

    async def project(
        self, projection: Projection, records: list[Record], *, pushed: bool = False
    ) -> Outcome:
        """Write one batch to the read model (waiting out a database that is down),
        then apply its journal records to the hub, in order, unless they were `pushed`
        there already (`_push` with `ahead`); then the hub knows the read model holds
        them (`AlertHub.stored_to`)."""
        started = time.monotonic()
        outcome: Outcome = await self._with_database(lambda: projection.apply(records))
        self._metrics.projection_batch_seconds.observe(time.monotonic() - started)
        self._count(projection, records, outcome)
        if self.on_projected is not None and outcome.written:
            self.on_projected()
        journal = self._push(records) if not pushed else self._journal(records)
        if journal:
            self._hub.stored_to(journal[-1].offset)
        return outcome

    def _journal(self, records: list[Record]) -> list[Record]:
        """The batch's journal records (the alerts topic's one partition), in order."""
        alerts = self._settings.topic_alerts
        return [r for r in records if r.topic == alerts and r.partition == 0]

    def _push(self, records: list[Record], *, ahead: bool = False) -> list[Record]:
        """Apply the batch's journal records to the hub, in order, and return them;
        `ahead`: before the read model has them."""
        journal = self._journal(records)
        if ahead and journal:
            self._hub.ahead_of_store(journal[0].offset)
        for record in journal:
            self._guarded(
                record,
                record.topic,
                lambda r=record: self.handle_alert(r.value, r.timestamp_ms, r.offset),  # type: ignore[misc]
            )
        return journal

    def _count(self, projection: Projection, records: list[Record], outcome: Outcome) -> None:
        projected = self._metrics.projected
        for topic, n in outcome.written.items():
            projected.labels(topic=topic, result="written").inc(n)
        if outcome.skipped:
            projected.labels(topic="any", result="skipped").inc(outcome.skipped)
        if outcome.invalid_events:
            projected.labels(topic=projection.topics.events, result="invalid").inc(
                outcome.invalid_events
            )
        for record, reason in outcome.malformed:
            projected.labels(topic=record.topic, result="malformed").inc()
            if record.topic != self._settings.topic_alerts:  # handle_alert logs those
                log.warning(
                    "skipping a record the read model cannot read at %s (%d bytes): %s",
                    record.where,
                    len(record.value or b""),
                    reason[:200],
                )

    async def _with_database(self, work: Callable[[], Any]) -> Any:
        """`await work()`, retried with backoff while the database does not answer."""
        backoff = 0.5
        while True:
            try:
                result = await work()
            except DATABASE_DOWN as exc:
                if self.database_ok:
                    log.warning(
                        "the read model's database does not answer (%s); waiting",
                        type(exc).__name__,
                    )
                self.database_ok = False
                self._metrics.database_up.set(0)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF / 3)
                continue
            if not self.database_ok:
                log.info("the read model's database answers again; resuming")
            self.database_ok = True
            self._metrics.database_up.set(1)
            return result

    def _set_state(self, topic: str, state: FollowState) -> None:
        if self._states.get(topic) != state:
            # Failures are logged as warnings where they happen; here only the good news
            # at INFO, so a broker that stays down does not fill the log at every retry.
            good = state in (FollowState.CONSUMING, FollowState.WAITING_FOR_TOPIC)
            log.log(logging.INFO if good else logging.DEBUG, "kafka %s: %s", topic, state)
        self._states[topic] = state
        if topic == self._settings.topic_alerts:
            self._metrics.kafka_connected.set(1 if self.connected else 0)

    async def _follow(
        self, topic: str, offset_reset: str, on_record: Callable[[Any], None]
    ) -> None:
        backoff = 1.0
        while True:
            self._set_state(topic, FollowState.CONNECTING)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"{self._settings.app_id}-web",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset=offset_reset,
                metadata_max_age_ms=60_000,
            )
            try:
                await consumer.start()
                await self._wait_for_topic(consumer, topic)
                end = None
                if topic == self._settings.topic_alerts:  # where "caught up" is, at start
                    partition = TopicPartition(topic, 0)
                    end = (await consumer.end_offsets([partition]))[partition]
                consumer.subscribe([topic])
                self._set_state(topic, FollowState.CONSUMING)
                backoff = 1.0
                await self._consume(consumer, topic, self._once(topic, on_record), end)
            except (KafkaError, TimeoutError) as exc:
                log.warning("kafka %s: %r; retrying in %.0f s", topic, exc, backoff)
            except Exception:
                log.exception("kafka %s: unexpected error; retrying in %.0f s", topic, backoff)
            finally:
                await _stop(consumer, topic)
            self._set_state(topic, FollowState.DISCONNECTED)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _wait_for_topic(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        """Return once `topic` exists; asking for all topics never auto-creates one."""
        while topic not in await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT):
            self._set_state(topic, FollowState.WAITING_FOR_TOPIC)
            if topic == self._settings.topic_alerts:
                self.caught_up.set()  # no journal yet: nothing to catch up with
            await asyncio.sleep(TOPIC_POLL)

    def _once(self, topic: str, on_record: Callable[[Any], None]) -> Callable[[Any], None]:
        """`on_record`, skipping records read before: a consumer made again after a
        Kafka error reads the topic from its start, and the statistics and counters must
        not count anything twice (the journal alone would skip them by position)."""

        def handle(record: Any) -> None:
            key = (topic, record.partition)
            if record.offset <= self._read.get(key, -1):
                return
            self._read[key] = record.offset
            on_record(record)

        return handle

    async def _consume(
        self,
        consumer: AIOKafkaConsumer,
        topic: str,
        on_record: Callable[[Any], None],
        end: int | None = None,
    ) -> None:
        next_probe = time.monotonic() + PROBE_INTERVAL
        if end is not None and end <= self._read.get((topic, 0), -1) + 1:
            self.caught_up.set()  # nothing (more) on the journal than what was read
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    on_record(record)
            if end is not None and self._read.get((topic, 0), -1) + 1 >= end:
                self.caught_up.set()  # read to where the journal ended at the start
            if time.monotonic() >= next_probe:
                await self._probe(consumer, topic)
                next_probe = time.monotonic() + PROBE_INTERVAL

    async def _probe(self, consumer: AIOKafkaConsumer, *topics: str) -> None:
        """Ask the cluster once whether it answers; the state of each of `topics`
        (the ones this consumer reads) says so."""
        try:
            await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT)
        except (KafkaError, TimeoutError) as exc:
            for topic in topics:
                self._set_state(topic, FollowState.DISCONNECTED)
            log.warning(
                "kafka %s: cluster unreachable (%r); aiokafka keeps retrying",
                ", ".join(topics),
                exc,
            )
        else:
            for topic in topics:
                self._set_state(topic, FollowState.CONSUMING)


async def _stop(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Stop a consumer after an error or at the end; its own failure is only logged."""
    try:
        await consumer.stop()
    except Exception:
        log.debug("kafka %s: error while stopping the consumer", topic, exc_info=True)
