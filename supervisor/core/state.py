"""What the engine remembers about one case between events.

Plain data, JSON-serialisable (`to_json`/`from_json`), because the worker keeps it in a
changelog-backed Faust table and a restarted worker must rebuild exactly this. Deadlines
are not stored: they are derived from these facts by the engine each time, so a changed
calendar or rule threshold applies to open cases at once.

The classes are slotted dataclasses; the codec is written out here, field by field. The
stored form is the one the state had as a pydantic model (`model_dump(mode="json",
exclude_defaults=True)`, history compacted), to the byte, so that a worker reads a
changelog written before and after this form was written by hand: every field in its
declared order, a field equal to its default left out, a float field written as a float,
a datetime as pydantic writes one (`Z` for UTC, an offset in whole minutes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Literal, cast, get_args

from supervisor.core.numerals import limit_label

Status = Literal["received", "open", "concluded", "not_accepted", "withdrawn"]
Unit = Literal["working_day", "natural_day"]


class StateDecodeError(ValueError):
    """A stored case state that is not one: which field, and what is wrong with it (never
    its value, which may quote an applicant's data). A ValueError, as pydantic's
    ValidationError was, so the worker reports it as it did."""


@dataclass(frozen=True, slots=True)
class LimitState:
    """A time limit: a number of working or natural days.

    For an approved `natural_day` extension, `suspended_before` is the working time the
    case had spent suspended (closed stretches) when it was approved: it moves the
    deadline as it stood then, suspensions before it included, and calendar days are
    counted from there (contract §2: each moves the deadline it finds)."""

    value: float
    unit: Unit
    suspended_before: float = 0.0

    def label(self) -> str:
        return limit_label(self.value, self.unit)


@dataclass(frozen=True, slots=True)
class Rating:
    """A bad rating waiting to be rectified: its time and which bad rating of the case."""

    number: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Complaint:
    """A complaint waiting for its answer: its time and which complaint of the case."""

    number: int
    at: datetime


@dataclass(slots=True)
class CaseState:
    """One case's facts. The engine copies it once per event (`copy_for_update`) and then
    sets fields on the copy; it never changes a container in place but assigns a new
    one, except the copy's own history, to which it appends."""

    case_id: str
    center_id: str
    status: Status = "received"
    # every event applied, as its JSON document, so that a late event can be put in its
    # place in event time and the case judged again (contract §1: late batches)
    history: list[dict[str, Any]] = field(default_factory=list)
    last_event_at: datetime | None = None
    advanced_to: datetime | None = None  # the latest `now` the case's timers were fired at

    item_code: str | None = None
    item_name: str | None = None
    # who handled it (contract §7): the latest known of each, in event time
    department: str | None = None
    window_id: str | None = None
    staff_id: str | None = None
    immediate: bool = False
    promised: LimitState | None = None
    statutory: LimitState | None = None
    fee_standard: float | None = None
    required_steps: list[str] = field(default_factory=list)

    submitted_at: datetime | None = None
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    decided_outcome: str | None = None
    concluded_at: datetime | None = None
    delivered_at: datetime | None = None

    completed_steps: list[str] = field(default_factory=list)
    supplement_requests: int = 0
    fees_charged: float = 0.0
    extension_count: int = 0
    approved_extensions: list[LimitState] = field(default_factory=list)
    suspended_since: datetime | None = None
    suspended_seconds: float = 0.0
    suspensions: int = 0  # stretches begun; numbers each stretch's occurrence
    unrectified_ratings: list[Rating] = field(default_factory=list)  # bad, not yet rectified
    complaints: list[Complaint] = field(default_factory=list)  # complained, not yet answered
    occurrences: dict[str, int] = field(default_factory=dict)  # rule_id -> times raised

    fired: dict[str, datetime] = field(default_factory=dict)  # alert id -> its raised_at
    retracted: list[str] = field(default_factory=list)  # ids a late event proved wrong
    # alert id -> what the case did to it (contract §6: closed, superseded, concluded_late)
    changed: dict[str, str] = field(default_factory=dict)
    # the applicant's name, ID number and phone as marks (masking.applicant_marks: their
    # masked form and a digest), by which its alerts' text is masked (contract §3)
    applicant_marks: list[str] = field(default_factory=list)

    #: Not a fact of the case: what the engine derived from its facts and remembers with
    #: them (timers.py: the pending timers, with what they were computed from). Never
    #: stored, compared or shown; a copy starts with the original's, which the engine
    #: checks against the copy's own facts before it trusts it.
    engine_memo: object = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def new(cls, case_id: str, center_id: str) -> CaseState:
        """The state of a case before its first event."""
        return cls(case_id, center_id)

    def has_event(self, event_id: str) -> bool:
        # A loop: asked for every event (most are new), and a list of the ids or any() of a
        # generator costs an object per call; objects are what the collector counts.
        for document in self.history:  # noqa: SIM110
            if document["event_id"] == event_id:
                return True
        return False

    @property
    def clock(self) -> datetime | None:
        """How far the case has been judged: its latest event or timer instant."""
        if self.advanced_to is None or (
            self.last_event_at is not None and self.last_event_at > self.advanced_to
        ):
            return self.last_event_at
        return self.advanced_to

    def copy_for_update(self) -> CaseState:
        """A copy the engine may change without touching the original.

        Its history is a new list (every event appends to it); every other container is
        shared with the original, and the engine never changes one in place: it assigns
        a new one (`state.fired = {**state.fired, ident: at}`), so the original keeps
        its own. The engine's memo comes along (it is checked before it is trusted)."""
        copy = CaseState(*_get_init(self))
        copy.history = self.history.copy()
        copy.engine_memo = self.engine_memo
        return copy

    def to_json(self) -> dict[str, Any]:
        """The state as stored (the worker's table, its changelog): each field that is not
        its default, in declared order, as JSON; the history last, written compactly:
        each event document without what the state already says (its `schema_version`
        "1", the case's `case_id` and `center_id`), which `from_json` puts back; the
        history is most of a stored state.

        History documents are JSON already (decoded events, or models dumped as JSON), so
        they are copied, not serialised again; nothing changes one once it is kept."""
        data: dict[str, Any] = {}
        for name, value in zip(_STORED, _get_stored(self), strict=True):
            default = _DEFAULTS[name]
            if value is default or value == default:
                continue
            encode = _ENCODERS.get(name)
            data[name] = value if encode is None or value is None else encode(value)
        if self.history:
            data["history"] = [self._compact(document) for document in self.history]
        return data

    def _compact(self, document: dict[str, Any]) -> dict[str, Any]:
        compact = document.copy()
        if compact.get("schema_version") == _SCHEMA_VERSION:
            del compact["schema_version"]
        if compact.get("case_id") == self.case_id:
            del compact["case_id"]
        if compact.get("center_id") == self.center_id:
            del compact["center_id"]
        return compact

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        """A state from `to_json` (also as earlier versions wrote it, in full: the history's
        documents whole, fields equal to their defaults written out). Keys it does not
        know are ignored; a field of the wrong type raises StateDecodeError."""
        if not isinstance(data, dict):
            raise StateDecodeError("case state: not an object")
        values: dict[str, Any] = {}
        for name, decode in _DECODERS:
            if name in data:
                value = data[name]
                try:
                    values[name] = decode(value)
                except (TypeError, ValueError, KeyError, OverflowError) as exc:
                    raise StateDecodeError(f"case state: field {name!r}: {exc}") from None
            elif name in _REQUIRED:
                raise StateDecodeError(f"case state: field {name!r} is missing")
        if "history" in data:
            values["history"] = _history(data["history"], data)
        return cls(**values)


def _history(history: object, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The history's documents, with what `_compact` left out put back (the case's ids and
    the schema version first, as a document had them, unless it says otherwise)."""
    if not isinstance(history, list):
        raise StateDecodeError("case state: field 'history': not a list")
    implied = {
        "schema_version": _SCHEMA_VERSION,
        "case_id": data.get("case_id"),
        "center_id": data.get("center_id"),
    }
    documents = []
    for number, document in enumerate(history):
        if not isinstance(document, dict):
            raise StateDecodeError(f"case state: field 'history': item {number} not an object")
        documents.append({**implied, **document})
    return documents


# -- the codec's parts ------------------------------------------------------------------


def iso_datetime(value: datetime) -> str:
    """A datetime as pydantic's JSON mode writes it: ISO 8601, microseconds only when not
    zero, `Z` for a zero offset, an offset in whole minutes (its seconds rounded, then
    the minutes cut off towards zero), none for a naive one."""
    offset = value.utcoffset()
    text = value.isoformat()
    if offset is None:
        return text
    if not offset:
        return text[:-6] + "Z"
    if offset.seconds % 60 == 0 and not offset.microseconds:
        return text  # whole minutes: Python writes what pydantic writes
    return value.replace(tzinfo=None).isoformat() + _odd_offset(offset)


def _odd_offset(offset: timedelta) -> str:
    """An offset that is not whole minutes, as pydantic writes it."""
    total = offset.total_seconds()
    seconds = math.floor(abs(total) + 0.5)  # rounded, a half away from zero
    if seconds == 0:
        return "Z"
    sign = "-" if total < 0 else "+"
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _limit_json(limit: LimitState) -> dict[str, Any]:
    if limit.suspended_before:
        return {
            "value": float(limit.value),
            "unit": limit.unit,
            "suspended_before": float(limit.suspended_before),
        }
    return {"value": float(limit.value), "unit": limit.unit}


def _limits_json(limits: list[LimitState]) -> list[dict[str, Any]]:
    return [_limit_json(limit) for limit in limits]


def _numbered_json(items: list[Rating] | list[Complaint]) -> list[dict[str, Any]]:
    return [{"number": item.number, "at": iso_datetime(item.at)} for item in items]


def _times_json(times: dict[str, datetime]) -> dict[str, str]:
    return {key: iso_datetime(at) for key, at in times.items()}


def _str(value: object) -> str:
    if type(value) is not str:
        raise TypeError("not a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise TypeError("not a boolean")
    return value


def _int(value: object) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError("not an integer")


def _float(value: object) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise TypeError("not a number")


def _opt_float(value: object) -> float | None:
    return None if value is None else _float(value)


def _datetime(value: object) -> datetime:
    if type(value) is not str:
        raise TypeError("not a date-time string")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not an ISO 8601 date-time") from None


def _opt_datetime(value: object) -> datetime | None:
    return None if value is None else _datetime(value)


def _status(value: object) -> Status:
    if value not in _STATUSES or type(value) is not str:
        raise ValueError("not a case status")
    return value  # type: ignore[return-value]  # one of _STATUSES


def _limit(value: object) -> LimitState:
    if not isinstance(value, dict):
        raise TypeError("not a time limit object")
    unit = value["unit"]
    if unit not in _UNITS or type(unit) is not str:
        raise ValueError("not a time limit unit")
    before = value.get("suspended_before")  # absent: stored before it was kept, or none
    if before is None:
        return LimitState(_float(value["value"]), cast("Unit", unit))
    return LimitState(_float(value["value"]), cast("Unit", unit), _float(before))


def _opt_limit(value: object) -> LimitState | None:
    return None if value is None else _limit(value)


def _list_of(item: Callable[[Any], Any]) -> Callable[[object], list[Any]]:
    def decode(value: object) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError("not a list")
        return [item(entry) for entry in value]

    return decode


def _dict_of(item: Callable[[Any], Any]) -> Callable[[object], dict[str, Any]]:
    def decode(value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise TypeError("not an object")
        return {_str(key): item(entry) for key, entry in value.items()}

    return decode


def _numbered(kind: type[Rating] | type[Complaint]) -> Callable[[object], Rating | Complaint]:
    def decode(value: object) -> Rating | Complaint:
        if not isinstance(value, dict):
            raise TypeError("not an object")
        return kind(_int(value["number"]), _datetime(value["at"]))

    return decode


_STATUSES = frozenset(get_args(Status))
_UNITS = frozenset(get_args(Unit))
_DATETIME_FIELDS = (
    "last_event_at",
    "advanced_to",
    "submitted_at",
    "accepted_at",
    "decided_at",
    "concluded_at",
    "delivered_at",
    "suspended_since",
)
#: How each field that is not JSON as it is is written (a None is written as null).
_ENCODERS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_DATETIME_FIELDS, iso_datetime),
    "promised": _limit_json,
    "statutory": _limit_json,
    "fee_standard": float,
    "fees_charged": float,
    "suspended_seconds": float,
    "approved_extensions": _limits_json,
    "unrectified_ratings": _numbered_json,
    "complaints": _numbered_json,
    "fired": _times_json,
}
#: How each field but the history is read, in declared order.
_DECODERS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("case_id", _str),
    ("center_id", _str),
    ("status", _status),
    ("last_event_at", _opt_datetime),
    ("advanced_to", _opt_datetime),
    ("item_code", _opt_str),
    ("item_name", _opt_str),
    ("department", _opt_str),
    ("window_id", _opt_str),
    ("staff_id", _opt_str),
    ("immediate", _bool),
    ("promised", _opt_limit),
    ("statutory", _opt_limit),
    ("fee_standard", _opt_float),
    ("required_steps", _list_of(_str)),
    ("submitted_at", _opt_datetime),
    ("accepted_at", _opt_datetime),
    ("decided_at", _opt_datetime),
    ("decided_outcome", _opt_str),
    ("concluded_at", _opt_datetime),
    ("delivered_at", _opt_datetime),
    ("completed_steps", _list_of(_str)),
    ("supplement_requests", _int),
    ("fees_charged", _float),
    ("extension_count", _int),
    ("approved_extensions", _list_of(_limit)),
    ("suspended_since", _opt_datetime),
    ("suspended_seconds", _float),
    ("suspensions", _int),
    ("unrectified_ratings", _list_of(_numbered(Rating))),
    ("complaints", _list_of(_numbered(Complaint))),
    ("occurrences", _dict_of(_int)),
    ("fired", _dict_of(_datetime)),
    ("retracted", _list_of(_str)),
    ("changed", _dict_of(_str)),
    ("applicant_marks", _list_of(_str)),
)
_REQUIRED = frozenset({"case_id", "center_id"})
#: The facts of a state (its constructor's arguments, in order), read at once.
_get_init = attrgetter(*(f.name for f in fields(CaseState) if f.init))
#: The stored fields but the history, in declared order; each one's default.
_STORED = tuple(f.name for f in fields(CaseState) if f.init and f.name != "history")
_get_stored = attrgetter(*_STORED)
_DEFAULTS: dict[str, Any] = {
    name: object() if name in _REQUIRED else getattr(CaseState("", ""), name)  # none: kept
    for name in _STORED
}
assert [name for name, _ in _DECODERS] == list(_STORED)
#: The one schema version of contract §1, implied in a stored history document.
_SCHEMA_VERSION = "1"
