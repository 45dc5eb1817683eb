"""The cases this worker owns: their stored values, deadlines and recent activity.

A case's stored value in the table `cases` is its state's JSON and, beside it, the alert
messages the broker has not acknowledged yet (outbox.py) and, for a case whose events
arrive on another partition than murmur2 gives its id, that partition (`HOME`). Writing
it also schedules the case's next deadline in the `DueIndex`, so the two never disagree.
The store also remembers when each case last received an event (its settle period) and
where misrouted cases live (their ticks go there).

Writes happen only inside stream iteration (the case agent's), the one place Faust lets
a table be written safely; the timers and the recovery only read. The table is anything
with `get`, item assignment and `keys` (a dict in the unit tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from supervisor.core.engine import Engine
from supervisor.core.runner import DueIndex
from supervisor.core.state import CaseState
from supervisor.worker import refusals
from supervisor.worker.outbox import UNACKNOWLEDGED, Outbox, split

log = logging.getLogger("supervisor.worker")

#: Beside the state in the stored value of a case whose events arrive on another
#: partition than murmur2 gives its id: that partition, where its ticks must go.
HOME = "home_partition"


class Table(Protocol):
    """What the store needs of a Faust table (a dict will do)."""

    def get(self, key: str, /) -> Any: ...

    def __setitem__(self, key: str, value: Any, /) -> None: ...

    def keys(self) -> Iterable[Any]: ...


def state_of(stored: dict[str, Any]) -> dict[str, Any]:
    """The state's JSON in a stored value (beside it: the alerts not acknowledged yet,
    the home partition of a misrouted case)."""
    state = split(stored)[0]
    return {k: v for k, v in state.items() if k != HOME} if HOME in state else state


class CaseStore:
    """The table `cases` with the due index beside it. `engine` gives the engine in
    force (it changes at a reload); `dumps` encodes a value as the changelog holds it,
    to measure it before it is written; `settle_seconds` is the settle period."""

    def __init__(
        self,
        table: Table,
        *,
        outbox: Outbox,
        index: DueIndex,
        engine: Callable[[], Engine],
        dumps: Callable[[Any], bytes],
        settle_seconds: float,
    ) -> None:
        self.table = table
        self.outbox = outbox
        self.index = index
        self._engine = engine
        self._dumps = dumps
        self.settle_seconds = settle_seconds
        #: case_id -> monotonic time of its last event here
        self.touched: dict[str, float] = {}
        #: case_id -> partition, for the cases whose events arrive on another partition
        #: than murmur2 gives their id (a producer with another partitioner): their state
        #: is there, so their ticks must go there too. Empty when every center produces
        #: as required.
        self.homes: dict[str, int] = {}

    def load(self, case_id: str) -> CaseState | None:
        """The case's state, or None for a case not seen yet."""
        data = self.table.get(case_id)
        return CaseState.from_json(state_of(data)) if data is not None else None

    def stored_size(
        self, state_json: dict[str, Any], case_id: str, sending: list[Any]
    ) -> int | None:
        """The size of the case's stored value (its state's JSON, with the alerts not
        acknowledged yet and `sending`: outbox.py) encoded as the changelog holds it."""
        pending = self.outbox.unacknowledged(case_id) + [item.to_dict() for item in sending]
        whole = {**state_json, UNACKNOWLEDGED: pending} if pending else state_json
        return refusals.encoded_size(whole, self._dumps)

    def measured(self, state: CaseState, sending: list[Any]) -> tuple[dict[str, Any], str | None]:
        """The state's JSON for `keep`, and why the event that led to it is refused
        (None: it is not): the case's stored value, with the event's alerts and
        resolutions (`sending`), would be over CASE_STATE_MAX_BYTES (worker/refusals.py)."""
        value = state.to_json()
        return value, refusals.state_refusal(self.stored_size(value, state.case_id, sending))

    def keep(
        self,
        state: CaseState,
        partition: int,
        *,
        by_event: bool,
        value: dict[str, Any] | None = None,
    ) -> None:
        """Write the case's state (`value`: its JSON, measured by `measured` already; else
        measured here, against what the producer can send at all: a deadline's write),
        and schedule its next deadline. `by_event`: an event led to it (the settle period
        starts again)."""
        engine = self._engine()
        if value is None:
            value = state.to_json()
            size = self.stored_size(value, state.case_id, [])
            if size is None or size > refusals.STATE_WRITE_MAX_BYTES:
                log.error(
                    "case %s not written: its state cannot be stored (%s bytes)",
                    state.case_id,
                    size,
                )
                self.index.schedule(state.case_id, engine.next_due(state))
                return
        home = self.homes.get(state.case_id)
        if home is not None:
            value[HOME] = home  # read back at a recovery (reindex)
        # assigned again: the changelog is written; with the alerts not acknowledged yet
        self.table[state.case_id] = self.outbox.stored(state.case_id, partition, value)
        self.index.schedule(state.case_id, engine.next_due(state))
        if by_event:
            self.touched[state.case_id] = time.monotonic()

    def write_settled(self, partition: int) -> None:
        """Write again, without them, the cases of `partition` whose alerts were all
        acknowledged (outbox.py); called at each message of the partition."""
        for case_id, settled in self.outbox.settled(partition):
            self.table[case_id] = settled

    def note_partition(self, case_id: str, partition: int, home: int) -> bool:
        """An event of the case arrived on `partition`, where murmur2 gives `home`: True
        when they differ (a misrouted case, whose ticks must now go to `partition`)."""
        if home != partition:
            self.homes[case_id] = partition
            return True
        if self.homes:
            self.homes.pop(case_id, None)
        return False

    def settling(self, case_id: str) -> bool:
        """A case that just received events may be in the middle of a late batch (a
        township uploads a day's events at once): its deadlines that already passed wait
        until it has been quiet for `settle_seconds`, so a `concluded` a few messages
        behind its `accepted` is applied first, instead of a false overdue alert."""
        last = self.touched.get(case_id)
        return last is not None and time.monotonic() - last < self.settle_seconds

    def released(self, case_id: str) -> None:
        """The case's deadline is sent to be fired: its settle period is over."""
        self.touched.pop(case_id, None)

    def forget_quiet(self) -> None:
        """Forget the cases quiet for longer than the settle period (bounds `touched`)."""
        quiet = time.monotonic() - self.settle_seconds
        for case_id in [c for c, at in self.touched.items() if at < quiet]:
            del self.touched[case_id]

    def revoked(self, partitions: set[int]) -> None:
        """Partitions handed to another worker: their misrouted cases are not ours."""
        for case_id in [c for c, partition in self.homes.items() if partition in partitions]:
            del self.homes[case_id]
