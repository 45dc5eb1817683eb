"""Raising an alert, and what the case then does to its alerts (contract §6).

`_raise` decides whether a rule fires on a case (enabled, not fired yet for this case and
occurrence: ids are revised after a late event resolved one) and notes it; its text comes
from supervisor/core/render.py. A red overdue alert supersedes the case's open warning; a
conclusion or withdrawal closes the warning or marks the overdue alerts concluded late.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from supervisor.core.alerts import Alert, CaseChange, ChangeKind, alert_id, rule_of
from supervisor.core.calendar import DAY
from supervisor.core.context import nth, revision
from supervisor.core.deadlines import Deadlines
from supervisor.core.render import human_time, render_alert
from supervisor.core.state import CaseState

#: The canonical deadline rules (contract §6 follows them when the case moves on).
_WARNING = "deadline.warning"
_OVERDUE = ("deadline.overdue", "deadline.statutory_overdue")


class Raising(Deadlines):
    """Alerts raised, and the changes a case makes to them."""

    def _raise_again(
        self, state: CaseState, rule_id: str, at: datetime, fields: dict[str, object]
    ) -> list[Alert]:
        """A rule that may fire once per occurrence on one case: the first is
        `<rule>:<case>`, the n-th `<rule>:<case>:<n>`."""
        number = state.occurrences.get(rule_id, 0) + 1
        alerts = self._raise(state, rule_id, at, fields, occurrence=nth(number))
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
        handled_by: tuple[str | None, str | None, str | None] | None = None,
    ) -> list[Alert]:
        """The rule's alert on the case at `at`, if the rule is enabled and has not fired
        for this case and occurrence; noted in the case's fired alerts. An overdue alert
        supersedes the case's open warning (contract §6). Who handled it (§7): `handled_by`
        when given, else the event being judged's, else the case's latest known."""
        rule = self.rules.get(rule_id)
        ident = revision(alert_id(rule_id, state.case_id, occurrence), state.retracted)
        if rule is None or ident in state.fired:
            return []
        raised_at = self.calendar.for_center(state.center_id).local(at)
        state.fired = {**state.fired, ident: raised_at}
        if rule_id == "deadline.overdue":
            warning = self._open_warning(state)
            if warning is not None:  # contract §6: the case shows once, with its worst
                self._change(state, warning, "superseded", raised_at, superseded_by=ident)
        by = self._by
        if handled_by is None:
            handled_by = (
                (state.department, state.window_id, state.staff_id)
                if by is None
                else (by.department, by.window_id, by.staff_id)
            )
        return [
            render_alert(
                rule,
                rule_id,
                ident,
                state,
                raised_at,
                fields,
                center_name=self.center_name(state.center_id),
                handled_by=handled_by,
                masked=self._masked,
                masks=self._masks,
            )
        ]

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
        ident = revision(alert_id(_WARNING, state.case_id), state.retracted)
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
            ident = revision(alert_id(rule_id, state.case_id), state.retracted)
            deadline = state.fired.get(ident)
            if deadline is None or ident in state.changed:
                continue
            late = working_days_to_the_hundredth(cal.between(deadline, at))
            self._change(
                state,
                ident,
                "concluded_late",
                at,
                case_concluded_at=at,
                late_working_days=late,
                details={"deadline": human_time(deadline, cal)},
            )


def working_days_to_the_hundredth(seconds: float) -> float:
    """Working seconds as working days to 0.01 (contract §6's `late_working_days`),
    rounded half up as people round by hand: three hours late is 0.13, not the 0.12
    that `round`'s half-to-even gives."""
    days = Decimal(seconds) / Decimal(DAY)
    return float(days.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
