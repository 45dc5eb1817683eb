"""The cases this worker owns: their stored values, deadlines and recent activity.

A case's stored value in the table `cases` is its state's JSON and, beside it, the alert
messages the broker has not acknowledged yet (outbox.py) and, for a case whose events
arrive on another partition than murmur2 gives its id, that partition (`HOME`).

Writes are batched. An event's new state is *staged* (`stage`): it schedules the case's
next deadline at once, and every read of the case (`load`) sees it, but the table is
written only when the agent flushes the partition (`flush`), once per case however many
events of the batch changed it. Until then the events are not acknowledged to Faust, so
their offsets are not committed: a crash loses staged states together with the right to
skip their events, which are read and judged again. States read or written lately are
kept decoded (`CACHE_MAX`), so most events read their case without RocksDB or JSON.
The store also remembers when each case last received an event (its settle period) and
where misrouted cases live (their ticks go there).

Writes happen only inside stream iteration (the case agent's), the one place Faust lets
a table be written safely, and only for the partition of the message being handled;
the timers and the recovery only read. The table is anything with `get`, item
assignment and `keys` (a dict in the unit tests).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
#: Decoded states kept for the cases read or written lately (a few KB each).
CACHE_MAX = 50_000
#: What one event adds to its case's stored value beyond twice its own size (counters,
#: times, a fired mark), and at most per alert or resolution it raises: generous bounds,
#: for `measured`.
EVENT_SLACK_BYTES = 2_048
ALERT_BOUND_BYTES = 8_192


@dataclass(slots=True)
class Staged:
    """A state waiting for its partition's flush: `value` its JSON as measured (None: to
    be measured at the write)."""

    state: CaseState
    value: dict[str, Any] | None


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
        #: partition -> case_id -> its staged state, in the order staged
        self._staged: dict[int, dict[str, Staged]] = {}
        self._staged_states: dict[str, CaseState] = {}  # every partition's, by case
        self._cache: OrderedDict[str, CaseState] = OrderedDict()
        #: case_id -> an upper bound of its stored value's size (`measured`)
        self._bounds: dict[str, int] = {}
        #: table writes of staged states, and the states staged (their ratio: what
        #: batching saved)
        self.writes = 0
        self.staged = 0

    def load(self, case_id: str) -> CaseState | None:
        """The case's state (staged, else as written), or None for a case not seen yet."""
        state = self._staged_states.get(case_id)
        if state is not None:
            return state
        cache = self._cache
        state = cache.get(case_id)
        if state is not None:
            cache.move_to_end(case_id)
            return state
        data = self.table.get(case_id)
        if data is None:
            return None
        state = CaseState.from_json(state_of(data))
        self._remember(state)
        return state

    def _remember(self, state: CaseState) -> None:
        cache = self._cache
        cache[state.case_id] = state
        cache.move_to_end(state.case_id)
        if len(cache) > CACHE_MAX:
            self._bounds.pop(cache.popitem(last=False)[0], None)

    def pending_state(self, case_id: str) -> CaseState | None:
        """The case's state staged and not written yet, if any (for the recovery)."""
        return self._staged_states.get(case_id)

    def pending_states(self) -> list[CaseState]:
        return list(self._staged_states.values())

    def stored_size(
        self, state_json: dict[str, Any], case_id: str, sending: list[Any]
    ) -> int | None:
        """The size of the case's stored value (its state's JSON, with the alerts not
        acknowledged yet and `sending`: outbox.py) encoded as the changelog holds it."""
        pending = self.outbox.unacknowledged(case_id) + [item.to_dict() for item in sending]
        whole = {**state_json, UNACKNOWLEDGED: pending} if pending else state_json
        return refusals.encoded_size(whole, self._dumps)

    def measured(
        self, state: CaseState, sending: list[Any], event_bytes: int
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Why the event that led to `state` is refused (None: it is not): the case's
        stored value, with the event's alerts and resolutions (`sending`), would be over
        CASE_STATE_MAX_BYTES (worker/refusals.py); and the state's JSON when it was
        measured for that (None: the batch's write encodes it).

        Encoding a state costs twice the engine's judgement of its event, and a batch
        writes only a case's last state; so a case whose stored value is known to be far
        below the limit is not measured: its bound grows by what one event can add (its
        history document is at most its own `event_bytes`, each alert a few KB), and the
        case is measured again only once the bound passes half the limit."""
        case_id = state.case_id
        bound = self._bounds.get(case_id)
        if bound is not None:
            bound += 2 * event_bytes + EVENT_SLACK_BYTES + ALERT_BOUND_BYTES * len(sending)
            if bound <= refusals.CASE_STATE_MAX_BYTES // 2:
                self._bounds[case_id] = bound
                return None, None
        value = state.to_json()
        size = self.stored_size(value, case_id, sending)
        refusal = refusals.state_refusal(size)
        if refusal is None and size is not None:
            self._bounds[case_id] = size
        return value, refusal

    def stage(
        self,
        state: CaseState,
        partition: int,
        *,
        by_event: bool,
        value: dict[str, Any] | None = None,
    ) -> None:
        """The case's new state, to be written at the partition's next `flush`; its next
        deadline scheduled now. `value`: its JSON, measured by `measured` already;
        `by_event`: an event led to it (the settle period starts again)."""
        staged = self._staged.get(partition)
        if staged is None:
            staged = self._staged[partition] = {}
        staged[state.case_id] = Staged(state, value)
        self._staged_states[state.case_id] = state
        self.staged += 1
        self._schedule(state, by_event)

    def staged_cases(self, partition: int) -> list[str]:
        """The cases staged on `partition`, in the order first staged."""
        return list(self._staged.get(partition, ()))

    def flush(self, partition: int) -> int:
        """Write each case staged on `partition` once, its latest state; returns how many.
        Called inside stream iteration of a message of that partition.

        A case whose events come on two partitions (a producer that keys them otherwise
        than by `case_id`) may be staged on both, the later state made from the earlier:
        whichever partition is written first writes the later state, which holds the
        events of both (the other's are judged again after a crash, and change nothing:
        their ids are in it), and the other then has nothing left to write for it."""
        staged = self._staged.pop(partition, None)
        if not staged:
            return 0
        written = 0
        for case_id, entry in staged.items():
            latest = self._staged_states.pop(case_id, None)
            if latest is None:
                continue  # its later state, staged on another partition, is written
            if latest is not entry.state:
                entry = self._unstage_elsewhere(case_id, latest)
            self._write(entry.state, partition, entry.value, bounded=True)
            written += 1
        self.writes += written
        return written

    def _unstage_elsewhere(self, case_id: str, state: CaseState) -> Staged:
        """The entry of the case's `state`, staged on another partition, taken from it."""
        for cases in self._staged.values():
            entry = cases.get(case_id)
            if entry is not None and entry.state is state:
                return cases.pop(case_id)
        return Staged(state, None)  # staged nowhere else: measured at the write

    def keep(
        self,
        state: CaseState,
        partition: int,
        *,
        by_event: bool,
        value: dict[str, Any] | None = None,
    ) -> None:
        """Write the case's state now (a deadline's: its partition was flushed before)
        and schedule its next deadline. `value`: as for `stage`."""
        staged = self._staged.get(partition)
        if staged is not None and staged.pop(state.case_id, None) is not None:
            self._staged_states.pop(state.case_id, None)
        self._write(state, partition, value)
        self._schedule(state, by_event)

    def _schedule(self, state: CaseState, by_event: bool) -> None:
        """The case's next deadline in the index; `by_event`: its settle period starts."""
        self.index.schedule(state.case_id, self._engine().next_due(state))
        if by_event:
            self.touched[state.case_id] = time.monotonic()

    def _write(
        self,
        state: CaseState,
        partition: int,
        value: dict[str, Any] | None,
        *,
        bounded: bool = False,
    ) -> None:
        """The table write (`value`: the state's JSON measured already). A state staged
        by an event is `bounded`: `measured` measured it or knew its size far below the
        limit, so it is written without an encoding to measure it again. Any other (a
        deadline's write) is measured here, against what the producer can send at all."""
        if value is None:
            value = state.to_json()
            if not bounded and not self._fits(state.case_id, value):
                return
        home = self.homes.get(state.case_id)
        if home is not None:
            value[HOME] = home  # read back at a recovery (reindex)
        # assigned again: the changelog is written; with the alerts not acknowledged yet
        self.table[state.case_id] = self.outbox.stored(state.case_id, partition, value)
        self._remember(state)

    def _fits(self, case_id: str, value: dict[str, Any]) -> bool:
        """Whether the case's stored value, its state's JSON `value`, is one the producer
        can send; else logged, and the table's value stands."""
        size = self.stored_size(value, case_id, [])
        if size is None or size > refusals.STATE_WRITE_MAX_BYTES:
            log.error("case %s not written: its state cannot be stored (%s bytes)", case_id, size)
            self._cache.pop(case_id, None)  # the table's stands
            self._bounds.pop(case_id, None)
            return False
        self._bounds[case_id] = size
        return True

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
        """Partitions handed to another worker: their misrouted cases are not ours, and
        their staged states are dropped unwritten (their events were not acknowledged:
        the next owner reads them again). The cache is emptied: a partition assigned
        back later is recovered from the changelog, which may have moved on."""
        for case_id in [c for c, partition in self.homes.items() if partition in partitions]:
            del self.homes[case_id]
        for partition in partitions:
            for case_id, entry in self._staged.pop(partition, {}).items():
                if self._staged_states.get(case_id) is not entry.state:
                    continue  # a later state of the case is staged on another partition
                del self._staged_states[case_id]
                # an earlier state of it staged on a partition kept is the latest again (a
                # state holds one event more than the state it was made from, at least)
                kept = [c[case_id] for c in self._staged.values() if case_id in c]
                if kept:
                    latest = max(kept, key=lambda other: len(other.state.history))
                    self._staged_states[case_id] = latest.state
        self._cache.clear()
        self._bounds.clear()

    def assigned(self) -> None:
        """Partitions assigned: what the table holds now comes from their changelog."""
        self._cache.clear()
        self._bounds.clear()
