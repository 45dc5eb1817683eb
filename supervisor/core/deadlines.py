"""Where a case's time limits fall on its center's calendar: the promised and statutory
deadlines (moved by approved extensions and by time suspended), the warning instant, and
the end of each catalogue stage (contract §8). Remembered per engine by what they depend
on, since the case's timers are computed again after most events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from supervisor.core.calendar import DAY, MEMO_SIZE, WorkCalendar
from supervisor.core.catalogue import CatalogueLimit, Item
from supervisor.core.context import EngineContext
from supervisor.core.rules import WarningParams
from supervisor.core.state import CaseState, LimitState


class Deadlines(EngineContext):
    """The deadlines of a case, computed from its facts and this engine's calendars."""

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

    def _deadline(
        self, state: CaseState, limit: LimitState, *, suspensions: bool = True
    ) -> datetime:
        """Limit from acceptance, then approved extensions, then time spent suspended;
        a natural-day extension after the time suspended before it (`suspended_before`),
        since calendar days counted from another instant end elsewhere.

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
        moved = 0.0  # of the time suspended, what the deadline was moved by so far
        for extension in state.approved_extensions:
            if suspensions and extension.suspended_before > moved:
                deadline = cal.add(deadline, extension.suspended_before - moved)
                moved = extension.suspended_before
            deadline = cal.extend(deadline, extension.value, extension.unit)
        if suspended > moved:
            deadline = cal.add(deadline, suspended - moved)
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
            tuple([(e.value, e.unit, e.suspended_before) for e in extensions])
            if extensions
            else (),
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
        suspended = state.suspended_seconds
        if params.mode == "share" and limit.unit == "natural_day":
            # a limit of calendar days elapses in calendar time: the warning falls where
            # the rest of it (20 % of the calendar span from the clock's start to the
            # deadline without suspensions) remains before the deadline as it now
            # stands, so it moves with the deadline, and never after it
            plain = self._deadline(state, limit, suspensions=False)
            warning = self._deadline(state, limit) - (plain - start) * (1 - params.share)
        else:
            # the limit as extended, in working time (the deadline less the time suspended)
            total = cal.between(start, self._deadline(state, limit)) - suspended
            if params.mode == "share":
                used = params.share * total
            else:
                used = max(0.0, total - params.remaining_working_days * DAY)
            warning = cal.add(start, used + suspended)
        if len(self._warnings) >= MEMO_SIZE:
            self._warnings.clear()
        self._warnings[key] = warning
        return warning

    def _stage_ends(
        self, state: CaseState, item: Item, *, final: bool = False
    ) -> list[tuple[str, datetime]]:
        """When each catalogue step of the case that can still be late reaches its limit:
        a step not completed yet, or one completed after its limit (known only now, see
        below: its instant has passed, so it fires at once).

        A stage starts at acceptance (the first), or when the step before it was
        completed; when that step is never completed, at acceptance (contract §8). That
        is known only when the case closes (`final`; replay: at the end of its input):
        until then the stage has not started and waits for the step before it, since a
        step under way is not a step skipped, even once a step after it is completed
        (the step before may still be completed later, and then starts the stage). Its
        limit is elapsed time from its start (working time for `working_day`: 1 working
        day is 24 hours of working days; calendar time for `natural_day`), moved later
        by the time the case spent suspended inside it. Read from the case's events (its
        history, in event time), since only cases of catalogued items with steps need
        it."""
        cal = self.calendar_of(state)
        accepted_at = state.accepted_at
        assert accepted_at is not None
        completed: dict[str, datetime] = {}
        suspended: list[tuple[datetime, datetime | None]] = []
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
        if since is not None:  # suspended still (replay's end of input): no time runs
            suspended.append((since, None))
        ends = []
        for index, step in enumerate(item.steps):
            before = completed.get(item.steps[index - 1].step) if index else accepted_at
            if before is not None:
                start = before
            elif final:  # the step before it never completed
                start = accepted_at
            else:
                continue  # not started: the step before it is under way
            try:
                end = self._stage_end(cal, step.limit, start, suspended)
            except (ValueError, OverflowError):
                continue  # past the calendar's range: left out, as a case deadline is
            if end is None:
                continue  # the case was suspended before the limit was reached, and still is
            done = completed.get(step.step)
            if done is None or done > end:
                ends.append((step.step, end))
        return ends

    @staticmethod
    def _stage_end(
        cal: WorkCalendar,
        limit: CatalogueLimit,
        start: datetime,
        suspended: list[tuple[datetime, datetime | None]],
    ) -> datetime | None:
        """A stage's end: its limit from `start`, moved later by the time suspended inside
        it (`suspended`: the case's stretches, in order; the last may still be open, its
        end None). None when an open stretch begins before the limit is reached: the
        stage's clock is stopped, and no end is known yet."""
        working = limit.unit == "working_day"
        if working:
            end = cal.add(start, limit.value * DAY)
        else:
            end = cal.local(start + timedelta(days=limit.value))
        for begun, ended in suspended:
            if ended is not None and ended <= start:
                continue
            if begun >= end:
                break
            if ended is None:
                return None
            if working:
                end = cal.add(end, cal.between(max(begun, start), ended))
            else:
                end = end + (ended - max(begun, start))
        return end


def _occurred(document: dict[str, Any]) -> datetime:
    """A history document's event time (history documents hold it as Python writes it)."""
    return datetime.fromisoformat(document["occurred_at"])
