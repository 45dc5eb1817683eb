"""The worker's side of `center.silent`: one center's activity, seen across partitions.

Cases are partitioned by case_id, so no partition sees all of a center's events. Each
cases agent forwards a small note (center, event time) to the internal single-partition
topic `<app_id>-centers`, at most one a minute per center plus every late one, and the
`centers` agent that owns it keeps `CenterState` per center in a changelog-backed table.
The leader's timer sends it a tick, unless events are still unread anywhere in the
consumer group (a worker restarting, partitions handed over, downtime: see
`gate.GroupGate`, which compares the group's committed offsets with the end offsets it
noted); on each tick every registered center is judged (`CenterWatch.advance`) at the
worker's clock less the settle period, so a township's batch is applied before its
silence is judged. A center with no state yet is watched from that moment, so one that
never sends anything is noticed too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import faust

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert, Resolution
from supervisor.core.events import CaseEvent
from supervisor.core.silence import CenterState, CenterWatch
from supervisor.settings import Settings

log = logging.getLogger("supervisor.worker.centers")

#: Notes closer than this to the last one forwarded for a center add nothing: silence
#: is measured in hours.
FORWARD_EVERY = timedelta(minutes=1)
_TICK = b"tick"


def centers_topic(settings: Settings) -> str:
    return f"{settings.app_id}-centers"


class CenterNotes:
    """Decides which events are worth a note to the centers agent (in memory, per worker:
    after a restart the first event of each center is forwarded again, harmlessly)."""

    def __init__(self, registry: CenterRegistry) -> None:
        self._registry = registry
        self._last: dict[str, datetime] = {}

    def note(self, event: CaseEvent) -> bytes | None:
        code, at = event.center_id, event.occurred_at
        if code not in self._registry:
            return None  # the rule watches registered centers only
        last = self._last.get(code)
        if last is not None and last <= at < last + FORWARD_EVERY:
            return None
        if last is None or at > last:
            self._last[code] = at
        return json.dumps({"at": at.isoformat()}).encode()


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
    """Add the centers topic, table, agent and tick timer to `app`; return the coroutine
    the cases agent calls for each new event."""
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    topic = app.topic(centers_topic(settings), partitions=1, internal=True, **raw)
    table = app.Table("centers", default=None, partitions=1, key_type=str)
    notes = CenterNotes(registry)
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
                seen_at = datetime.fromisoformat(json.loads(message.value or b"{}")["at"])
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a malformed center note for %r", code)
                continue
            # watched from now at the earliest: a backlog of old events says nothing of
            # a silence before this worker began to watch
            state = load(code) or current.start(code, now() - settle)
            outcome = current.seen(state, code, seen_at)
            await publish(outcome.alerts, now())
            await publish_resolved(outcome.resolved)
            keep(outcome.state)

    # Silence is measured in hours: a tick a second at most, whatever the deadline tick.
    @app.timer(interval=max(settings.tick_seconds, 1.0), on_leader=True)
    async def tick_centers() -> None:
        if await behind():  # events wait unread (after downtime): silence is not proven
            return
        await topic.send(key=b"", value=_TICK)

    async def forward(event: CaseEvent) -> None:
        note = notes.note(event)
        if note is not None:
            await topic.send(key=event.center_id.encode(), value=note)

    return forward
