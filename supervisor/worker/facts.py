"""Case facts: one compact fact per applied event, for the wall's headline figures and
the per-center statistics (projected into the read model by `supervisor.store.projection`).

After each event the worker applied (not a re-delivery, not a rejected message), it sends
to the facts topic (`SUPERVISOR_TOPIC_FACTS`, default `case-facts`, as many partitions as
the events topic), in a frame (below), a UTF-8 JSON object:

    {"case_id": "451221-2026-0001234", "center_id": "451221",
     "event_type": "concluded", "occurred_at": "2026-11-20T16:00:00+08:00",
     "status": "concluded",                      # the case's status after the event
     "accepted_at": "2026-11-16T10:00:00+08:00",  # or null
     "concluded_at": "2026-11-20T16:00:00+08:00", # or null
     "deadline": "2026-11-24T00:00:00+08:00",     # promised deadline (engine), or null
     "statutory_deadline": "2026-12-01T00:00:00+08:00",  # statutory (法定), or null
     "on_time": true,                             # concluded after acceptance: by the
                                                  # deadline or not; else null
     "department": "南丹县市场监督管理局",          # who handled it (contract §7): the
     "window_id": "W12", "staff_id": "nd-0107"}   # event's, else the case's latest known

and, on the fact of an `evaluated` event only, the applicant's rating `"level"` (1-5).

Times are ISO 8601 in the center's local time (with fractions of a second only when the
event had them); `status` is one of received, open, concluded, not_accepted, withdrawn.
No personal data: a fact names the case, never the applicant. A late event re-judges the
case, and its fact carries the re-judged state.

Sent only when a figure changes: a fact whose fields other than `event_type` and
`occurred_at` equal the last one this worker sent for the case (a step completed by the
same hands, a decision that changes no date) is not sent, about half of a day's events.
The facts of ratings, follow-ups, complaints and answers are always sent: each is a row
the assessment counts. So `case_facts` holds every fact that changed the case or is
counted, and the read model's `cases` row is as up to date as before; the centers' latest
events come from the events topic (supervisor/store/projection.py). A worker remembers
the last fact of `FIGURES_MAX` cases; after a restart each case's next fact is sent.

Framed: the facts of an events partition wait in a frame, one Kafka record holding a JSON
array of them (in the order their events were judged), sent when the partition's batch
of states is written (case_agent.py: at most `SUPERVISOR_BATCH_SECONDS` later), or
sooner once the frame holds `FRAME_FACTS` facts or `FRAME_BYTES` bytes. The record is
keyed by the partition's number, so the frames of one partition keep their order. One
record for a few hundred facts instead of one each: the facts took a quarter of the
worker's CPU when each was a record of its own (bench/RESULTS.md). Readers take a record
holding one fact object too (what the worker sent before).

Delivery: a frame is handed to the producer after its batch's states are written, and not
awaited (unlike alerts, whose acknowledgement the batch's write waits for). The facts of a
batch not written (a crash, a revocation: `drop`) are not sent: their events are judged
again and their facts sent then; only a frame sent early, full, before its batch was
written, is sent again that way. A frame lost in flight is not sent again; facts sent
again (that full frame, or a batch written, the offsets not yet committed, then a crash)
repeat each fact's (case_id, event_type, occurred_at), by which readers de-duplicate.
So a lost fact only skews a statistic (a count it carried stays missing; whether the
case is open is right again from its next fact); it never loses an alert nor delays the
case. Failures are counted (`supervisor_worker_facts_total{result="failed"}`, per
fact) and logged, and never stop the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

import faust
import orjson

from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, EvaluatedPayload, EventType
from supervisor.core.state import CaseState
from supervisor.settings import Settings
from supervisor.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

#: Events whose facts are rows the assessment counts (ratings, follow-ups, complaints and
#: their answers): always sent.
COUNTED = frozenset(
    {EventType.EVALUATED, EventType.RECTIFIED, EventType.COMPLAINED, EventType.COMPLAINT_ANSWERED}
)
#: Cases whose last fact sent is remembered (a hash each).
FIGURES_MAX = 200_000

#: A frame is sent once it holds this many facts ...
FRAME_FACTS = 500
#: ... or this many bytes (a fact is ~400 bytes; the topic takes records up to 1 MB).
FRAME_BYTES = 256 * 1024

#: Sends (key, value) to the facts topic; returns what the producer will complete (for
#: Faust, a FutureMessage: an asyncio future).
Send = Callable[[bytes, bytes], Awaitable[Awaitable[Any]]]


def _iso(instant: datetime | None, engine: Engine, state: CaseState) -> str | None:
    if instant is None:
        return None
    return engine.calendar_of(state).local(instant).isoformat()


class Figures(NamedTuple):
    """What a fact says about its case, before its times are written out: what
    `FactPublisher.changed` compares (unformatted, so an unchanged fact, about half of
    them, is never written out)."""

    case_id: str
    center_id: str
    status: str
    accepted_at: datetime | None
    concluded_at: datetime | None
    deadline: datetime | None
    statutory_deadline: datetime | None
    on_time: bool | None
    department: str | None
    window_id: str | None
    staff_id: str | None


def figures(engine: Engine, event: CaseEvent, state: CaseState) -> Figures:
    """The figures of `event`'s fact, whose case's state after the event is `state`."""
    deadline = engine.promised_deadline(state)
    on_time: bool | None = None
    if (
        state.status == "concluded"
        and state.accepted_at is not None
        and state.concluded_at is not None
        and deadline is not None
    ):
        on_time = state.concluded_at <= deadline
    return Figures(
        state.case_id,
        state.center_id,
        state.status,
        state.accepted_at,
        state.concluded_at,
        deadline,
        engine.statutory_deadline(state),
        on_time,
        # who handled it (contract §7): the event's own, else the case's latest known
        event.department or state.department,
        event.window_id or state.window_id,
        event.staff_id or state.staff_id,
    )


def fact(
    engine: Engine, event: CaseEvent, state: CaseState, of: Figures | None = None
) -> dict[str, Any]:
    """The fact of `event` applied to its case, whose state after the event is `state`
    (`of`: its figures, when already known)."""
    known = figures(engine, event, state) if of is None else of
    return {
        "case_id": known.case_id,
        "center_id": known.center_id,
        "event_type": event.type.value,
        "occurred_at": _iso(event.occurred_at, engine, state),
        "status": known.status,
        "accepted_at": _iso(known.accepted_at, engine, state),
        "concluded_at": _iso(known.concluded_at, engine, state),
        "deadline": _iso(known.deadline, engine, state),
        "statutory_deadline": _iso(known.statutory_deadline, engine, state),
        "on_time": known.on_time,
        "department": known.department,
        "window_id": known.window_id,
        "staff_id": known.staff_id,
        **_rating(event),
    }


def _rating(event: CaseEvent) -> dict[str, Any]:
    """The applicant's rating (好差评, 1-5) on the fact of an `evaluated` event, for the
    assessment's 好评率 and 差评率; nothing on any other fact."""
    if event.type is not EventType.EVALUATED:
        return {}
    return {"level": event.payload_as(EvaluatedPayload).level}


def frame_of(values: list[bytes]) -> bytes:
    """One record's value for facts already encoded: a JSON array of them, in order."""
    return b"[" + b",".join(values) + b"]"


def install(app: faust.App, settings: Settings, metrics: WorkerMetrics) -> FactPublisher:
    """The publisher the cases agent calls. Frames go to the producer directly, not
    through a Faust topic: its channel, FutureMessage and callbacks are not needed for
    raw bytes, no transaction, delivery watched by the callback below."""
    topic = settings.topic_facts

    async def send(key: bytes, value: bytes) -> Awaitable[Any]:
        return await app.producer.send(topic, key, value, None, None, None)

    return FactPublisher(send, metrics)


class FactPublisher:
    """Called by the cases agent for each judged event (`await publish(engine, event,
    state, partition)`), then `await flush(partition)` once the partition's states are
    written, `drop(partitions)` for partitions it no longer owns."""

    def __init__(
        self,
        send: Send,
        metrics: WorkerMetrics,
        *,
        frame_facts: int = FRAME_FACTS,
        frame_bytes: int = FRAME_BYTES,
    ) -> None:
        self._send = send
        self._metrics = metrics
        self._frame_facts = frame_facts
        self._frame_bytes = frame_bytes
        self._last: OrderedDict[str, int] = OrderedDict()  # case_id -> hash of its figures
        self._frames: dict[int, list[bytes]] = {}  # partition -> encoded facts waiting
        self._sizes: dict[int, int] = {}  # partition -> their bytes
        self._unchanged = metrics.facts.labels("unchanged")

    def changed(self, case: Figures, event: CaseEvent) -> bool:
        """Whether the fact says something new about its case (or is counted), noting its
        figures as the case's last."""
        digest = hash(case)
        last = self._last
        case_id = case.case_id
        known = last.get(case_id)
        last[case_id] = digest
        last.move_to_end(case_id)
        if len(last) > FIGURES_MAX:
            last.popitem(last=False)
        return known != digest or event.type in COUNTED

    async def __call__(
        self, engine: Engine, event: CaseEvent, state: CaseState, partition: int
    ) -> None:
        try:
            case = figures(engine, event, state)
            if not self.changed(case, event):
                self._unchanged.inc()
                return
            value = orjson.dumps(fact(engine, event, state, case))
        except Exception:  # a statistic must never stop the supervision
            self._metrics.facts.labels("failed").inc()
            log.exception("case fact of %s not made", state.case_id)
            return
        frame = self._frames.setdefault(partition, [])
        frame.append(value)
        size = self._sizes[partition] = self._sizes.get(partition, 0) + len(value) + 1
        if len(frame) >= self._frame_facts or size >= self._frame_bytes:
            await self.flush(partition)

    def waiting(self, partition: int) -> int:
        """Facts of `partition` not handed to the producer yet."""
        return len(self._frames.get(partition, ()))

    async def flush(self, partition: int) -> None:
        """Hand the partition's frame to the producer (not awaited)."""
        frame = self._frames.pop(partition, None)
        self._sizes.pop(partition, None)
        if not frame:
            return
        try:
            pending = await self._send(str(partition).encode(), frame_of(frame))
        except Exception:  # a statistic must never stop the supervision
            self._metrics.facts.labels("failed").inc(len(frame))
            log.exception("%d case facts of partition %d not sent", len(frame), partition)
            return
        # A future already (Faust's FutureMessage): no task, only a callback.
        asyncio.ensure_future(pending).add_done_callback(
            lambda done: self._delivered(done, partition, len(frame))
        )

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the facts of partitions handed to another worker: their batch was not
        written, so their events are judged again there, and their facts sent then."""
        for partition in partitions:
            self._frames.pop(partition, None)
            self._sizes.pop(partition, None)

    def _delivered(self, done: asyncio.Future[Any], partition: int, count: int) -> None:
        error = None if not done.cancelled() else "cancelled"
        if error is None and done.exception() is not None:
            error = repr(done.exception())
        if error is None:
            self._metrics.facts.labels("published").inc(count)
            return
        self._metrics.facts.labels("failed").inc(count)
        log.warning("%d case facts of partition %d not delivered: %s", count, partition, error)
