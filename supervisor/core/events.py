"""Case events (contract §1) as typed models, and the one decoder every input uses.

The models are the validator: `decode()` turns bytes from Kafka or a line of a replay
file into a `CaseEvent` or raises `InvalidEvent` with a reason a person can act on. The
project's copy of the JSON Schema (supervisor/schema/) stays the published contract;
tests/core/test_events.py proves that schema and models accept and reject the same
documents.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from supervisor.masking import mask_text


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


_EVENT_TYPES = frozenset(kind.value for kind in EventType)


def _json_number(value: Any) -> float:
    """JSON Schema `number`: ints and floats, never booleans or numeric strings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return float(value)


def _json_integer(value: Any) -> int:
    """JSON Schema `integer`: also 4.0, never booleans, strings or 4.5."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


Number = Annotated[float, BeforeValidator(_json_number)]
Integer = Annotated[int, BeforeValidator(_json_integer)]

# RFC 3339 date-time with a mandatory offset (what the schema's `format: date-time` means).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _no_nulls(model: type[BaseModel], data: Any) -> Any:
    """The schema gives no declared field a null type: `"reason": null` is invalid, while
    leaving the field out is fine. Unknown extra fields may hold anything."""
    if isinstance(data, dict) and None in data.values():  # rare: then find which
        for name in model.model_fields:
            if name in data and data[name] is None:
                raise ValueError(f"{name} must not be null (leave it out instead)")
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
    payload: Payload | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type_is_a_known_string(cls, value: Any) -> EventType:
        if not isinstance(value, str) or value not in _EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return EventType(value)

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339_with_offset(cls, value: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.match(value):
            raise ValueError(
                "must be an RFC 3339 date-time with an offset, e.g. 2026-11-27T09:15:00+08:00"
            )
        try:
            return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not a valid date-time: {exc}") from None

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
                raise ValueError("payload must be an object")
            if isinstance(payload, dict):
                data = {**data, "payload": OtherPayload.model_validate(payload)}
            return data
        model, required = spec
        if payload is None:
            if "payload" in data or required:
                if required:
                    raise ValueError(f"a {kind} event needs a payload")
                raise ValueError("payload must be an object")
            return data
        if not isinstance(payload, dict):
            raise ValueError("payload must be an object")
        try:
            return {**data, "payload": model.model_validate(payload)}
        except ValidationError as exc:
            raise ValueError(_describe(exc, prefix="payload")) from None

    def payload_as(self, model: builtins.type[_P]) -> _P:
        """The payload as the model its type implies (an empty one when absent)."""
        if isinstance(self.payload, model):
            return self.payload
        return model()


class InvalidEvent(ValueError):
    """A message that is not a contract event; `reason` says why, for the DLQ and logs.

    The reason is masked (an ID number or a phone quoted in it, e.g. by a validator that
    names the bad value, shows as 4527**********1234 or 138****1111): it is read by people
    in the dead-letter headers, the logs and replay's standard error."""

    def __init__(self, reason: str) -> None:
        reason = mask_text(reason)
        super().__init__(reason)
        self.reason = reason


def _describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for item in error.errors()[:3]:
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        where = ".".join([prefix, *loc] if prefix else loc)
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = error.error_count() - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class _OutOfRange(ValueError):
    pass


def _not_json(token: str) -> float:
    raise _OutOfRange(f"not JSON: {token} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _OutOfRange(f"number {text} is out of range")
    return value


#: An integer literal orjson would read as a float (it reads integers of 64 bits as int):
#: such a document is parsed by the standard library instead, which keeps it an int.
_LONG_NUMBER = re.compile(r"[0-9]{19}")
_LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19}")


def decode(raw: bytes | str) -> CaseEvent:
    """Parse and validate one event; raise `InvalidEvent` with a one-line reason.

    orjson parses first (several times faster); whatever it refuses (not JSON, not UTF-8,
    NaN, a number out of range, a lone surrogate, a byte order mark…) or might read
    otherwise (an integer beyond 64 bits) goes through the standard library's parser as
    it always did, so a refusal reads the same."""
    if isinstance(raw, bytes | str):
        long_number = (
            _LONG_NUMBER_BYTES.search(raw) if isinstance(raw, bytes) else _LONG_NUMBER.search(raw)
        )
        if long_number is None:
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
            else:
                return from_document(document)
    return _decode_slowly(raw)


def _decode_slowly(raw: bytes | str) -> CaseEvent:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidEvent("not UTF-8 text") from None
    try:
        document = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except _OutOfRange as exc:
        raise InvalidEvent(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return from_document(document)


def from_document(document: Any) -> CaseEvent:
    if not isinstance(document, dict):
        raise InvalidEvent("an event must be a JSON object")
    try:
        event = CaseEvent.model_validate(document, strict=False)
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None
    # What the case history keeps of the event, from the document just validated rather
    # than dumped again from the model (see history_document).
    kept = {key: value for key, value in document.items() if key not in _NOT_KEPT}
    kept["occurred_at"] = event.occurred_at.isoformat()
    event.__dict__[_KEPT] = (id(event.__dict__), kept)
    return event


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
    their line numbers agree with an editor's."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, line, decode(line)
        except InvalidEvent as exc:
            yield number, line, exc
