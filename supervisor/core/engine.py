"""The rule engine: one case's state, one event or one instant in, alerts out.

Sans-I/O and clock-free: `apply(state, event)` and `advance(state, now)` are plain
functions of their arguments, so the Faust worker (state in a table, `now` from the wall
clock), `supervisor replay` (state in a dict, `now` from event time) and the tests all
drive this same code and get the same alerts.

Order inside `apply`: a re-delivered event changes nothing; deadlines that fell before
the event fire first (their `raised_at` is the deadline); then the event is checked
against the case's workflow and applied, which may raise event rules at its own time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Literal, NamedTuple, TypeVar

from supervisor.core import declarative
from supervisor.core.alerts import Alert, CaseChange, ChangeKind, Resolution, alert_id, rule_of
from supervisor.core.calendar import DAY, MEMO_SIZE, CalendarBook, WorkCalendar
from supervisor.core.catalogue import Item
from supervisor.core.declarative import (
    AbsenceParams,
    CountParams,
    DeadlineParams,
    SequenceParams,
    ThresholdParams,
)
from supervisor.core.events import (
    AcceptedPayload,
    CaseEvent,
    DecidedPayload,
    EvaluatedPayload,
    EventType,
    ExtendedPayload,
    FeeChargedPayload,
    ReasonPayload,
    StepCompletedPayload,
    SuspendedPayload,
    from_document,
    history_document,
)
from supervisor.core.rules import (
    ExtensionRepeatedParams,
    MinutesParams,
    NegativeEvaluationParams,
    RepeatedParams,
    Rule,
    RuleBook,
    UnrectifiedParams,
    WarningParams,
    WorkingDaysParams,
)
from supervisor.core.state import CaseState, Complaint, LimitState, Rating
from supervisor.masking import mask_text

E = EventType
_P = TypeVar("_P")
#: A case's pending timers: (rule id, occurrence, due), see Engine._pending.
Pending = tuple[tuple[str, str | None, datetime], ...]


class _Timers(NamedTuple):
    """A case's pending timers: what they were computed from (Engine._timer_inputs), as
    computed, sorted by due time (ties keep their order), and the earliest due time."""

    inputs: tuple[object, ...]
    pending: Pending
    by_due: Pending
    earliest: datetime | None


class _TimerRules(NamedTuple):
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
    def of(cls, rules: RuleBook) -> _TimerRules:
        return cls(
            overdue=rules.get("deadline.overdue") is not None,
            warning=rules.get("deadline.warning"),
            statutory=rules.get("deadline.statutory_overdue") is not None,
            suspension=rules.get("suspension.too_long"),
            delivery=rules.get("delivery.overdue"),
            rectify=rules.get("evaluation.unrectified"),
            complaint=rules.get("complaint.unanswered"),
            stage=rules.get("stage.overdue") is not None
            and rules.catalogue is not None
            and rules.catalogue.has_steps,
        )


#: A timer's due time, the sort key of a case's timers.
_DUE = itemgetter(2)
#: The fields `_on_accepted` sets (beside `statutory`, when the event gives one).
_ACCEPTED_FIELDS = frozenset(
    {
        "status",
        "accepted_at",
        "item_code",
        "item_name",
        "immediate",
        "promised",
        "fee_standard",
        "required_steps",
    }
)
#: The plain fields of a case its timers depend on (Engine._timer_inputs), read at once.
_TIMER_FIELDS = itemgetter(
    "case_id",
    "center_id",
    "status",
    "accepted_at",
    "suspended_since",
    "promised",
    "statutory",
    "suspended_seconds",
    "suspensions",
    "decided_outcome",
    "decided_at",
    "delivered_at",
)

#: The key under which a case state remembers its pending timers (Engine._pending).
_TIMERS = "_engine_pending_timers"
_ENGINE_TOKENS = itertools.count(1)

#: What each status allows (contract §1, "The order a case may take").
_BEFORE_ACCEPTANCE = {
    E.SUBMITTED,
    E.ACCEPTED,
    E.SUPPLEMENT_REQUESTED,
    E.SUPPLEMENT_RECEIVED,
    E.NOT_ACCEPTED,
    E.WITHDRAWN,
}
_AFTER_CLOSE = {E.DELIVERED, E.EVALUATED, E.RECTIFIED, E.COMPLAINED, E.COMPLAINT_ANSWERED}
#: The canonical deadline rules (contract §6 follows them when the case moves on).
_WARNING = "deadline.warning"
_OVERDUE = ("deadline.overdue", "deadline.statutory_overdue")
ALLOWED: dict[str, set[EventType]] = {
    "received": _BEFORE_ACCEPTANCE,
    "open": set(EventType) - {E.SUBMITTED, E.ACCEPTED, E.NOT_ACCEPTED},
    "concluded": _AFTER_CLOSE,
    "not_accepted": _AFTER_CLOSE,
    "withdrawn": _AFTER_CLOSE,
}
STATUS_ZH = {
    "received": "已收件未受理",
    "open": "办理中",
    "concluded": "已办结",
    "not_accepted": "不予受理",
    "withdrawn": "已撤回",
}
EVENT_ZH = {
    E.SUBMITTED: "收件",
    E.ACCEPTED: "受理",
    E.NOT_ACCEPTED: "不予受理",
    E.SUPPLEMENT_REQUESTED: "补正告知",
    E.SUPPLEMENT_RECEIVED: "补正材料收到",
    E.STEP_COMPLETED: "环节办结",
    E.SUSPENDED: "暂停计时",
    E.RESUMED: "恢复计时",
    E.EXTENDED: "延期",
    E.FEE_CHARGED: "收费",
    E.DECIDED: "审批决定",
    E.CONCLUDED: "办结",
    E.DELIVERED: "送达",
    E.WITHDRAWN: "撤回",
    E.EVALUATED: "评价",
    E.RECTIFIED: "差评整改",
    E.COMPLAINED: "投诉",
    E.COMPLAINT_ANSWERED: "投诉答复",
}


@dataclass
class Outcome:
    """The case after the step, the alerts it raised, the alerts a late event proved
    wrong, what the case did to its alerts (contract §6), and whether it was a
    re-delivery."""

    state: CaseState
    alerts: list[Alert] = field(default_factory=list)
    duplicate: bool = False
    resolved: list[Resolution] = field(default_factory=list)
    changes: Sequence[CaseChange] = ()


class Engine:
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
        self._timer_rules = _TimerRules.of(rules)
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
        """`LimitState(value=value, unit=unit)`, validated once per value and unit and then
        shared: a frozen value, equal to a new one in every way. Why: a case keeps its
        limits for its whole life, each three objects the garbage collector counts (the
        model, its fields, its fields-set); shared, the many cases with the same limit
        hold none of their own, so collections come less often and take less time."""
        key = (type(value), value, unit)  # the type too: 5 and 5.0 are one dict key
        known = self._limits.get(key)
        if known is None:
            known = LimitState(value=value, unit=unit)
            if len(self._limits) >= MEMO_SIZE:
                self._limits.clear()
            self._limits[key] = known
        return known

    def calendar_of(self, state: CaseState) -> WorkCalendar:
        return self.calendar.for_center(state.center_id)

    # -- the two entry points -----------------------------------------------------------

    def apply(self, state: CaseState | None, event: CaseEvent) -> Outcome:
        if state is None:
            state = CaseState.new(event.case_id, event.center_id)
        elif state.has_event(event.event_id):
            return Outcome(state, duplicate=True)
        elif _is_late(state, event):
            return self._reorder(state, event)
        else:
            state = state.copy_for_update()
        at = self.calendar.for_center(state.center_id).local(event.occurred_at)
        self._by = self._changes = None
        alerts = self._fire_timers(state, at, inclusive=False)
        fields = state.__dict__
        # the applicant is not kept: no rule needs it, and the changelog should not hold it
        fields["history"].append(history_document(event))
        last = fields["last_event_at"]
        if last is None or at > last:
            # what `state.last_event_at = at` does (CaseState.__setattr__), without the call
            fields["last_event_at"] = at
            state.__pydantic_fields_set__.add("last_event_at")
        # who handled it (contract §7): the case's latest known, for its deadlines; the
        # event's own, for what it raises (read by _raise from the event)
        department, window_id, staff_id = event.department, event.window_id, event.staff_id
        if department is not None and department != fields["department"]:
            state.department = department
        if window_id is not None and window_id != fields["window_id"]:
            state.window_id = window_id
        if staff_id is not None and staff_id != fields["staff_id"]:
            state.staff_id = staff_id
        self._by = event
        alerts += self._apply_event(state, event, at)
        if self._event_rules:
            alerts += self._declarative_on_event(state, event, at)
        changes, self._by, self._changes = self._changes, None, None
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

    def _reorder(self, state: CaseState, late: CaseEvent) -> Outcome:
        """Judge the case again with the late event in its place in event time.

        The case is rebuilt from its events sorted by `occurred_at` (ties keep arrival
        order), its timers fired up to where it had been judged before, with and without
        the late event; what the late event changes counts. An alert the new
        judgement no longer supports, or supports at another instant (a late approved
        extension moved the deadline), is resolved with the reason, never dropped; an id
        once resolved is never raised again as itself: a firing of the same rule gets the
        next revision id (`...:r2`), at its right `raised_at`. Alerts that hold as they
        were stand unchanged (same id, same `raised_at`)."""
        history = sorted(
            (from_document(document) for document in state.history),
            key=lambda item: item.occurred_at,
        )
        events = sorted([*history, late], key=lambda item: item.occurred_at)
        # The case judged without the late event too, under the same rules: only what the
        # late event changes is resolved or raised, so rules changed by a live reload since
        # an alert fired never re-raise it.
        base, _, base_changes = self._rebuild(state, history, state.retracted)
        fresh, raised, changed = self._rebuild(state, events, state.retracted)
        wrong = [
            ident
            for ident, at in state.fired.items()
            if fresh.fired.get(ident) != at
            and fresh.fired.get(ident) != base.fired.get(ident)
            and self.rules.get(rule_of(ident)) is not None
        ]
        moved = {ident: fresh.fired[ident] for ident in wrong if ident in fresh.fired}
        if moved:  # true at another instant: raised again as a revision, at that instant
            fresh, raised, changed = self._rebuild(state, events, [*state.retracted, *wrong])
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
        cal = self.calendar_of(fresh)
        when = cal.local(state.clock or late.occurred_at)
        late_text = (
            f"迟到事件：{EVENT_ZH[late.type]}（发生于 {_human_time(late.occurred_at, cal)}）"
        )

        def reason(ident: str) -> str:
            if ident in moved:
                return (
                    f"{late_text}按事件时间补入后重新研判，该预警的发生时间应为 "
                    f"{_human_time(moved[ident], cal)}，原预警撤销，以重新发出的预警为准。"
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
        return Outcome(fresh, new, resolved=resolved, changes=changes)

    def _rebuild(
        self, state: CaseState, events: list[CaseEvent], retracted: list[str]
    ) -> tuple[CaseState, dict[str, Alert], dict[str, CaseChange]]:
        fresh = CaseState(case_id=state.case_id, center_id=state.center_id, retracted=retracted)
        raised: dict[str, Alert] = {}
        changes: dict[str, CaseChange] = {}
        for item in events:
            outcome = self.apply(fresh, item)
            fresh = outcome.state
            raised.update((alert.alert_id, alert) for alert in outcome.alerts)
            changes.update((change.alert_id, change) for change in outcome.changes)
        if state.advanced_to is not None:
            outcome = self.advance(fresh, state.advanced_to)
            fresh = outcome.state
            fresh.advanced_to = state.advanced_to
            raised.update((alert.alert_id, alert) for alert in outcome.alerts)
            changes.update((change.alert_id, change) for change in outcome.changes)
        return fresh, raised, changes

    def promised_deadline(self, state: CaseState) -> datetime | None:
        """The promised deadline (承诺时限) as the case's facts place it now, local time:
        from acceptance, moved by approved extensions and by the working time of closed
        suspensions. None before acceptance, without a promised limit, or when the limit
        cannot be placed on the calendar. While the case is suspended, the open stretch is
        not counted yet: the deadline moves later by it when the case resumes (or is
        concluded), so for a concluded case this is the deadline it was judged against."""
        if state.accepted_at is None or state.promised is None:
            return None
        try:
            return self.calendar_of(state).local(self._deadline(state, state.promised))
        except (ValueError, OverflowError):
            return None

    def statutory_deadline(self, state: CaseState) -> datetime | None:
        """The statutory deadline (法定时限), placed as `promised_deadline` places the
        promised one; None without a statutory limit."""
        if state.accepted_at is None or state.statutory is None:
            return None
        try:
            return self.calendar_of(state).local(self._deadline(state, state.statutory))
        except (ValueError, OverflowError):
            return None

    def next_due(self, state: CaseState) -> datetime | None:
        """When this case next needs `advance`, or None while nothing is pending."""
        # the earliest of `timers(state)`: each pending timer has its own alert id
        return self._pending(state).earliest

    # -- timers --------------------------------------------------------------------------

    def timers(self, state: CaseState) -> dict[str, datetime]:
        """Pending (not yet fired) timers of the case, by the alert id each would raise.

        A deadline that cannot be computed (a limit reaching past the calendar's range: a
        data error) is left out, so the case's other rules still work."""
        return {
            _revision(alert_id(r, state.case_id, n), state.retracted): due
            for r, n, due in self._pending(state).pending
        }

    def _pending(self, state: CaseState) -> _Timers:
        """(rule id, occurrence, due) of each timer of the case not yet fired, in a fixed
        order (ties in `_fire_timers` keep it).

        The case remembers them beside its fields (as `functools.cached_property` would:
        pydantic neither dumps, validates nor compares it), with everything they were
        computed from: this engine, and each field of the case a timer depends on. Any
        change of those (an event, a timer fired, a late event's rebuild, another engine
        after a reload) computes them afresh. What it saves: `next_due` after an event
        and the next `apply` to the same case object (replay, `Runner`) compute nothing."""
        inputs = self._timer_inputs(state)
        timers: _Timers | None = state.__dict__.get(_TIMERS)
        if timers is not None and timers.inputs == inputs:
            return timers
        pending = self._compute_pending(state)
        # stable: ties keep their order
        by_due = tuple(sorted(pending, key=_DUE)) if len(pending) > 1 else pending
        timers = _Timers(inputs, pending, by_due, by_due[0][2] if by_due else None)
        state.__dict__[_TIMERS] = timers
        return timers

    def _timer_inputs(self, state: CaseState) -> tuple[object, ...]:
        """Everything `_compute_pending` reads: this engine and those fields of the case.

        Read from the fields' dict, not as attributes (the same values: pydantic keeps
        them there), the plain fields by one `itemgetter` call, because this runs twice
        per event; containers as tuples, so that a container changed in place is a
        change too."""
        fields = state.__dict__
        # one flat tuple (the case keeps it: one object for the collector)
        return (
            *_TIMER_FIELDS(fields),
            self._token,
            tuple(fields["approved_extensions"]),
            tuple(fields["unrectified_ratings"]),
            tuple(fields["complaints"]),
            tuple(fields["fired"]),
            tuple(fields["retracted"]),
            # the timers of YAML rules read the events themselves
            tuple([document.get("event_id") for document in fields["history"]])
            if self._history_timers
            else None,
        )

    def _compute_pending(self, state: CaseState) -> Pending:
        """The timers, computed. A deadline is computed only for an enabled rule that has
        not fired yet; one that cannot be computed (a limit reaching past the calendar's
        range: a data error) is left out, so the case's other rules still work.

        Each rule's switch comes from `self._timer_rules` (looked up once per engine,
        whose rules never change), and the calendar is looked up only for a timer that
        needs it: this runs after most events (acceptance, decision, conclusion…)."""
        case_id, fired, retracted = state.case_id, state.fired, state.retracted
        on = self._timer_rules
        pending: list[tuple[str, str | None, datetime]] = []
        is_open = state.status == "open"
        suspended_since = state.suspended_since
        accepted_at = state.accepted_at
        if is_open and accepted_at and suspended_since is None:
            promised, statutory = state.promised, state.statutory
            # The remembered deadlines are looked up here with the keys `_deadline` and
            # `_warning_at` would build (their calendar lookup and local day once for all
            # three); a miss, or a day that cannot be placed, goes through them as before.
            cal = self.calendar_of(state)
            try:
                day: int | None = cal.local(accepted_at).toordinal()
            except (ValueError, OverflowError):
                day = None
            extensions = state.approved_extensions
            extended = tuple([(e.value, e.unit) for e in extensions]) if extensions else ()
            suspended = state.suspended_seconds
            if promised is not None:
                limit_key = (cal, day, promised.value, promised.unit, extended)
                if on.overdue and _unfired("deadline.overdue", case_id, None, fired, retracted):
                    due = self._deadlines.get((limit_key, suspended)) if day is not None else None
                    if due is None:
                        due = _or_none(self._deadline, state, promised)
                    if due is not None:
                        pending.append(("deadline.overdue", None, due))
                if on.warning is not None and _unfired(
                    "deadline.warning", case_id, None, fired, retracted
                ):
                    params = _params(on.warning.params, WarningParams)
                    due = (
                        self._warnings.get(
                            (
                                limit_key,
                                suspended,
                                params.mode,
                                params.share,
                                params.remaining_working_days,
                            )
                        )
                        if day is not None
                        else None
                    )
                    if due is None:
                        due = _or_none(self._warning_at, state, promised, params)
                    if due is not None:
                        pending.append(("deadline.warning", None, due))
            if (
                statutory is not None
                and on.statutory
                and _unfired("deadline.statutory_overdue", case_id, None, fired, retracted)
            ):
                due = (
                    self._deadlines.get(
                        ((cal, day, statutory.value, statutory.unit, extended), suspended)
                    )
                    if day is not None
                    else None
                )
                if due is None:
                    due = _or_none(self._deadline, state, statutory)
                if due is not None:
                    pending.append(("deadline.statutory_overdue", None, due))
        if is_open and suspended_since is not None and on.suspension is not None:
            occurrence = _nth(state.suspensions)
            if _unfired("suspension.too_long", case_id, occurrence, fired, retracted):
                days = _params(on.suspension.params, WorkingDaysParams).working_days
                due = _or_none(self.calendar_of(state).add, suspended_since, days * DAY)
                if due is not None:
                    pending.append(("suspension.too_long", occurrence, due))
        decided_at = state.decided_at
        if (
            state.decided_outcome == "approve"
            and decided_at
            and not state.delivered_at
            and state.status != "withdrawn"
            and on.delivery is not None
            and _unfired("delivery.overdue", case_id, None, fired, retracted)
        ):
            days = _params(on.delivery.params, WorkingDaysParams).working_days
            due = _or_none(self.calendar_of(state).working_deadline, decided_at, days)
            if due is not None:
                pending.append(("delivery.overdue", None, due))
        # a bad rating awaiting its rectification, a complaint awaiting its answer: each
        # counted on its own, N working days from the day after it
        for rule_id, waiting, rule in (
            ("evaluation.unrectified", state.unrectified_ratings, on.rectify),
            ("complaint.unanswered", state.complaints, on.complaint),
        ):
            if not waiting or rule is None:
                continue
            thresholds = rule.params
            assert isinstance(thresholds, WorkingDaysParams | UnrectifiedParams), thresholds
            days = thresholds.working_days
            cal = self.calendar_of(state)
            for one in waiting:
                occurrence = _nth(one.number)
                if _unfired(rule_id, case_id, occurrence, fired, retracted):
                    due = _or_none(cal.working_deadline, one.at, days)
                    if due is not None:
                        pending.append((rule_id, occurrence, due))
        if on.stage and is_open and accepted_at and suspended_since is None:
            item = self._item_of(state)
            if item is not None and item.steps:
                for step, due in self._stage_ends(state, item):
                    if _unfired("stage.overdue", case_id, step, fired, retracted):
                        pending.append(("stage.overdue", step, due))
        if self._history_timers:
            rules, cal = self.rules, self.calendar_of(state)
            for local_rule in rules.declarative():
                timer = local_rule.params
                if isinstance(timer, DeadlineParams | AbsenceParams):
                    # computed before the rule's fired check, as it always was: the calendar
                    # notes the unconfirmed years a deadline reaches into even then
                    try:
                        when = declarative.due(timer, state.history, cal)
                    except (ValueError, OverflowError):
                        continue  # like a canonical deadline past the calendar: left out
                    if when is not None and _waiting(
                        rules, local_rule.id, case_id, None, fired, retracted
                    ):
                        pending.append((local_rule.id, None, when))
        return tuple(pending)

    def _fire_timers(self, state: CaseState, now: datetime, *, inclusive: bool) -> list[Alert]:
        alerts = []
        timers = self._pending(state)
        if timers.earliest is None or timers.earliest > now:
            return []  # nothing due: the usual case of an event
        for rule_id, occurrence, due in timers.by_due:
            if due < now or (inclusive and due == now):
                fields = self._timer_fields(state, rule_id, due, occurrence)
                alerts += self._raise(state, rule_id, due, fields, occurrence=occurrence)
        return alerts

    def _timer_fields(
        self, state: CaseState, rule_id: str, due: datetime, occurrence: str | None = None
    ) -> dict[str, object]:
        fields: dict[str, object] = {"deadline": _human_time(due, self.calendar_of(state))}
        if rule_id == "complaint.unanswered":
            fields["complaint_number"] = int(occurrence or 1)
        elif rule_id == "stage.overdue" and occurrence is not None:
            item = self._item_of(state)
            step = next((s for s in item.steps if s.step == occurrence), None) if item else None
            fields["step"] = occurrence
            fields["step_name"] = (step.name or step.step) if step is not None else occurrence
            fields["step_limit"] = step.limit.label() if step is not None else "—"
        rule = self.rules.get(rule_id)
        if rule is not None and isinstance(rule.params, DeadlineParams):
            fields["limit"] = rule.params.limit.label()
        if rule is not None and isinstance(rule.params, AbsenceParams):
            fields["limit"] = rule.params.within.label()
        if rule is not None and isinstance(rule.params, WorkingDaysParams | UnrectifiedParams):
            fields["working_days"] = f"{rule.params.working_days:g}"
        if rule_id == "deadline.warning" and state.promised:
            fields["deadline"] = _human_time(
                self._deadline(state, state.promised), self.calendar_of(state)
            )
        return fields

    def _deadline(
        self, state: CaseState, limit: LimitState, *, suspensions: bool = True
    ) -> datetime:
        """Limit from acceptance, then approved extensions, then time spent suspended.

        Remembered by what it depends on (`_limit_key` and the time suspended), because
        the case's timers are computed again after most events (acceptance, decision,
        conclusion…) and each went through several calendar lookups. An error (a limit
        past the calendar's range) is raised every time, never remembered."""
        accepted_at = state.accepted_at
        assert accepted_at is not None
        cal = self.calendar_of(state)
        suspended = state.suspended_seconds if suspensions else 0.0
        key = (self._limit_key(state, cal, limit), suspended)
        known = self._deadlines.get(key)
        if known is not None:
            return known
        deadline = cal.deadline(accepted_at, limit.value, limit.unit)
        for extension in state.approved_extensions:
            deadline = cal.extend(deadline, extension.value, extension.unit)
        if suspended:
            deadline = cal.add(deadline, suspended)
        if len(self._deadlines) >= MEMO_SIZE:
            self._deadlines.clear()
        self._deadlines[key] = deadline
        return deadline

    @staticmethod
    def _limit_key(state: CaseState, cal: WorkCalendar, limit: LimitState) -> tuple[object, ...]:
        """What a deadline of `limit` depends on beside the time suspended: the calendar,
        the local day of acceptance (the clock starts at its end), the limit and the
        approved extensions in order. The calendar is immutable, and a reload builds new
        ones, so an entry never goes stale; the unconfirmed years a deadline reaches were
        noted by the calendar when it was first computed."""
        assert state.accepted_at is not None
        extensions = state.approved_extensions
        return (
            cal,
            cal.local(state.accepted_at).toordinal(),
            limit.value,
            limit.unit,
            tuple([(e.value, e.unit) for e in extensions]) if extensions else (),
        )

    def _warning_at(self, state: CaseState, limit: LimitState, params: WarningParams) -> datetime:
        assert state.accepted_at is not None
        cal = self.calendar_of(state)
        # A function of the day of acceptance, the limit, the extensions and the time
        # suspended (and of this engine's calendar and thresholds): remembered by them.
        key = (
            self._limit_key(state, cal, limit),
            state.suspended_seconds,
            params.mode,
            params.share,
            params.remaining_working_days,
        )
        known = self._warnings.get(key)
        if known is not None:
            return known
        start = cal.clock_start(state.accepted_at)
        total = cal.between(start, self._deadline(state, limit, suspensions=False))
        if params.mode == "share":
            used = params.share * total
        else:
            used = max(0.0, total - params.remaining_working_days * DAY)
        warning = cal.add(start, used + state.suspended_seconds)
        if len(self._warnings) >= MEMO_SIZE:
            self._warnings.clear()
        self._warnings[key] = warning
        return warning

    # -- the item catalogue (contract §8) ------------------------------------------------

    def _item_of(self, state: CaseState) -> Item | None:
        catalogue = self.rules.catalogue
        if catalogue is None or state.item_code is None:
            return None
        return catalogue.get(state.item_code)

    def _stage_ends(self, state: CaseState, item: Item) -> list[tuple[str, datetime]]:
        """When each catalogue step of the case not completed yet reaches its limit.

        A stage starts at acceptance, or when the step before it was completed; its limit
        is elapsed time from that instant (working time for `working_day`: 1 working day
        is 24 hours of working days; calendar time for `natural_day`), moved later by the
        time the case spent suspended inside it. Read from the case's events (its
        history, in event time), since only cases of catalogued items with steps need it."""
        cal = self.calendar_of(state)
        accepted_at = state.accepted_at
        assert accepted_at is not None
        completed: dict[str, datetime] = {}
        suspended: list[tuple[datetime, datetime]] = []
        since: datetime | None = None
        started = False
        for document in sorted(state.history, key=_occurred):
            kind = document.get("type")
            at = _occurred(document)
            if kind == "accepted":
                started = True
            elif not started:
                continue
            elif kind == "step_completed":
                payload = document.get("payload")
                step = payload.get("step") if isinstance(payload, dict) else None
                if isinstance(step, str) and step not in completed:
                    completed[step] = at
            elif kind == "suspended" and since is None:
                since = at
            elif kind in ("resumed", "concluded", "withdrawn") and since is not None:
                suspended.append((since, at))
                since = None
        ends = []
        previous: str | None = None
        for step in item.steps:
            name = step.step
            start = completed.get(previous, accepted_at) if previous is not None else accepted_at
            previous = name
            if name in completed:
                continue
            working = step.limit.unit == "working_day"
            try:
                if working:
                    end = cal.add(start, step.limit.value * DAY)
                else:
                    end = cal.local(start + timedelta(days=step.limit.value))
                for begun, ended in suspended:
                    if ended <= start:
                        continue
                    if begun >= end:
                        break
                    if working:
                        end = cal.add(end, cal.between(max(begun, start), ended))
                    else:
                        end = end + (ended - max(begun, start))
            except (ValueError, OverflowError):
                continue  # past the calendar's range: left out, as a case deadline is
            ends.append((name, end))
        return ends

    def _check_catalogue(
        self, state: CaseState, payload: AcceptedPayload, at: datetime
    ) -> list[Alert]:
        """`catalogue.unknown_item` and `catalogue.limit_mismatch` at acceptance: the
        declared promised (then statutory) deadline against the one the catalogue's limit
        gives for the same acceptance."""
        catalogue = self.rules.catalogue
        if catalogue is None:
            return []
        item = catalogue.get(payload.item_code)
        if item is None:
            return self._raise(state, "catalogue.unknown_item", at, {})
        cal = self.calendar_of(state)
        checks = (
            ("承诺时限", "promised", payload.promised_limit, item.promised_limit),
            ("法定时限", "statutory", payload.statutory_limit, item.statutory_limit),
        )
        for label, which, declared, listed in checks:
            if declared is None or listed is None:
                continue
            try:
                declared_end = cal.deadline(at, declared.value, declared.unit)
                listed_end = cal.deadline(at, listed.value, listed.unit)
            except (ValueError, OverflowError):
                continue
            if declared_end > listed_end:
                return self._raise(
                    state,
                    "catalogue.limit_mismatch",
                    at,
                    {
                        "limit_kind": label,
                        "limit": which,
                        "declared_limit": self._limit(declared.value, declared.unit).label(),
                        "declared_deadline": _human_time(declared_end, cal),
                        "catalogue_limit": listed.label(),
                        "catalogue_deadline": _human_time(listed_end, cal),
                    },
                )
        return []

    # -- what the case does to its alerts (contract §6) ----------------------------------

    def _change(
        self,
        state: CaseState,
        ident: str,
        change: ChangeKind,
        at: datetime,
        **extra: Any,
    ) -> None:
        state.changed = {**state.changed, ident: change}
        if self._changes is None:
            self._changes = []
        self._changes.append(
            CaseChange(
                alert_id=ident,
                rule_id=rule_of(ident),
                case_id=state.case_id,
                center_id=state.center_id,
                change=change,
                at=at,
                **extra,
            )
        )

    def _open_warning(self, state: CaseState) -> str | None:
        """The id of the case's deadline warning if it fired and the case has not closed
        or superseded it yet."""
        ident = _revision(alert_id(_WARNING, state.case_id), state.retracted)
        if ident in state.fired and ident not in state.changed:
            return ident
        return None

    def _case_moved_on(self, state: CaseState, at: datetime, *, withdrawn: bool) -> None:
        """A conclusion or withdrawal: an open warning is closed when the case was
        concluded in time (or withdrawn); an overdue alert is marked concluded late."""
        warning = self._open_warning(state)
        if warning is not None:
            in_time = withdrawn
            if not withdrawn and state.promised is not None and state.accepted_at is not None:
                try:
                    in_time = at <= self._deadline(state, state.promised)
                except (ValueError, OverflowError):
                    in_time = False
            if in_time:
                reason = "case_withdrawn" if withdrawn else "concluded_in_time"
                self._change(state, warning, "closed", at, reason=reason)
        if withdrawn:
            return
        cal = self.calendar_of(state)
        for rule_id in _OVERDUE:
            ident = _revision(alert_id(rule_id, state.case_id), state.retracted)
            deadline = state.fired.get(ident)
            if deadline is None or ident in state.changed:
                continue
            late = round(cal.between(deadline, at) / DAY, 2)
            self._change(
                state,
                ident,
                "concluded_late",
                at,
                case_concluded_at=at,
                late_working_days=late,
                details={"deadline": _human_time(deadline, cal)},
            )

    # -- events --------------------------------------------------------------------------

    def _apply_event(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        kind = event.type
        if kind not in ALLOWED[state.status]:
            alerts += self._raise(
                state,
                "workflow.out_of_order",
                at,
                {
                    "state": STATUS_ZH[state.status],
                    "event_type": EVENT_ZH[kind],
                    "event_id": event.event_id,
                },
                occurrence=event.event_id,
            )
            if kind in (E.SUBMITTED, E.ACCEPTED, E.NOT_ACCEPTED):
                # a second start of the case is recorded, not applied; a refusal is still
                # checked for its reason
                if kind is E.NOT_ACCEPTED:
                    alerts += self._refusal_reason(state, event, at)
                return alerts
        handler = _HANDLERS.get(kind)
        if handler is not None:
            alerts += handler(self, state, event, at)
        return alerts

    def _on_submitted(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.submitted_at = state.submitted_at or at
        return []

    def _on_accepted(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        payload = event.payload_as(AcceptedPayload) if event.payload else None
        assert payload is not None  # the schema requires it
        promised = self._limit(payload.promised_limit.value, payload.promised_limit.unit)
        # What setting each field as an attribute does (CaseState.__setattr__: store it,
        # note it as set), at once: an existing key keeps its place in the fields' dict.
        fields = state.__dict__
        fields.update(
            status="open",
            accepted_at=at,
            item_code=payload.item_code,
            item_name=payload.item_name,
            immediate=payload.immediate,
            promised=promised,
            fee_standard=payload.fee_standard,
            required_steps=list(payload.required_steps),
        )
        state.__pydantic_fields_set__.update(_ACCEPTED_FIELDS)
        if payload.statutory_limit is not None:
            state.statutory = self._limit(
                payload.statutory_limit.value, payload.statutory_limit.unit
            )
        for limit in (promised, state.statutory):
            if limit is not None:
                try:
                    self._deadline(state, limit)
                except (ValueError, OverflowError) as exc:
                    raise ValueError(
                        f"time limit {limit.label()} cannot be placed: {exc}"
                    ) from None
        alerts = self._check_catalogue(state, payload, at)
        if state.item_name is None:
            item = self._item_of(state)
            if item is not None:
                state.item_name = item.name
        return alerts + self._check_fees(state, at)

    def _on_not_accepted(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.status = "not_accepted"
        return self._refusal_reason(state, event, at)

    def _refusal_reason(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        if not (event.payload_as(ReasonPayload).reason or "").strip():
            return self._raise(state, "rejection.no_reason", at, {"decision": "不予受理"})
        return []

    def _on_supplement_requested(
        self, state: CaseState, event: CaseEvent, at: datetime
    ) -> list[Alert]:
        state.supplement_requests += 1
        alerts = []
        repeated = self.rules.get("supplement.repeated")
        if repeated is not None:
            limit = _params(repeated.params, RepeatedParams).max_requests
            if state.supplement_requests > limit:
                alerts += self._raise(
                    state, "supplement.repeated", at, {"count": state.supplement_requests}
                )
        late = self.rules.get("supplement.late")
        if late is not None and state.submitted_at is not None:
            days = _params(late.params, WorkingDaysParams).working_days
            if at > self.calendar_of(state).working_deadline(state.submitted_at, days):
                alerts += self._raise(state, "supplement.late", at, {"working_days": f"{days:g}"})
        return alerts

    def _on_step_completed(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        step = event.payload_as(StepCompletedPayload).step
        if step not in state.completed_steps:
            state.completed_steps = [*state.completed_steps, step]
        return []

    def _on_suspended(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        alerts = []
        if event.payload_as(SuspendedPayload).reason_code is None:
            alerts += self._raise_again(state, "suspension.no_reason", at, {})
        if state.suspended_since is None and state.status == "open":
            state.suspended_since = at
            state.suspensions += 1
        return alerts

    def _on_resumed(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        self._close_suspension(state, at)
        return []

    def _close_suspension(self, state: CaseState, at: datetime) -> None:
        if state.suspended_since is None or state.accepted_at is None:
            state.suspended_since = None
            return
        counted_from = max(
            state.suspended_since, self.calendar_of(state).clock_start(state.accepted_at)
        )
        state.suspended_seconds += self.calendar_of(state).between(counted_from, at)
        state.suspended_since = None

    def _on_extended(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        payload = event.payload_as(ExtendedPayload)
        state.extension_count += 1
        extension = self._limit(payload.value, payload.unit)
        label = extension.label()
        alerts = []
        if payload.approved_by:
            state.approved_extensions = [*state.approved_extensions, extension]
        else:
            alerts += self._raise_again(state, "extension.unapproved", at, {"extension": label})
        repeated = self.rules.get("extension.repeated")
        if repeated is not None:
            params = _params(repeated.params, ExtensionRepeatedParams)
            length = (
                payload.value * DAY
                if payload.unit == "working_day"
                else self.calendar_of(state).between(at, at + timedelta(days=payload.value))
            )
            if (
                state.extension_count > params.max_extensions
                or length > params.max_working_days * DAY
            ):
                alerts += self._raise(
                    state,
                    "extension.repeated",
                    at,
                    {"count": state.extension_count, "extension": label},
                )
        return alerts

    def _on_fee_charged(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.fees_charged += event.payload_as(FeeChargedPayload).amount
        return self._check_fees(state, at)

    def _check_fees(self, state: CaseState, at: datetime) -> list[Alert]:
        if state.fee_standard is None or state.fees_charged <= state.fee_standard + 1e-9:
            return []
        return self._raise(
            state,
            "fee.overcharge",
            at,
            {"charged": f"{state.fees_charged:g}", "fee_standard": f"{state.fee_standard:g}"},
        )

    def _on_decided(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        payload = event.payload_as(DecidedPayload)
        state.decided_at = at
        state.decided_outcome = payload.outcome
        alerts = []
        missing = [s for s in state.required_steps if s not in state.completed_steps]
        if missing and state.accepted_at is not None:
            alerts += self._raise(
                state, "workflow.step_skipped", at, {"missing_steps": "、".join(missing)}
            )
        if payload.outcome == "deny" and not (payload.reason or "").strip():
            alerts += self._raise(state, "rejection.no_reason", at, {"decision": "不予许可决定"})
        return alerts

    def _on_concluded(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        alerts = []
        if state.accepted_at is not None and not state.immediate:
            if state.decided_at is None:
                alerts += self._raise(state, "workflow.no_decision", at, {})
            too_fast = self.rules.get("conclusion.too_fast")
            if too_fast is not None:
                minutes = _params(too_fast.params, MinutesParams).minutes
                if at - state.accepted_at < timedelta(minutes=minutes):
                    taken = (at - state.accepted_at).total_seconds() / 60
                    alerts += self._raise(
                        state, "conclusion.too_fast", at, {"minutes": f"{taken:.0f}"}
                    )
        self._close_suspension(state, at)
        state.status = "concluded"
        state.concluded_at = at
        if state.fired:
            self._case_moved_on(state, at, withdrawn=False)
        return alerts

    def _on_delivered(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.delivered_at = state.delivered_at or at
        return []

    def _on_withdrawn(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        if state.status in ("received", "open"):
            self._close_suspension(state, at)
            state.status = "withdrawn"
            if state.fired:
                self._case_moved_on(state, at, withdrawn=True)
        return []

    def _on_evaluated(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        level = event.payload_as(EvaluatedPayload).level
        alerts = []
        negative = self.rules.get("evaluation.negative")
        if (
            negative is not None
            and level <= _params(negative.params, NegativeEvaluationParams).max_level
        ):
            alerts += self._raise_again(state, "evaluation.negative", at, {"level": level})
        unrectified = self.rules.get("evaluation.unrectified")
        if (
            unrectified is not None
            and level <= _params(unrectified.params, UnrectifiedParams).max_level
        ):
            number = state.occurrences.get("bad_rating", 0) + 1
            state.occurrences = {**state.occurrences, "bad_rating": number}
            state.unrectified_ratings = [*state.unrectified_ratings, Rating(number=number, at=at)]
        return alerts

    def _on_rectified(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.unrectified_ratings = []  # a follow-up puts right every bad rating so far
        return []

    def _on_complained(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        """Each complaint is counted on its own (contract §8). Unlike the catalogue's
        rules, `complaint.unanswered` needs no item catalogue: it judges the complaint
        against its answer, not the item."""
        if self._timer_rules.complaint is not None:
            number = state.occurrences.get("complaint", 0) + 1
            state.occurrences = {**state.occurrences, "complaint": number}
            state.complaints = [*state.complaints, Complaint(number=number, at=at)]
        return []

    def _on_complaint_answered(
        self, state: CaseState, event: CaseEvent, at: datetime
    ) -> list[Alert]:
        """An answer answers the earliest complaint still unanswered."""
        if state.complaints:
            state.complaints = state.complaints[1:]
        return []

    def _declarative_on_event(
        self, state: CaseState, event: CaseEvent, at: datetime
    ) -> list[Alert]:
        alerts: list[Alert] = []
        for rule in self.rules.declarative():
            params = rule.params
            if isinstance(params, CountParams | ThresholdParams | SequenceParams):
                fields = declarative.on_event(params, state.history, event)
                if fields is None:
                    continue
                if isinstance(params, SequenceParams):  # once per offending event
                    alerts += self._raise_again(state, rule.id, at, fields)
                else:  # once per case
                    alerts += self._raise(state, rule.id, at, fields)
        return alerts

    # -- raising -------------------------------------------------------------------------

    def _raise_again(
        self, state: CaseState, rule_id: str, at: datetime, fields: dict[str, object]
    ) -> list[Alert]:
        """A rule that may fire once per occurrence on one case: the first is
        `<rule>:<case>`, the n-th `<rule>:<case>:<n>`."""
        number = state.occurrences.get(rule_id, 0) + 1
        alerts = self._raise(state, rule_id, at, fields, occurrence=_nth(number))
        if alerts:
            state.occurrences = {**state.occurrences, rule_id: number}
        return alerts

    def _raise(
        self,
        state: CaseState,
        rule_id: str,
        at: datetime,
        fields: dict[str, object],
        occurrence: str | None = None,
    ) -> list[Alert]:
        rule = self.rules.get(rule_id)
        ident = _revision(alert_id(rule_id, state.case_id, occurrence), state.retracted)
        if rule is None or ident in state.fired:
            return []
        raised_at = self.calendar.for_center(state.center_id).local(at)
        state.fired = {**state.fired, ident: raised_at}
        if rule_id == "deadline.overdue":
            warning = self._open_warning(state)
            if warning is not None:  # contract §6: the case shows once, with its worst
                self._change(state, warning, "superseded", raised_at, superseded_by=ident)
        by = self._by
        department, window_id, staff_id = (
            (state.department, state.window_id, state.staff_id)
            if by is None
            else (by.department, by.window_id, by.staff_id)
        )
        values: dict[str, object] = {
            "case_id": state.case_id,
            "center_id": state.center_id,
            "center_name": self.center_name(state.center_id),
            "item_name": state.item_name or state.item_code or "—",
            "item_code": state.item_code or "—",
            "promised_limit": state.promised.label() if state.promised else "—",
            "statutory_limit": state.statutory.label() if state.statutory else "—",
            **fields,
        }
        # Placeholders carry what centers typed (item names, steps, ids): an ID number or a
        # phone among them is masked, so alert text never shows one (contract §3).
        masked, masks = self._masked, self._masks
        title, message = rule.render(values)
        title, message = masked(title), masked(message)
        details: dict[str, object] = {}
        for key, value in values.items():
            if key == "case_id" or key == "center_id":
                continue
            if isinstance(value, str):  # self._masked(value), its memo first
                known = masks.get(value)
                details[key] = known if known is not None else masked(value)
            else:
                details[key] = value
        details["basis"] = rule.spec.basis
        # who handled it (contract §7): the event's, or for a deadline the case's latest
        for key, value in (
            ("department", department),
            ("window_id", window_id),
            ("staff_id", staff_id),
        ):
            if key not in details:
                details[key] = None if value is None else masked(value)
        return [
            Alert(
                alert_id=ident,
                rule_id=rule_id,
                severity=rule.spec.severity,
                case_id=state.case_id,
                center_id=state.center_id,
                raised_at=raised_at,
                title=title,
                message=message,
                details=details,
            )
        ]


#: The handler of each event type (`Engine._on_<type>`), looked up once.
_HANDLERS: dict[EventType, Callable[[Engine, CaseState, CaseEvent, datetime], list[Alert]]] = {
    kind: getattr(Engine, f"_on_{kind.value}")
    for kind in EventType
    if hasattr(Engine, f"_on_{kind.value}")
}


def _occurred(document: dict[str, Any]) -> datetime:
    """A history document's event time (history documents hold it as Python writes it)."""
    return datetime.fromisoformat(document["occurred_at"])


def _is_late(state: CaseState, event: CaseEvent) -> bool:
    """An event earlier than what the case has already been judged on: an earlier event,
    or a timer fired at or after the event's time."""
    if state.last_event_at is not None and event.occurred_at < state.last_event_at:
        return True
    return state.advanced_to is not None and event.occurred_at <= state.advanced_to


def _waiting(
    rules: RuleBook,
    rule_id: str,
    case_id: str,
    occurrence: str | None,
    fired: dict[str, datetime],
    retracted: list[str],
) -> bool:
    """Whether the rule is enabled and has not fired for this case and occurrence."""
    if rules.get(rule_id) is None:
        return False
    return _unfired(rule_id, case_id, occurrence, fired, retracted)


def _unfired(
    rule_id: str,
    case_id: str,
    occurrence: str | None,
    fired: dict[str, datetime],
    retracted: list[str],
) -> bool:
    """Whether an enabled rule (the caller checked) has not fired for this case and
    occurrence: `_waiting` without looking the rule up."""
    if not fired:  # nothing fired yet (most cases): no id to build
        return True
    ident = f"{rule_id}:{case_id}" if occurrence is None else f"{rule_id}:{case_id}:{occurrence}"
    return (_revision(ident, retracted) if retracted else ident) not in fired


def _or_none(compute: Callable[..., datetime], *args: Any) -> datetime | None:
    """A deadline, or None when it cannot be placed (a data error, see _compute_pending)."""
    try:
        return compute(*args)
    except (ValueError, OverflowError):
        return None


def _revision(ident: str, retracted: list[str]) -> str:
    """The id itself, or its next revision if a late event once resolved it."""
    if ident not in retracted:
        return ident
    number = 2
    while f"{ident}:r{number}" in retracted:
        number += 1
    return f"{ident}:r{number}"


def _nth(number: int) -> str | None:
    return None if number <= 1 else str(number)


def _params(params: object, model: type[_P]) -> _P:
    assert isinstance(params, model), (
        f"rule thresholds are {type(params).__name__}, not {model.__name__}"
    )
    return params


def _human_time(instant: datetime, calendar: WorkCalendar) -> str:
    """Local time as officials write it: a deadline at midnight is 24:00 of the day before."""
    local = calendar.local(instant)
    if local.hour == local.minute == local.second == 0:
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")
