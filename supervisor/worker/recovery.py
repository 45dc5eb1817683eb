"""What a worker does when partitions come or go: nothing handled is lost or repeated.

- **Restoring what was handled**: for each events partition taken over, where its
  previous owner had got to (the table `handled`), so that what Faust acknowledged
  without that owner handling it is read back (continuity.py), not only what this worker
  skips itself.
- **Continuity**: every assignment starts the offsets' check afresh (continuity.py).
- **Reindexing**: after a recovery (a rebalance or a restart), the deadlines of every case
  now owned are scheduled again, in the background, and the alerts a case lists as not
  acknowledged are sent again (outbox.py): the worker that wrote it may have died before
  they were. A reload of the rules reindexes too (changed thresholds move deadlines).
- **Revocation**: partitions revoked (at a rebalance, all of them, those kept too) are
  forgotten by the gate, the continuity check, the outbox and the store: what was
  judged there and not written is judged again.

`Recovery` reads the tables through `get` and `keys` only (a dict in the unit tests);
app.py connects its methods to Faust's signals and recovery callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from supervisor.core.engine import Engine
from supervisor.core.state import CaseState
from supervisor.worker.case_store import HOME, CaseStore, Table, state_of
from supervisor.worker.continuity import Continuity
from supervisor.worker.gate import TickGate
from supervisor.worker.outbox import split
from supervisor.worker.parts import Parts

log = logging.getLogger("supervisor.worker")

#: Cases indexed between two yields to the event loop after a recovery (a few ms each).
REINDEX_CHUNK = 500


class Recovery:
    """`events_topic` is the case-events topic; `handled` the table of the next offset
    to handle per events partition; `assignment` the consumer's partitions; `engine`
    the engine in force."""

    def __init__(
        self,
        *,
        events_topic: str,
        store: CaseStore,
        handled: Table,
        gate: TickGate,
        continuity: Continuity,
        assignment: Callable[[], Iterable[Any]],
        engine: Callable[[], Engine],
    ) -> None:
        self.events_topic = events_topic
        self.store = store
        self.handled = handled
        self.gate = gate
        self.continuity = continuity
        self._assignment = assignment
        self._engine = engine
        self.reindexing: set[asyncio.Task[None]] = set()

    def assigned(self, assigned: Iterable[Any]) -> None:
        """Partitions assigned: their offsets are followed afresh (continuity.py), their
        cases read from the table again."""
        self.continuity.assigned(assigned)
        self.store.assigned()

    def revoked(self, revoked: Iterable[Any]) -> None:
        """Partitions handed to another worker: no longer ours to gate, write or tick."""
        revoked = list(revoked)
        self.gate.revoked(revoked)
        self.continuity.revoked(revoked)  # with the states dropped: see continuity.py
        gone = {tp.partition for tp in revoked if tp.topic == self.events_topic}
        self.store.outbox.revoked(gone)
        self.store.revoked(gone)

    async def restore_handled(self) -> None:
        """For each events partition taken over: where its previous owner had got to
        (before the agent resumes: recovery callbacks run first)."""
        for tp in self._assignment():
            if tp.topic == self.events_topic:
                offset = self.handled.get(str(tp.partition))
                if isinstance(offset, int):
                    self.continuity.restore(tp, offset)

    async def reindex(self, *, recovered: bool = False) -> int:
        """Schedule the deadlines of every case we own under the engine in force; after a
        recovery (`recovered`), also send again the alerts a case lists as not
        acknowledged (outbox.py): the worker that wrote it may have died before they were.

        Reading a case's state costs ~30 µs, so a worker owning a million cases needs
        half a minute: it yields to the event loop every REINDEX_CHUNK cases, and events
        and ticks go on meanwhile. Each case is read as it stands when its turn comes (an
        event handled meanwhile has scheduled it already, to the same instant); a case
        not indexed yet fires its deadline when it is, late rather than wrong."""
        store = self.store
        cases, index, outbox, homes = store.table, store.index, store.outbox, store.homes
        count = failed = 0
        for n, key in enumerate(list(cases.keys()), start=1):  # keys first: it may grow
            data = cases.get(key)
            staged = store.pending_state(str(key))
            if staged is not None:  # judged, not written yet: its deadlines are the ones
                index.schedule(str(key), self._engine().next_due(staged))
                count += 1
            elif data is not None:
                unacknowledged = split(data)[1]
                if recovered and unacknowledged:
                    await outbox.recovered(str(key), unacknowledged)
                if isinstance(data.get(HOME), int):
                    homes[str(key)] = data[HOME]
                try:
                    due = self._engine().next_due(CaseState.from_json(state_of(data)))
                except Exception:  # one unreadable case must not leave the others unarmed
                    failed += 1
                    if failed <= 3:
                        log.exception("cannot index the deadlines of case %s; skipped", key)
                else:
                    index.schedule(str(key), due)
                    count += 1
            if n % REINDEX_CHUNK == 0:
                await asyncio.sleep(0)
        for state in store.pending_states():  # new cases not written yet
            index.schedule(state.case_id, self._engine().next_due(state))
        if failed:
            log.error("%d cases could not be indexed: their deadlines wait for an event", failed)
        return count

    async def index_recovered(self) -> None:
        """`reindex` after a recovery, logged (not lost in an unawaited task)."""
        began = time.monotonic()
        try:
            count = await self.reindex(recovered=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("indexing the recovered cases failed; the next rebalance retries")
            return
        log.info(
            "table recovered: %d cases indexed in %.1f s, %d with a pending deadline",
            count,
            time.monotonic() - began,
            len(self.store.index),
        )

    async def rebuild_index(self) -> None:
        """After a rebalance or a restart, index the deadlines of the cases we now own,
        in the background: recovery ends and the agent resumes at once."""
        for task in self.reindexing:
            task.cancel()  # an earlier rebalance's: this one reads every case again
        task = asyncio.create_task(self.index_recovered(), name="reindex")
        self.reindexing.add(task)
        task.add_done_callback(self.reindexing.discard)


def install(parts: Parts, also_revoked: Callable[[set[int]], None]) -> Recovery:
    """The recovery of `parts`' worker, connected to Faust's rebalances: the partitions
    assigned and revoked (the events partitions revoked passed on to `also_revoked`:
    the case agent), and the recovery of the tables `cases` and `handled` (before the
    agent resumes). A reload of the rules re-indexes through it."""
    recovery = Recovery(
        events_topic=parts.settings.topic_events,
        store=parts.store,
        handled=parts.channels.handled,
        gate=parts.gate,
        continuity=parts.continuity,
        assignment=parts.assignment,
        engine=parts.engine,
    )
    parts.worker.reindex = recovery.reindex

    async def assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        recovery.assigned(args[0] if args else kwargs.get("assigned", ()))

    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        gone = list(args[0] if args else kwargs.get("revoked", ()))
        recovery.revoked(gone)
        also_revoked({tp.partition for tp in gone if tp.topic == recovery.events_topic})

    app: Any = parts.app  # Faust's signals are typed for plain functions
    app.on_partitions_assigned.connect(assigned)  # (sender, assigned)
    app.on_partitions_revoked.connect(revoked)  # (sender, revoked)
    parts.channels.handled.on_recover(recovery.restore_handled)
    parts.channels.cases.on_recover(recovery.rebuild_index)
    return recovery
