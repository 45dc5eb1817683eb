"""`center.silent`: a registered center that sends no event for 2 office hours.

A center falls silent when its system or its link breaks, or when it stops recording
cases in the system at all (体外循环 of a whole hall): inspectors need to know before the
cases are missed. Time counts only within office hours of the center's working days (a
quiet night or a holiday says nothing), measured in event time from the last event the
center sent, like every rule of the engine, so live and replay agree.

A center is watched from its first event, or from the moment the caller starts watching
it (the live worker starts every registered center at its start, so a center that never
sends anything is noticed too). One alert per silent stretch; an event that shows the
center was active within that stretch after all (a late batch) resolves it with the
reason, as late case events do.

Pure: state in, state and alerts out; the worker keeps `CenterState` in a table keyed by
center_id, replay in a dict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from supervisor.core.alerts import Alert, Resolution, alert_id
from supervisor.core.calendar import CalendarBook, WorkCalendar
from supervisor.core.numerals import plain
from supervisor.core.rules import RuleBook, SilenceParams

RULE_ID = "center.silent"
_MAX_DAYS = 400  # a year of days off in a row is a calendar error, not a silence
_KEEP_FIRED = 8  # open silences remembered per center, to resolve on a late batch


class Silence(BaseModel):
    """A silent stretch that was alerted: no event in [since, due), and none until
    `until` (the event that ended it; None while it lasts)."""

    alert_id: str
    since: datetime
    due: datetime
    until: datetime | None = None


class CenterState(BaseModel):
    center_id: str
    last_seen: datetime  # the latest event time, or when watching began
    fired: list[Silence] = Field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, object]) -> CenterState:
        return cls.model_validate(data)


@dataclass
class CenterOutcome:
    state: CenterState
    alerts: list[Alert] = field(default_factory=list)
    resolved: list[Resolution] = field(default_factory=list)


def office_add(
    calendar: WorkCalendar, start: datetime, seconds: float, hours: SilenceParams
) -> datetime:
    """The instant `seconds` of office time after `start` (office windows of working days)."""
    local = calendar.local(start)
    remaining = seconds
    day = local.date()
    for _ in range(_MAX_DAYS):
        if calendar.is_working_day(day):
            for opens, closes in hours.windows():
                begin = max(local, datetime.combine(day, opens, calendar.zone))
                end = datetime.combine(day, closes, calendar.zone)
                if end <= begin:
                    continue
                span = (end - begin).total_seconds()
                if remaining <= span:
                    return begin + timedelta(seconds=remaining)
                remaining -= span
        day += timedelta(days=1)
    raise ValueError(f"no office hours within {_MAX_DAYS} days after {local.isoformat()}")


class CenterWatch:
    """Judges the silence of centers; `None` state means the center was never seen."""

    def __init__(
        self,
        rules: RuleBook,
        calendar: CalendarBook,
        center_name: Callable[[str], str] = lambda code: code,
    ) -> None:
        self.rules = rules
        self.calendar = calendar
        self.center_name = center_name

    @property
    def enabled(self) -> bool:
        return self.rules.get(RULE_ID) is not None

    def _params(self) -> SilenceParams:
        rule = self.rules.get(RULE_ID)
        assert rule is not None and isinstance(rule.params, SilenceParams)
        return rule.params

    def start(self, center_id: str, at: datetime) -> CenterState:
        """Begin watching a center that has not sent anything yet."""
        return CenterState(center_id=center_id, last_seen=self.calendar.local(at))

    def due(self, state: CenterState) -> datetime | None:
        """When the present silence becomes an alert, or None (rule off, already fired)."""
        if not self.enabled:
            return None
        if state.fired and state.fired[-1].since == state.last_seen:
            return None
        return self._due_from(state.center_id, state.last_seen)

    def seen(self, state: CenterState | None, center_id: str, at: datetime) -> CenterOutcome:
        """An event from the center at event time `at`: a silence it ends is judged first
        (raised at its own due time), one it disproves is resolved."""
        cal = self.calendar.for_center(center_id)
        at = cal.local(at)
        if state is None:
            return CenterOutcome(self.start(center_id, at))
        state = state.model_copy(update={"fired": list(state.fired)})
        outcome = CenterOutcome(state)
        for silence in [s for s in state.fired if s.since < at < s.due]:
            state.fired.remove(silence)
            outcome.resolved.append(
                Resolution(
                    alert_id=silence.alert_id,
                    rule_id=RULE_ID,
                    case_id="",
                    center_id=center_id,
                    resolved_at=max(state.last_seen, at),
                    reason=(
                        f"迟到数据：该中心在 {at.strftime('%Y-%m-%d %H:%M')} 有办件事件，"
                        "该时段并非无数据上报，预警不再成立，予以撤销。"
                    ),
                    details={"late_event_occurred_at": at.isoformat()},
                )
            )
            if silence.until is not None:  # what is left of the stretch may still be silent
                due = self._due_from(center_id, at)
                if due < silence.until:
                    outcome.alerts.append(self._alert(state, at, due, until=silence.until))
        if at > state.last_seen:
            outcome.alerts += self._fire(state, at, inclusive=False)
            last = state.fired[-1] if state.fired else None
            if last is not None and last.since == state.last_seen and last.until is None:
                state.fired[-1] = last.model_copy(update={"until": at})
            state.last_seen = at
        return outcome

    def advance(self, state: CenterState, now: datetime) -> CenterOutcome:
        state = state.model_copy(update={"fired": list(state.fired)})
        return CenterOutcome(state, self._fire(state, now, inclusive=True))

    def _fire(self, state: CenterState, now: datetime, *, inclusive: bool) -> list[Alert]:
        due = self.due(state)
        if due is None or due > now or (due == now and not inclusive):
            return []
        return [self._alert(state, state.last_seen, due)]

    def _due_from(self, center_id: str, since: datetime) -> datetime:
        cal = self.calendar.for_center(center_id)
        params = self._params()
        return office_add(cal, since, params.working_hours * 3600, params)

    def _alert(
        self, state: CenterState, since: datetime, due: datetime, until: datetime | None = None
    ) -> Alert:
        """The alert for the stretch from `since`, recorded in the state."""
        rule = self.rules.get(RULE_ID)
        assert rule is not None
        since = self.calendar.for_center(state.center_id).local(since)
        ident = alert_id(RULE_ID, state.center_id, since.strftime("%Y%m%dT%H%M%S"))
        silence = Silence(alert_id=ident, since=since, due=due, until=until)
        state.fired = sorted([*state.fired, silence], key=lambda s: s.since)[-_KEEP_FIRED:]
        params = self._params()
        values: dict[str, object] = {
            "center_name": self.center_name(state.center_id),
            "center_id": state.center_id,
            "case_id": "",
            "since": since.strftime("%Y-%m-%d %H:%M"),
            "working_hours": plain(params.working_hours),
        }
        title, message = rule.render(values)
        details = {k: v for k, v in values.items() if k not in ("case_id", "center_id")}
        details["basis"] = rule.spec.basis
        # who handled it (contract §7): a center's silence is nobody's one case
        details.update(department=None, window_id=None, staff_id=None)
        return Alert(
            alert_id=ident,
            rule_id=RULE_ID,
            severity=rule.spec.severity,
            case_id="",
            center_id=state.center_id,
            raised_at=due,
            title=title,
            message=message,
            details=details,
        )
