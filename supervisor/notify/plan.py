"""What to notify, to whom and when: a pure state machine over the alert journal.

Input: the journal's records, in its order (the worker's alerts, resolutions and case
changes, the lifecycle changes of web/journal.py, silence audit records of silences.py,
the escalation records this module emits, read back, and the service's delivery records,
which change nothing here), each with `now`; and `now` alone from a timer. Output:
`Outcome`: the new `NotifyState`, the `Notification`s to deliver (the outbox), the
`Escalation` records to write to the journal (so the wall and the alert's history show
each step), silence audit records (expiries) and what silences suppressed.
No clock, no I/O: the caller keeps the state (JSON, `NotifyState.to_json`), e.g. in a
Kafka-backed table, and delivers the outbox with the notification's `id` as the
idempotency key.

The decisions (timings from the routing file's `settings`, see routing.py):

- **Red** alerts go at once to their recipients (`<alert_id>:<recipient>:alert:0`).
  While one stays *open* it is notified again every `repeat_minutes`
  (`…:repeat:<n>`, n = 1, 2 …; at most `max_repeats` when not 0).
- **Yellow** alerts wait in a digest per (center, recipient), due `digest_minutes` after
  the first alert entered it (`digest:<center>:<recipient>:<n>`); what is no longer open
  when the digest falls due (acknowledged, appealed, resolved, withdrawn) is left out,
  and a digest left empty is not sent.
- With `hold_outside_office_hours`, a digest or a repeat falling due outside office hours
  (nights, weekends, holidays of the center's calendar) waits for the next office window.
  First notifications of red alerts and escalations are never held.
- **Escalation**: a red alert still *open* (not acknowledged, appealed, resolved or
  withdrawn) `escalate_after_working_hours` after it was first notified climbs to the
  director of the next center above that has one (`routing.escalation_chain`: township ->
  county -> city), then again after the same delay, up to the top. The delay is counted
  in **office hours** (`settings.office_hours`, lunch break excluded) of the working days
  of the alert's center's calendar (CalendarBook), with `core.silence.office_add`, the
  measure `center.silent` uses: "2 working hours" then means what a director means by
  it, not 2 hours of the night of a working day, as raw working seconds would. The clock
  starts when the alert is first notified (the notifier's `now`), not at its `raised_at`:
  nobody can acknowledge an alert before it reaches them. Each step is recorded in the
  state and emitted as an `Escalation` (`…:escalation:<level>` to the director).
  Acknowledging stops repeats and escalation; an appeal pauses them, a rejected appeal
  that puts the alert back to open restarts both clocks from the rejection.
- **Silences**: an alert that a silence holds when it would first be notified (at once
  for red, when its digest falls due for yellow) is *muted*: recorded, never notified,
  never escalated. An alert notified before a silence began only has the repeats and
  escalation steps falling due while the silence holds skipped (a skipped escalation step
  is tried again one delay later), and resumes after it.
- **Alerts follow their case** (contract §6): a `case_change` `closed` (the warning's case
  concluded in time, or withdrawn) or `superseded` (its case's red alert fired) ends an
  alert that is still open, acknowledged or appealed as a resolution does: no repeat, no
  escalation, out of any digest; a resolved or withdrawn alert keeps its status, and no
  person's change applies to a closed or superseded one (they never undo one another).
  `concluded_late` (an overdue alert's case concluded after its deadline) leaves the
  status as it is (a person resolves the violation) but stops its repeats and
  escalation for good: nothing more to chase; even a rejected appeal does not restart
  them.
- **Any record**: each record is checked (records.py) before it changes anything. One
  that is not what its kind needs (fields missing or of the wrong type, an instant out
  of range, an unknown `kind`) changes nothing but the position, and says why in
  `Outcome.skipped` (the metric's reason) and `Outcome.ignored` (which field): a record
  nobody should have written cannot stop the notifier, nor the records after it.
- **Idempotent and deterministic**: the same inputs give the same outputs and ids; a
  record applied twice changes nothing (an alert id already known, a status change its
  status does not allow, a position `seq` not after the last one applied). `apply` first
  does what `advance` would, up to the record's own time for a change (capped at `now`),
  so an acknowledgement read just after an escalation fell due cannot hide it, and one
  made before it does stop it (a skipped record or a delivery record advances nothing).

The status transitions are `supervisor.lifecycle`'s, the one table the web service's
journal imports too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from supervisor.core.calendar import CalendarBook
from supervisor.core.silence import office_add
from supervisor.lifecycle import (
    ACTIONS,
    CASE_CHANGES,
    CLOSED_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
)
from supervisor.notify import records as rec
from supervisor.notify import silences as silence_book
from supervisor.notify.records import (
    CASE_CHANGE,
    DELIVERY,
    ESCALATION,
    LIFECYCLE,
    MAX_ID,
    BadRecord,
    Moment,
    Reason,
)
from supervisor.notify.routing import Recipient, Routing
from supervisor.notify.silences import Silence, SilenceState
from supervisor.orders import ORDER

Kind = Literal["alert", "repeat", "digest", "escalation"]
Record = dict[str, Any]
__all__ = ["CASE_CHANGE", "DELIVERY", "ESCALATION", "LIFECYCLE"]  # re-exported
#: Changes read before their alert, remembered: at most this many in all (the oldest
#: alert's go first) and this many per alert (the oldest go first). Bounded because the
#: state is saved as one Kafka record: a flood of changes for alerts never seen must not
#: grow it past what the broker takes.
_EARLY_KEEP: Final = 1000
_EARLY_PER_ALERT: Final = 16


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertInfo(BaseModel):
    """What a notification says about an alert (the journal's alert record, trimmed).

    Checked as it is read: ids of at most `MAX_ID` characters, a contract severity; the
    free texts are cut to bounded lengths (the notification is a pointer to the wall,
    and the state and outbox that carry this must stay small whatever an alert says)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    alert_id: str = Field(min_length=1, max_length=MAX_ID)
    rule_id: str = Field(min_length=1, max_length=MAX_ID)
    severity: str = Field(pattern=r"^(red|yellow)$")
    case_id: str = Field(default="", max_length=MAX_ID)
    center_id: str = Field(max_length=MAX_ID)
    raised_at: str = ""
    title: str = ""
    message: str = ""
    center_name: str = ""

    @field_validator("raised_at", "title", "message", "center_name", mode="before")
    @classmethod
    def _cut(cls, value: object, info: ValidationInfo) -> object:
        """Texts cut to bounded lengths rather than refused: a real alert with a long
        message must still reach its director."""
        if not isinstance(value, str):
            return value  # refused as not text by the field's own check
        return rec.trim(value, rec.MAX_MESSAGE if info.field_name == "message" else rec.MAX_TITLE)

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> AlertInfo:
        details = record.get("details")
        name = details.get("center_name", "") if isinstance(details, Mapping) else ""
        return cls.model_validate({**record, "center_name": name if isinstance(name, str) else ""})

    def as_match(self) -> dict[str, str]:
        """The fields routes and silences match on."""
        return {
            "center_id": self.center_id,
            "severity": self.severity,
            "rule_id": self.rule_id,
            "case_id": self.case_id,
        }


class Step(_Model):
    """One escalation step: the alert went to the director of `center_id`."""

    level: int = Field(ge=1, le=100)
    center_id: str = Field(max_length=MAX_ID)
    recipient_id: str = Field(max_length=MAX_ID)
    at: Moment
    notification_id: str = Field(max_length=rec.NOTIFICATION_ID)


class Track(_Model):
    """One alert as the notifier sees it. Its instants are `Moment`s: a saved state
    holding one out of range (written before records were checked) drops this alert
    when it is read back (`NotifyState.recover`) rather than overflow later."""

    alert: AlertInfo
    status: str = "open"
    before_appeal: str = "open"
    seen_at: Moment
    touched_at: Moment
    recipients: list[str] = Field(default_factory=list)
    muted_by: str | None = None  # the silence that held its first notification
    notified: bool = False
    repeats: int = 0
    next_repeat: Moment | None = None
    next_escalation: Moment | None = None
    steps: list[Step] = Field(default_factory=list)
    closed_at: Moment | None = None
    #: when its case was concluded after the deadline (a `concluded_late` case change):
    #: from then on no repeat and no escalation, whatever its status becomes
    concluded_late_at: Moment | None = None


class Bucket(_Model):
    """The yellow alerts waiting for one (center, recipient) digest."""

    center_id: str
    recipient_id: str
    sent: int = 0
    due: Moment | None = None
    alert_ids: list[str] = Field(default_factory=list)


#: The containers of `NotifyState` whose entries `recover` may drop one by one, by the
#: leading part of a validation error's location.
_DROPPABLE: Final = {("alerts",): 1, ("buckets",): 1, ("early",): 1, ("silences", "silences"): 2}


class NotifyState(_Model):
    #: the last journal position applied (-1: none given yet); a Kafka offset
    head: int = Field(default=-1, ge=-1, lt=2**63 - 1)
    alerts: dict[str, Track] = Field(default_factory=dict)
    buckets: dict[str, Bucket] = Field(default_factory=dict)
    early: dict[str, list[Record]] = Field(default_factory=dict)
    silences: SilenceState = Field(default_factory=SilenceState)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotifyState:
        return cls.model_validate(data)

    @classmethod
    def recover(cls, data: object) -> tuple[NotifyState, list[str]]:
        """A saved state read back (the state topic's `planner` record), keeping what
        can be kept: an alert, digest bucket, early list or silence that does not
        validate (a silence beginning in year 9999, saved before silences were checked;
        a hand-written record) is dropped, and named in the list returned (by where it
        was, never by its content). The rest of the state goes on: one bad entry must not
        cost every pending escalation. Raises BadRecord when the state as a whole is not
        one (not an object, a position that is not one)."""
        if not isinstance(data, Mapping):
            raise BadRecord("invalid", "state: not an object")
        working: dict[str, Any] = dict(data)
        dropped: list[str] = []
        for _ in range(2):  # one pass drops every bad entry; the second must validate
            try:
                return cls.model_validate(working), dropped
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_input=False)
                explained = rec.explain(exc)
            for error in errors:
                where = _droppable(error["loc"])
                if where is None:
                    raise BadRecord("invalid", explained)
                container, key = where
                holder: Any = working
                for part in container:
                    holder[part] = dict(holder[part])  # a copy: `data` is left alone
                    holder = holder[part]
                if key in holder:
                    del holder[key]
                    dropped.append(f"{'.'.join(container)}: one entry ({error['msg']})")
        raise BadRecord("invalid", "state: still not valid after dropping bad entries")


class Notification(_Model):
    """One message to one recipient; `id` is the idempotency key of its delivery."""

    id: str
    kind: Kind
    recipient: Recipient
    center_id: str
    severity: str
    alerts: list[AlertInfo]
    due_at: Moment
    repeat: int = 0
    escalation: Step | None = None
    waited_working_hours: float = 0

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Escalation(_Model):
    """An escalation step, as written to the journal (`to_record`)."""

    alert_id: str
    rule_id: str
    center_id: str
    level: int
    to_center: str
    recipient_id: str
    recipient_name: str
    at: datetime
    waited_working_hours: float
    notification_id: str

    def to_record(self) -> Record:
        return {"kind": ESCALATION, **self.model_dump(mode="json")}


class Suppressed(_Model):
    """A notification a silence held back (for the alert's history and the metrics)."""

    alert_id: str
    kind: Kind
    silence_id: str
    at: datetime


@dataclass
class Outcome:
    state: NotifyState
    outbox: list[Notification] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    audit: list[Record] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    ignored: str | None = None  # why a record changed nothing, when it did not
    #: set when the record was skipped as one that cannot be trusted (records.py): the
    #: reason, the label of the notifier's skipped-records metric; `ignored` says which
    #: field and what is wrong with it
    skipped: Reason | None = None


def record_kind(record: Mapping[str, Any]) -> str:
    """ "alert", "resolution", "lifecycle", "case_change", "silence", "escalation",
    "delivery", or "unknown" (a `kind` this notifier does not know: skipped). A
    `case_change` has a `status` but is no alert, nor the worker's resolution."""
    return rec.kind_of(record)


def _droppable(loc: tuple[int | str, ...]) -> tuple[tuple[str, ...], str] | None:
    """(the container, the key) of the state entry a validation error lies in, when it
    is one `NotifyState.recover` may drop."""
    for container, depth in _DROPPABLE.items():
        if len(loc) > depth and tuple(loc[:depth]) == container:
            return container, str(loc[depth])
    return None


@dataclass(frozen=True)
class Change:
    """A change of one alert, read from the journal and checked: the worker's resolution
    (an alert a late event proved wrong: `action` ""), a person's lifecycle change
    (`action` one of the journal's actions) or a case change (`action` closed,
    superseded or concluded_late); `at` when it happened, when known."""

    kind: str  # "resolution", "lifecycle" or "case_change"
    alert_id: str
    action: str
    at: datetime | None

    @classmethod
    def read(cls, record: Mapping[str, Any]) -> Change:
        """The change a journal record carries, or BadRecord saying why it is none."""
        kind = record_kind(record)
        alert_id = rec.ident(record, "alert_id")
        if kind == "resolution":
            return cls(kind, alert_id, "", rec.optional_moment(record, "resolved_at"))
        if kind == LIFECYCLE:
            action = record.get("action")
            if not isinstance(action, str) or action not in ACTIONS:
                raise BadRecord("invalid", "action: not a lifecycle action")
            return cls(kind, alert_id, action, rec.optional_moment(record, "at"))
        if kind == CASE_CHANGE:
            change = record.get("change")
            if not isinstance(change, str) or change not in CASE_CHANGES:
                raise BadRecord("invalid", "change: not closed, superseded or concluded_late")
            return cls(kind, alert_id, change, rec.moment(record.get("at"), "at"))
        raise BadRecord("invalid", f"a {kind} record is no change of an alert")

    def to_record(self) -> Record:
        """The change as a journal record again, with only what `read` needs: what the
        state keeps of a change read before its alert (bounded, whatever else the
        record carried)."""
        at = self.at.isoformat() if self.at is not None else None
        if self.kind == "resolution":
            return {"alert_id": self.alert_id, "status": "resolved", "resolved_at": at}
        if self.kind == LIFECYCLE:
            return {"kind": LIFECYCLE, "alert_id": self.alert_id, "action": self.action, "at": at}
        return {"kind": CASE_CHANGE, "alert_id": self.alert_id, "change": self.action, "at": at}


@dataclass(frozen=True)
class _EscalationRead:
    """An escalation record read back: the alert and the step."""

    alert_id: str
    step: Step


#: What `Planner.read` makes of a journal record (None: a delivery record).
Read = AlertInfo | Change | _EscalationRead | tuple[silence_book.AuditAction, Silence] | None


class Planner:
    """The decisions for one routing file and the centers' calendars."""

    def __init__(self, routing: Routing, calendars: CalendarBook | None = None) -> None:
        self.routing = routing
        self.settings = routing.settings
        self.calendars = calendars or CalendarBook()
        self._office = self.settings.office()

    # -- the two entry points ---------------------------------------------------------

    def apply(
        self, state: NotifyState, record: Mapping[str, Any], now: datetime, seq: int | None = None
    ) -> Outcome:
        """Handle one journal record (at position `seq`, when known) read at `now`.

        The record is read and checked first (`read`). One that cannot be trusted changes
        nothing but the position: `Outcome.skipped` says why. Nothing is advanced for it
        either: a change read after it still stops what fell due before its own time.

        What fell due is handled first, but only up to the record's own time (capped at
        `now`): an acknowledgement made at 10:30 and read at 11:05, after an 11:00
        escalation step fell due, still stops it; one made at 11:02 does not. A delivery
        record (the notifier's own history) changes nothing, and advances nothing."""
        _aware(now)
        try:
            read = self.read(record)
        except BadRecord as bad:
            out = Outcome(state.model_copy())
            if self._position(out, seq):
                out.skipped = bad.reason
                out.ignored = bad.detail
            return out
        if read is None:  # a delivery: nothing for the planner
            out = Outcome(state.model_copy())
            self._position(out, seq)
            out.ignored = "a delivery record"
            return out
        when = read.at if isinstance(read, Change) else None
        out = self.advance(state, min(now, when or now))
        if not self._position(out, seq):
            return out
        st = out.state
        if isinstance(read, AlertInfo):
            self._alert(out, read, now)
        elif isinstance(read, Change):
            self._change(out, read, now)
        elif isinstance(read, _EscalationRead):
            self._escalation_read_back(out, read)
        else:
            st.silences = silence_book.apply_read(st.silences, *read)
        return out

    def read(self, record: Mapping[str, Any]) -> Read:
        """What a journal record says, checked: an alert (`AlertInfo`), a `Change`, an
        escalation read back, a silence audit record's (action, silence), or None for a
        delivery record. Raises BadRecord (with its reason) for anything else: an unknown
        kind, a field missing, of the wrong type, too long, or an instant out of range."""
        kind = record_kind(record)
        try:
            if kind == "alert":
                return AlertInfo.of(record)
            if kind in ("resolution", LIFECYCLE, CASE_CHANGE):
                return Change.read(record)
            if kind == ESCALATION:
                return _EscalationRead(
                    rec.ident(record, "alert_id"),
                    Step(
                        level=_level(record.get("level")),
                        center_id=rec.ident(record, "to_center"),
                        recipient_id=rec.ident(record, "recipient_id"),
                        at=rec.moment(record.get("at"), "at"),
                        notification_id=rec.ident(record, "notification_id", rec.NOTIFICATION_ID),
                    ),
                )
            if kind == silence_book.KIND:
                return silence_book.read_record(record)
            if kind in (DELIVERY, ORDER):  # an order's overdue reply comes as an alert
                return None
        except ValidationError as exc:
            raise BadRecord("invalid", f"{kind}: {rec.explain(exc)}") from None
        except BadRecord as bad:
            raise BadRecord(bad.reason, f"{kind}: {bad.detail}") from None
        except ValueError as exc:  # SilenceError: our own words, no value in them
            raise BadRecord("invalid", f"{kind}: {rec.trim(str(exc), 200)}") from None
        raise BadRecord("unknown_kind", "a kind this notifier does not know")

    @staticmethod
    def _position(out: Outcome, seq: int | None) -> bool:
        """Move the state's position to `seq`; False (and `ignored` says so) when that
        position was already applied."""
        if seq is None:
            return True
        if seq <= out.state.head:
            out.ignored = f"position {seq} already applied"
            return False
        out.state.head = seq
        return True

    def advance(self, state: NotifyState, now: datetime) -> Outcome:
        """Everything that fell due by `now`: digests, repeats, escalations, silence
        expiries; and forgetting alerts done with for `keep_closed_days`."""
        _aware(now)
        out = Outcome(state.model_copy(deep=True))
        st = out.state
        st.silences, out.audit = silence_book.expire(st.silences, now)
        for alert_id in sorted(st.alerts):
            track = st.alerts[alert_id]
            self._escalate(out, track, now)
            self._repeat(out, track, now)
        for key in sorted(st.buckets):
            self._digest(out, st.buckets[key], now)
        out.outbox.sort(key=lambda n: (n.due_at, n.id))
        self._forget(st, now)
        return out

    def next_due(self, state: NotifyState) -> datetime | None:
        """The earliest instant at which `advance` has something to do (None: nothing)."""
        times: list[datetime] = []
        for track in state.alerts.values():
            if track.status == "open":
                times += [t for t in (track.next_repeat, track.next_escalation) if t is not None]
        times += [b.due for b in state.buckets.values() if b.due is not None]
        times += [
            s.ends_at
            for s in state.silences.silences.values()
            if s.expired_at is None and s.lifted_at is None
        ]
        return min(times, default=None)

    # -- records ---------------------------------------------------------------------

    def _alert(self, out: Outcome, info: AlertInfo, now: datetime) -> None:
        st = out.state
        if info.alert_id in st.alerts:
            out.ignored = f"alert {info.alert_id} already known"
            return
        track = Track(
            alert=info,
            seen_at=now,
            touched_at=now,
            recipients=[r.id for r in self.routing.recipients(info.as_match())],
        )
        st.alerts[info.alert_id] = track
        for early in st.early.pop(info.alert_id, []):
            try:  # kept by an older notifier, or read again from a saved state: checked again
                change = Change.read(early)
            except BadRecord:
                continue
            self._transition(track, change, now, start=False)
        if track.status == "open":
            self._start(out, track, now)

    def _change(self, out: Outcome, change: Change, now: datetime) -> None:
        st = out.state
        track = st.alerts.get(change.alert_id)
        if track is None:  # its alert comes later in the journal, or was forgotten
            kept = st.early.setdefault(change.alert_id, [])
            kept.append(change.to_record())
            del kept[:-_EARLY_PER_ALERT]
            while sum(len(changes) for changes in st.early.values()) > _EARLY_KEEP:
                del st.early[next(iter(st.early))]
            out.ignored = f"alert {change.alert_id} not known (yet)"
            return
        if not self._transition(track, change, now, start=True, out=out):
            out.ignored = f"no change for an alert that is {track.status}"

    def _transition(
        self,
        track: Track,
        change: Change,
        now: datetime,
        *,
        start: bool,
        out: Outcome | None = None,
    ) -> bool:
        """Apply one change to an alert; False when it changes nothing (a status it does
        not allow, a case change already applied)."""
        if change.kind == "resolution":
            if track.status == "withdrawn":
                return False
            target = "withdrawn"
        elif change.kind == CASE_CHANGE:
            if change.action == "concluded_late":
                return self._concluded_late(track, change, now)
            # a person's resolution is never undone; a superseded warning whose case is
            # then concluded in time ends closed (as the journal has it)
            may_close = track.status in OPEN_STATUSES or (
                change.action == "closed" and track.status == "superseded"
            )
            if not may_close or track.status == change.action:
                return False
            target = change.action  # closed, superseded
        else:
            found = TRANSITIONS.get((track.status, change.action))
            if found is None:
                return False
            if change.action == "appeal":
                track.before_appeal = track.status
            target = found or track.before_appeal
        track.status = target
        track.touched_at = now
        if target == "open":
            if start and out is not None:
                self._start(out, track, now)
        else:
            self._stop(out.state if out is not None else None, track, now)
        return True

    @staticmethod
    def _concluded_late(track: Track, change: Change, now: datetime) -> bool:
        """The alert's case was concluded after its deadline: its status stays (a person
        resolves the violation), its repeats and escalation end for good (`_start` does
        not set them again, e.g. after a rejected appeal). Applied once."""
        if track.concluded_late_at is not None:
            return False
        track.concluded_late_at = change.at or now
        track.next_repeat = None
        track.next_escalation = None
        track.touched_at = now
        return True

    def _escalation_read_back(self, out: Outcome, read: _EscalationRead) -> None:
        """Our own escalation read back from the journal: already recorded, normally. A
        step the state lacks (another notifier wrote it) is taken as done."""
        track = out.state.alerts.get(read.alert_id)
        step = read.step
        if track is None or any(s.level >= step.level for s in track.steps):
            out.ignored = "escalation already recorded"
            return
        track.steps.append(step)
        track.touched_at = max(track.touched_at, step.at)
        if track.status == "open" and track.next_escalation is not None:
            track.next_escalation = self._next_step(track, step.at)

    # -- starting and stopping --------------------------------------------------------

    def _start(self, out: Outcome, track: Track, now: datetime) -> None:
        """An alert that is (again) open: notify it if it never was, and set its clocks."""
        if track.muted_by is not None:
            return
        info = track.alert
        if not track.notified:
            if info.severity == "red":
                silence = silence_book.matching(out.state.silences, info.as_match(), now)
                if silence is not None:
                    self._mute(out, track, "alert", silence.id, now)
                    return
                for recipient in self._recipients(track):
                    out.outbox.append(self._notification(track, recipient, "alert", "alert:0", now))
                track.notified = True
            else:
                self._enqueue(out.state, track, now)
                return
        if info.severity != "red" or track.concluded_late_at is not None:
            return  # no repeat or escalation for a yellow, nor once its case concluded late
        if self.settings.repeat_minutes > 0 and self._repeats_left(track):
            track.next_repeat = self._hold(info.center_id, now + self._repeat_every())
        if self.settings.escalate_after_working_hours > 0:
            track.next_escalation = self._next_step(track, now)

    def _stop(self, st: NotifyState | None, track: Track, now: datetime) -> None:
        track.next_repeat = None
        track.next_escalation = None
        if track.status in CLOSED_STATUSES:
            track.closed_at = now
        if st is None:
            return
        for bucket in st.buckets.values():
            if track.alert.alert_id in bucket.alert_ids:
                bucket.alert_ids.remove(track.alert.alert_id)
                if not bucket.alert_ids:
                    bucket.due = None

    def _mute(self, out: Outcome, track: Track, kind: Kind, silence_id: str, at: datetime) -> None:
        track.muted_by = silence_id
        track.next_repeat = None
        track.next_escalation = None
        out.suppressed.append(
            Suppressed(alert_id=track.alert.alert_id, kind=kind, silence_id=silence_id, at=at)
        )

    def _enqueue(self, st: NotifyState, track: Track, now: datetime) -> None:
        center = track.alert.center_id
        for recipient_id in track.recipients:
            key = f"{center}|{recipient_id}"
            bucket = st.buckets.get(key)
            if bucket is None:
                bucket = st.buckets[key] = Bucket(center_id=center, recipient_id=recipient_id)
            if track.alert.alert_id not in bucket.alert_ids:
                bucket.alert_ids.append(track.alert.alert_id)
            if bucket.due is None:
                minutes = timedelta(minutes=self.settings.digest_minutes)
                bucket.due = self._hold(center, now + minutes)

    # -- what falls due --------------------------------------------------------------

    def _escalate(self, out: Outcome, track: Track, now: datetime) -> None:
        hours = self.settings.escalate_after_working_hours
        info = track.alert
        while (
            track.status == "open"
            and track.next_escalation is not None
            and track.next_escalation <= now
        ):
            due = track.next_escalation
            chain = self.routing.escalation_chain(info.center_id)
            level = len(track.steps) + 1
            if level > len(chain):
                track.next_escalation = None
                return
            silence = silence_book.matching(out.state.silences, info.as_match(), due)
            if silence is not None:
                out.suppressed.append(
                    Suppressed(
                        alert_id=info.alert_id, kind="escalation", silence_id=silence.id, at=due
                    )
                )
                track.next_escalation = self._office_add(info.center_id, due, hours)
                continue
            to_center, director = chain[level - 1]
            notification = self._notification(
                track, director, "escalation", f"escalation:{level}", due
            )
            step = Step(
                level=level,
                center_id=to_center,
                recipient_id=director.id,
                at=due,
                notification_id=notification.id,
            )
            notification.escalation = step
            notification.waited_working_hours = hours
            track.steps.append(step)
            track.touched_at = due
            out.outbox.append(notification)
            out.escalations.append(
                Escalation(
                    alert_id=info.alert_id,
                    rule_id=info.rule_id,
                    center_id=info.center_id,
                    level=level,
                    to_center=to_center,
                    recipient_id=director.id,
                    recipient_name=director.name,
                    at=due,
                    waited_working_hours=hours,
                    notification_id=notification.id,
                )
            )
            track.next_escalation = self._next_step(track, due)

    def _next_step(self, track: Track, since: datetime) -> datetime | None:
        """When the next escalation step falls due, counted from `since`; None when the
        alert has climbed to the top or escalation is off."""
        hours = self.settings.escalate_after_working_hours
        chain = self.routing.escalation_chain(track.alert.center_id)
        if hours <= 0 or len(track.steps) >= len(chain):
            return None
        return self._office_add(track.alert.center_id, since, hours)

    def _repeat(self, out: Outcome, track: Track, now: datetime) -> None:
        info = track.alert
        due = track.next_repeat
        if track.status != "open" or due is None or due > now:
            return
        if not self._repeats_left(track):
            track.next_repeat = None
            return
        silence = silence_book.matching(out.state.silences, info.as_match(), due)
        if silence is not None:
            out.suppressed.append(
                Suppressed(alert_id=info.alert_id, kind="repeat", silence_id=silence.id, at=due)
            )
        else:
            track.repeats += 1
            track.touched_at = due
            # those of the routes that repeat; when none does (a center only a route
            # with `repeat: false` covers), all of them: a red alert is always reminded
            reminded = self.routing.repeated_to(info.as_match())
            everyone = self._recipients(track)
            for recipient in [r for r in everyone if r.id in reminded] or everyone:
                notification = self._notification(
                    track, recipient, "repeat", f"repeat:{track.repeats}", due
                )
                notification.repeat = track.repeats
                out.outbox.append(notification)
        if not self._repeats_left(track):
            track.next_repeat = None
            return
        following = self._hold(info.center_id, due + self._repeat_every())
        while following <= now:  # a notifier that was down sends one repeat, not a burst
            following = self._hold(info.center_id, following + self._repeat_every())
        track.next_repeat = following

    def _digest(self, out: Outcome, bucket: Bucket, now: datetime) -> None:
        due = bucket.due
        if due is None or due > now:
            return
        st = out.state
        chosen: list[Track] = []
        for alert_id in bucket.alert_ids:
            track = st.alerts.get(alert_id)
            if track is None or track.status != "open" or track.muted_by is not None:
                continue
            silence = silence_book.matching(st.silences, track.alert.as_match(), due)
            if silence is not None:
                if not track.notified:
                    self._mute(out, track, "digest", silence.id, due)
                continue
            chosen.append(track)
        bucket.alert_ids = []
        bucket.due = None
        recipient = self.routing.recipient(bucket.recipient_id)
        if not chosen or recipient is None:
            return
        bucket.sent += 1
        for track in chosen:
            track.notified = True
            track.touched_at = due
        out.outbox.append(
            Notification(
                id=f"digest:{bucket.center_id}:{bucket.recipient_id}:{bucket.sent}",
                kind="digest",
                recipient=recipient,
                center_id=bucket.center_id,
                severity="yellow",
                alerts=[t.alert for t in chosen],
                due_at=due,
            )
        )

    # -- helpers ---------------------------------------------------------------------

    def _forget(self, st: NotifyState, now: datetime) -> None:
        """Alerts with nothing left to do for `keep_closed_days` are forgotten (closed
        ones, and open ones whose notifications are all out: a yellow after its digest)."""
        keep = timedelta(days=self.settings.keep_closed_days)
        waiting = {alert_id for b in st.buckets.values() for alert_id in b.alert_ids}
        for alert_id in [
            alert_id
            for alert_id, track in st.alerts.items()
            if track.touched_at + keep <= now
            and alert_id not in waiting
            and (
                track.status != "open"
                or (track.next_repeat is None and track.next_escalation is None)
            )
        ]:
            del st.alerts[alert_id]

    def _recipients(self, track: Track) -> list[Recipient]:
        """The alert's recipients as the routing now describes them (one removed from the
        file since is skipped)."""
        found = (self.routing.recipient(ident) for ident in track.recipients)
        return [r for r in found if r is not None]

    def _notification(
        self, track: Track, recipient: Recipient, kind: Kind, suffix: str, due: datetime
    ) -> Notification:
        return Notification(
            id=f"{track.alert.alert_id}:{recipient.id}:{suffix}",
            kind=kind,
            recipient=recipient,
            center_id=track.alert.center_id,
            severity=track.alert.severity,
            alerts=[track.alert],
            due_at=due,
        )

    def _repeats_left(self, track: Track) -> bool:
        limit = self.settings.max_repeats
        return limit == 0 or track.repeats < limit

    def _repeat_every(self) -> timedelta:
        return timedelta(minutes=self.settings.repeat_minutes)

    def _hold(self, center_id: str, at: datetime) -> datetime:
        """`at`, or the next opening of office hours when it falls outside them."""
        if not self.settings.hold_outside_office_hours:
            return at
        return office_add(self.calendars.for_center(center_id), at, 0, self._office)

    def _office_add(self, center_id: str, start: datetime, hours: float) -> datetime:
        return office_add(self.calendars.for_center(center_id), start, hours * 3600, self._office)


def _aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime: `now` must carry its offset")


def _level(value: object) -> int:
    """An escalation record's level: a whole number from 1 (bool and float refused: JSON
    gives `true` and `1e999` too)."""
    if type(value) is not int or not 1 <= value <= 100:
        raise BadRecord("invalid", "level: not a whole number from 1 to 100")
    return value
