"""The data path in one place: one ordered list of stages every driver runs.

    decode → validate → (not from the future) → dedupe → evaluate → emit

`STAGES` holds them in that order (decode and validate are one stage: `events.decode`
does both, on the raw bytes). Each stage looks at the `Message` on its way and either
ends its way with a `Processed` (refused, a re-delivery, judged) or lets the next stage
have it. `process()` runs them; emit is the driver's own last step, because only the
driver knows where a result goes:

- the worker's case agent (supervisor/worker/case_agent.py) runs them on the bytes of a
  Kafka message with its table as the states and its wall clock for the future check,
  and emits to the alerts topic, the table, the facts and the dead-letter topic;
- `supervisor replay` (supervisor/replay.py) runs them on each line of a file with a
  `Runner`'s dict as the states and no future check, and emits to the runner
  (`Runner.record`), whose clock is the events' own time.

So the two cannot judge an event differently: what differs is only where state lives
and where the result goes.

Events from the future: the engine trusts `occurred_at` (it fires every deadline of the
case up to the event's time), so an event stamped far ahead of the real time (a center's
clock set wrong, a typo in a year) would raise a case's deadlines early. The live worker
passes a `FutureCheck` with its clock: such an event is refused, with the reason, before
it touches the case (before dedupe too: a refused event is refused whatever the case
holds). Replay passes none: it has no clock but the events' own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, InvalidEvent, decode
from supervisor.core.state import CaseState

StateLoader = Callable[[str], CaseState | None]


@dataclass
class Processed:
    """Where a message's way through the stages ended: refused (`rejected`, with the
    reason the dead letter carries), a re-delivery (`duplicate`), or judged (the event,
    the case's new state and what it raised), for the driver to emit."""

    event: CaseEvent | None
    state: CaseState | None
    alerts: list[Alert] = field(default_factory=list)
    rejected: str | None = None  # why the message is not an event (goes to the DLQ)
    duplicate: bool = False
    resolved: list[Resolution] = field(default_factory=list)  # proved wrong by a late event
    rejected_future: bool = False  # rejected for an occurred_at too far ahead (FutureCheck)
    changes: list[CaseChange] = field(default_factory=list)  # what the case did to its alerts
    restated: list[Alert] = field(default_factory=list)  # see Outcome.restated


@dataclass(frozen=True)
class FutureCheck:
    """Refuse an event whose `occurred_at` is more than `tolerance` after `now`, the time
    by `clock` (named in the reason, e.g. "the worker's clock").

    With `latest` (the clock itself), `now` may be an earlier reading of it, kept for
    many events because a reading costs more than the check: an event within
    `tolerance` of it is within `tolerance` of any later time too, and one beyond it is
    checked again against a fresh reading before it is refused."""

    now: datetime
    tolerance: timedelta
    clock: str = "the worker's clock"
    latest: Callable[[], datetime] | None = None

    def reason(self, event: CaseEvent) -> str | None:
        """Why the event is refused, or None when it is not too far ahead."""
        if event.occurred_at - self.now <= self.tolerance:
            return None
        now = self.now if self.latest is None else self.latest()
        ahead = event.occurred_at - now
        if ahead <= self.tolerance:
            return None
        # how far ahead, not the value itself: a reason never echoes the message
        return (
            f"from the future: occurred_at is {_duration(ahead)} ahead of {self.clock} "
            f"({now.isoformat(timespec='seconds')}); "
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


@dataclass(slots=True)
class Message:
    """One message on its way through the stages: its raw form and the collaborators the
    driver passes (engine, where states are read, the future check), and what the
    stages found so far (the event once decoded, the case's state once read)."""

    raw: bytes | str
    engine: Engine
    load: StateLoader
    future: FutureCheck | None = None
    event: CaseEvent | None = None
    state: CaseState | None = None


#: A stage: a `Processed` ends the message's way (what the driver emits); None passes it on.
Stage = Callable[[Message], Processed | None]


def decode_and_validate(message: Message) -> Processed | None:
    """The bytes (or text) parsed and validated into a `CaseEvent`; else refused with a
    reason that names the field, never its value (supervisor/core/events.py)."""
    try:
        message.event = decode(message.raw)
    except InvalidEvent as exc:
        return Processed(None, None, rejected=exc.reason)
    return None


def not_from_the_future(message: Message) -> Processed | None:
    """With the driver's `FutureCheck`, an event too far ahead of its clock is refused
    (`rejected_future` tells it from a malformed one) and changes nothing."""
    future, event = message.future, message.event
    assert event is not None
    if future is not None:
        reason = future.reason(event)
        if reason is not None:
            return Processed(event, None, rejected=reason, rejected_future=True)
    return None


def dedupe(message: Message) -> Processed | None:
    """The case's state read (none for a new case); an `event_id` it already has is a
    re-delivery, and nothing changes (the same test `Engine.apply` makes first)."""
    event = message.event
    assert event is not None
    state = message.state = message.load(event.case_id)
    if state is not None and state.has_event(event.event_id):
        return Processed(event, state, duplicate=True)
    return None


def evaluate(message: Message) -> Processed:
    """The engine's judgement of the event on the case (`Engine.apply`): deadlines the
    event's own time has passed fire first, then the event's rules. Emit is the driver's:
    `Processed` carries the event, the new state, its alerts, resolutions and changes."""
    event = message.event
    assert event is not None
    outcome = message.engine.apply(message.state, event)
    if outcome.duplicate:  # not reached after `dedupe`; kept for a list without it
        return Processed(event, outcome.state, duplicate=True)
    return Processed(
        event,
        outcome.state,
        list(outcome.alerts),
        resolved=list(outcome.resolved),
        changes=list(outcome.changes),
        restated=list(outcome.restated),
    )


#: The stages in order; the last always decides.
STAGES: tuple[Stage, ...] = (decode_and_validate, not_from_the_future, dedupe, evaluate)


def run(message: Message, stages: Sequence[Stage] = STAGES) -> Processed:
    """`message` through `stages` in order, until one decides."""
    for stage in stages:
        result = stage(message)
        if result is not None:
            return result
    raise ValueError("no stage decided: the last stage must return a result")


def process(
    engine: Engine, raw: bytes | str, load: StateLoader, future: FutureCheck | None = None
) -> Processed:
    """One message through `STAGES`. Deadlines that the event's own time has passed fire
    inside `apply`; those passed only by the caller's clock are the caller's to fire
    (`Engine.advance`), when it judges the case settled. With `future`, an event too far
    ahead of the caller's clock is rejected (`rejected_future` tells it from a malformed
    one) and changes nothing."""
    return run(Message(raw, engine, load, future))
