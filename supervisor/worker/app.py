"""The Faust worker's wiring: its app, topics and tables, and what runs on them.

`create_app` builds the parts the worker's concerns share (parts.py: the Faust app with
its topics and tables, the deadline clock, the outbox and outputs, the case store, the
offset gates), then installs each concern on the app: the case agent (case_agent.py)
with its facts (facts.py) and the centers agent it forwards events to (centers.py), the
timers (timers.py), the recovery after a rebalance (recovery.py), the stall watchdog
(watchdog.py), the rules reload (reload.py) and the worker's pages (pages.py). Each
module's classes take their collaborators one by one and run in tests without a broker;
nothing of the worker's logic is here.

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
- the facts topic: one compact fact per applied event, for the statistics, framed per
  partition and sent once the batch's states are written, not awaited
  (supervisor/worker/facts.py).

Case state lives in the changelog-backed table `cases` (RocksDB by default). A case's
alerts are handed to the producer and its state written at once, with the alerts not yet
acknowledged listed beside it (supervisor/worker/outbox.py): a worker that recovers the
case sends them again, so a crash loses none; consumers de-duplicate by alert_id.

The rules can change while the worker runs (supervisor/worker/reload.py): a timer puts a
new engine in force with `Worker.use_engine`, which waits for the message being handled to
finish, so each message is judged by one engine from start to end.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from supervisor.core.engine import Engine
from supervisor.core.silence import CenterWatch
from supervisor.settings import Settings
from supervisor.worker import case_agent, facts, pages, recovery, reload, timers, watchdog
from supervisor.worker import centers as center_watch
from supervisor.worker.parts import Parts
from supervisor.worker.process import Clock, Worker, ticks_topic

__all__ = ["Clock", "Worker", "create_app", "ticks_topic"]


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
) -> Worker:
    """One worker for `settings`: the rules from `settings.rules_dir` unless `engine`
    is given, metrics in `registry` (a new one by default), deadlines by `clock` (the
    wall clock in `settings.timezone` by default)."""
    # Taken before the rules are loaded: a change made meanwhile is seen at the next poll.
    seen = reload.fingerprint(settings.rules_dir) if settings.rules_reload_seconds > 0 else None
    parts = Parts.build(settings, engine=engine, registry=registry, clock=clock)
    app, worker, metrics, outputs = parts.app, parts.worker, parts.metrics, parts.outputs
    forward = center_watch.install(
        app,
        settings,
        parts.centers,
        watch=lambda: CenterWatch(
            worker.engine.rules, worker.engine.calendar, worker.engine.center_name
        ),
        now=parts.now,
        publish=outputs.publish,
        publish_resolved=outputs.publish_resolved,
        watched=metrics.centers_watched.set,
        behind=lambda: parts.group_gate.behind(parts.offsets),
    )
    agent = case_agent.install(parts, facts=facts.install(app, settings, metrics), forward=forward)
    timers.install(parts, batches=agent.waiting)
    recovery.install(parts, also_revoked=agent.revoked)
    # An events partition with unread events and no progress while the worker is idle (a
    # faust-streaming stall) is fetched again, then the group rejoined (watchdog.py).
    watchdog.install(
        app,
        settings.topic_events,
        settings.stall_seconds,
        parts.offsets,
        handled=parts.gate.next_to_handle,
        busy=worker.busy,
        stalls=lambda action: metrics.stalls.labels(action).inc(),
    )
    if settings.rules_reload_seconds > 0:
        worker.watcher = reload.RulesWatcher(
            settings.rules_dir, settings.timezone, worker.engine.center_name, metrics, seen=seen
        )
        reload.install(app, worker.watcher, worker.use_engine, settings.rules_reload_seconds)
    pages.install(app, worker.registry, worker.index)
    return worker
