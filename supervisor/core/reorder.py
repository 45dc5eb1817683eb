"""Late events: an event earlier than what its case has already been judged on is put in
its place in event time and the case judged again (contract §5).

The alerts the new judgement no longer supports come back as resolutions with the reason;
those that hold stand unchanged. `Engine.apply` sends a late event here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

from supervisor.core.alerts import Alert, CaseChange, Resolution, rule_of
from supervisor.core.context import Outcome
from supervisor.core.events import CaseEvent, from_document
from supervisor.core.render import EVENT_ZH, human_time
from supervisor.core.state import CaseState

if TYPE_CHECKING:
    from supervisor.core.engine import Engine


#: Events stamped with the same second, in the order a case takes them (contract §1):
#: a center's system often stamps a step and the next one alike (accepted and suspended,
#: the last step and the conclusion), and sends them in any order. Equal ranks keep the
#: order they came in.
STEP_RANK: Final = {
    "submitted": 0,
    "supplement_requested": 1,
    "supplement_received": 2,
    "not_accepted": 3,
    "accepted": 4,
    "suspended": 5,
    "resumed": 5,
    "extended": 5,
    "fee_charged": 5,
    "step_completed": 6,
    "decided": 7,
    "withdrawn": 8,
    "concluded": 9,
    "delivered": 10,
    "evaluated": 11,
    "complained": 11,
    "rectified": 12,
    "complaint_answered": 12,
}


def in_case_order(event: CaseEvent) -> tuple[datetime, int]:
    """The key events of one case are judged by: event time, then `STEP_RANK`."""
    return event.occurred_at, STEP_RANK.get(event.type, 5)


def is_late(state: CaseState, event: CaseEvent) -> bool:
    """An event earlier than what the case has already been judged on: an earlier event,
    one of the same second that comes before one of them in a case's order
    (`STEP_RANK`), or a timer fired at or after the event's time."""
    last, at = state.last_event_at, event.occurred_at
    if last is not None and at <= last and (at < last or _before_a_tie(state, event)):
        return True  # one comparison for an event after the last, the usual case
    return state.advanced_to is not None and at <= state.advanced_to


def _before_a_tie(state: CaseState, event: CaseEvent) -> bool:
    """Whether an event of the case with the same time as `event` comes after it in a
    case's order (read from the history only for an event of that very second)."""
    rank = STEP_RANK.get(event.type, 5)
    for document in state.history:
        if STEP_RANK.get(document.get("type", ""), 5) > rank:
            kept = document.get("occurred_at")
            if isinstance(kept, str) and datetime.fromisoformat(kept) == event.occurred_at:
                return True
    return False


def reorder(engine: Engine, state: CaseState, late: CaseEvent) -> Outcome:
    """Judge the case again with the late event in its place in event time.

    The case is rebuilt from its events in a case's order (`in_case_order`: event time,
    same-second ties by `STEP_RANK`, then arrival), its timers fired up to where it had
    been judged before, with and without the late event; what the late event changes
    counts. An alert the new judgement no longer supports, or supports at another
    instant (a late approved extension moved the deadline), is resolved with the reason,
    never dropped; an id once resolved is never raised again as itself: a firing of the
    same rule gets the next revision id (`...:r2`), at its right `raised_at`. Alerts that
    hold as they were stand unchanged (same id, same `raised_at`)."""
    history = sorted((from_document(document) for document in state.history), key=in_case_order)
    events = sorted([*history, late], key=in_case_order)
    # The case judged without the late event too, under the same rules: only what the
    # late event changes is resolved or raised, so rules changed by a live reload since
    # an alert fired never re-raise it.
    base, _, base_changes = _rebuild(engine, state, history, state.retracted)
    fresh, raised, changed = _rebuild(engine, state, events, state.retracted)
    wrong = [
        ident
        for ident, at in state.fired.items()
        if fresh.fired.get(ident) != at
        and fresh.fired.get(ident) != base.fired.get(ident)
        and engine.rules.get(rule_of(ident)) is not None
    ]
    moved = {ident: fresh.fired[ident] for ident in wrong if ident in fresh.fired}
    if moved:  # true at another instant: raised again as a revision, at that instant
        fresh, raised, changed = _rebuild(engine, state, events, [*state.retracted, *wrong])
    new = [
        alert
        for ident, alert in raised.items()
        if ident not in state.fired and base.fired.get(ident) != alert.raised_at
    ]
    fresh.fired = {k: v for k, v in state.fired.items() if k not in wrong}
    fresh.fired.update((alert.alert_id, alert.raised_at) for alert in new)
    fresh.retracted = [*state.retracted, *wrong]
    # What the case does to its alerts in event-time order that it had not done yet:
    # a late `concluded` closes a warning (also one superseded by a red alert that the
    # late event withdrew), or marks an overdue alert concluded late.
    changes = [
        change
        for ident, change in changed.items()
        if state.changed.get(ident) != change.change
        and ident not in wrong
        and ident in fresh.fired
        and base_changes.get(ident) != change
    ]
    fresh.changed = {k: v for k, v in state.changed.items() if k not in wrong}
    fresh.changed.update((change.alert_id, change.change) for change in changes)
    cal = engine.calendar_of(fresh)
    when = cal.local(state.clock or late.occurred_at)
    late_text = f"迟到事件：{EVENT_ZH[late.type]}（发生于 {human_time(late.occurred_at, cal)}）"

    def reason(ident: str) -> str:
        if ident in moved:
            return (
                f"{late_text}按事件时间补入后重新研判，该预警的发生时间应为 "
                f"{human_time(moved[ident], cal)}，原预警撤销，以重新发出的预警为准。"
            )
        return f"{late_text}按事件时间补入后重新研判，该预警不再成立，予以撤销。"

    resolved = [
        Resolution(
            alert_id=ident,
            rule_id=rule_of(ident),
            case_id=state.case_id,
            center_id=state.center_id,
            resolved_at=when,
            reason=reason(ident),
            details={
                "late_event_id": late.event_id,
                "late_event_type": late.type.value,
                "late_event_occurred_at": late.occurred_at.isoformat(),
            },
        )
        for ident in wrong
    ]
    restated = [
        alert
        for ident, alert in raised.items()
        if ident not in wrong and state.fired.get(ident) == alert.raised_at
    ]
    return Outcome(fresh, new, resolved=resolved, changes=changes, restated=restated)


def _rebuild(
    engine: Engine, state: CaseState, events: list[CaseEvent], retracted: list[str]
) -> tuple[CaseState, dict[str, Alert], dict[str, CaseChange]]:
    """The case judged afresh from `events` in order, its timers fired up to where it had
    been judged before, with the alert ids in `retracted` revised: the new state, and the
    alerts it raised and the changes it made to them, by alert id."""
    # the history keeps no applicant: the case's marks of it come along (contract §3)
    fresh = CaseState(
        case_id=state.case_id,
        center_id=state.center_id,
        retracted=retracted,
        applicant_marks=state.applicant_marks,
    )
    raised: dict[str, Alert] = {}
    changes: dict[str, CaseChange] = {}
    for item in events:
        outcome = engine.apply(fresh, item)
        fresh = outcome.state
        raised.update((alert.alert_id, alert) for alert in outcome.alerts)
        changes.update((change.alert_id, change) for change in outcome.changes)
    if state.advanced_to is not None:
        outcome = engine.advance(fresh, state.advanced_to)
        fresh = outcome.state
        fresh.advanced_to = state.advanced_to
        raised.update((alert.alert_id, alert) for alert in outcome.alerts)
        changes.update((change.alert_id, change) for change in outcome.changes)
    return fresh, raised, changes
