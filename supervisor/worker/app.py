"""The Faust worker's wiring: its app, topics and tables, and what runs on them.

The parts live in modules of their own, each with its collaborators passed in:
process.py (the Faust app, its topics and tables, `Worker`), case_agent.py (the agent
that owns every case of its partitions), case_store.py (the table `cases`, the states
staged for the next batch and the due index), timers.py (deadlines, skipped offsets, settling,
retries, metrics), recovery.py (continuity, restoring what was handled, reindexing after
a rebalance), outputs.py (alerts, resolutions, changes, dead letters), facts.py,
centers.py, watchdog.py, reload.py and pages.py. `create_app` builds them and connects
them to Faust; nothing of the worker's logic is left here.

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

import logging
import time
from datetime import timedelta
from functools import partial
from typing import Any, cast

import faust
from faust.serializers import codecs
from prometheus_client import CollectorRegistry

from supervisor import deadletters
from supervisor.centers import CenterRegistry
from supervisor.core.engine import Engine
from supervisor.core.silence import CenterWatch
from supervisor.settings import Settings
from supervisor.worker import centers as center_watch
from supervisor.worker import facts, pages, timers, watchdog
from supervisor.worker import ticks as tick_batches
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.case_agent import CaseAgent, Topics
from supervisor.worker.case_store import CaseStore
from supervisor.worker.clock import GuardedClock, jump_counter
from supervisor.worker.continuity import Continuity, ReadBack
from supervisor.worker.gate import GroupGate, TickGate, group_offsets
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.outbox import Outbox
from supervisor.worker.outputs import Outputs
from supervisor.worker.process import Clock, Worker, declare, faust_app, ticks_topic, wall_clock
from supervisor.worker.recovery import Recovery, committed_offset
from supervisor.worker.reload import RulesWatcher, enabled_rules, fingerprint, load_engine
from supervisor.worker.reload import install as install_reload

log = logging.getLogger("supervisor.worker")

__all__ = ["Clock", "Worker", "create_app", "ticks_topic"]


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> Worker:
    # The fingerprint is taken before loading, so a change made meanwhile is seen later.
    seen = fingerprint(settings.rules_dir) if settings.rules_reload_seconds > 0 else None
    centers = CenterRegistry.load()
    if engine is None:
        engine = load_engine(settings.rules_dir, settings.timezone, centers.name)
    registry = CollectorRegistry() if registry is None else registry
    metrics = WorkerMetrics.create(registry)
    # The deadline clock follows a jump of the wall clock only once it held (clock.py).
    guard = GuardedClock(clock or wall_clock(settings.timezone), jumps=jump_counter(registry))
    app = faust_app(settings)
    worker = Worker(app=app, engine=engine, metrics=metrics, registry=registry)
    metrics.rules_loaded.set(enabled_rules(engine))
    metrics.rules_reloaded_at.set(time.time())

    def current() -> Engine:
        return worker.engine  # it changes at a reload

    channels = declare(app, settings)
    source, ticks, dead_letters = channels.source, channels.ticks, channels.dead_letters
    cases, handled = channels.cases, channels.handled

    async def send_alert(key: bytes, value: bytes) -> Any:
        """To the producer directly, as facts are: a Faust topic's channel, FutureMessage
        and callbacks cost more than the send itself, and alerts need none of them."""
        return await app.producer.send(settings.topic_alerts, key, value, None, None, None)

    async def send_letter(letter: deadletters.Record) -> Any:
        return await dead_letters.send(key=letter.key, value=letter.value, headers=letter.headers)

    async def send_tick(key: bytes, value: bytes, partition: int) -> Any:
        return await ticks.send(key=key, value=value, partition=partition)

    outbox = Outbox(
        send_alert, lambda reason, count: metrics.alerts_sent_again.labels(reason).inc(count)
    )
    metrics.alerts_unacknowledged.set_function(lambda: len(outbox))
    alert_log = AlertLog(log)  # a line per alert, up to 20 a second (alert_log.py)
    outputs = Outputs(
        send_alert=send_alert,
        send_letter=send_letter,
        outbox=outbox,
        metrics=metrics,
        centers=centers,
        alert_log=alert_log,
    )
    store = CaseStore(
        cast(Any, cases),
        outbox=outbox,
        index=worker.index,
        engine=current,
        # measured as the changelog holds it (the table's codec: Faust's JSON, orjson)
        dumps=partial(codecs.dumps, cast(Any, cases).value_serializer or app.conf.value_serializer),
        settle_seconds=settings.settle_seconds,
    )
    gate = TickGate(settings.topic_events)
    # The gate's offset queries on this loop: Faust's own go through its consumer thread
    # and took two seconds, which every deadline waited (worker/ticks.py).
    offsets = tick_batches.BrokerOffsets(
        lambda: app.consumer, settings.bootstrap_servers, f"{settings.app_id}-offsets"
    )
    group_gate = GroupGate(  # the whole group's backlog holds center.silent back
        gate,
        settings.topic_events,
        group_offsets(settings.bootstrap_servers, settings.app_id, settings.topic_events),
    )
    # Events skipped around a rebalance are read back in place, stale ticks dropped
    # (continuity.py; tests/integration/test_scale_out.py).
    continuity = Continuity(
        settings.topic_events, read_back=metrics.events_read_back.inc, stale=metrics.ticks_stale.inc
    )

    def committed(tp: Any) -> int | None:
        return committed_offset(app.consumer, tp)

    recovery = Recovery(
        events_topic=settings.topic_events,
        store=store,
        handled=cast(Any, handled),
        gate=gate,
        continuity=continuity,
        assignment=lambda: app.consumer.assignment(),
        engine=current,
    )
    worker.reindex = recovery.reindex
    released: set[str] = set()  # ticks sent and not received yet (timers -> agent)
    agent = CaseAgent(
        topics=Topics(settings.topic_events, ticks.get_topic_name(), settings.partitions),
        engine=current,
        store=store,
        outputs=outputs,
        gate=gate,
        handled=handled,
        released=released,
        busy=worker.busy,
        now=guard,
        latest=guard.latest,
        future_tolerance=timedelta(seconds=settings.future_tolerance_seconds),
        metrics=metrics,
        centers=centers,
        publish_fact=facts.install(app, settings, metrics),
        forward=center_watch.install(
            app,
            settings,
            centers,
            watch=lambda: CenterWatch(
                worker.engine.rules, worker.engine.calendar, worker.engine.center_name
            ),
            now=guard,
            publish=outputs.publish,
            publish_resolved=outputs.publish_resolved,
            watched=metrics.centers_watched.set,
            behind=lambda: group_gate.behind(offsets),
        ),
        batch_events=settings.batch_events,
        batch_seconds=settings.batch_seconds,
        ack_wait=settings.batch_ack_wait_seconds,
    )

    @app.agent(source, name="cases")
    async def handle(stream: faust.StreamT[bytes]) -> None:
        """Each message of the events and ticks topics (case_agent.py), after what
        skipped the agent was read back and stale ticks dropped (continuity.py). The
        stream does not acknowledge its events: the agent does, once written."""
        quiet = cast(Any, stream).noack()  # StreamT does not declare it; Stream has it

        async def ack(event: Any) -> None:
            if not isinstance(event, ReadBack):  # read back: not Faust's to acknowledge
                await quiet.ack(event)

        events = continuity.checked(
            quiet.events(),
            bootstrap=settings.bootstrap_servers,
            ticks_topic=ticks.get_topic_name(),
            committed=committed,
            drop=ack,
        )
        await agent.run(events, ack)

    timers.install(
        app,
        timers.Timers(
            send_tick=send_tick,
            partitions=settings.partitions,
            engine=current,
            store=store,
            gate=gate,
            offsets=offsets,
            outbox=outbox,
            alert_log=alert_log,
            continuity=continuity,
            assignment=lambda: app.consumer.assignment(),
            committed=committed,
            released=released,
            metrics=metrics,
            now=guard,
            batches=agent.waiting,
        ),
        settings.tick_seconds,
    )

    recovery.install(app, cases, handled, also_revoked=agent.revoked)

    async def stop_offsets(sender: Any, **kwargs: Any) -> None:
        await offsets.stop()

    app.on_before_shutdown.connect(cast(Any, stop_offsets))
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
    if settings.rules_reload_seconds > 0:
        worker.watcher = RulesWatcher(
            settings.rules_dir, settings.timezone, engine.center_name, metrics, seen=seen
        )
        install_reload(app, worker.watcher, worker.use_engine, settings.rules_reload_seconds)
    pages.install(app, registry, worker.index)
    return worker
