"""The parts of one worker that its concerns share, built once from the settings.

`Parts.build` makes the Faust app with its topics and tables (process.py), the deadline
clock, the publishing (outbox.py, outputs.py), the case store (case_store.py) and what
follows the partitions' offsets (gate.py, continuity.py, ticks.BrokerOffsets). The case
agent, the timers and the recovery each take what they need from it when
`supervisor/worker/app.py` installs them; each module's classes still take their
collaborators one by one, so a test builds them without this or a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from prometheus_client import CollectorRegistry

from supervisor import deadletters
from supervisor.centers import CenterRegistry
from supervisor.core.engine import Engine
from supervisor.settings import Settings
from supervisor.worker import json_table
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.case_store import CaseStore
from supervisor.worker.clock import GuardedClock, jump_counter
from supervisor.worker.continuity import Continuity
from supervisor.worker.gate import GroupGate, TickGate, committed_offsets, group_offsets
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.outbox import Outbox
from supervisor.worker.outputs import Outputs
from supervisor.worker.process import Channels, Clock, Worker, declare, faust_app, wall_clock
from supervisor.worker.reload import enabled_rules, load_engine
from supervisor.worker.ticks import BrokerOffsets

log = logging.getLogger("supervisor.worker")


@dataclass
class Parts:
    """What the worker's concerns share. `now` is the deadline clock; `offsets` answers
    the gate's offset queries; `group_gate` holds center.silent back while the group has
    a backlog; `released` holds the cases whose tick was sent and not received yet (the
    timers add, the case agent removes)."""

    settings: Settings
    worker: Worker
    channels: Channels
    centers: CenterRegistry
    now: GuardedClock
    outputs: Outputs
    store: CaseStore
    gate: TickGate
    offsets: BrokerOffsets
    group_gate: GroupGate
    continuity: Continuity
    released: set[str] = field(default_factory=set)

    @property
    def app(self) -> faust.App:
        return self.worker.app

    @property
    def metrics(self) -> WorkerMetrics:
        return self.worker.metrics

    def engine(self) -> Engine:
        """The engine in force (it changes at a reload)."""
        return self.worker.engine

    def assignment(self) -> Iterable[Any]:
        """The consumer's partitions (raises before it started)."""
        return cast(Iterable[Any], self.app.consumer.assignment())

    def committed(self, tp: Any) -> int | None:
        """The offset the group committed for `tp`, as the consumer last knew it."""
        return committed_offsets(self.app.consumer).get(tp)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        engine: Engine | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
    ) -> Parts:
        """The parts, for `settings`: the rules loaded from `settings.rules_dir` unless
        `engine` is given, metrics in a registry of their own unless `registry` is,
        the wall clock in `settings.timezone` unless `clock` is."""
        centers = CenterRegistry.load()
        if engine is None:
            engine = load_engine(settings.rules_dir, settings.timezone, centers.name)
        registry = CollectorRegistry() if registry is None else registry
        metrics = WorkerMetrics.create(registry)
        app = faust_app(settings)
        worker = Worker(app=app, engine=engine, metrics=metrics, registry=registry)
        metrics.rules_loaded.set(enabled_rules(engine))
        metrics.rules_reloaded_at.set(time.time())
        channels = declare(app, settings)
        outputs = _outputs(app, settings, channels, metrics, centers)
        store = CaseStore(
            json_table.JsonTable(channels.cases),
            outbox=outputs.outbox,
            index=worker.index,
            engine=lambda: worker.engine,
            dumps=json_table.dumps,  # measured as the changelog holds it
            settle_seconds=settings.settle_seconds,
        )
        gate = TickGate(settings.topic_events)
        # The gate's offset queries on this loop: Faust's own go through its consumer
        # thread and took two seconds, which every deadline waited (worker/ticks.py).
        offsets = BrokerOffsets(
            lambda: app.consumer, settings.bootstrap_servers, f"{settings.app_id}-offsets"
        )

        async def stop_offsets(sender: Any, **kwargs: Any) -> None:
            await offsets.stop()

        app.on_before_shutdown.connect(cast(Any, stop_offsets))
        return cls(
            settings=settings,
            worker=worker,
            channels=channels,
            centers=centers,
            # The deadline clock follows a jump of the wall clock once it held (clock.py).
            now=GuardedClock(clock or wall_clock(settings.timezone), jumps=jump_counter(registry)),
            outputs=outputs,
            store=store,
            gate=gate,
            offsets=offsets,
            group_gate=GroupGate(
                gate,
                settings.topic_events,
                group_offsets(settings.bootstrap_servers, settings.app_id, settings.topic_events),
            ),
            # Events skipped around a rebalance are read back in place, stale ticks
            # dropped (continuity.py; tests/integration/test_scale_out.py).
            continuity=Continuity(
                settings.topic_events,
                read_back=metrics.events_read_back.inc,
                stale=metrics.ticks_stale.inc,
            ),
        )


def _outputs(
    app: faust.App,
    settings: Settings,
    channels: Channels,
    metrics: WorkerMetrics,
    centers: CenterRegistry,
) -> Outputs:
    """The publishing of alerts (through an outbox) and of dead letters."""

    async def send_alert(key: bytes, value: bytes) -> Any:
        """To the producer directly, as facts are: a Faust topic's channel, FutureMessage
        and callbacks cost more than the send itself, and alerts need none of them."""
        return await app.producer.send(settings.topic_alerts, key, value, None, None, None)

    async def send_letter(letter: deadletters.Record) -> Any:
        return await channels.dead_letters.send(
            key=letter.key, value=letter.value, headers=letter.headers
        )

    outbox = Outbox(
        send_alert, lambda reason, count: metrics.alerts_sent_again.labels(reason).inc(count)
    )
    metrics.alerts_unacknowledged.set_function(lambda: len(outbox))
    return Outputs(
        send_alert=send_alert,
        send_letter=send_letter,
        outbox=outbox,
        metrics=metrics,
        centers=centers,
        alert_log=AlertLog(log),  # a line per alert, up to 20 a second (alert_log.py)
    )
