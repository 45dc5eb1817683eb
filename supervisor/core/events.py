"""Case events (contract §1) as typed models, and the one decoder every input uses.

The models are the validator: `decode()` turns bytes from Kafka or a line of a replay
file into a `CaseEvent` or raises `InvalidEvent` with a reason a person can act on. The
project's copy of the JSON Schema (supervisor/schema/) stays the published contract;
tests/core/test_events.py proves that schema and models accept and reject the same
documents.

Bounds (contract §1 and its extension in docs): an event is at most `MAX_EVENT_BYTES`
(64 KiB) as encoded on the topic, checked on the raw bytes before anything parses them;
it nests arrays and objects at most `MAX_DEPTH` levels; its numbers fit a 64-bit integer
or float; its text is encodable as UTF-8 (no lone surrogate escape). Whatever a decoded
event holds can therefore be stored and sent again by every part of the service (the
worker's changelog, written by orjson, refuses deeper nesting, larger integers and lone
surrogates). What is beyond them is refused like any invalid event, with a reason.

Reasons never echo a value of the input: they name the field (its path, e.g.
`payload.promised_limit.unit`) and the problem (`must be 'working_day' or
'natural_day'`), so an applicant's name sent in a wrong field cannot reach the dead-letter
headers, the logs or replay's standard error through them.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from supervisor.masking import mask_name_in, mask_text


class EventType(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    SUPPLEMENT_RECEIVED = "supplement_received"
    STEP_COMPLETED = "step_completed"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    EXTENDED = "extended"
    FEE_CHARGED = "fee_charged"
    DECIDED = "decided"
    CONCLUDED = "concluded"
    DELIVERED = "delivered"
    WITHDRAWN = "withdrawn"
    EVALUATED = "evaluated"
    RECTIFIED = "rectified"
    COMPLAINED = "complained"
    COMPLAINT_ANSWERED = "complaint_answered"


#: Each type by its text (a dict lookup: calling `EventType` costs more than validating a field).
_EVENT_TYPES: Final = {kind.value: kind for kind in EventType}

#: Contract §1: an event is at most 64 KiB as encoded on the topic. A replay line counts
#: without its line ending. Checked on the raw bytes before parsing, so a larger message
#: costs no parse (1 MiB of garbage is refused by its length).
MAX_EVENT_BYTES: Final = 65_536
#: The deepest nesting of arrays and objects in an event (the event object is level 1;
#: a real event has 3). The worker's changelog is written by orjson, which refuses more
#: than 254 levels; a case's stored state nests a history document 2 levels deeper, and
#: the standard library's parser fails near 1,000 levels (RecursionError). 64 levels is
#: far beyond any real event and far inside every encoder.
MAX_DEPTH: Final = 64
#: Integers an event may hold: what orjson (the changelog's codec) reads and writes.
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
#: A reason is at most this many characters (it is a Kafka header and a log line).
MAX_REASON: Final = 1_000
_NESTED_TOO_DEEPLY = f"not JSON: nested too deeply (more than {MAX_DEPTH} levels)"


class _Problem(ValueError):
    """A validator's refusal whose text holds no value of the input, only what is wrong:
    `_describe` shows it as is. Any other error raised inside validation (a library's,
    which may quote the value) is shown as "is not valid" instead.

    `field`: the field the problem is about, when the validator runs on the object that
    holds it (a null in a declared field). `located`: the text names its own paths."""

    def __init__(self, text: str, *, field: str | None = None, located: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.field = field
        self.located = located


def _json_number(value: Any) -> float:
    """JSON Schema `number`: ints and floats, never booleans or numeric strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Problem("must be a number")
    return float(value)


def _json_integer(value: Any) -> int:
    """JSON Schema `integer`: also 4.0, never booleans, strings or 4.5."""
    if isinstance(value, bool):
        raise _Problem("must be an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise _Problem("must be an integer")
    return value


Number = Annotated[float, BeforeValidator(_json_number)]
Integer = Annotated[int, BeforeValidator(_json_integer)]

#: RFC 3339's date-time with a mandatory offset (what the schema's `format: date-time`
#: means): offset hours 00-23 and minutes 00-59 (Python would read +08:60 as +09:00); the
#: other fields' ranges are checked by parsing it.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)\Z"
)


def _no_nulls(model: type[BaseModel], data: Any) -> Any:
    """The schema gives no declared field a null type: `"reason": null` is invalid, while
    leaving the field out is fine. Unknown extra fields may hold anything."""
    if isinstance(data, dict) and None in data.values():  # rare: then find which
        for name in model.model_fields:
            if name in data and data[name] is None:
                raise _Problem("must not be null (leave it out instead)", field=name)
    return data


class _Open(BaseModel):
    """Payload objects: unknown fields are allowed by the schema, and kept."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _declared_fields_are_not_null(cls, data: Any) -> Any:
        return _no_nulls(cls, data)


class Limit(_Open):
    value: Number = Field(gt=0)
    unit: Literal["working_day", "natural_day"]


class AcceptedPayload(_Open):
    item_code: StrictStr
    item_name: StrictStr | None = None
    promised_limit: Limit
    statutory_limit: Limit | None = None
    immediate: StrictBool = False
    fee_standard: Number = Field(default=0.0, ge=0)
    required_steps: list[StrictStr] = Field(default_factory=list)


class ReasonPayload(_Open):
    reason: StrictStr | None = None
    legal_basis: StrictStr | None = None


class SupplementRequestedPayload(_Open):
    missing_materials: list[StrictStr] | None = None


class StepCompletedPayload(_Open):
    step: StrictStr
    outcome: StrictStr | None = None


SuspensionReason = Literal[
    "hearing",
    "testing",
    "inspection",
    "quarantine",
    "appraisal",
    "expert_review",
    "bidding",
    "auction",
    "public_notice",
    "other",
]


class SuspendedPayload(_Open):
    reason_code: SuspensionReason | None = None
    reason: StrictStr | None = None


class ExtendedPayload(_Open):
    value: Number = Field(gt=0)
    unit: Literal["working_day", "natural_day"]
    approved_by: StrictStr | None = None
    reason: StrictStr | None = None


class FeeChargedPayload(_Open):
    amount: Number = Field(ge=0)
    currency: Literal["CNY"] | None = None


class DecidedPayload(_Open):
    outcome: Literal["approve", "deny"]
    reason: StrictStr | None = None
    legal_basis: StrictStr | None = None


class EvaluatedPayload(_Open):
    level: Integer = Field(ge=1, le=5)
    comment: StrictStr | None = None


_P = TypeVar("_P", bound="_Open")


class OtherPayload(_Open):
    """Types whose payload the contract leaves open (`payload` is any object)."""


Payload = (
    AcceptedPayload
    | ReasonPayload
    | SupplementRequestedPayload
    | StepCompletedPayload
    | SuspendedPayload
    | ExtendedPayload
    | FeeChargedPayload
    | DecidedPayload
    | EvaluatedPayload
    | OtherPayload
)

#: Which payload model each type uses, and whether the schema requires the payload.
PAYLOADS: dict[EventType, tuple[type[_Open], bool]] = {
    EventType.ACCEPTED: (AcceptedPayload, True),
    EventType.NOT_ACCEPTED: (ReasonPayload, False),
    EventType.SUPPLEMENT_REQUESTED: (SupplementRequestedPayload, False),
    EventType.STEP_COMPLETED: (StepCompletedPayload, True),
    EventType.SUSPENDED: (SuspendedPayload, False),
    EventType.EXTENDED: (ExtendedPayload, True),
    EventType.FEE_CHARGED: (FeeChargedPayload, True),
    EventType.DECIDED: (DecidedPayload, True),
    EventType.EVALUATED: (EvaluatedPayload, True),
}


class Applicant(BaseModel):
    """Personal data: kept for the record, never shown unmasked (see masking)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    name: StrictStr | None = Field(default=None, max_length=128)
    id_number: StrictStr | None = Field(default=None, max_length=32)
    phone: StrictStr | None = Field(default=None, max_length=32)

    @model_validator(mode="before")
    @classmethod
    def _declared_fields_are_not_null(cls, data: Any) -> Any:
        return _no_nulls(cls, data)


class CaseEvent(BaseModel):
    """One step in the life of one case, exactly as a center sent it."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    schema_version: Literal["1"]
    event_id: StrictStr = Field(min_length=1, max_length=128)
    case_id: StrictStr = Field(min_length=1, max_length=128)
    center_id: StrictStr = Field(pattern=r"^[0-9]{6}([0-9]{3})?$")
    type: EventType
    occurred_at: datetime
    staff_id: StrictStr | None = Field(default=None, max_length=64)
    window_id: StrictStr | None = Field(default=None, max_length=64)
    department: StrictStr | None = Field(default=None, max_length=128)
    applicant: Applicant | None = None
    # Validated by `_typed_payload` against its type's model, which leaves a model or
    # nothing here: the union is not tried again, member by member.
    payload: SkipValidation[Payload | None] = None

    @field_validator("type", mode="before")
    @classmethod
    def _type_is_a_known_string(cls, value: Any) -> EventType:
        if not isinstance(value, str):
            raise _Problem("must be a string (an event type of contract §1)")
        kind = _EVENT_TYPES.get(value)
        if kind is None:
            raise _Problem("unknown event type")
        return kind

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339_with_offset(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise _Problem(
                "must be an RFC 3339 date-time with an offset, e.g. 2026-11-27T09:15:00+08:00"
            )
        try:
            instant = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:  # its message quotes the value
            raise _Problem(
                "not a valid date-time (a month, day, hour, minute, second or offset out of range)"
            ) from None
        if instant.year in (1, 9999):  # at the ends of Python's range: is it an instant?
            try:
                instant.astimezone(UTC)
            except OverflowError:
                raise _Problem(
                    "out of range: the instant must fall between 0001-01-01 and 9999-12-31 UTC"
                ) from None
        return instant

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any) -> Any:
        """Validate the payload against its type's model before the union sees it."""
        if not isinstance(data, dict):
            return data
        _no_nulls(cls, data)
        kind = data.get("type")
        payload = data.get("payload")
        spec = PAYLOADS.get(kind) if isinstance(kind, str) else None  # type: ignore[call-overload]
        if spec is None:
            if payload is not None and not isinstance(payload, dict):
                raise _Problem("must be an object", field="payload")
            if isinstance(payload, dict):
                data = {**data, "payload": OtherPayload.model_validate(payload)}
            return data
        model, required = spec
        if payload is None:
            if "payload" in data or required:
                if required:
                    article = "an" if str(kind)[:1] in "aeiou" else "a"
                    raise _Problem(f"required for {article} {kind} event", field="payload")
                raise _Problem("must be an object", field="payload")
            return data
        if not isinstance(payload, dict):
            raise _Problem("must be an object", field="payload")
        try:
            return {**data, "payload": model.model_validate(payload)}
        except ValidationError as exc:
            raise _Problem(_describe(exc, prefix="payload"), located=True) from None

    def payload_as(self, model: builtins.type[_P]) -> _P:
        """The payload as the model its type implies (an empty one when absent)."""
        if isinstance(self.payload, model):
            return self.payload
        return model()


class InvalidEvent(ValueError):
    """A message that is not a contract event; `reason` says why, for the DLQ and logs.

    The reason names fields and problems, never a value of the input (see `_describe`);
    it is masked all the same (an ID number or a phone in a field name shows as
    4527**********1234 or 138****1111) and cut at `MAX_REASON` characters: it is read by
    people in the dead-letter headers, the logs and replay's standard error."""

    def __init__(self, reason: str) -> None:
        reason = mask_text(reason)
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1] + "…"
        super().__init__(reason)
        self.reason = reason


#: What a refusal says for each kind of pydantic error, from the constraint (its `ctx`,
#: which comes from the models) and never from the input. pydantic's own `msg` for a kind
#: without a `ctx` is a fixed text and is used as is; any other kind reads "is not valid".
_MESSAGES: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "string_type": "must be a string",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "string_pattern_mismatch": "must match {pattern}",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
}
#: A field name shown in a reason as it is; any other (an unknown key, which is input:
#: it may be an applicant's name) shows as `<key>`.
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _problem(item: Any) -> _Problem | str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        return error if isinstance(error, _Problem) else "is not valid"
    template = _MESSAGES.get(kind)
    if template is not None:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            return "is not valid"
    return str(item["msg"]) if not ctx else f"is not valid ({kind})"


def _field_path(parts: Iterable[object]) -> str:
    """A location as a reason shows it: `payload.required_steps.1`; a key that is not a
    plain field name as `<key>`; a long path with its middle left out."""
    shown = [
        str(part)
        if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.fullmatch(part))
        else "<key>"
        for part in parts
    ]
    if len(shown) > 8:
        shown = [*shown[:4], "…", *shown[-3:]]
    return ".".join(shown)


def _describe(error: ValidationError, prefix: str = "") -> str:
    """The first three problems of `error`, each as `<field path>: <problem>`."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:3]:
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        problem = _problem(item)
        if isinstance(problem, _Problem):
            if problem.located:
                parts.append(problem.text)
                continue
            if problem.field is not None:
                loc.append(problem.field)
            problem = problem.text
        where = _field_path([prefix, *loc] if prefix else loc)
        parts.append(f"{where}: {problem}" if where else problem)
    more = error.error_count() - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class _OutOfRange(ValueError):
    pass


def _not_json(token: str) -> float:
    raise _OutOfRange("not JSON: NaN and Infinity are not JSON numbers")


#: An integer literal orjson would read as a float (it reads integers of 64 bits as int):
#: such a document is parsed by the standard library instead, which keeps it an int.
_LONG_NUMBER = re.compile(r"[0-9]{19}")
#: The same search on bytes, at C speed: each digit made "0", every other byte a space,
#: then 19 zeros looked for (a sixth of the regular expression's time, for every event).
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19


def _has_long_number(raw: bytes | str) -> bool:
    """Whether `raw` holds 19 digits in a row (an integer that may be beyond 64 bits)."""
    if isinstance(raw, bytes):
        return _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZEROS)
    return _LONG_NUMBER.search(raw) is not None


def _check_size(raw: bytes | str) -> None:
    """Refuse an event larger than `MAX_EVENT_BYTES` as UTF-8, before it is parsed."""
    if isinstance(raw, bytes):
        size = len(raw)
    elif len(raw) * 4 <= MAX_EVENT_BYTES:  # at most 4 bytes a character: within, surely
        return
    else:
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is {size:,} bytes; at most {MAX_EVENT_BYTES:,} allowed")


def _may_nest_too_deeply(raw: bytes | str) -> bool:
    """Whether `raw` has enough brackets to nest deeper than `MAX_DEPTH` (a count at C
    speed, for every event: only the few that have are walked by `_check_tree`)."""
    if isinstance(raw, bytes):
        return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    return raw.count("[") + raw.count("{") > MAX_DEPTH


def _check_tree(document: Any) -> None:
    """Refuse a parsed document that nests deeper than `MAX_DEPTH`, or holds what no
    part of the service can store: an integer beyond 64 bits, a float beyond a double's
    range (the standard library reads 1e400 as inf) or text with a lone surrogate
    (JSON's \\ud800 escape without its pair: not encodable as UTF-8). The reason names
    the field's path, not its value."""
    stack: list[tuple[Any, int, tuple[object, ...]]] = [(document, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise InvalidEvent(_NESTED_TOO_DEEPLY)
            for key, value in node.items():
                if not _is_utf8(key):
                    raise InvalidEvent(_at(path, "a field name with a lone surrogate escape"))
                stack.append((value, depth + 1, (*path, key)))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise InvalidEvent(_NESTED_TOO_DEEPLY)
            stack.extend((value, depth + 1, (*path, n)) for n, value in enumerate(node))
        elif isinstance(node, str):
            if not _is_utf8(node):
                raise InvalidEvent(
                    _at(path, "text with a lone surrogate escape (\\ud800-\\udfff unpaired)")
                )
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not _INT_MIN <= node <= _INT_MAX:
                raise InvalidEvent(_at(path, "number out of range (an integer beyond 64 bits)"))
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidEvent(_at(path, "number out of range (beyond a 64-bit float)"))


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _at(path: tuple[object, ...], problem: str) -> str:
    where = _field_path(path)
    return f"{where}: {problem}" if where else problem


def decode(raw: bytes | str) -> CaseEvent:
    """Parse and validate one event; raise `InvalidEvent` with a one-line reason.

    The size is checked first, on the raw bytes (`MAX_EVENT_BYTES`). orjson parses next
    (several times faster); whatever it refuses (not JSON, not UTF-8, NaN, a number out
    of range, a lone surrogate, a byte order mark, more than 1,024 levels…) or might read
    otherwise (an integer beyond 64 bits) goes through the standard library's parser, so
    a refusal reads the same whichever parser saw it. Both end with the same bounds
    (`_check_tree`): the standard library's parser accepts what orjson refuses, and
    orjson accepts 1,024 levels of nesting, which the changelog's encoder does not."""
    _check_size(raw)
    if isinstance(raw, bytes | str) and not _has_long_number(raw):
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            # orjson reads no lone surrogate, integers of 64 bits and finite floats
            # only: nesting is the one bound left to check, and only with brackets.
            if _may_nest_too_deeply(raw):
                _check_tree(document)
            return from_document(document)
    return _decode_slowly(raw)


def _decode_slowly(raw: bytes | str) -> CaseEvent:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent("not UTF-8 text") from None
    try:
        document = json.loads(raw, parse_constant=_not_json)
    except _OutOfRange as exc:
        raise InvalidEvent(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(_not_json_reason(exc)) from None
    except RecursionError:  # the parser recurses per level: thousands of them overflow
        raise InvalidEvent(_NESTED_TOO_DEEPLY) from None
    _check_tree(document)
    return from_document(document)


def _not_json_reason(exc: json.JSONDecodeError) -> str:
    """Why a text is not JSON, in words a center's developer reads: where, by character
    (an event is one line of a file, a line within it would read as the file's), and a
    byte order mark or an empty message named as such, not as Python's hint."""
    if not exc.doc.strip():
        return "not JSON: the message is empty"
    if exc.pos == 0 and exc.doc.startswith("\ufeff"):
        return "not JSON: it begins with a byte order mark (BOM); send UTF-8 without one"
    where = f"character {exc.pos + 1}"
    return f"not JSON: {exc.msg} at {where}"


def from_document(document: Any) -> CaseEvent:
    if not isinstance(document, dict):
        raise InvalidEvent("an event must be a JSON object")
    applicant = document.get("applicant")
    if applicant is not None:
        document = _applicant_name_masked(document, applicant)
    try:
        event = CaseEvent.model_validate(document, strict=False)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None
    # What the case history keeps of the event, from the document just validated rather
    # than dumped again from the model (see history_document).
    if not _NOT_KEPT.isdisjoint(document):
        kept = {key: value for key, value in document.items() if key not in _NOT_KEPT}
    else:
        kept = document.copy()
    if not written_as_python_writes(document["occurred_at"]):
        kept["occurred_at"] = event.occurred_at.isoformat()
    event.__dict__[_KEPT] = (id(event.__dict__), kept)
    return event


def _applicant_name_masked(document: dict[str, Any], applicant: Any) -> dict[str, Any]:
    """The document with its applicant's name masked in its payload's free text (an item
    name a center typed with the name in it): alert messages quote that text, and never
    show an applicant's name (contract §3). The same document when there is none."""
    name = applicant.get("name") if isinstance(applicant, dict) else None
    payload = document.get("payload")
    if not isinstance(name, str) or not isinstance(payload, dict):
        return document
    masked = mask_name_in(payload, name)
    return document if masked is None else {**document, "payload": masked}


def written_as_python_writes(instant: str) -> bool:
    """Whether an RFC 3339 date-time (one the validator accepted) is written as
    `datetime.isoformat` writes it back: `2026-11-27T09:15:00+08:00`, an upper-case T, no
    fraction, a numeric offset and not `-00:00`. Most events' are; the others are written
    again for the history (rewriting every one costs more than the test)."""
    return len(instant) == 25 and instant[10] == "T" and instant[19:] != "-00:00"


#: Where an event decoded by `from_document` keeps its history document, beside its fields
#: (as functools.cached_property does: pydantic neither dumps nor compares it).
_KEPT = "_history_document"
#: Never kept in a case's history: personal data (no rule needs it, and the changelog
#: should not hold it).
_NOT_KEPT = frozenset({"applicant"})


def history_document(event: CaseEvent) -> dict[str, Any]:
    """The event as a case's history keeps it: its JSON document without the applicant.

    For an event from `from_document` (every decoded event), the document it was validated
    from, which it keeps, with `occurred_at` written as Python writes it (so
    `datetime.fromisoformat` reads it back; RFC 3339 also allows `z` and `t`). Otherwise
    (an event built in code, or a copy with changes) the model dumped. Both validate to
    an equal event, and every field a rule reads has an equal value in both. The
    document is shared, not copied: nothing changes a history document once kept."""
    kept = event.__dict__.get(_KEPT)
    if kept is not None and kept[0] == id(event.__dict__):  # not a model_copy(update=…)
        document: dict[str, Any] = kept[1]
        return document
    return event.model_dump(mode="json", exclude_none=True, exclude={"applicant"})


def numbered(
    lines: Iterable[bytes | str],
) -> Iterator[tuple[int, bytes | str, CaseEvent | InvalidEvent]]:
    """Each non-blank line of an event file with its 1-based line number and the event,
    or why it is not one. Replay and `supervisor dlq resend` read files this way, so
    their line numbers agree with an editor's. A line is bounded like a message
    (`MAX_EVENT_BYTES`), its line ending (LF or CRLF) not counted."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, line, decode(_without_line_ending(line))
        except InvalidEvent as exc:
            yield number, line, exc


def _without_line_ending(line: bytes | str) -> bytes | str:
    if isinstance(line, bytes):
        return line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line
