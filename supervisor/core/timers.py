"""A case's timers: the deadlines, warnings, stage limits, suspension, delivery,
rectification and complaint limits, and the YAML rules' deadlines still pending on it,
and firing those that are due.

Which timers are pending is remembered on the case in its `engine_memo`, with everything
it was computed from (`_pending`), since it is read twice per event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from supervisor.core import declarative
from supervisor.core.alerts import Alert, alert_id
from supervisor.core.calendar import DAY
from supervisor.core.context import nth, params_as, revision
from supervisor.core.declarative import AbsenceParams, DeadlineParams
from supervisor.core.numerals import plain
from supervisor.core.raising import Raising
from supervisor.core.render import human_time
from supervisor.core.rules import RuleBook, UnrectifiedParams, WarningParams, WorkingDaysParams
from supervisor.core.state import CaseState

#: A case's pending timers: (rule id, occurrence, due), see Timers._pending.
Pending = tuple[tuple[str, str | None, datetime], ...]


class _PendingTimers(NamedTuple):
    """A case's pending timers: what they were computed from (Timers._timer_inputs), as
    computed, sorted by due time (ties keep their order), and the earliest due time."""

    inputs: tuple[object, ...]
    pending: Pending
    by_due: Pending
    earliest: datetime | None


#: A timer's due time, the sort key of a case's timers.
_DUE = itemgetter(2)
#: The plain fields of a case its timers depend on (Timers._timer_inputs), read at once.
_TIMER_FIELDS = attrgetter(
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


class Timers(Raising):
    """The pending timers of a case, and firing them."""

    def next_due(self, state: CaseState) -> datetime | None:
        """When this case next needs `advance`, or None while nothing is pending."""
        # the earliest of `timers(state)`: each pending timer has its own alert id
        return self._pending(state).earliest

    def timers(self, state: CaseState) -> dict[str, datetime]:
        """Pending (not yet fired) timers of the case, by the alert id each would raise.

        A deadline that cannot be computed (a limit reaching past the calendar's range: a
        data error) is left out, so the case's other rules still work."""
        return {
            revision(alert_id(r, state.case_id, n), state.retracted): due
            for r, n, due in self._pending(state).pending
        }

    def _pending(self, state: CaseState) -> _PendingTimers:
        """(rule id, occurrence, due) of each timer of the case not yet fired, in a fixed
        order (ties in `_fire_timers` keep it).

        The case remembers them in its `engine_memo` (which is neither stored nor
        compared), with everything they were computed from: this engine, and each field
        of the case a timer depends on. Any change of those (an event, a timer fired, a
        late event's rebuild, another engine after a reload) computes them afresh. What it
        saves: `next_due` after an event and the next `apply` to the same case object
        (replay, `Runner`) compute nothing."""
        inputs = self._timer_inputs(state)
        timers = state.engine_memo
        if type(timers) is _PendingTimers and timers.inputs == inputs:
            return timers
        pending = self._compute_pending(state)
        # stable: ties keep their order
        by_due = tuple(sorted(pending, key=_DUE)) if len(pending) > 1 else pending
        timers = _PendingTimers(inputs, pending, by_due, by_due[0][2] if by_due else None)
        state.engine_memo = timers
        return timers

    def _timer_inputs(self, state: CaseState) -> tuple[object, ...]:
        """Everything `_compute_pending` reads: this engine and those fields of the case.

        The plain fields are read by one `attrgetter` call, because this runs twice per
        event; containers as tuples, so that a container changed in place is a change
        too."""
        # one flat tuple (the case keeps it: one object for the collector)
        return (
            *_TIMER_FIELDS(state),
            self._token,
            tuple(state.approved_extensions),
            tuple(state.unrectified_ratings),
            tuple(state.complaints),
            tuple(state.fired),
            tuple(state.retracted),
            # the timers of YAML rules read the events themselves
            tuple([document.get("event_id") for document in state.history])
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
            extended = (
                tuple([(e.value, e.unit, e.suspended_before) for e in extensions])
                if extensions
                else ()
            )
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
                    params = params_as(on.warning.params, WarningParams)
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
            occurrence = nth(state.suspensions)
            if _unfired("suspension.too_long", case_id, occurrence, fired, retracted):
                days = params_as(on.suspension.params, WorkingDaysParams).working_days
                due = _or_none(self.calendar_of(state).add, suspended_since, days * DAY)
                if due is not None:
                    pending.append(("suspension.too_long", occurrence, due))
        decided_at = state.decided_at
        if (
            state.decided_outcome == "approve"
            and decided_at
            and not _delivered_since(state, decided_at)
            and state.status != "withdrawn"
            and on.delivery is not None
            and _unfired("delivery.overdue", case_id, None, fired, retracted)
        ):
            days = params_as(on.delivery.params, WorkingDaysParams).working_days
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
                occurrence = nth(one.number)
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

    def _fire_stages_at_close(
        self, state: CaseState, at: datetime, *, inclusive: bool = False
    ) -> list[Alert]:
        """An open case closing at `at` (concluded, withdrawn; its event in the history
        already), or whose story ends there (replay's end of input: `Engine.finish`):
        the stages that waited for a step before them, which is now known never
        completed, run from acceptance (contract §8), and each whose limit was reached
        before `at` (`inclusive`: or at it) fires at that instant. The timers due before
        `at` fired already."""
        if not self._timer_rules.stage or state.accepted_at is None:
            return []
        item = self._item_of(state)
        if item is None or not item.steps:
            return []
        alerts = []
        for step, due in self._stage_ends(state, item, final=True):
            if (due < at or (inclusive and due == at)) and _unfired(
                "stage.overdue", state.case_id, step, state.fired, state.retracted
            ):
                fields = self._timer_fields(state, "stage.overdue", due, step)
                alerts += self._raise(
                    state,
                    "stage.overdue",
                    due,
                    fields,
                    occurrence=step,
                    handled_by=handled_by_at(state, due),
                )
        return alerts

    def _timer_fields(
        self, state: CaseState, rule_id: str, due: datetime, occurrence: str | None = None
    ) -> dict[str, object]:
        fields: dict[str, object] = {"deadline": human_time(due, self.calendar_of(state))}
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
            fields["working_days"] = plain(rule.params.working_days)
        if rule_id == "deadline.warning" and state.promised:
            fields["deadline"] = human_time(
                self._deadline(state, state.promised), self.calendar_of(state)
            )
        return fields


def _delivered_since(state: CaseState, decided_at: datetime) -> bool:
    """Whether the case was delivered at or after its decision (delivery.overdue: one
    before it hands over no result of it). `delivered_at` is the latest delivery; a state
    stored before it was (when it was the first) may hold an earlier one, so an earlier
    one is checked against the case's history."""
    delivered_at = state.delivered_at
    if delivered_at is None:
        return False
    if delivered_at >= decided_at:
        return True
    return any(
        document.get("type") == "delivered" and _occurred_at(document) >= decided_at
        for document in state.history
    )


def handled_by_at(state: CaseState, at: datetime) -> tuple[str | None, str | None, str | None]:
    """Who handled the case as known at `at` (contract §7: a deadline's, the latest known
    for the case): each of department, window and staff the latest its events up to `at`
    gave. For an alert raised at an instant already past (a stage found, at the case's
    close, to have run from acceptance), so that it says what was known then, not what
    later events told."""
    known: list[str | None] = [None, None, None]
    for document in sorted(state.history, key=_occurred_at):
        if _occurred_at(document) > at:
            break
        for index, key in enumerate(("department", "window_id", "staff_id")):
            value = document.get(key)
            if isinstance(value, str):
                known[index] = value
    return (known[0], known[1], known[2])


def _occurred_at(document: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(document["occurred_at"])


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
    return (revision(ident, retracted) if retracted else ident) not in fired


def _or_none(compute: Callable[..., datetime], *args: Any) -> datetime | None:
    """A deadline, or None when it cannot be placed (a data error, see _compute_pending)."""
    try:
        return compute(*args)
    except (ValueError, OverflowError):
        return None
