"""Feeds the hub from Kafka: the alerts topic for the wall, the dead-letter topic for a count.

`AIOKafkaConsumer`s without a consumer group, one per topic, because the topics want
different starting points:

- alerts: from the beginning, every start. The topic is the alert journal (one
  partition; its offsets are the positions walls resume from, see journal.py): the
  service rebuilds every alert's state from it after a restart, and no group means every
  web instance reads all of it. A position already applied is skipped, so reading again
  after a reconnect is harmless; it costs one pass over the topic's retention.
- case facts (the worker's compact record of each applied event): from the beginning,
  into the statistics of the wall's headline figures and the per-center figures.
- dead letters (rejected case events): from the end. The counter says how many were
  rejected while this process ran; re-counting the whole history at every restart would
  show a burst of rejections that did not happen.

Topics are never created here: the consumer waits until the topic exists (asking the
cluster, which does not create it) before subscribing, so the worker stays the one that
decides partitions. Besides alerts the journal holds the worker's resolutions
(`"status": "resolved"`: a late event withdrew the alert) and the lifecycle changes the
web service writes. A record that is none of these is counted, logged and skipped; a
broker that goes away is retried with backoff, and aiokafka reconnects by itself once
consuming. `connected` is what the last metadata probe found, since aiokafka's fetch
loop hides connection errors.

Any record at all, on any of the topics, is survived: too large, not UTF-8 or not JSON,
nested deep enough to exhaust the recursion limit, of the wrong types or with times no
calendar can hold. It is counted (`supervisor_web_alerts_malformed_total` or
`supervisor_web_case_facts_total{result="malformed"}`), logged with its topic, partition
and offset and the reason, never with its value (it may be huge, or personal data), and
skipped; the next record is read as if nothing happened. An error that is not the
record's (a bug) is handled the same way, with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from supervisor.settings import Settings
from supervisor.web.hub import (
    MAX_RECORD_BYTES,
    AlertHub,
    MalformedAlert,
    decode_record,
    parse_raised_at,
)
from supervisor.web.journal import kind_of
from supervisor.web.metrics import WebMetrics
from supervisor.web.stats import StatsBook

log = logging.getLogger(__name__)

#: Seconds between metadata probes while consuming (sets how fast /healthz notices).
PROBE_INTERVAL: Final = 10.0
#: Seconds a probe may take before the cluster counts as unreachable.
PROBE_TIMEOUT: Final = 5.0
#: Seconds between checks for a topic that does not exist yet.
TOPIC_POLL: Final = 2.0
#: Upper bound of the reconnect backoff, in seconds.
MAX_BACKOFF: Final = 30.0
#: What a case fact that is not one can raise while it is decoded and counted: bad JSON
#: or text (ValueError), wrong types (TypeError, AttributeError, KeyError), nesting that
#: exhausts the recursion limit, a time too near the ends of the calendar to convert.
_BAD_FACT: Final = (ValueError, TypeError, AttributeError, KeyError, RecursionError, OverflowError)


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


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertFeed:
    """Reads the alerts and dead-letter topics into the hub and the metrics.

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
        stats: StatsBook | None = None,
    ) -> None:
        self._settings = settings
        self._hub = hub
        self._stats = stats
        self._metrics = metrics
        self._clock = clock
        self._started_at = clock()
        self._last_message_at: datetime | None = None
        self._states: dict[str, FollowState] = {
            settings.topic_alerts: FollowState.CONNECTING,
            settings.topic_dlq: FollowState.CONNECTING,
        }
        if stats is not None:
            self._states[settings.topic_facts] = FollowState.CONNECTING
        self.caught_up = asyncio.Event()
        self._read: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset read

    #: Set once the alerts topic has been read to its end after the start: a socket
    #: served before would get a partial snapshot, then history as if it were live.
    caught_up: asyncio.Event

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

    def handle_fact(
        self, value: bytes | None, partition: int | None = None, offset: int | None = None
    ) -> bool:
        """Count one case fact into the statistics (the wall's figures); a malformed one
        is counted and skipped (logged at debug level: the worker's own bad facts would
        otherwise repeat in the log at every restart)."""
        if self._stats is None:
            return False
        try:
            if value is not None and len(value) > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES} bytes")
            fact = json.loads(value or b"")
            added = self._stats.add(fact, arrived_at=self._clock())
        except _BAD_FACT as exc:
            self._metrics.case_facts.labels(result="malformed").inc()
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RecursionError) else ""
            log.debug(
                "skipping a malformed case fact at %s (%d bytes): %s",
                where(self._settings.topic_facts, partition, offset),
                len(value or b""),
                reason[:200] or "nested too deeply",
            )
            return False
        self._metrics.case_facts.labels(result="counted" if added else "repeat").inc()
        return added

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

    def _on_fact_record(self, record: Any) -> None:
        self._guarded(
            record,
            self._settings.topic_facts,
            lambda: self.handle_fact(record.value, record.partition, record.offset),
            self._metrics.case_facts.labels(result="malformed"),
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
        """Follow both topics until cancelled; never returns otherwise."""
        self._started_at = self._clock()
        async with asyncio.TaskGroup() as group:
            group.create_task(
                self._follow(self._settings.topic_alerts, "earliest", self._on_alert_record)
            )
            group.create_task(
                self._follow(self._settings.topic_dlq, "latest", self._on_dead_letter_record)
            )
            if self._stats is not None:
                group.create_task(
                    self._follow(self._settings.topic_facts, "earliest", self._on_fact_record)
                )

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
                try:
                    await consumer.stop()
                except Exception:
                    log.debug("kafka %s: error while stopping the consumer", topic, exc_info=True)
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

    async def _probe(self, consumer: AIOKafkaConsumer, topic: str) -> None:
        try:
            await asyncio.wait_for(consumer.topics(), PROBE_TIMEOUT)
        except (KafkaError, TimeoutError) as exc:
            self._set_state(topic, FollowState.DISCONNECTED)
            log.warning("kafka %s: cluster unreachable (%r); aiokafka keeps retrying", topic, exc)
        else:
            self._set_state(topic, FollowState.CONSUMING)
