"""The data path in one place: decode → validate → dedupe → evaluate → emit.

Both adapters call `process()`: the worker with bytes from Kafka and the wall clock,
replay with a line of a file and the event-time clock. What differs is only where state
lives and where the result goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from supervisor.core.alerts import Alert, Resolution
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


def process(engine: Engine, raw: bytes | str, load: StateLoader) -> Processed:
    """One message through the stages. Deadlines that the event's own time has passed fire
    inside `apply`; those passed only by the caller's clock are the caller's to fire
    (`Engine.advance`), when it judges the case settled."""
    try:
        event = decode(raw)  # decode + validate
    except InvalidEvent as exc:
        return Processed(None, None, rejected=exc.reason)
    outcome = engine.apply(load(event.case_id), event)  # dedupe + evaluate
    if outcome.duplicate:
        return Processed(event, outcome.state, duplicate=True)
    return Processed(  # emit: the caller's
        event, outcome.state, list(outcome.alerts), resolved=list(outcome.resolved)
    )
