"""Many cases on one clock: the engine plus a store of case states and a due index.

`supervisor replay` and the tests use `Runner` directly with a dict as the store; the
Faust worker uses `DueIndex` beside its table. `feed()` applies an event, which fires the
deadlines of *that case* that its own event time has passed, and moves the clock to the
latest `occurred_at` seen (contract §5); `advance(now)` fires every case's deadlines due by
`now` (replay's end of input, `--until`). Deadlines of other cases are not fired while
input is still being read: a township's late batch of events for a case is applied whole
before the clock judges it, so a `concluded` listed after a later event of another center
is not mistaken for an overdue case. For input in time order the alerts are the same.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, MutableMapping
from datetime import datetime

from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.core.engine import Engine, Outcome
from supervisor.core.events import CaseEvent
from supervisor.core.pipeline import Processed
from supervisor.core.silence import CenterState, CenterWatch
from supervisor.core.state import CaseState


class DueIndex:
    """A min-heap of (due, case_id) with lazy deletion: an entry is trusted only if it
    still matches the case's current next due time, so rescheduling is O(log n).

    Entries no longer trusted are dropped when they outnumber the trusted ones (with
    some slack), in one pass: most events move their case's due time, and each move
    leaves one behind (an object the garbage collector counts, until the heap reaches
    it). The cases popped, and their order (by due time, then case id), are the same."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due: dict[str, datetime] = {}

    def schedule(self, case_id: str, due: datetime | None) -> None:
        if due is None:
            self._due.pop(case_id, None)
            return
        if self._due.get(case_id) == due:
            return
        self._due[case_id] = due
        heap = self._heap
        heapq.heappush(heap, (due, case_id))
        if len(heap) > 2 * len(self._due) + _SLACK:
            self._compact()

    def _compact(self) -> None:
        """Drop the entries no longer trusted (those `pop_due` and `peek` would skip)."""
        due = self._due
        self._heap = [entry for entry in self._heap if due.get(entry[1]) == entry[0]]
        heapq.heapify(self._heap)

    def pop_due(self, now: datetime) -> list[str]:
        """Case ids whose timer is due at or before `now`; they leave the index."""
        ready = []
        while self._heap and self._heap[0][0] <= now:
            due, case_id = heapq.heappop(self._heap)
            if self._due.get(case_id) == due:
                del self._due[case_id]
                ready.append(case_id)
        return ready

    def peek(self) -> datetime | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._due)


#: Entries beyond twice the cases scheduled before the due index drops stale ones.
_SLACK = 1024


class Runner:
    def __init__(
        self,
        engine: Engine,
        store: MutableMapping[str, CaseState] | None = None,
        watch: CenterWatch | None = None,
        watched: Container[str] = frozenset(),
    ) -> None:
        """`watch` judges `center.silent` for the centers in `watched`, each from its first
        event (replay's input is often an extract: silence is judged only on request)."""
        self.engine = engine
        self.store: MutableMapping[str, CaseState] = {} if store is None else store
        self.watch = watch
        self.watched = watched
        self.centers: dict[str, CenterState] = {}
        self.index = DueIndex()
        self.clock: datetime | None = None
        self.duplicates = 0
        self.errors: list[tuple[str, str]] = []
        self.resolved: list[Resolution] = []  # alerts that late events proved wrong
        self.changes: list[CaseChange] = []  # what cases did to their alerts (contract §6)
        #: alert id -> the alert as event-time order renders it now, after a late event
        self.restated: dict[str, Alert] = {}

    def feed(self, event: CaseEvent) -> list[Alert]:
        """Apply one event: its own case's passed deadlines fire, the clock moves on. A late
        event may resolve alerts raised before; they are added to `resolved`."""
        outcome = self.engine.apply(self.store.get(event.case_id), event)
        return self.record(
            Processed(
                event,
                outcome.state,
                outcome.alerts,
                duplicate=outcome.duplicate,
                resolved=outcome.resolved,
                changes=list(outcome.changes),
                restated=list(outcome.restated),
            )
        )

    def record(self, processed: Processed) -> list[Alert]:
        """Emit, for a runner: what the pipeline's stages made of one event (`Processed`,
        supervisor/core/pipeline.py), kept: the case's new state stored and its next
        deadline indexed, the clock moved on, resolutions and changes noted, and the
        center's silence judged. Returns the alerts it raised. A refused message (no
        event) changes nothing: reporting it is the driver's."""
        event = processed.event
        if event is None or processed.state is None:
            return []
        if processed.duplicate:
            self.duplicates += 1
            return []
        self._store(processed.state)
        if processed.resolved:
            self.resolved += processed.resolved
        if processed.changes:
            self.changes += processed.changes
        for alert in processed.restated:
            self.restated[alert.alert_id] = alert
        if self.clock is None or event.occurred_at > self.clock:
            self.clock = event.occurred_at
        alerts = processed.alerts  # its own list: nothing else holds it
        if self.watch is not None and event.center_id in self.watched:
            center = self.watch.seen(
                self.centers.get(event.center_id), event.center_id, event.occurred_at
            )
            self.centers[event.center_id] = center.state
            alerts += center.alerts
            self.resolved += center.resolved
        return alerts

    def advance(self, now: datetime | None = None) -> list[Alert]:
        """Fire every case's deadlines due by `now` (default: the clock, the latest event
        time seen; a `now` earlier than the clock cannot move it back).

        A case whose deadline cannot be computed (a limit far beyond the calendar's range)
        is reported in `errors` and skipped, so one absurd case never stops the others."""
        if now is not None and (self.clock is None or now > self.clock):
            self.clock = now
        if self.clock is None:
            return []
        alerts: list[Alert] = []
        for case_id in self.index.pop_due(self.clock):
            state = self.store.get(case_id)
            if state is None:
                continue
            try:
                outcome = self.engine.advance(state, self.clock)
            except (ValueError, OverflowError) as exc:
                self.errors.append((case_id, str(exc)))
                continue
            self._keep(outcome)
            alerts += outcome.alerts
            if outcome.changes:
                self.changes += outcome.changes
        if self.watch is not None:
            for code, center in self.centers.items():
                judged = self.watch.advance(center, self.clock)
                self.centers[code] = judged.state
                alerts += judged.alerts
        return alerts

    def finish(self) -> list[Alert]:
        """The input ended (replay, after `advance`): each open case's story ends at the
        clock (`Engine.finish`: its catalogue steps never completed are never completed).
        Returns the alerts that raised."""
        if self.clock is None:
            return []
        alerts: list[Alert] = []
        for state in list(self.store.values()):
            try:
                outcome = self.engine.finish(state, self.clock)
            except (ValueError, OverflowError) as exc:
                self.errors.append((state.case_id, str(exc)))
                continue
            if outcome.alerts or outcome.changes:
                self._keep(outcome)
                alerts += outcome.alerts
                self.changes += outcome.changes
        return alerts

    def _keep(self, outcome: Outcome) -> None:
        if not outcome.duplicate:
            self._store(outcome.state)

    def _store(self, state: CaseState) -> None:
        self.store[state.case_id] = state
        self.index.schedule(state.case_id, self.engine.next_due(state))
