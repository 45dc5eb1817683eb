"""Rules written as data only: five kinds a supervision office combines without Python.

The canonical rules of contract §4 are evaluated by the engine's own code (each has its
subtleties, e.g. the promised deadline under suspensions and extensions). A local rule
(an office's own requirement: "accept within one working day of receipt", "no fee above
200 yuan at this window") is one of these kinds, its definition under `params`:

- `count`: the `event` (optionally `where` some fields equal given values) happened more
  than `max` times on one case. Placeholders: `{count}`, `{max}`.
- `threshold`: a numeric `field` of the `event`, taken as the `last` value, the `sum` or
  the `max` over the case, goes `above` (or `below`) a bound. Placeholders: `{value}`,
  `{bound}`.
- `sequence`: the `event` happened before every type in `requires` had happened, or
  after one in `forbids`. Placeholders: `{missing}`, `{forbidden}`.
- `deadline`: after the first `start` event, none of the `stop` events within `limit`
  (working or natural days, the day of the start not counted, like a time limit); the
  clock stops while the case is suspended (`pause_while_suspended`, default on).
  Placeholders: `{deadline}`, `{limit}`.
- `absence`: after the first `after` event, none of the `expect` events within `within`;
  the clock never stops. Placeholders: `{deadline}`, `{limit}`.

Field references (`where` keys, `field`) are checked at load against the event models:
`payload.<name>` of the event's payload, or an envelope field such as `department`.
Everything here is a pure function of a case's event history (its JSON documents, in
event-time order), so live, replay and a late event's re-judgement agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from supervisor.core.calendar import WorkCalendar
from supervisor.core.events import PAYLOADS, CaseEvent, EventType
from supervisor.core.numerals import limit_label, plain

Scalar = str | int | float | bool

KINDS = ("count", "threshold", "sequence", "deadline", "absence")
_ENVELOPE = ("center_id", "department", "staff_id", "window_id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def known_fields(kind: EventType) -> list[str]:
    """The fields a rule may reference on events of this type."""
    spec = PAYLOADS.get(kind)
    payload = [f"payload.{name}" for name in spec[0].model_fields] if spec else []
    return [*_ENVELOPE, *payload]


def _check_field(kind: EventType, path: str, what: str) -> None:
    if path not in known_fields(kind):
        raise ValueError(
            f"{what}: unknown field {path!r} of {kind.value} events; "
            f"known: {', '.join(known_fields(kind))}"
        )


def _field_type(kind: EventType, path: str) -> Any:
    """The annotation of a referenced field (envelope fields are strings)."""
    if not path.startswith("payload."):
        return str
    spec = PAYLOADS.get(kind)
    assert spec is not None
    return spec[0].model_fields[path.removeprefix("payload.")].annotation


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether a `where` value can ever equal the field's value."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    if options:
        return any(_accepts(option, value) for option in options if option is not NoneType)
    if get_origin(annotation) is Literal:
        return value in get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _accepts(get_args(annotation)[0], value)
    if annotation in (float, int):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True  # lists and objects: compared as given


def _numeric(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, UnionType):
        return any(_numeric(a) for a in get_args(annotation) if a is not NoneType)
    if get_origin(annotation) is Annotated:
        return _numeric(get_args(annotation)[0])
    return annotation in (float, int)


def _check_where(kind: EventType, where: Mapping[str, Any]) -> None:
    for path, wanted in where.items():
        _check_field(kind, path, "where")
        annotation = _field_type(kind, path)
        for value in wanted if isinstance(wanted, list) else [wanted]:
            if not _accepts(annotation, value):
                raise ValueError(
                    f"where: {path} of {kind.value} events can never be {value!r}"
                    + (
                        f"; allowed: {', '.join(map(repr, get_args(annotation)))}"
                        if get_origin(annotation) is Literal
                        else ""
                    )
                )


class Limit(_Strict):
    value: float = Field(gt=0)
    unit: Literal["working_day", "natural_day"] = "working_day"

    def label(self) -> str:
        return limit_label(self.value, self.unit)


Where = dict[str, Scalar | list[Scalar]]


class CountParams(_Strict):
    event: EventType
    where: Where = Field(default_factory=dict)
    max: int = Field(ge=0)

    @model_validator(mode="after")
    def _fields_exist(self) -> CountParams:
        _check_where(self.event, self.where)
        return self


class ThresholdParams(_Strict):
    event: EventType
    field: str
    where: Where = Field(default_factory=dict)
    aggregate: Literal["last", "sum", "max"] = "last"
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _fields_exist(self) -> ThresholdParams:
        _check_field(self.event, self.field, "field")
        if not _numeric(_field_type(self.event, self.field)):
            raise ValueError(f"field: {self.field} of {self.event.value} events is not a number")
        _check_where(self.event, self.where)
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one bound: above or below")
        return self


class SequenceParams(_Strict):
    event: EventType
    where: Where = Field(default_factory=dict)
    requires: list[EventType] = Field(default_factory=list)
    forbids: list[EventType] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_check(self) -> SequenceParams:
        _check_where(self.event, self.where)
        if not self.requires and not self.forbids:
            raise ValueError("give `requires`, `forbids` or both")
        return self


class DeadlineParams(_Strict):
    start: EventType
    start_where: Where = Field(default_factory=dict)
    stop: list[EventType] = Field(min_length=1)
    limit: Limit
    pause_while_suspended: bool = True

    @model_validator(mode="after")
    def _fields_exist(self) -> DeadlineParams:
        _check_where(self.start, self.start_where)
        if self.start in self.stop:
            raise ValueError(f"stop: the start event {self.start.value} cannot also stop it")
        return self


class AbsenceParams(_Strict):
    after: EventType
    after_where: Where = Field(default_factory=dict)
    expect: list[EventType] = Field(min_length=1)
    within: Limit

    @model_validator(mode="after")
    def _fields_exist(self) -> AbsenceParams:
        _check_where(self.after, self.after_where)
        if self.after in self.expect:
            raise ValueError(f"expect: the event {self.after.value} cannot also be expected")
        return self

    @field_validator("expect")
    @classmethod
    def _distinct(cls, value: list[EventType]) -> list[EventType]:
        return list(dict.fromkeys(value))


KIND_PARAMS: dict[str, type[_Strict]] = {
    "count": CountParams,
    "threshold": ThresholdParams,
    "sequence": SequenceParams,
    "deadline": DeadlineParams,
    "absence": AbsenceParams,
}
EventParams = CountParams | ThresholdParams | SequenceParams
TimerParams = DeadlineParams | AbsenceParams

# -- evaluation over a case's history ------------------------------------------------------

Doc = Mapping[str, Any]


def value_of(document: Doc, path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def matches(document: Doc, kind: EventType, where: Mapping[str, Any]) -> bool:
    if document.get("type") != kind.value:
        return False
    for path, wanted in where.items():
        value = value_of(document, path)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def on_event(
    params: EventParams, history: Sequence[Doc], event: CaseEvent
) -> dict[str, object] | None:
    """The message fields if the rule fires on this event (the last of `history`)."""
    document = history[-1]
    if isinstance(params, CountParams):
        if not matches(document, params.event, params.where):
            return None
        count = sum(1 for item in history if matches(item, params.event, params.where))
        return {"count": count, "max": params.max} if count > params.max else None
    if isinstance(params, ThresholdParams):
        if not matches(document, params.event, params.where):
            return None
        values = [
            float(v)
            for item in history
            if matches(item, params.event, params.where)
            and isinstance(v := value_of(item, params.field), int | float)
            and not isinstance(v, bool)
        ]
        if not values:
            return None
        value = {"last": values[-1], "sum": sum(values), "max": max(values)}[params.aggregate]
        if params.above is not None and value > params.above:
            return {"value": plain(value), "bound": plain(params.above)}
        if params.below is not None and value < params.below:
            return {"value": plain(value), "bound": plain(params.below)}
        return None
    if not matches(document, params.event, params.where):
        return None
    before = {item.get("type") for item in history[:-1]}
    missing = [kind.value for kind in params.requires if kind.value not in before]
    forbidden = [kind.value for kind in params.forbids if kind.value in before]
    if not missing and not forbidden:
        return None
    return {"missing": "、".join(missing) or "—", "forbidden": "、".join(forbidden) or "—"}


def due(params: TimerParams, history: Sequence[Doc], calendar: WorkCalendar) -> datetime | None:
    """When the rule's timer falls due, or None while it is not running."""
    if isinstance(params, DeadlineParams):
        start_kind, where, stops, limit = (
            params.start,
            params.start_where,
            params.stop,
            params.limit,
        )
    else:
        start_kind, where, stops, limit = (
            params.after,
            params.after_where,
            params.expect,
            params.within,
        )
    ordered = sorted(history, key=_time)
    start = next((item for item in ordered if matches(item, start_kind, where)), None)
    if start is None:
        return None
    started = _time(start)
    stop_types = {kind.value for kind in stops}
    if any(item.get("type") in stop_types and _time(item) >= started for item in ordered):
        return None
    deadline = calendar.deadline(started, limit.value, limit.unit)
    if isinstance(params, DeadlineParams) and params.pause_while_suspended:
        paused, open_since = 0.0, None
        counted_from = calendar.clock_start(started)  # the start's own day is not counted
        for item in ordered:
            at = max(_time(item), counted_from)
            if _time(item) < started:
                continue
            if item.get("type") == EventType.SUSPENDED.value and open_since is None:
                open_since = at
            elif item.get("type") == EventType.RESUMED.value and open_since is not None:
                paused += calendar.between(open_since, at)
                open_since = None
        if open_since is not None:
            return None  # the clock is stopped
        deadline = calendar.add(deadline, paused)
    return deadline


def _time(document: Doc) -> datetime:
    return datetime.fromisoformat(str(document["occurred_at"]))
