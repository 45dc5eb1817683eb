"""Reading the notifier's topics without trusting them: what the planner may act on.

The notifier reads two topics: the alert journal (written by the worker, the web service
and the notifier itself) and its own state topic. A bug in any writer, or anyone able to
write either topic, can put there a record that is not what it claims to be: not JSON,
nested ten thousand levels deep, megabytes long, fields of the wrong type or missing, a
`kind` nobody knows, or a date the planner cannot compute with (a silence ending in year
9999: a month later overflows `datetime`). Raising deep inside the planner, such a record
would stop the notifier, and, read again from the same saved position, stop it again at
every restart: one record would end every notification.

So each record is checked here before anything acts on it. What cannot be trusted is
refused with a `BadRecord`: a bounded `reason` (the label of
`supervisor_notify_records_skipped_total`) and a `detail` naming the field and the
problem, never the value (a value may carry personal data, or be megabytes long). The
caller counts it, logs the record's topic, partition and offset, and goes on with the
next record. Pure: no I/O, no clock (the planner uses it, and must stay pure).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, ValidationError

from supervisor.orders import ORDER

#: Why a record was skipped (the metric's `reason` label; bounded):
#: `malformed` - not UTF-8, not JSON, nested too deep, too large, or not a JSON object;
#: `invalid` - a known kind whose fields are missing, of the wrong type or out of range;
#: `unknown_kind` - a `kind` this notifier does not know (a newer writer, or noise);
#: `error` - a record the notifier failed on unexpectedly (a bug: the log says where).
Reason = Literal["malformed", "invalid", "unknown_kind", "error"]
REASONS: Final[tuple[Reason, ...]] = ("malformed", "invalid", "unknown_kind", "error")
#: Where a skipped record was read (the metric's `source` label).
Source = Literal["journal", "state"]
SOURCES: Final[tuple[Source, ...]] = ("journal", "state")

#: The journal's record kinds (the `kind` field; the worker's alerts and resolutions
#: have none). `delivery` records (the notifier's own history of attempts),
#: `case_change` records (contract §6, the worker's) and `order` records (supervision
#: orders' steps, nothing to send: a late reply comes as an alert) are known; anything
#: else is not.
LIFECYCLE: Final = "lifecycle"
ESCALATION: Final = "escalation"
SILENCE: Final = "silence"
DELIVERY: Final = "delivery"
CASE_CHANGE: Final = "case_change"
KINDS: Final = frozenset({LIFECYCLE, ESCALATION, SILENCE, DELIVERY, CASE_CHANGE, ORDER})

#: The instants the notifier accepts in a record, and keeps in its state. Far from both
#: ends of `datetime` (years 1 and 9999), so that every span the notifier adds to a
#: stored instant (a silence's 31 days and the 30 days an ended one is kept, office
#: hours searched up to 400 days ahead, `keep_closed_days`) stays computable; and wide
#: enough for any real record of this service.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
#: The longest id (alert, rule, case, center, recipient) accepted: real ones are under
#: 100 characters; an id cannot be shortened without mixing two up. A notification's id
#: is made of an alert's and a recipient's: it may be up to NOTIFICATION_ID long.
MAX_ID: Final = 200
NOTIFICATION_ID: Final = 3 * MAX_ID
#: The longest free texts kept of an alert (longer ones are cut, not refused: a real
#: alert with a long message must still reach its director; the wall shows it whole).
MAX_TITLE: Final = 200
MAX_MESSAGE: Final = 4000
#: The largest journal record read at all (bytes). An alert is about 1 KB and no writer
#: of the journal comes near this; a bigger record is skipped unparsed.
MAX_JOURNAL_RECORD: Final = 256 * 1024


class BadRecord(ValueError):
    """A record the notifier does not act on: `reason` (bounded: a metric label) and
    `detail` (which field and what is wrong with it; never the value)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


def decode(value: bytes | None, *, limit: int | None = None) -> dict[str, Any]:
    """A topic record's value as a JSON object, or BadRecord("malformed"). `limit`: the
    most bytes read (None: no limit). Nesting too deep for the parser (RecursionError)
    is malformed too, not an error that escapes."""
    if value is None:
        raise BadRecord("malformed", "no value (a tombstone)")
    if limit is not None and len(value) > limit:
        raise BadRecord("malformed", f"{len(value)} bytes, more than the {limit} read")
    try:
        record = json.loads(value)
    except UnicodeDecodeError:
        raise BadRecord("malformed", "not UTF-8 text") from None
    except RecursionError:
        raise BadRecord("malformed", "JSON nested too deep") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
        raise BadRecord("malformed", f"not JSON ({type(exc).__name__})") from None
    if not isinstance(record, dict):
        raise BadRecord("malformed", f"a JSON {type(record).__name__}, not an object")
    return record


def in_range(moment: datetime) -> bool:
    """True for an aware instant between EARLIEST and LATEST (comparing aware datetimes
    never overflows, whatever their offsets, unlike converting them)."""
    return moment.tzinfo is not None and EARLIEST <= moment < LATEST


def _checked(value: datetime) -> datetime:
    if not in_range(value):
        raise ValueError(
            f"an instant with its offset, within {EARLIEST.year}-{LATEST.year - 1}, is needed"
        )
    return value


#: An instant in a model the notifier reads or keeps (planner state, silences, the
#: outbox): aware and within range, else the model does not validate.
Moment = Annotated[datetime, AfterValidator(_checked)]


def moment(value: object, name: str) -> datetime:
    """`value` (ISO 8601 text, or a datetime) as an aware instant within range, or
    BadRecord("invalid") naming the field `name`."""
    if isinstance(value, str):
        if len(value) > 64:
            raise BadRecord("invalid", f"{name}: not a date and time (too long)")
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BadRecord("invalid", f"{name}: not an ISO 8601 date and time") from None
    if not isinstance(value, datetime):
        raise BadRecord("invalid", f"{name}: a {type(value).__name__}, not a date and time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadRecord("invalid", f"{name}: a date and time without its offset")
    if not in_range(value):
        raise BadRecord("invalid", f"{name}: outside {EARLIEST.year}-{LATEST.year - 1}")
    return value


def optional_moment(record: Mapping[str, Any], name: str) -> datetime | None:
    """The record's field `name` as by `moment`; None when absent or null."""
    value = record.get(name)
    return None if value is None else moment(value, name)


def ident(record: Mapping[str, Any], name: str, limit: int = MAX_ID) -> str:
    """The record's field `name` as a non-empty id of at most `limit` characters."""
    value = record.get(name)
    if value is None:
        raise BadRecord("invalid", f"{name}: missing")
    if not isinstance(value, str):
        raise BadRecord("invalid", f"{name}: a {type(value).__name__}, not text")
    if not value or len(value) > limit:
        raise BadRecord("invalid", f"{name}: {len(value)} characters (1 to {limit})")
    return value


def trim(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, the cut marked with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def kind_of(record: Mapping[str, Any]) -> str:
    """The record's kind: "alert" or "resolution" (the worker's records, which have no
    `kind`; a resolution has `status` "resolved"), one of KINDS, or "unknown"."""
    kind = record.get("kind")
    if kind is None:
        return "resolution" if record.get("status") == "resolved" else "alert"
    if isinstance(kind, str) and kind in KINDS:
        return kind
    return "unknown"


def explain(exc: ValidationError, limit: int = 300) -> str:
    """What pydantic found wrong, by field, without the values it was given (its own
    str() shows them): e.g. `severity: String should match pattern ...`."""
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or '(record)'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return trim("; ".join(parts), limit)


def where(exc: BaseException) -> str:
    """An unexpected exception as its type and the line that raised it, without its
    message (which may quote the record): what the log says of a record skipped as an
    `error`, enough to find the bug."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
