"""The data path in one place: decode → validate → dedupe → evaluate → emit.

Both adapters call `process()`: the worker with bytes from Kafka and the wall clock,
replay with a line of a file and the event-time clock. What differs is only where state
lives and where the result goes.

Events from the future: the engine trusts `occurred_at` (it fires every deadline of the
case up to the event's time), so an event stamped far ahead of the real time (a center's
clock set wrong, a typo in a year) would raise a case's deadlines early. The live worker
passes a `FutureCheck` with its clock: such an event is refused, with the reason, before
it touches the case. Replay passes none: it has no clock but the events' own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, InvalidEvent, decode
from supervisor.core.state import CaseState

StateLoader = Callable[[str], CaseState | None]


@dataclass
class Processed:
    event: CaseEvent | None
    state: CaseState | None
    alerts: list[Alert] = field(default_factory=list)
    rejected: str | None = None  # why the message is not an event (goes to the DLQ)
    duplicate: bool = False
    resolved: list[Resolution] = field(default_factory=list)  # proved wrong by a late event
    rejected_future: bool = False  # rejected for an occurred_at too far ahead (FutureCheck)
    changes: list[CaseChange] = field(default_factory=list)  # what the case did to its alerts


@dataclass(frozen=True)
class FutureCheck:
    """Refuse an event whose `occurred_at` is more than `tolerance` after `now`, the time
    by `clock` (named in the reason, e.g. "the worker's clock")."""

    now: datetime
    tolerance: timedelta
    clock: str = "the worker's clock"

    def reason(self, event: CaseEvent) -> str | None:
        """Why the event is refused, or None when it is not too far ahead."""
        ahead = event.occurred_at - self.now
        if ahead <= self.tolerance:
            return None
        return (
            f"from the future: occurred_at {event.occurred_at.isoformat()} is "
            f"{_duration(ahead)} ahead of {self.clock} ({self.now.isoformat(timespec='seconds')}); "
            f"at most {_duration(self.tolerance)} ahead is accepted"
        )


def _duration(span: timedelta) -> str:
    """1 d 2 h 3 min 4 s, largest units first, whole seconds."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds} s")
    return " ".join(parts)


def process(
    engine: Engine, raw: bytes | str, load: StateLoader, future: FutureCheck | None = None
) -> Processed:
    """One message through the stages. Deadlines that the event's own time has passed fire
    inside `apply`; those passed only by the caller's clock are the caller's to fire
    (`Engine.advance`), when it judges the case settled. With `future`, an event too far
    ahead of the caller's clock is rejected (`rejected_future` tells it from a malformed
    one) and changes nothing."""
    try:
        event = decode(raw)  # decode + validate
    except InvalidEvent as exc:
        return Processed(None, None, rejected=exc.reason)
    if future is not None:
        reason = future.reason(event)
        if reason is not None:
            return Processed(event, None, rejected=reason, rejected_future=True)
    outcome = engine.apply(load(event.case_id), event)  # dedupe + evaluate
    if outcome.duplicate:
        return Processed(event, outcome.state, duplicate=True)
    return Processed(  # emit: the caller's
        event,
        outcome.state,
        list(outcome.alerts),
        resolved=list(outcome.resolved),
        changes=list(outcome.changes),
    )
