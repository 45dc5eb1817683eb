"""What each case event does to its case: one handler per event type (`_on_<type>`),
checked first against what the case's status allows (contract §1), then the event rules it
may raise at its own time, the catalogue's checks at acceptance (contract §8) and the YAML
rules that judge events as they come.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from supervisor.core import declarative
from supervisor.core.alerts import Alert
from supervisor.core.calendar import DAY
from supervisor.core.context import params_as
from supervisor.core.declarative import CountParams, SequenceParams, ThresholdParams
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
)
from supervisor.core.numerals import plain
from supervisor.core.raising import Raising
from supervisor.core.render import EVENT_ZH, STATUS_ZH, human_time
from supervisor.core.rules import (
    ExtensionRepeatedParams,
    MinutesParams,
    NegativeEvaluationParams,
    RepeatedParams,
    UnrectifiedParams,
    WorkingDaysParams,
)
from supervisor.core.state import CaseState, Complaint, Rating

E = EventType
#: What each phase of a case allows (contract §1, "The order a case may take"): before
#: `accepted` (a case refused at the door or withdrawn before acceptance is still there),
#: between `accepted` and `concluded` (a case withdrawn after acceptance too), after
#: `concluded`.
_BEFORE_ACCEPTANCE = frozenset(
    {
        E.SUBMITTED,
        E.ACCEPTED,
        E.SUPPLEMENT_REQUESTED,
        E.SUPPLEMENT_RECEIVED,
        E.NOT_ACCEPTED,
        E.WITHDRAWN,
    }
)
_WHILE_OPEN = frozenset(EventType) - {E.SUBMITTED, E.ACCEPTED, E.NOT_ACCEPTED}
_AFTER_CONCLUSION = frozenset(
    {E.DELIVERED, E.EVALUATED, E.RECTIFIED, E.COMPLAINED, E.COMPLAINT_ANSWERED}
)


def allowed(state: CaseState) -> frozenset[EventType]:
    """The event types the case's place in contract §1's order allows next: its phase
    is told by `accepted` and `concluded` alone, as the contract tells it."""
    if state.status == "concluded":
        return _AFTER_CONCLUSION
    if state.accepted_at is None:
        return _BEFORE_ACCEPTANCE
    return _WHILE_OPEN


class EventHandlers(Raising):
    """An event applied to its case: the handler of its type, and the rules it raises."""

    def _apply_event(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        kind = event.type
        if kind not in allowed(state):
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
            if kind in (E.SUBMITTED, E.ACCEPTED, E.NOT_ACCEPTED, E.CONCLUDED):
                # a second start of the case is recorded, not applied, and so is a
                # conclusion before acceptance or a second one: applied, it would end the
                # case's supervision before it began (the acceptance after it refused in
                # turn, no deadline run); a refusal is still checked for its reason
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
        state.status = "open"
        state.accepted_at = at
        state.item_code = payload.item_code
        state.item_name = payload.item_name
        state.immediate = payload.immediate
        state.promised = promised
        state.fee_standard = payload.fee_standard
        state.required_steps = list(payload.required_steps)
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
            return self._raise_again(state, "rejection.no_reason", at, {"decision": "不予受理"})
        return []

    def _on_supplement_requested(
        self, state: CaseState, event: CaseEvent, at: datetime
    ) -> list[Alert]:
        state.supplement_requests += 1
        alerts = []
        repeated = self.rules.get("supplement.repeated")
        if repeated is not None:
            limit = params_as(repeated.params, RepeatedParams).max_requests
            if state.supplement_requests > limit:
                alerts += self._raise(
                    state, "supplement.repeated", at, {"count": state.supplement_requests}
                )
        late = self.rules.get("supplement.late")
        if late is not None and state.submitted_at is not None:
            days = params_as(late.params, WorkingDaysParams).working_days
            if at > self.calendar_of(state).working_deadline(state.submitted_at, days):
                alerts += self._raise(state, "supplement.late", at, {"working_days": plain(days)})
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
        # every working second suspended moves the deadline (contract §2), the day of
        # acceptance's too, although the limit's clock starts at its end
        state.suspended_seconds += self.calendar_of(state).between(state.suspended_since, at)
        state.suspended_since = None

    def _on_extended(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        payload = event.payload_as(ExtendedPayload)
        state.extension_count += 1
        extension = self._limit(payload.value, payload.unit)
        label = extension.label()
        alerts = []
        # where it applies: the promised deadline it extends (before it), or its own time
        extended = self.promised_deadline(state) if payload.unit == "natural_day" else None
        if payload.approved_by:
            if payload.unit == "natural_day" and state.suspended_seconds:
                # counted from the deadline as it stands now, time suspended included
                extension = dataclasses.replace(extension, suspended_before=state.suspended_seconds)
            state.approved_extensions = [*state.approved_extensions, extension]
        else:
            alerts += self._raise_again(state, "extension.unapproved", at, {"extension": label})
        repeated = self.rules.get("extension.repeated")
        if repeated is not None:
            params = params_as(repeated.params, ExtensionRepeatedParams)
            length = (
                payload.value * DAY
                if payload.unit == "working_day"
                else self._natural_extension_length(state, extended or at, payload.value)
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

    def _natural_extension_length(self, state: CaseState, base: datetime, days: float) -> float:
        """The working time a `natural_day` extension of `days` adds at `base` (the
        promised deadline it moves, or the event's time without one), for
        `extension.repeated`'s "longer than N working days": 15 calendar days that span
        National Day are fewer working days than the same 15 in November."""
        cal = self.calendar_of(state)
        try:
            return cal.between(base, cal.extend(base, days, "natural_day"))
        except (ValueError, OverflowError):
            return cal.between(base, base + timedelta(days=days))

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
            {"charged": plain(state.fees_charged), "fee_standard": plain(state.fee_standard)},
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
            alerts += self._raise_again(
                state, "rejection.no_reason", at, {"decision": "不予许可决定"}
            )
        return alerts

    def _on_concluded(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        alerts = []
        if state.accepted_at is not None and not state.immediate:
            if state.decided_at is None:
                alerts += self._raise(state, "workflow.no_decision", at, {})
            too_fast = self.rules.get("conclusion.too_fast")
            if too_fast is not None:
                minutes = params_as(too_fast.params, MinutesParams).minutes
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
        # the latest: a delivery before the decision hands over no decision's result
        # (timers.py: delivery.overdue counts a delivery at or after the decision)
        if state.delivered_at is None or at > state.delivered_at:
            state.delivered_at = at
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
            and level <= params_as(negative.params, NegativeEvaluationParams).max_level
        ):
            alerts += self._raise_again(state, "evaluation.negative", at, {"level": level})
        unrectified = self.rules.get("evaluation.unrectified")
        if (
            unrectified is not None
            and level <= params_as(unrectified.params, UnrectifiedParams).max_level
        ):
            number = state.occurrences.get("bad_rating", 0) + 1
            state.occurrences = {**state.occurrences, "bad_rating": number}
            state.unrectified_ratings = [*state.unrectified_ratings, Rating(number=number, at=at)]
        return alerts

    def _on_rectified(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        state.unrectified_ratings = []  # a follow-up puts right every bad rating so far
        return []

    def _on_complained(self, state: CaseState, event: CaseEvent, at: datetime) -> list[Alert]:
        """Each complaint is counted on its own (contract §8); like the catalogue's
        rules, `complaint.unanswered` is silent while no item catalogue is configured."""
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
                        "declared_deadline": human_time(declared_end, cal),
                        "catalogue_limit": listed.label(),
                        "catalogue_deadline": human_time(listed_end, cal),
                    },
                )
        return []


#: The handler of each event type (`EventHandlers._on_<type>`), looked up once.
_HANDLERS: dict[
    EventType, Callable[[EventHandlers, CaseState, CaseEvent, datetime], list[Alert]]
] = {
    kind: getattr(EventHandlers, f"_on_{kind.value}")
    for kind in EventType
    if hasattr(EventHandlers, f"_on_{kind.value}")
}
