"""What the engine remembers about one case between events.

Plain data, JSON-serialisable (`to_json`/`from_json`), because the worker keeps it in a
changelog-backed Faust table and a restarted worker must rebuild exactly this. Deadlines
are not stored: they are derived from these facts by the engine each time, so a changed
calendar or rule threshold applies to open cases at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["received", "open", "concluded", "not_accepted", "withdrawn"]


class LimitState(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: float
    unit: Literal["working_day", "natural_day"]

    def label(self) -> str:
        number = f"{self.value:g}"
        return f"{number}个工作日" if self.unit == "working_day" else f"{number}个自然日"


class Rating(BaseModel):
    """A bad rating waiting to be rectified: its time and which bad rating of the case."""

    model_config = ConfigDict(frozen=True)

    number: int
    at: datetime


class Complaint(BaseModel):
    """A complaint waiting for its answer: its time and which complaint of the case."""

    model_config = ConfigDict(frozen=True)

    number: int
    at: datetime


class CaseState(BaseModel):
    case_id: str
    center_id: str
    status: Status = "received"
    # every event applied, as its JSON document, so that a late event can be put in its
    # place in event time and the case judged again (contract §1: late batches)
    history: list[dict[str, Any]] = Field(default_factory=list)
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
    required_steps: list[str] = Field(default_factory=list)

    submitted_at: datetime | None = None
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    decided_outcome: str | None = None
    concluded_at: datetime | None = None
    delivered_at: datetime | None = None

    completed_steps: list[str] = Field(default_factory=list)
    supplement_requests: int = 0
    fees_charged: float = 0.0
    extension_count: int = 0
    approved_extensions: list[LimitState] = Field(default_factory=list)
    suspended_since: datetime | None = None
    suspended_seconds: float = 0.0
    suspensions: int = 0  # stretches begun; numbers each stretch's occurrence
    unrectified_ratings: list[Rating] = Field(default_factory=list)  # bad, not yet rectified
    complaints: list[Complaint] = Field(default_factory=list)  # complained, not yet answered
    occurrences: dict[str, int] = Field(default_factory=dict)  # rule_id -> times raised

    fired: dict[str, datetime] = Field(default_factory=dict)  # alert id -> its raised_at
    retracted: list[str] = Field(default_factory=list)  # ids a late event proved wrong
    # alert id -> what the case did to it (contract §6: closed, superseded, concluded_late)
    changed: dict[str, str] = Field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        # What pydantic does for a field of a model without validate_assignment (store it,
        # note it as set), without its generic dispatch: the engine sets a few per event.
        if name in _FIELD_NAMES:
            self.__dict__[name] = value
            self.__pydantic_fields_set__.add(name)
        else:
            super().__setattr__(name, value)

    @classmethod
    def new(cls, case_id: str, center_id: str) -> CaseState:
        """What `CaseState(case_id=case_id, center_id=center_id)` gives (the same fields
        in the same order, each container a new one, the same fields-set), built from
        the defaults pydantic gave once: the engine starts a state for every new case.
        Anything but two strings goes through pydantic's validation as it would."""
        if type(case_id) is not str or type(center_id) is not str or cls is not CaseState:
            return cls(case_id=case_id, center_id=center_id)
        fields = _DEFAULTS.copy()
        fields["case_id"] = case_id
        fields["center_id"] = center_id
        for name, factory in _FACTORIES:
            fields[name] = factory()
        state = _new(cls)
        _set_dict(state, fields)
        _set_fields_set(state, {"case_id", "center_id"})
        _set_extra(state, None)
        _set_private(state, None)
        return state

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
        its own. Fields and fields-set are as `model_copy` gives them, and so is what a
        state keeps beside its fields in `__dict__` (the engine's remembered timers);
        built directly, because the engine makes one per event."""
        fields = self.__dict__.copy()
        fields["history"] = fields["history"].copy()
        kind = type(self)
        copy = _new(kind)
        if kind is CaseState:  # its slots' own setters (what _set finds for them)
            _set_dict(copy, fields)
            _set_fields_set(copy, self.__pydantic_fields_set__ | _HISTORY)
            _set_extra(copy, None)
            _set_private(copy, None)
        else:
            _set(copy, "__dict__", fields)
            _set(copy, "__pydantic_fields_set__", self.__pydantic_fields_set__ | _HISTORY)
            _set(copy, "__pydantic_extra__", None)
            _set(copy, "__pydantic_private__", None)
        return copy

    def to_json(self) -> dict[str, Any]:
        """The state as stored (the worker's table, its changelog). The history is written
        compactly: each event document without what the state already says (its
        `schema_version` "1", the case's `case_id` and `center_id`), which `from_json`
        puts back; the history is most of a stored state.

        History documents are JSON already (decoded events, or models dumped as JSON), so
        they are copied, not serialised again; nothing changes one once it is kept."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"history"})
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
        """A state from `to_json` (also as earlier versions wrote it, in full)."""
        history = data.get("history")
        if not history or not isinstance(history, list):
            return cls.model_validate(data)
        implied = {
            "schema_version": _SCHEMA_VERSION,
            "case_id": data.get("case_id"),
            "center_id": data.get("center_id"),
        }
        documents = [
            {**implied, **document} if isinstance(document, dict) else document
            for document in history
        ]
        if not all(isinstance(document, dict) for document in documents):
            return cls.model_validate({**data, "history": documents})  # refused as it was
        # What validating `list[dict[str, Any]]` gives (new lists and dicts, the same
        # values), without pydantic walking every document again.
        state = cls.model_validate({**data, "history": []})
        state.__dict__["history"] = documents
        return state


_HISTORY = frozenset({"history"})
_FIELD_NAMES = frozenset(CaseState.model_fields)
_set = object.__setattr__  # past the models' own __setattr__, as pydantic sets its slots
_new = object.__new__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """The `__set__` of the descriptor `object.__setattr__(state, name, value)` uses for a
    CaseState (the first class along its MRO that defines `name`: pydantic's slots),
    called directly: the engine builds a state per event (CaseState.new,
    copy_for_update), each with these four."""
    for klass in CaseState.__mro__:
        if name in klass.__dict__:
            setter: Callable[[Any, Any], None] = klass.__dict__[name].__set__
            return setter
    raise AttributeError(name)


_set_dict = _slot_setter("__dict__")
_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")
#: A new case's fields as pydantic gives them (CaseState.new), and each default container's
#: factory: every state gets containers of its own.
_DEFAULTS = CaseState(case_id="", center_id="").__dict__
_FACTORIES: tuple[tuple[str, Callable[[], Any]], ...] = tuple(
    (name, cast("Callable[[], Any]", field.default_factory))
    for name, field in CaseState.model_fields.items()
    if field.default_factory is not None
)
assert not any(  # CaseState.new calls each factory without the validated data
    field.default_factory_takes_validated_data for field in CaseState.model_fields.values()
)
#: The one schema version of contract §1, implied in a stored history document.
_SCHEMA_VERSION = "1"
