"""The rule engine: one case's state, one event or one instant in, alerts out.

Sans-I/O and clock-free: `apply(state, event)` and `advance(state, now)` are plain
functions of their arguments, so the Faust worker (state in a table, `now` from the wall
clock), `supervisor replay` (state in a dict, `now` from event time) and the tests all
drive this same code and get the same alerts.

Order inside `apply`: a re-delivered event changes nothing; deadlines that fell before
the event fire first (their `raised_at` is the deadline); then the event is checked
against the case's workflow and applied, which may raise event rules at its own time.

`Engine` is the facade; each concern is a module of its own:

- `context`: what the parts share (rules, calendars, memos, the step being judged) and
  `Outcome`, what a step gives back;
- `deadlines`: where a case's limits fall on its calendar;
- `raising`: whether a rule fires on a case, and what the case does to its alerts (§6);
- `render`: an alert's texts and details, and the Chinese names they quote;
- `timers`: the timers pending on a case, and firing those due;
- `handlers`: what each event type does to its case, and the event rules it raises;
- `reorder`: a late event put in its place in event time, the case judged again.

The parts are layered as base classes (`EngineContext` ← `Deadlines` ← `Raising` ←
`Timers`, `EventHandlers` ← `Engine`), so each calls only what lies below it; `reorder`
drives the whole engine again and is a function of it.
"""

from __future__ import annotations

from datetime import datetime

from supervisor.core.context import Outcome
from supervisor.core.events import CaseEvent, EventType, history_document
from supervisor.core.handlers import EventHandlers
from supervisor.core.render import EVENT_ZH, STATUS_ZH
from supervisor.core.reorder import is_late, reorder
from supervisor.core.state import CaseState
from supervisor.core.timers import Pending, Timers
from supervisor.masking import applicant_marks

__all__ = ["EVENT_ZH", "STATUS_ZH", "Engine", "Outcome", "Pending"]

#: Events that close an open case: its stages waiting for a step never completed are
#: judged then (Timers._fire_stages_at_close).
_CLOSING = frozenset({EventType.CONCLUDED, EventType.WITHDRAWN})


class Engine(EventHandlers, Timers):
    """The rule engine of one rule book and its calendars: `apply` an event to its case,
    `advance` a case to an instant; `next_due`, `timers` and the case's deadlines say
    what is pending. Built with `Engine(rules, calendar, center_name)`."""

    # -- the two entry points -----------------------------------------------------------

    def apply(self, state: CaseState | None, event: CaseEvent) -> Outcome:
        """Judge one event on its case (None for a new case): a re-delivery changes
        nothing, a late event judges the case again (`reorder`), any other fires the
        case's deadlines that fell before it and is then applied."""
        if state is None:
            state = CaseState.new(event.case_id, event.center_id)
        elif state.has_event(event.event_id):
            return Outcome(state, duplicate=True)
        elif is_late(state, event):
            return reorder(self, state, event)
        else:
            state = state.copy_for_update()
        at = self.calendar.for_center(state.center_id).local(event.occurred_at)
        self._by = self._changes = None
        alerts = self._fire_timers(state, at, inclusive=False)
        # the applicant is not kept: no rule needs it, and the changelog should not hold it;
        # its marks are, by which the case's alerts mask it (contract §3)
        state.history.append(history_document(event))
        if event.applicant is not None:
            self._mark_applicant(state, event)
        last = state.last_event_at
        if last is None or at > last:
            state.last_event_at = at
        if event.type in _CLOSING and state.status == "open":
            alerts += self._fire_stages_at_close(state, at)
        # who handled it (contract §7): the case's latest known, for its deadlines; the
        # event's own, for what it raises (read by _raise from the event)
        department, window_id, staff_id = event.department, event.window_id, event.staff_id
        if department is not None:
            state.department = department
        if window_id is not None:
            state.window_id = window_id
        if staff_id is not None:
            state.staff_id = staff_id
        self._by = event
        alerts += self._apply_event(state, event, at)
        if self._event_rules:
            alerts += self._declarative_on_event(state, event, at)
        changes, self._by, self._changes = self._changes, None, None
        return Outcome(state, alerts, changes=changes or ())

    @staticmethod
    def _mark_applicant(state: CaseState, event: CaseEvent) -> None:
        assert event.applicant is not None
        marks = applicant_marks(event.applicant.model_dump(exclude_none=True))
        new = [mark for mark in marks if mark not in state.applicant_marks]
        if new:
            state.applicant_marks = [*state.applicant_marks, *new]

    def finish(self, state: CaseState, now: datetime) -> Outcome:
        """The case's story ends at `now` (`advance`d to it already): replay's end of
        input, the whole of what is known. A catalogue step it never completed is never
        completed, so the stages after it run from acceptance (contract §8) and fire if
        their limit was reached by `now`. The live worker never calls it: there, a step
        under way may still be completed, and those stages wait for it or for the
        case's close."""
        item = self._item_of(state) if self._timer_rules.stage else None
        if state.status != "open" or item is None or not item.steps:
            return Outcome(state)  # no stage to judge: the case is not copied
        state = state.copy_for_update()
        now = self.calendar_of(state).local(now)
        self._by = self._changes = None
        alerts = self._fire_stages_at_close(state, now, inclusive=True)
        changes, self._changes = self._changes, None
        return Outcome(state, alerts, changes=changes or ())

    def advance(self, state: CaseState, now: datetime) -> Outcome:
        """Fire every timer of the case due at or before `now`."""
        due = self.next_due(state)
        if due is None or due > now:
            return Outcome(state)
        state = state.copy_for_update()
        now = self.calendar_of(state).local(now)
        state.advanced_to = now if state.advanced_to is None else max(state.advanced_to, now)
        self._by = self._changes = None
        alerts = self._fire_timers(state, now, inclusive=True)
        changes, self._changes = self._changes, None
        return Outcome(state, alerts, changes=changes or ())
