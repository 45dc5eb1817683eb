"""The Faust worker: one agent that owns every case of its partitions.

Topics (names from Settings):
- the case-events topic, keyed by case_id (the contract's input);
- `<app_id>-ticks`, internal, with the same partition count: the timer sends the cases
  whose deadline fell due, one message per partition and batch (worker/ticks.py), to
  the partition their case ids hash to, and the agent that owns that partition fires
  them *inside stream iteration*, the only place Faust lets us write the
  table safely (see shared notes); both topics feed the same agent, so a case's events
  and ticks are handled one at a time;
- the alerts topic, keyed by alert_id; the dead-letter topic, original bytes (at most
  64 KiB of them) plus a `reason` header: every message the worker cannot use goes there,
  whatever the cause, and the offset moves on (worker/refusals.py: no poison message).
- the facts topic, keyed by case_id: one compact fact per applied event, for the
  statistics, sent after the state is written and not awaited (supervisor/worker/facts.py).

Case state lives in the changelog-backed table `cases` (RocksDB by default). A case's
alerts are handed to the producer and its state written at once, with the alerts not yet
acknowledged listed beside it (supervisor/worker/outbox.py): a worker that recovers the
case sends them again, so a crash loses none; consumers de-duplicate by alert_id.

The rules can change while the worker runs (supervisor/worker/reload.py): a timer puts a
new engine in force with `Worker.use_engine`, which waits for the message being handled to
finish, so each message is judged by one engine from start to end.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

import faust
from faust.serializers import codecs
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from supervisor import deadletters
from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.core.engine import Engine
from supervisor.core.pipeline import FutureCheck, Processed, process
from supervisor.core.runner import DueIndex
from supervisor.core.silence import CenterWatch
from supervisor.core.state import CaseState
from supervisor.kafka.admin import MESSAGE_MAX_BYTES, PRODUCER_MAX_REQUEST_SIZE
from supervisor.masking import mask_text
from supervisor.settings import Settings
from supervisor.worker import centers as center_watch
from supervisor.worker import facts, refusals, watchdog
from supervisor.worker import ticks as tick_batches
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.clock import GuardedClock, jump_counter
from supervisor.worker.continuity import Continuity
from supervisor.worker.gate import GroupGate, TickGate, group_offsets
from supervisor.worker.metrics import UNREGISTERED_CENTER, WorkerMetrics, rejection_reason
from supervisor.worker.outbox import UNACKNOWLEDGED, Outbox, split
from supervisor.worker.outbox import encode as encode_message
from supervisor.worker.reload import RulesWatcher, enabled_rules, fingerprint, load_engine
from supervisor.worker.watchdog import HeldLock

log = logging.getLogger("supervisor.worker")

Clock = Callable[[], datetime]
#: Cases indexed between two yields to the event loop after a recovery (a few ms each).
REINDEX_CHUNK = 500
#: When the engine failed to advance a case, it is tried again this much later.
RETRY_ADVANCE = timedelta(minutes=1)
#: How often the consumer lag is measured (a broker round trip; Prometheus scrapes at 15 s).
LAG_SECONDS = 5.0
#: A case whose alerts were all acknowledged is written again without them at the next
#: message of its partition; a partition quiet this long is sent an empty tick for it.
SETTLE_WRITE_SECONDS = 1.0
#: How often alert messages the producer failed to deliver are sent again.
RETRY_SEND_SECONDS = 5.0
#: Beside the state in the stored value of a case whose events arrive on another
#: partition than murmur2 gives its id: that partition, where its ticks must go.
HOME = "home_partition"
#: How often the agent records, per events partition, the next offset it has to handle.
HANDLED_EVERY = 1.0


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


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> Worker:
    # The fingerprint is taken before loading, so a change made meanwhile is seen later.
    seen = fingerprint(settings.rules_dir) if settings.rules_reload_seconds > 0 else None
    if engine is None:
        engine = load_engine(settings.rules_dir, settings.timezone, CenterRegistry.load().name)
    registry = CollectorRegistry() if registry is None else registry
    metrics = WorkerMetrics.create(registry)
    # The deadline clock follows a jump of the wall clock only once it held (clock.py).
    guard = GuardedClock(clock or wall_clock(settings.timezone), jumps=jump_counter(registry))
    now: Clock = guard
    future_tolerance = timedelta(seconds=settings.future_tolerance_seconds)

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
    )
    worker = Worker(app=app, engine=engine, metrics=metrics, registry=registry)
    metrics.rules_loaded.set(enabled_rules(engine))
    metrics.rules_reloaded_at.set(time.time())
    index = worker.index

    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(settings.topic_events, ticks_topic(settings), **raw)
    ticks = app.topic(ticks_topic(settings), partitions=settings.partitions, internal=True, **raw)
    dead_letters = app.topic(settings.topic_dlq, **raw)
    cases = app.Table(
        "cases",
        default=None,
        partitions=settings.partitions,
        key_type=str,  # keys and values are JSON in the changelog (Faust's default)
        extra_topic_configs={"max.message.bytes": str(MESSAGE_MAX_BYTES)},
    )
    # A stored value encoded as the changelog will hold it, to measure it before it is
    # written (the table's codec: Faust's JSON, orjson).
    dumps = partial(codecs.dumps, cast(Any, cases).value_serializer or app.conf.value_serializer)
    # Per events partition (key: its number), the next offset the agent had still to
    # handle, recorded about once a second: a worker that takes the partition over reads
    # back from there what Faust acknowledged without its previous owner handling it
    # (continuity.py), not only what it skips itself.
    handled = app.Table("handled", default=None, partitions=settings.partitions, key_type=str)
    handled_at: dict[int, float] = {}  # partition -> monotonic time of the last record

    def state_of(stored: dict[str, Any]) -> dict[str, Any]:
        """The state's JSON in a stored value (beside it: the alerts not acknowledged yet,
        the home partition of a misrouted case)."""
        state = split(stored)[0]
        return {k: v for k, v in state.items() if k != HOME} if HOME in state else state

    def load(case_id: str) -> CaseState | None:
        data = cases.get(case_id)
        return CaseState.from_json(state_of(data)) if data is not None else None

    centers = CenterRegistry.load()

    def alert_delivered(
        alert: Alert, published_at: datetime, ingested: float | None, by_timer: bool
    ) -> None:
        """Metrics of an alert the broker acknowledged. `ingested` is the Kafka timestamp
        (Unix seconds) of the event that raised it; `by_timer` says a deadline tick fired
        it (its lateness is measured)."""
        center = alert.center_id if alert.center_id in centers else UNREGISTERED_CENTER
        metrics.alerts_raised.labels(alert.rule_id, alert.severity, center).inc()
        late = max(0.0, (published_at - alert.raised_at).total_seconds())
        metrics.alert_latency.observe(late)
        if by_timer:
            metrics.deadline_lateness.observe(late)
        if ingested is not None:
            metrics.ingest_to_alert.observe(max(0.0, time.time() - ingested))

    alert_log = AlertLog(log)  # a line per alert, up to 20 a second (alert_log.py)

    def resolution_delivered(resolution: Resolution) -> None:
        metrics.alerts_resolved.labels(resolution.rule_id).inc()
        log.info("resolved %s: %s", resolution.alert_id, resolution.reason)

    def change_delivered(change: CaseChange) -> None:
        metrics.case_changes.labels(change.change, change.rule_id).inc()

    async def send_alert(key: bytes, value: bytes) -> Any:
        """To the producer directly, as facts are: a Faust topic's channel, FutureMessage
        and callbacks cost more than the send itself, and alerts need none of them."""
        return await app.producer.send(settings.topic_alerts, key, value, None, None, None)

    async def publish(alerts: list[Alert], published_at: datetime) -> None:
        """For the centers agent (center.silent; a few a day): publish the alerts and wait
        for the broker's acknowledgement of all of them before the center's state that
        records them is written (sent together: one round trip)."""
        pending = [await send_alert(*encode_message(alert.to_dict())) for alert in alerts]
        await asyncio.gather(*pending)
        for alert in alerts:
            alert_delivered(alert, published_at, None, False)
        alert_log.raised(alerts)

    async def publish_resolved(resolutions: list[Resolution]) -> None:
        """For the centers agent: silences a late event disproved, acknowledged."""
        pending = [await send_alert(*encode_message(r.to_dict())) for r in resolutions]
        await asyncio.gather(*pending)
        for resolution in resolutions:
            resolution_delivered(resolution)

    outbox = Outbox(
        send_alert, lambda reason, count: metrics.alerts_sent_again.labels(reason).inc(count)
    )
    metrics.alerts_unacknowledged.set_function(lambda: len(outbox))

    async def raise_alerts(
        case_id: str,
        alerts: list[Alert],
        resolutions: list[Resolution],
        published_at: datetime,
        *,
        changes: Sequence[CaseChange] = (),
        ingested: float | None = None,
        by_timer: bool = False,
    ) -> None:
        """Hand a case's alerts, resolutions and changes to its alerts (contract §6) to the
        producer, in order (a change after the alert it changes), without waiting for the
        acknowledgement: `keep` writes them down with the state meanwhile (outbox.py).
        Counted and measured once acknowledged."""
        messages: list[tuple[dict[str, Any], Callable[[], None] | None]] = []
        for alert in alerts:
            messages.append(
                (alert.to_dict(), partial(alert_delivered, alert, published_at, ingested, by_timer))
            )
        for resolution in resolutions:
            messages.append((resolution.to_dict(), partial(resolution_delivered, resolution)))
        for change in changes:
            messages.append((change.to_dict(), partial(change_delivered, change)))
        await outbox.send(case_id, messages)

    gate = TickGate(settings.topic_events)
    # The gate's offset queries on this loop: Faust's own go through its consumer thread
    # and took two seconds, which every deadline waited (worker/ticks.py).
    offsets = tick_batches.BrokerOffsets(
        lambda: app.consumer, settings.bootstrap_servers, f"{settings.app_id}-offsets"
    )

    async def stop_offsets(sender: Any, **kwargs: Any) -> None:
        await offsets.stop()

    app.on_before_shutdown.connect(cast(Any, stop_offsets))
    group_gate = GroupGate(  # the whole group's backlog holds center.silent back
        gate,
        settings.topic_events,
        group_offsets(settings.bootstrap_servers, settings.app_id, settings.topic_events),
    )

    async def forget_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        revoked = args[0] if args else kwargs.get("revoked", ())
        gate.revoked(revoked)
        gone = {tp.partition for tp in revoked if tp.topic == settings.topic_events}
        outbox.revoked(gone)
        for case_id in [c for c, partition in homes.items() if partition in gone]:
            del homes[case_id]

    app.on_partitions_revoked.connect(cast(Any, forget_revoked))  # (sender, revoked)

    # Events skipped around a rebalance are read back in place, stale ticks dropped
    # (continuity.py; tests/integration/test_scale_out.py).
    continuity = Continuity(
        settings.topic_events,
        read_back=metrics.events_read_back.inc,
        stale=metrics.ticks_stale.inc,
    )

    def committed(tp: Any) -> int | None:
        offsets: dict[Any, int] = getattr(app.consumer, "_committed_offset", {})  # Faust's
        return offsets.get(tp)

    async def keep_continuity(sender: Any, *args: Any, **kwargs: Any) -> None:
        continuity.assigned(args[0] if args else kwargs.get("assigned", ()))

    app.on_partitions_assigned.connect(cast(Any, keep_continuity))  # (sender, assigned)

    # An events partition with unread events and no progress while the worker is idle (a
    # faust-streaming stall) is fetched again, then the group rejoined (worker/watchdog.py).
    watchdog.install(
        app,
        settings.topic_events,
        settings.stall_seconds,
        offsets,
        handled=lambda tp: gate._handled.get(tp),  # the next offset the agent has to handle
        busy=worker.busy,
        stalls=lambda action: metrics.stalls.labels(action).inc(),
    )

    forward = center_watch.install(
        app,
        settings,
        centers,
        watch=lambda: CenterWatch(
            worker.engine.rules, worker.engine.calendar, worker.engine.center_name
        ),
        now=now,
        publish=publish,
        publish_resolved=publish_resolved,
        watched=metrics.centers_watched.set,
        behind=lambda: group_gate.behind(offsets),
    )

    publish_fact = facts.install(app, settings, metrics)
    reported_years: set[int] = set()  # unconfirmed calendar years already logged
    touched: dict[str, float] = {}  # case_id -> monotonic time of its last event here
    # case_id -> partition, for the cases whose events arrive on another partition than
    # murmur2 gives their id (a producer with another partitioner): their state is there,
    # so their ticks must go there too. Empty when every center produces as required.
    homes: dict[str, int] = {}

    def stored_size(state_json: dict[str, Any], case_id: str, sending: list[Any]) -> int | None:
        """The size of the case's stored value (its state's JSON, with the alerts not
        acknowledged yet and `sending`: outbox.py) encoded as the changelog holds it."""
        pending = outbox.unacknowledged(case_id) + [item.to_dict() for item in sending]
        whole = {**state_json, UNACKNOWLEDGED: pending} if pending else state_json
        return refusals.encoded_size(whole, dumps)

    def measured(state: CaseState, sending: list[Any]) -> tuple[dict[str, Any], str | None]:
        """The state's JSON for `keep`, and why the event that led to it is refused
        (None: it is not): the case's stored value, with the event's alerts and
        resolutions (`sending`), would be over CASE_STATE_MAX_BYTES (worker/refusals.py)."""
        value = state.to_json()
        return value, refusals.state_refusal(stored_size(value, state.case_id, sending))

    def keep(
        state: CaseState, partition: int, *, by_event: bool, value: dict[str, Any] | None = None
    ) -> None:
        """Write the case's state (`value`: its JSON, measured by `measured` already; else
        measured here, against what the producer can send at all: a deadline's write)."""
        if value is None:
            value = state.to_json()
            size = stored_size(value, state.case_id, [])
            if size is None or size > refusals.STATE_WRITE_MAX_BYTES:
                log.error(
                    "case %s not written: its state cannot be stored (%s bytes)",
                    state.case_id,
                    size,
                )
                index.schedule(state.case_id, worker.engine.next_due(state))
                return
        home = homes.get(state.case_id)
        if home is not None:
            value[HOME] = home  # read back at a recovery (reindex)
        # assigned again: the changelog is written; with the alerts not acknowledged yet
        cases[state.case_id] = outbox.stored(state.case_id, partition, value)
        index.schedule(state.case_id, worker.engine.next_due(state))
        if by_event:
            touched[state.case_id] = time.monotonic()

    def settling(case_id: str) -> bool:
        """A case that just received events may be in the middle of a late batch (a
        township uploads a day's events at once): its deadlines that already passed wait
        until it has been quiet for `settle_seconds`, so a `concluded` a few messages
        behind its `accepted` is applied first, instead of a false overdue alert."""
        last = touched.get(case_id)
        return last is not None and time.monotonic() - last < settings.settle_seconds

    # Children of labelled metrics, looked up once per label value (labels() costs a
    # few µs, several times an event): both label sets are bounded (event types, centers).
    consumed = functools.cache(metrics.events_consumed.labels)
    last_event = functools.cache(metrics.center_last_event.labels)

    @app.agent(source, name="cases")
    async def handle(stream: faust.StreamT[bytes]) -> None:
        checked = continuity.checked(
            stream.events(),
            bootstrap=settings.bootstrap_servers,
            ticks_topic=ticks.get_topic_name(),
            committed=committed,
        )
        async for event in checked:  # what skipped the agent read back, stale ticks dropped
            async with worker.busy:  # a reload waits for this message to be done
                engine = worker.engine
                message = event.message
                # cases whose alerts were all acknowledged: stored again without them
                for case_id, settled in outbox.settled(message.partition):
                    cases[case_id] = settled
                if message.topic == settings.topic_events:
                    gate.handled(message.tp, message.offset)
                    recorded = time.monotonic()
                    if recorded - handled_at.get(message.partition, 0.0) >= HANDLED_EVERY:
                        handled_at[message.partition] = recorded
                        handled[str(message.partition)] = message.offset  # all before: done
                if message.topic == ticks.get_topic_name():
                    # A batch of due cases of this partition (worker/ticks.py): all their
                    # alerts acknowledged together, then their states written.
                    current = now()
                    fired = []
                    for key in tick_batches.decode(message.key, message.value):
                        # Only the ticks this worker released itself fire: its own timer,
                        # gate and settle period judged them. A tick of a worker that lost
                        # the partition (or of this one before a restart) is a hint it
                        # ignores: the recovery indexed every case it owns.
                        if key not in released:
                            continue
                        released.discard(key)
                        state = load(key)
                        if state is None:
                            continue
                        try:
                            outcome = engine.advance(state, current)
                        except Exception:  # a bug must not stop every other case
                            log.exception("engine failed to advance case %s; will retry", key)
                            index.schedule(key, current + RETRY_ADVANCE)
                            continue
                        if outcome.alerts or outcome.changes:
                            fired.append(outcome)
                        else:
                            index.schedule(key, engine.next_due(state))
                    published_at = now()
                    for outcome in fired:
                        await raise_alerts(
                            outcome.state.case_id,
                            outcome.alerts,
                            [],
                            published_at,
                            changes=outcome.changes,
                            by_timer=True,
                        )
                    # A batch of deadlines waits for its acknowledgements (one round trip),
                    # so each case is written once, not with and then without its alerts.
                    await outbox.acknowledged(outcome.state.case_id for outcome in fired)
                    for outcome in fired:
                        keep(outcome.state, message.partition, by_event=False)
                    alert_log.raised(alert for outcome in fired for alert in outcome.alerts)
                    continue
                stored: dict[str, Any] | None = None
                try:
                    # No `now`: deadlines the event time already passed fire inside apply();
                    # those passed only by the wall clock wait for the timer and the settle time.
                    # An event stamped too far ahead of the clock is refused (pipeline.py).
                    future = FutureCheck(guard.latest(), future_tolerance)
                    result = process(engine, message.value or b"", load, future)
                    if result.state is not None and not result.duplicate and not result.rejected:
                        sending = [*result.alerts, *result.resolved, *result.changes]
                        stored, too_large = measured(result.state, sending)
                        if too_large is not None:
                            result = Processed(None, None, rejected=too_large)
                except Exception as exc:  # a bug on one event must not stop the others
                    failure = refusals.engine_failure(exc)
                    if failure.bug:  # the frames, not the message: it may quote the event
                        log.error(
                            "engine failed on %s[%s]@%s: %s\n%s",
                            message.topic,
                            message.partition,
                            message.offset,
                            failure.reason,
                            failure.frames,
                        )
                    result = Processed(None, None, rejected=failure.reason)
                if result.rejected is not None:
                    await refuse(message, result.rejected, future=result.rejected_future)
                    continue
                assert result.event is not None and result.state is not None
                if result.duplicate:
                    metrics.events_duplicate.inc()
                    continue
                consumed(result.event.type.value).inc()
                if tick_batches.partition_of(result.event.case_id, settings.partitions) != (
                    message.partition
                ):
                    misrouted(result.event.center_id, message.partition)
                    homes[result.event.case_id] = message.partition
                elif homes:
                    homes.pop(result.event.case_id, None)
                if result.event.center_id in centers:  # a bounded label set
                    last_event(result.event.center_id).set(time.time())
                ingested = message.timestamp if message.timestamp else None
                if result.alerts or result.resolved or result.changes:
                    await raise_alerts(
                        result.state.case_id,
                        result.alerts,
                        result.resolved,
                        now(),
                        changes=result.changes,
                        ingested=ingested,
                    )
                    alert_log.raised(result.alerts)
                keep(result.state, message.partition, by_event=True, value=stored)
                await publish_fact(engine, result.event, result.state)  # not awaited: facts.py
                await forward(result.event)
                if message.timestamp:
                    metrics.processing.observe(max(0.0, time.time() - message.timestamp))

    async def send_letter(letter: deadletters.Record) -> Any:
        return await dead_letters.send(key=letter.key, value=letter.value, headers=letter.headers)

    async def refuse(message: Any, reason: str, *, future: bool = False) -> None:
        """Move `message` to the dead-letter topic with `reason`, bounded (its body cut
        to 64 KiB, deadletters.record), and wait until it is stored: the offset moves on,
        whatever the message was (worker/refusals.py). Counted by kind and logged."""
        reason = mask_text(reason)
        metrics.events_rejected.labels("future" if future else rejection_reason(reason)).inc()
        log.warning(
            "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason
        )
        source = f"{message.topic}/{message.partition}/{message.offset}"
        letter = deadletters.record(message.key, message.value, reason, source)
        await refusals.store(send_letter, letter)

    warned_misrouted: set[str] = set()

    def misrouted(center_id: str, partition: int) -> None:
        """An event on another partition than Kafka's default partitioner (murmur2) gives
        its case id: the case's state is kept on that partition, and its deadline ticks
        are sent there (`homes`), but the contract's producers use murmur2, and a center
        that changes partitioner midway splits its cases' events over two partitions.
        Counted, and logged once per center."""
        metrics.events_misrouted.inc()
        if center_id not in warned_misrouted:
            warned_misrouted.add(center_id)
            log.error(
                "center %s: events keyed by case_id arrive on partition %d, not on the one "
                "Kafka's default partitioner (murmur2) gives. Its producer must use murmur2 "
                "(librdkafka: partitioner=murmur2_random)",
                center_id,
                partition,
            )

    #: cases whose tick this worker sent and has not received yet (bounded by one tick's
    #: due cases; a rebalance may leave a few, which the next tick of the case clears)
    released: set[str] = set()

    @app.timer(interval=settings.tick_seconds)
    async def fire_due_deadlines() -> None:
        """Ask the owner of each case whose deadline fell due to fire it (as a tick), once
        the events that were waiting on the broker then have been read (see gate.py)."""
        current = now()
        gate.due(index.pop_due(current))
        due = []
        for case_id in await gate.release(offsets):
            if settling(case_id):
                index.schedule(case_id, current)  # look again at the next tick
                continue
            touched.pop(case_id, None)
            due.append(case_id)
        # one tick message per partition and batch of cases (worker/ticks.py)
        released.update(due)
        for partition, case_ids in tick_batches.batches(due, settings.partitions, homes=homes):
            key, value = tick_batches.encode(case_ids)
            await ticks.send(key=key, value=value, partition=partition)
        quiet = time.monotonic() - settings.settle_seconds
        for case_id in [c for c, at in touched.items() if at < quiet]:
            del touched[case_id]
        metrics.open_timers.set(len(index) + gate.waiting)
        for year in worker.engine.calendar.unconfirmed_years_seen - reported_years:
            reported_years.add(year)
            metrics.unconfirmed_years.labels(str(year)).set(1)
            log.warning(
                "no official holiday schedule for %d yet: deadlines in it count weekends and "
                "statutory holidays only, without make-up working days",
                year,
            )

    checks_sent: dict[Any, int | None] = {}

    @app.timer(interval=settings.tick_seconds)
    async def look_for_skipped() -> None:
        """An events partition whose committed offset passed what the agent handled, with
        no later message to show the gap, gets an empty tick (no case) on its ticks
        partition: the agent reads the gap back before it (continuity.py)."""
        try:
            assignment = app.consumer.assignment()
        except Exception:  # not started yet
            return
        for tp in continuity.skipped(assignment, committed):
            if checks_sent.get(tp) != committed(tp):
                checks_sent[tp] = committed(tp)
                await ticks.send(key=b"", value=b"[]", partition=tp.partition)

    @app.timer(interval=SETTLE_WRITE_SECONDS)
    async def write_settled() -> None:
        """A partition with cases to store again without their acknowledged alerts and no
        message to do it at gets an empty tick: tables are written in stream iteration."""
        for partition in outbox.waiting(SETTLE_WRITE_SECONDS):
            await ticks.send(key=b"", value=b"[]", partition=partition)

    @app.timer(interval=1.0)
    async def count_unlogged_alerts() -> None:
        alert_log.flush()

    @app.timer(interval=RETRY_SEND_SECONDS)
    async def send_failed_again() -> None:
        """Alerts the producer failed to deliver (the broker away longer than its delivery
        timeout): sent again until acknowledged; kept with their case meanwhile."""
        await outbox.retry()

    lagging: set[Any] = set()  # partitions with a consumer_lag series

    @app.timer(interval=LAG_SECONDS)
    async def export_lag() -> None:
        """The consumer lag per owned partition, for the metrics (one ListOffsets call)."""
        lag = await gate.lag(offsets)
        if lag is None:
            return  # the broker does not answer: the last figures stand
        for tp in lagging.difference(lag):
            metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        for tp, behind in lag.items():
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(behind)
        lagging.clear()
        lagging.update(lag)
        metrics.partitions_assigned.set(len(lag))

    async def reindex(*, recovered: bool = False) -> int:
        """Schedule the deadlines of every case we own under the engine in force; after a
        recovery (`recovered`), also send again the alerts a case lists as not
        acknowledged (outbox.py): the worker that wrote it may have died before they were.

        Reading a case's state costs ~30 µs, so a worker owning a million cases needs
        half a minute: it yields to the event loop every REINDEX_CHUNK cases, and events
        and ticks go on meanwhile. Each case is read as it stands when its turn comes (an
        event handled meanwhile has scheduled it already, to the same instant); a case
        not indexed yet fires its deadline when it is, late rather than wrong."""
        count = failed = 0
        for n, key in enumerate(list(cases.keys()), start=1):  # keys first: it may grow
            data = cases.get(key)
            if data is not None:
                unacknowledged = split(data)[1]
                if recovered and unacknowledged:
                    await outbox.recovered(str(key), unacknowledged)
                if isinstance(data.get(HOME), int):
                    homes[str(key)] = data[HOME]
                try:
                    due = worker.engine.next_due(CaseState.from_json(state_of(data)))
                except Exception:  # one unreadable case must not leave the others unarmed
                    failed += 1
                    if failed <= 3:
                        log.exception("cannot index the deadlines of case %s; skipped", key)
                else:
                    index.schedule(str(key), due)
                    count += 1
            if n % REINDEX_CHUNK == 0:
                await asyncio.sleep(0)
        if failed:
            log.error("%d cases could not be indexed: their deadlines wait for an event", failed)
        return count

    worker.reindex = reindex
    reindexing: set[asyncio.Task[None]] = set()

    async def index_recovered() -> None:
        began = time.monotonic()
        try:
            count = await reindex(recovered=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # logged, not lost in an unawaited task
            log.exception("indexing the recovered cases failed; the next rebalance retries")
            return
        log.info(
            "table recovered: %d cases indexed in %.1f s, %d with a pending deadline",
            count,
            time.monotonic() - began,
            len(index),
        )

    @handled.on_recover
    async def restore_handled() -> None:
        """For each events partition taken over: where its previous owner had got to
        (before the agent resumes: recovery callbacks run first)."""
        for tp in app.consumer.assignment():
            if tp.topic == settings.topic_events:
                offset = handled.get(str(tp.partition))
                if isinstance(offset, int):
                    continuity.restore(tp, offset)

    @cases.on_recover
    async def rebuild_index() -> None:
        """After a rebalance or a restart, index the deadlines of the cases we now own,
        in the background: recovery ends and the agent resumes at once."""
        for task in reindexing:
            task.cancel()  # an earlier rebalance's: this one reads every case again
        task = asyncio.create_task(index_recovered(), name="reindex")
        reindexing.add(task)
        task.add_done_callback(reindexing.discard)

    if settings.rules_reload_seconds > 0:
        watcher = RulesWatcher(
            settings.rules_dir,
            settings.timezone,
            engine.center_name,
            metrics,
            seen=seen,
        )
        worker.watcher = watcher

        @app.timer(interval=settings.rules_reload_seconds)
        async def reload_rules() -> None:
            """Put a changed rules directory in force (see supervisor/worker/reload.py)."""
            if app.rebalancing:
                return  # the table is being handed over: look again at the next poll
            try:
                await watcher.poll(worker.use_engine)
            except Exception:  # a bug here must not stop the timer, nor the worker
                log.exception("rules reload failed; the rules in force stay")

    @app.page("/metrics")
    async def metrics_page(self: View, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type=, so the header is set whole.
        return self.bytes(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def health_page(self: View, request: Request) -> Response:
        """200 once the worker owns partitions with their case state recovered and is
        not rebalancing; 503 while it starts or rebalances (a readiness probe)."""
        recovered = cast(Any, app.tables).recovery.completed.is_set()  # TableManager
        ready = recovered and not app.rebalancing
        body = {
            "status": "ok" if ready else "starting",
            "recovered": recovered,
            "rebalancing": bool(app.rebalancing),
            "open_timers": len(index),
        }
        return self.json(body, status=200 if ready else 503)

    return worker
