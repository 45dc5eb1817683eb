"""What every part of the rule engine shares: the rule book and calendars it judges by,
its memos, the step being judged, and what a step gives back (`Outcome`).

`EngineContext` is the base class of the engine's parts (supervisor/core/engine.py lists
them): it holds their common state, set once when an engine is built, and the small
lookups every part uses (a case's calendar, its catalogue item, shared limits, masked
texts).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple, TypeVar

from supervisor.core.alerts import Alert, CaseChange, Resolution
from supervisor.core.calendar import MEMO_SIZE, CalendarBook, WorkCalendar
from supervisor.core.catalogue import Item
from supervisor.core.declarative import (
    AbsenceParams,
    CountParams,
    DeadlineParams,
    SequenceParams,
    ThresholdParams,
)
from supervisor.core.events import CaseEvent
from supervisor.core.rules import Rule, RuleBook
from supervisor.core.state import CaseState, LimitState
from supervisor.masking import mask_text

_P = TypeVar("_P")
_ENGINE_TOKENS = itertools.count(1)


class TimerRules(NamedTuple):
    """The canonical timer rules of a rule book: whether each is enabled (the rule, for
    those with thresholds), looked up once per engine (a book never changes)."""

    overdue: bool
    warning: Rule | None
    statutory: bool
    suspension: Rule | None
    delivery: Rule | None
    rectify: Rule | None
    complaint: Rule | None
    stage: bool  # stage.overdue enabled, with a catalogue that has steps

    @classmethod
    def of(cls, rules: RuleBook) -> TimerRules:
        return cls(
            overdue=rules.get("deadline.overdue") is not None,
            warning=rules.get("deadline.warning"),
            statutory=rules.get("deadline.statutory_overdue") is not None,
            suspension=rules.get("suspension.too_long"),
            delivery=rules.get("delivery.overdue"),
            rectify=rules.get("evaluation.unrectified"),
            # contract §8: like the catalogue's own rules, silent without a catalogue
            complaint=rules.get("complaint.unanswered") if rules.catalogue is not None else None,
            stage=rules.get("stage.overdue") is not None
            and rules.catalogue is not None
            and rules.catalogue.has_steps,
        )


@dataclass
class Outcome:
    """The case after the step, the alerts it raised, the alerts a late event proved
    wrong, what the case did to its alerts (contract §6), and whether it was a
    re-delivery. `restated`: after a late event, the alerts that stand (same id, same
    instant) as event-time order renders them now (who handled it, the item: the late
    event may tell them); replay prints these, the alerts topic keeps what it sent."""

    state: CaseState
    alerts: list[Alert] = field(default_factory=list)
    duplicate: bool = False
    resolved: list[Resolution] = field(default_factory=list)
    changes: Sequence[CaseChange] = ()
    restated: Sequence[Alert] = ()


class EngineContext:
    """The state an engine's parts share: its rules, calendars and center names, the
    memos it keeps for them, and the step it is judging (`_by`, `_changes`). A reload of
    the rules or the calendar builds a new engine, so a new context with empty memos."""

    def __init__(
        self,
        rules: RuleBook,
        calendar: WorkCalendar | CalendarBook,
        center_name: Callable[[str], str] = lambda code: code,
    ) -> None:
        self.rules = rules
        # One calendar per center (its region's days off); a single WorkCalendar serves all.
        self.calendar = (
            calendar if isinstance(calendar, CalendarBook) else CalendarBook.single(calendar)
        )
        self.center_name = center_name
        # Caches. They are this engine's own: a reload of the rules or the calendar builds a
        # new Engine, whose caches start empty. Warning instants by what they depend on
        # (see _warning_at); and a token that a state's remembered timers carry (_pending).
        self._warnings: dict[tuple[object, ...], datetime] = {}
        self._deadlines: dict[tuple[object, ...], datetime] = {}  # see _deadline
        self._masks: dict[str, str] = {}  # text -> mask_text(text)
        self._limits: dict[tuple[type, float, str], LimitState] = {}  # see _limit
        self._token = next(_ENGINE_TOKENS)
        self._timer_rules = TimerRules.of(rules)
        # whether any YAML rule judges events as they come (_declarative_on_event)
        self._event_rules = any(
            isinstance(rule.params, CountParams | ThresholdParams | SequenceParams)
            for rule in rules.declarative()
        )
        self._history_timers = self._timer_rules.stage or any(
            isinstance(rule.params, DeadlineParams | AbsenceParams) for rule in rules.declarative()
        )
        # The step being judged: the event being applied, whose department, window and
        # staff its alerts carry (None while timers fire: a deadline carries the case's
        # latest known, contract §7), and the case's changes to its alerts (contract §6),
        # collected when there are some. Set by `apply` and `advance` for their own step:
        # judging a late event applies the case's events again, but before its own step
        # begins, never inside one.
        self._by: CaseEvent | None = None
        self._changes: list[CaseChange] | None = None

    def _masked(self, text: str) -> str:
        """`mask_text(text)`, remembered: the same center names, item names and limits
        come back in alert after alert."""
        known = self._masks.get(text)
        if known is None:
            known = mask_text(text)
            if len(self._masks) >= MEMO_SIZE:
                self._masks.clear()
            self._masks[text] = known
        return known

    def _limit(self, value: float, unit: Literal["working_day", "natural_day"]) -> LimitState:
        """`LimitState(float(value), unit)`, made once per value and unit and then shared:
        a frozen value, equal to a new one in every way. Why: a case keeps its limits for
        its whole life, each an object the garbage collector counts; shared, the many
        cases with the same limit hold none of their own."""
        key = (type(value), value, unit)  # the type too: 5 and 5.0 are one dict key
        known = self._limits.get(key)
        if known is None:
            known = LimitState(float(value), unit)
            if len(self._limits) >= MEMO_SIZE:
                self._limits.clear()
            self._limits[key] = known
        return known

    def calendar_of(self, state: CaseState) -> WorkCalendar:
        """The calendar of the case's center (its region's days off)."""
        return self.calendar.for_center(state.center_id)

    def _item_of(self, state: CaseState) -> Item | None:
        """The case's item in the catalogue (contract §8); None without a catalogue, before
        acceptance, or for an item it does not list."""
        catalogue = self.rules.catalogue
        if catalogue is None or state.item_code is None:
            return None
        return catalogue.get(state.item_code)


def revision(ident: str, retracted: list[str]) -> str:
    """The id itself, or its next revision if a late event once resolved it."""
    if ident not in retracted:
        return ident
    number = 2
    while f"{ident}:r{number}" in retracted:
        number += 1
    return f"{ident}:r{number}"


def nth(number: int) -> str | None:
    """The occurrence part of the n-th alert id of a rule on a case: none for the first."""
    return None if number <= 1 else str(number)


def params_as(params: object, model: type[_P]) -> _P:
    """A rule's thresholds as the model its rule id has (the rule book checked them)."""
    assert isinstance(params, model), (
        f"rule thresholds are {type(params).__name__}, not {model.__name__}"
    )
    return params
