"""The worker's timers: what it does by the clock rather than at a message.

A timer cannot write the table (Faust allows it only inside stream iteration), so each
one that needs a case written sends a tick to the case's partition instead, and the case
agent acts on it (case_agent.py): firing due deadlines, reading back what was skipped
(continuity.py), writing a quiet partition's batch (case_agent.py), writing settled cases
again (outbox.py). The others only send, count or
measure: alerts the producer failed to deliver sent again, the alert log's counts, the
consumer lag. `install` registers them on the Faust app; `Timers` holds them with their
collaborators, so each runs in a test without a broker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust

from supervisor.core.engine import Engine
from supervisor.worker import ticks as tick_batches
from supervisor.worker.alert_log import AlertLog
from supervisor.worker.case_store import CaseStore
from supervisor.worker.continuity import Continuity
from supervisor.worker.gate import TickGate
from supervisor.worker.metrics import WorkerMetrics
from supervisor.worker.outbox import Outbox
from supervisor.worker.parts import Parts

log = logging.getLogger("supervisor.worker")

#: How often the consumer lag is measured (a broker round trip; Prometheus scrapes at 15 s).
LAG_SECONDS = 5.0
#: A case whose alerts were all acknowledged is written again without them at the next
#: message of its partition; a partition quiet this long is sent an empty tick for it.
SETTLE_WRITE_SECONDS = 1.0
#: How often alert messages the producer failed to deliver are sent again.
RETRY_SEND_SECONDS = 5.0
#: How often the alert log's lines not written are counted in one line (alert_log.py).
ALERT_LOG_SECONDS = 1.0

#: Sends one tick message (key, value) to a partition of the ticks topic.
SendTick = Callable[[bytes, bytes, int], Awaitable[Any]]


class Timers:
    """The timers' bodies. `send_tick` writes to the ticks topic; `offsets` answers the
    gate's offset queries (ticks.BrokerOffsets); `assignment` and `committed` read the
    consumer's partitions and committed offsets (they raise before it started);
    `released` holds the cases whose tick was sent (shared with the case agent);
    `batches` gives the partitions whose batch waits for a message (`CaseAgent.waiting`)."""

    def __init__(
        self,
        *,
        send_tick: SendTick,
        partitions: int,
        engine: Callable[[], Engine],
        store: CaseStore,
        gate: TickGate,
        offsets: Any,
        outbox: Outbox,
        alert_log: AlertLog,
        continuity: Continuity,
        assignment: Callable[[], Iterable[Any]],
        committed: Callable[[Any], int | None],
        released: set[str],
        metrics: WorkerMetrics,
        now: Callable[[], Any],
        batches: Callable[[], list[int]] = list,
    ) -> None:
        self._send_tick = send_tick
        self._batches = batches
        self._partitions = partitions
        self._engine = engine
        self.store = store
        self.gate = gate
        self._offsets = offsets
        self.outbox = outbox
        self.alert_log = alert_log
        self.continuity = continuity
        self._assignment = assignment
        self._committed = committed
        self.released = released
        self.metrics = metrics
        self._now = now
        self._reported_years: set[int] = set()  # unconfirmed calendar years already logged
        self._checks_sent: dict[Any, int | None] = {}
        self._lagging: set[Any] = set()  # partitions with a consumer_lag series

    async def fire_due_deadlines(self) -> None:
        """Ask the owner of each case whose deadline fell due to fire it (as a tick), once
        the events that were waiting on the broker then have been read (see gate.py)."""
        current = self._now()
        store, index = self.store, self.store.index
        self.gate.due(index.pop_due(current))
        due = []
        for case_id in await self.gate.release(self._offsets):
            if store.settling(case_id):
                index.schedule(case_id, current)  # look again at the next tick
                continue
            store.released(case_id)
            due.append(case_id)
        # one tick message per partition and batch of cases (worker/ticks.py)
        self.released.update(due)
        for partition, case_ids in tick_batches.batches(due, self._partitions, homes=store.homes):
            key, value = tick_batches.encode(case_ids)
            await self._send_tick(key, value, partition)
        store.forget_quiet()
        self.metrics.open_timers.set(len(index) + self.gate.waiting)
        self.report_unconfirmed_years()

    def report_unconfirmed_years(self) -> None:
        """A year the calendar has no official schedule for, logged and flagged once."""
        for year in self._engine().calendar.unconfirmed_years_seen - self._reported_years:
            self._reported_years.add(year)
            self.metrics.unconfirmed_years.labels(str(year)).set(1)
            log.warning(
                "no official holiday schedule for %d yet: deadlines in it count weekends and "
                "statutory holidays only, without make-up working days",
                year,
            )

    async def look_for_skipped(self) -> None:
        """An events partition whose committed offset passed what the agent handled, with
        no later message to show the gap, gets an empty tick (no case) on its ticks
        partition: the agent reads the gap back before it (continuity.py)."""
        try:
            assignment = self._assignment()
        except Exception:  # not started yet
            return
        for tp in self.continuity.skipped(assignment, self._committed):
            if self._checks_sent.get(tp) != self._committed(tp):
                self._checks_sent[tp] = self._committed(tp)
                await self._send_tick(b"", b"[]", tp.partition)

    async def write_batches(self) -> None:
        """A partition whose judged events wait for their batch to be written, with no
        message coming to do it at, gets an empty tick (the agent writes it there)."""
        for partition in self._batches():
            await self._send_tick(b"", b"[]", partition)

    async def write_settled(self) -> None:
        """A partition with cases to store again without their acknowledged alerts and no
        message to do it at gets an empty tick: tables are written in stream iteration."""
        for partition in self.outbox.waiting(SETTLE_WRITE_SECONDS):
            await self._send_tick(b"", b"[]", partition)

    async def count_unlogged_alerts(self) -> None:
        """The alert log's lines held back this second, counted in one line."""
        self.alert_log.flush()

    async def send_failed_again(self) -> None:
        """Alerts the producer failed to deliver (the broker away longer than its delivery
        timeout): sent again until acknowledged; kept with their case meanwhile."""
        await self.outbox.retry()

    async def export_lag(self) -> None:
        """The consumer lag per owned partition, for the metrics (one ListOffsets call)."""
        lag = await self.gate.lag(self._offsets)
        if lag is None:
            return  # the broker does not answer: the last figures stand
        metrics = self.metrics
        for tp in self._lagging.difference(lag):
            metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        for tp, behind in lag.items():
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(behind)
        self._lagging.clear()
        self._lagging.update(lag)
        metrics.partitions_assigned.set(len(lag))


def install(parts: Parts, batches: Callable[[], list[int]]) -> Timers:
    """The timers of `parts`' worker, each registered on its app with its interval (the
    deadline ones every tick). `batches`: the partitions whose batch waits for a
    message (`CaseAgent.waiting`)."""
    app = parts.app
    timers = Timers(
        send_tick=parts.channels.send_tick,
        partitions=parts.settings.partitions,
        engine=parts.engine,
        store=parts.store,
        gate=parts.gate,
        offsets=parts.offsets,
        outbox=parts.outputs.outbox,
        alert_log=parts.outputs.alert_log,
        continuity=parts.continuity,
        assignment=parts.assignment,
        committed=parts.committed,
        released=parts.released,
        metrics=parts.metrics,
        now=parts.now,
        batches=batches,
    )
    tick_seconds = parts.settings.tick_seconds
    schedule: list[tuple[float, Callable[[], Awaitable[None]]]] = [
        (tick_seconds, timers.fire_due_deadlines),
        (tick_seconds, timers.look_for_skipped),
        (tick_seconds, timers.write_batches),
        (SETTLE_WRITE_SECONDS, timers.write_settled),
        (ALERT_LOG_SECONDS, timers.count_unlogged_alerts),
        (RETRY_SEND_SECONDS, timers.send_failed_again),
        (LAG_SECONDS, timers.export_lag),
    ]
    for interval, body in schedule:
        _timer(app, interval, body)
    return timers


def _timer(app: faust.App, interval: float, body: Callable[[], Awaitable[None]]) -> None:
    """`@app.timer` on a bound method: Faust names the timer after the function, so a
    plain function of the method's name is registered (the logs and the timer's name
    stay what they were)."""

    async def run() -> None:
        await body()

    run.__name__ = run.__qualname__ = body.__name__
    run.__doc__ = body.__doc__
    app.timer(interval=interval)(run)
