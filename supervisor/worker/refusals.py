"""How the worker refuses a message, so that no message can stop it (no poison message).

Why: one message the worker could neither apply nor dead-letter used to stop supervision
of every center for good. An `accepted` event with a 600 KB `item_name` passed
validation; the case's state, which holds it, no longer fit one changelog message (the
producer sends at most 1,000,000 bytes); the worker crashed, and crashed again at every
restart on the same uncommitted offsets. A 1 MB message could not be dead-lettered
either (its dead letter was as large), and JSON nested 5,000 deep was dead-lettered as an
engine error, paging ops for a center's malformed input.

What the worker writes is now bounded by construction:

- an event is at most 64 KiB (contract §1; `supervisor.core.events.decode` refuses a
  larger one before parsing it), its nesting, numbers and text within what every encoder
  of the service can write;
- a case's state is measured before anything of the event is sent, encoded as its
  changelog message will be and with the alerts it will list beside it (outbox.py): over
  `CASE_STATE_MAX_BYTES` the event is refused ("case state would exceed ...") and the
  case keeps its state before the event. Why refuse the event rather than trim the
  state: the history is what a late event re-judges the case from, and a trimmed history
  would judge it wrongly without saying so; a refused event is visible (the dead-letter
  topic, the metric, the log) and can be sent again once ops have dealt with the case;
- a dead letter is bounded (`supervisor.deadletters.record`: the body cut to 64 KiB with
  its original size in a header), and `store` falls back to the letter without its body
  should the broker still refuse it for its size;
- an exception out of the engine (a bug of ours, or a time the calendar cannot place) is
  a refusal too, with a reason naming the exception's type and where it was raised, never
  its message, which may quote the event (`engine_failure`).

So the offset always moves on, and the message is on the dead-letter topic with a
reason that is bounded, masked and free of the event's values.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from supervisor.deadletters import Record
from supervisor.kafka.admin import PRODUCER_MAX_REQUEST_SIZE

log = logging.getLogger("supervisor.worker")

#: The largest stored value of a case (its state, plus the alerts not yet acknowledged)
#: an event may leave, encoded as the changelog holds it: half the producer's limit. A
#: real case holds a few kilobytes (a history document is ~0.5 KB); this is ~500 events
#: of that size, or 8 events at the contract's 64 KiB. The room above it is for what a
#: case gains without an event (a deadline's fired mark, its alerts: a few KB), which no
#: event can be refused for.
CASE_STATE_MAX_BYTES: Final = 524_288
#: A stored value larger than this is not written at all (a deadline's write only: an
#: event's is refused far below): the producer would refuse it (its key, ≤ 0.5 KB, and the
#: record's overhead, < 100 bytes, come on top). Logged; the case's deadline alerts may
#: then be raised again after a restart (same alert_id: consumers de-duplicate).
STATE_WRITE_MAX_BYTES: Final = PRODUCER_MAX_REQUEST_SIZE - 8_192
#: What the broker or the producer answers for a record too large.
TOO_LARGE: Final = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)

_PACKAGE = Path(__file__).resolve().parents[1]  # .../supervisor

#: Encodes a stored value as the table's changelog does (Faust's codec: bytes).
Dumps = Callable[[Any], bytes]
#: Hands a dead letter to the producer; what it returns completes on acknowledgement.
SendRecord = Callable[[Record], Awaitable[Awaitable[Any]]]


def encoded_size(value: Any, dumps: Dumps) -> int | None:
    """The size in bytes of `value` encoded by `dumps`, or None when it cannot be encoded
    (then it cannot be stored either)."""
    try:
        return len(dumps(value))
    except Exception:  # orjson's JSONEncodeError is a TypeError; a codec may raise others
        return None


def state_refusal(size: int | None, limit: int = CASE_STATE_MAX_BYTES) -> str | None:
    """Why an event whose case would be stored in `size` bytes is refused, or None.

    The reason does not give the size: it depends on the case's alerts not acknowledged
    yet, so the same event refused again after a restart (the worker re-reads its last
    second) would otherwise leave a dead letter differing from the first."""
    if size is None:
        return "case state cannot be encoded for storage; the case is left as it was"
    if size > limit:
        return f"case state would exceed {limit:,} bytes; the case is left as it was"
    return None


@dataclass(frozen=True)
class Failure:
    """An exception out of the engine, as the worker reports it."""

    reason: str  # the dead letter's reason: the type and where, never the message
    bug: bool  # an `engine error` (metric label engine_error, pages ops), else a refusal
    frames: str  # the traceback's frames, without the exception's message: for the log


def engine_failure(exc: BaseException) -> Failure:
    """The report of `exc`, raised while the engine handled a valid event.

    ValueError and OverflowError are the engine's refusal of a time or a time limit it
    cannot place (e.g. outside its calendar's years), which `supervisor replay` reports
    as "cannot apply this event": the center's to fix, not ours (metric label `invalid`).
    Any other exception is a bug of ours: "engine error" (label `engine_error`, the
    `SupervisorEngineErrors` alert). Neither reason quotes the exception's message,
    which may hold the event's values (a KeyError of a name); the dead letter holds the
    event, and `supervisor replay` of it reproduces the message."""
    name = type(exc).__name__
    where = _where(exc.__traceback__)
    frames = "".join(traceback.format_tb(exc.__traceback__))
    if isinstance(exc, ValueError | OverflowError):
        return Failure(
            f"cannot apply this event: {name} at {where} (a time or a time limit the "
            "engine cannot place, e.g. outside its calendar's years; `supervisor replay` "
            "of the exported event shows the engine's message)",
            bug=False,
            frames=frames,
        )
    return Failure(
        f"engine error: {name} at {where} (a bug: the worker's log has the traceback; "
        "`supervisor replay` of the exported event reproduces it)",
        bug=True,
        frames=frames,
    )


def _where(tb: TracebackType | None) -> str:
    """The innermost frame of the traceback in the service's own code, as
    `supervisor/core/deadlines.py:46 in _deadline` (a library's frame when none is)."""
    found = "an unknown place"
    for frame, line in traceback.walk_tb(tb):
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(_PACKAGE):
            shown = path.relative_to(_PACKAGE.parent).as_posix()
            found = f"{shown}:{line} in {frame.f_code.co_name}"
        elif found == "an unknown place":
            found = f"{path.name}:{line} in {frame.f_code.co_name}"
    return found


async def store(send: SendRecord, letter: Record) -> bool:
    """Put a dead letter on its topic and wait for the broker's acknowledgement (the
    offset of the refused message must not be committed before its letter is stored).

    A letter refused for its size (a dead-letter topic created with a smaller
    `max.message.bytes` than ours) is stored again without its body: its headers say why,
    where it came from and how large it was. Should even that be refused, the letter is
    logged and given up: the message is lost rather than the worker stopped. Any other
    error (the broker away longer than the producer's delivery timeout) propagates, as
    for any message the worker cannot write: Faust restarts from the last commit."""
    for attempt in (letter, letter.without_body()):
        try:
            pending = await send(attempt)
            await pending
        except TOO_LARGE as exc:
            log.error(
                "dead letter of %s refused for its size (%d bytes of body): %s",
                _source(letter),
                len(attempt.value),
                type(exc).__name__,
            )
            continue
        return True
    log.error(
        "dead letter of %s NOT STORED: even without its body it was refused; its reason: %s",
        _source(letter),
        next((v.decode("utf-8", "replace") for n, v in letter.headers if n == "reason"), ""),
    )
    return False


def _source(letter: Record) -> str:
    return next((v.decode("utf-8", "replace") for n, v in letter.headers if n == "source"), "?")
