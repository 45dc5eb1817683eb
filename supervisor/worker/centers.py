"""The worker's side of `center.silent`: one center's activity, seen across partitions.

Cases are partitioned by case_id, so no partition sees all of a center's events. Each
cases agent notes the event times worth forwarding (`CenterNotes`: at most one a minute
per center, plus every late one) and sends them to the internal single-partition topic
`<app_id>-centers`; the `centers` agent that owns it keeps `CenterState` per center in a
changelog-backed table. The leader's timer sends it a tick, unless events are still
unread anywhere in the consumer group (a worker restarting, partitions handed over,
downtime: see `gate.GroupGate`, which compares the group's committed offsets with the
end offsets it noted); on each tick every registered center is judged
(`CenterWatch.advance`) at the worker's clock less the settle period, so a township's
batch is applied before its silence is judged. A center with no state yet is watched
from that moment, so one that never sends anything is noticed too.

Notes are sent in batches. One message per note cost a produce, a whole iteration of the
`centers` agent and usually a changelog write: on a backlog of 40 days of realistic
events read at once (bench/pipeline_throughput.py, 30,000 events) the cases agents sent
29,686 notes and the table took 19,272 writes, and the worker ran at ~700 events/s
against 900-1,000 with no notes at all. So `forward(event)` only records the event time
in memory, and every `FLUSH_SECONDS` (a timer), when `FLUSH_AT` times are waiting, and
on a clean shutdown, the buffer is sent as ONE message per center, keyed by its code,
with its times in the order they were recorded: `{"at": ["<iso>", ...]}` (the agent still
reads the single `{"at": "<iso>"}` an older worker wrote). The agent applies
`CenterWatch.seen` to each time in that order, publishes what they raise and resolve,
and writes the center's state once per message, and only if it changed (a time before
the center's latest that resolves nothing changes nothing). Order is kept: one
partition, one message per center per flush, flushes one after the other. The same
bench: ~3,500 messages (ticks included), 69 table writes, 820-960 events/s against
620-700 before on the same machine.

Delivery: Faust flushes its producer before it commits offsets, but it does not know
our buffer, so the offsets of an event may be committed while its note still waits
here. A worker killed then (a clean shutdown flushes the buffer) loses the notes of up
to the last `FLUSH_SECONDS`, as a note still in the producer's buffer could be lost
before (the event read again after the restart is a duplicate if its case state had
reached the changelog, and duplicates are not forwarded); the window is only wider by
`FLUSH_SECONDS`. What a lost note can do: nothing if the center sends later events
before falling quiet (the latest time is what counts). If the lost times were its last
before a quiet stretch, the center is judged silent from an earlier time, and a
`center.silent` alert may be raised early or without ground. Another event of the
center resolves that alert only if its time falls inside the alerted stretch (a late
event, before the alert's due time); the center's next live event comes after it, ends
the stretch and leaves the alert standing. A lost late time may likewise leave an alert
unresolved that it would have resolved.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

import faust

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert, Resolution
from supervisor.core.events import CaseEvent
from supervisor.core.silence import CenterOutcome, CenterState, CenterWatch
from supervisor.settings import Settings

log = logging.getLogger("supervisor.worker.centers")

#: Notes closer than this to the last one forwarded for a center add nothing: silence
#: is measured in hours.
FORWARD_EVERY = timedelta(minutes=1)
#: How often the recorded notes are sent (a timer of every worker).
FLUSH_SECONDS = 0.5
#: Recorded times that make the cases agent send them at once, without waiting for the
#: timer: bounds the buffer (and a message: ~40 bytes a time, well under Kafka's 1 MB).
FLUSH_AT = 4096
_TICK = b"tick"


def centers_topic(settings: Settings) -> str:
    return f"{settings.app_id}-centers"


def encode_times(times: Iterable[datetime]) -> bytes:
    """A note's value: the center's event times, in order."""
    return json.dumps({"at": [at.isoformat() for at in times]}).encode()


def decode_times(value: bytes | None) -> list[datetime]:
    """The event times of a note: `{"at": [iso, ...]}`, or an older worker's
    `{"at": iso}`. ValueError if it is neither."""
    try:
        at = json.loads(value or b"{}")["at"]
        if isinstance(at, str):
            return [datetime.fromisoformat(at)]
        if isinstance(at, list) and at:
            return [datetime.fromisoformat(item) for item in at]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a center note: {exc}") from exc
    raise ValueError("not a center note: no times")


class CenterNotes:
    """Decides which events are worth a note to the centers agent and keeps them until
    they are sent (in memory, per worker: after a restart the first event of each center
    is forwarded again, harmlessly)."""

    def __init__(self, registry: CenterRegistry) -> None:
        self._registry = registry
        self._last: dict[str, datetime] = {}
        self._pending: dict[str, list[datetime]] = {}  # in order of first record
        self.waiting = 0  # times recorded, not yet taken

    def note(self, event: CaseEvent) -> bool:
        """Record the event's time if it is worth a note; True if it was recorded."""
        code, at = event.center_id, event.occurred_at
        if code not in self._registry:
            return False  # the rule watches registered centers only
        last = self._last.get(code)
        if last is not None and last <= at < last + FORWARD_EVERY:
            return False
        if last is None or at > last:
            self._last[code] = at
        self._pending.setdefault(code, []).append(at)
        self.waiting += 1
        return True

    def take(self) -> list[tuple[bytes, bytes]]:
        """The messages to send, (key, value) per center with times recorded, centers in
        order of their first record; the buffer is empty afterwards."""
        pending, self._pending, self.waiting = self._pending, {}, 0
        return [(code.encode(), encode_times(times)) for code, times in pending.items()]


def apply_times(
    watch: CenterWatch, state: CenterState, code: str, times: Iterable[datetime]
) -> CenterOutcome:
    """`watch.seen` for each time in order: the last state, and every alert and
    resolution of the way, in the order they came."""
    outcome = CenterOutcome(state)
    for at in times:
        step = watch.seen(outcome.state, code, at)
        outcome.state = step.state
        outcome.alerts += step.alerts
        outcome.resolved += step.resolved
    return outcome


def install(
    app: faust.App,
    settings: Settings,
    registry: CenterRegistry,
    watch: Callable[[], CenterWatch],
    now: Callable[[], datetime],
    publish: Callable[[list[Alert], datetime], Awaitable[None]],
    publish_resolved: Callable[[list[Resolution]], Awaitable[None]],
    watched: Callable[[int], None],
    behind: Callable[[], Awaitable[bool]],
) -> Callable[[CaseEvent], Awaitable[None]]:
    """Add the centers topic, table, agent, tick and flush timers to `app`; return the
    coroutine the cases agent calls for each new event."""
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    topic = app.topic(centers_topic(settings), partitions=1, internal=True, **raw)
    table = app.Table("centers", default=None, partitions=1, key_type=str)
    notes = CenterNotes(registry)
    sending = asyncio.Lock()  # one flush at a time: a center's messages stay in order
    codes = [center.code for center in registry.all()]
    settle = timedelta(seconds=settings.settle_seconds)

    def load(code: str) -> CenterState | None:
        data = table.get(code)
        return CenterState.from_json(data) if data is not None else None

    def keep(state: CenterState) -> None:
        table[state.center_id] = state.to_json()

    @app.agent(topic, name="centers")
    async def judge(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            current = watch()
            if message.value == _TICK:
                if not current.enabled:
                    continue
                at = now() - settle
                for code in codes:
                    state = load(code)
                    if state is None:
                        keep(current.start(code, at))
                        continue
                    outcome = current.advance(state, at)
                    if outcome.alerts:
                        await publish(outcome.alerts, now())
                        keep(outcome.state)
                watched(len(codes))
                continue
            code = (message.key or b"").decode("utf-8", "replace")
            try:
                times = decode_times(message.value)
            except ValueError:
                log.warning("skipping a malformed center note for %r", code)
                continue
            # watched from now at the earliest: a backlog of old events says nothing of
            # a silence before this worker began to watch
            known = load(code)
            state = known or current.start(code, now() - settle)
            outcome = apply_times(current, state, code, times)
            if outcome.alerts:
                await publish(outcome.alerts, now())
            if outcome.resolved:
                await publish_resolved(outcome.resolved)
            if known is None or outcome.state != known:
                keep(outcome.state)

    # Silence is measured in hours: a tick a second at most, whatever the deadline tick.
    @app.timer(interval=max(settings.tick_seconds, 1.0), on_leader=True)
    async def tick_centers() -> None:
        if await behind():  # events wait unread (after downtime): silence is not proven
            return
        await topic.send(key=b"", value=_TICK)

    async def flush() -> None:
        async with sending:  # taken inside: a later flush never overtakes this one
            for key, value in notes.take():
                await topic.send(key=key, value=value)

    @app.timer(interval=FLUSH_SECONDS)
    async def flush_notes() -> None:
        if notes.waiting:
            await flush()

    async def flush_on_shutdown(sender: Any, **kwargs: Any) -> None:
        await flush()  # after the consumer stopped, before Faust flushes its producer

    app.on_before_shutdown.connect(cast(Any, flush_on_shutdown))

    async def forward(event: CaseEvent) -> None:
        if notes.note(event) and notes.waiting >= FLUSH_AT:
            await flush()

    return forward
