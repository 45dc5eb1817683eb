"""Silences (静默): an inspector stops notifications for some alerts, for a while, saying why.

Typical use: a center migrating its case system for a weekend, whose alerts meanwhile are
known noise. A silence matches alerts by center (`below`: with the centers under it), by
rule (an id or a prefix like `deadline.*`) and/or by case; every criterion given must
hold, and at least one must be given. It holds from `starts_at` to `ends_at` (a silence
created for an earlier start begins when it is created: what has gone out is out), ends
by itself at `ends_at`, or earlier when it is lifted. The longest silence is
`MAX_DURATION`: a forgotten one must not mute a center for good. Its instants lie within
the years `records.EARLIEST`-`records.LATEST`: one beginning in year 9999 is refused (a
month later is past what `datetime` can hold: the notifier's expiry overflowed and
stopped it); one read from a record with an end further than `MAX_DURATION` after its
start ends at that maximum.

Silenced alerts are still recorded (the journal and the wall are untouched, and the
notification state notes which silence held which alert) but produce no notification;
see plan.py for exactly which.

Every change is an audit record (`{"kind": "silence", "action": "create" | "lift" |
"expire", ...}`, carrying the silence as it stands after the change, who and when). The
state is rebuilt from those records by `apply_record`, which is idempotent, so the
records can live in a Kafka topic and be read again from the start. Pure: time is an
argument, the state is JSON (`SilenceState.to_json` / `from_json`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from supervisor.centers import is_valid_code
from supervisor.masking import mask_text
from supervisor.notify.records import EARLIEST, LATEST, Moment, in_range
from supervisor.notify.routing import center_matches, check_rule_pattern, rule_matches

KIND: Final = "silence"
MAX_DURATION: Final = timedelta(days=31)
KEEP_ENDED: Final = timedelta(days=30)  # ended silences still listed (and audited) this long
Status = Literal["pending", "active", "expired", "lifted"]
AuditAction = Literal["create", "lift", "expire"]
Record = dict[str, Any]


class SilenceError(ValueError):
    """A silence that cannot be created or lifted (the API answers 400/409 with this)."""


class Silence(BaseModel):
    """One silence as it stands. Every instant is aware and within the records' range
    (`Moment`), and it ends at most `MAX_DURATION` after it starts, however it was
    written: a record that says otherwise is cut to that (see `_at_most_max_duration`)
    or refused, so no computation on a silence can overflow."""

    model_config = ConfigDict(extra="forbid")

    id: str
    center_id: str | None = None
    below: bool = False
    rule: str | None = None
    case_id: str | None = None
    starts_at: Moment
    ends_at: AwareDatetime  # then cut to starts_at + MAX_DURATION, inside the range
    reason: str
    created_by: dict[str, str]
    created_at: Moment
    lifted_at: Moment | None = None
    lifted_by: dict[str, str] | None = None
    lift_reason: str = ""
    expired_at: Moment | None = None  # when its expiry was recorded

    @model_validator(mode="after")
    def _at_most_max_duration(self) -> Silence:
        """A silence read with an end beyond `MAX_DURATION` after its start (written by
        an older web service, which let a silence end in year 9999, or by hand) ends at
        that maximum: the rule `create` enforces, and the end every reader (the web
        service's listing, the notifier's expiry) can compute with. One that ends before
        it starts ends when it starts, so that its end, recorded as its expiry, is an
        instant in range too."""
        latest = self.starts_at + MAX_DURATION  # starts_at is in range: no overflow
        if self.ends_at > latest:
            self.ends_at = latest
        if self.ends_at < self.starts_at:  # an end before the start (year 1): ended at once
            self.ends_at = self.starts_at
        if self.expired_at is not None and self.expired_at > self.ends_at:
            self.expired_at = self.ends_at
        return self

    @property
    def ended_at(self) -> datetime:
        """When it stopped (or will stop) holding."""
        if self.lifted_at is not None and self.lifted_at < self.ends_at:
            return self.lifted_at
        return self.ends_at

    def holds(self, at: datetime) -> bool:
        """True while the silence is in force at `at`."""
        return self.starts_at <= at < self.ended_at

    def status(self, now: datetime) -> Status:
        if self.lifted_at is not None and self.lifted_at <= now and self.lifted_at < self.ends_at:
            return "lifted"
        if now >= self.ends_at:
            return "expired"
        return "active" if now >= self.starts_at else "pending"

    def matches(self, alert: Mapping[str, Any]) -> bool:
        if self.center_id is not None and not center_matches(
            self.center_id, str(alert.get("center_id", "")), self.below
        ):
            return False
        if self.rule is not None and not rule_matches(self.rule, str(alert.get("rule_id", ""))):
            return False
        return self.case_id is None or str(alert.get("case_id", "")) == self.case_id


class SilenceState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    silences: dict[str, Silence] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SilenceState:
        return cls.model_validate(data)


def create(
    state: SilenceState,
    *,
    by: Mapping[str, str],
    reason: str,
    now: datetime,
    until: datetime,
    starts_at: datetime | None = None,
    center_id: str | None = None,
    below: bool = False,
    rule: str | None = None,
    case_id: str | None = None,
) -> tuple[SilenceState, Record]:
    """A new silence (from `starts_at`, default now, to `until`) and its audit record.
    The id is derived from what was asked, by whom and when: the same request gives the
    same id, so a request sent twice creates one silence."""
    if center_id is None and rule is None and case_id is None:
        raise SilenceError("a silence needs a center, a rule or a case to match")
    if center_id is not None and not is_valid_code(center_id):
        raise SilenceError(f"{center_id!r} is not a 6- or 9-digit division code")
    if below and center_id is None:
        raise SilenceError("'below' needs a center")
    if rule is not None:
        try:
            check_rule_pattern(rule)
        except ValueError as exc:
            raise SilenceError(str(exc)) from None
    if not reason.strip():
        raise SilenceError("a silence needs a reason")
    if not by.get("name"):
        raise SilenceError("a silence needs who asked for it (by.name)")
    begin = max(starts_at or now, now)
    if not (in_range(begin) and in_range(until)):
        raise SilenceError(
            f"a silence must begin and end between {EARLIEST.year} and {LATEST.year - 1}"
        )
    if until <= begin:
        raise SilenceError("a silence must end after it begins (and after now)")
    if until - begin > MAX_DURATION:
        raise SilenceError(f"a silence lasts at most {MAX_DURATION.days} days")
    fields: dict[str, Any] = {
        "center_id": center_id,
        "below": below,
        "rule": rule,
        "case_id": case_id,
        "starts_at": begin,
        "ends_at": until,
        "reason": mask_text(reason.strip()),
        "created_by": {k: mask_text(str(v)) for k, v in by.items()},
        "created_at": now,
    }
    digest = hashlib.sha256(
        json.dumps(fields, default=_iso, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    silence = Silence(id=f"sil-{digest[:12]}", **fields)
    record = _record("create", silence, silence.created_by, now, silence.reason)
    return apply_record(state, record), record


def lift(
    state: SilenceState,
    silence_id: str,
    *,
    by: Mapping[str, str],
    now: datetime,
    reason: str = "",
) -> tuple[SilenceState, Record]:
    """End a silence early; refused for an unknown one or one that no longer holds."""
    silence = state.silences.get(silence_id)
    if silence is None:
        raise SilenceError(f"no silence {silence_id!r}")
    status = silence.status(now)
    if status in ("lifted", "expired"):
        raise SilenceError(f"silence {silence_id} has already {status}")
    who = {k: mask_text(str(v)) for k, v in by.items()}
    lifted = silence.model_copy(
        update={"lifted_at": now, "lifted_by": who, "lift_reason": mask_text(reason.strip())}
    )
    record = _record("lift", lifted, who, now, lifted.lift_reason)
    return apply_record(state, record), record


def expire(state: SilenceState, now: datetime) -> tuple[SilenceState, list[Record]]:
    """Record the end of every silence whose time ran out by `now` (not lifted first), and
    forget those that ended more than `KEEP_ENDED` ago."""
    records = []
    for silence in sorted(state.silences.values(), key=lambda s: (s.ends_at, s.id)):
        if silence.expired_at is None and silence.status(now) == "expired":
            ended = silence.model_copy(update={"expired_at": silence.ends_at})
            records.append(
                _record("expire", ended, {"name": "系统", "role": "system"}, silence.ends_at, "")
            )
    for record in records:
        state = apply_record(state, record)
    stale = [s.id for s in state.silences.values() if s.ended_at + KEEP_ENDED <= now]
    if stale:
        state = SilenceState(silences={k: v for k, v in state.silences.items() if k not in stale})
    return state, records


def read_record(record: Mapping[str, Any]) -> tuple[AuditAction, Silence]:
    """An audit record's action and silence, checked: SilenceError for a record that
    is not one (no silence, an unknown action), pydantic's ValidationError (a
    ValueError) for a silence of the wrong shape or with instants out of range."""
    action = record.get("action")
    if action not in ("create", "lift", "expire"):
        raise SilenceError("unknown silence action")
    raw = record.get("silence")
    if not isinstance(raw, Mapping):
        raise SilenceError("a silence record without its silence")
    return action, Silence.model_validate(raw)


def apply_record(state: SilenceState, record: Mapping[str, Any]) -> SilenceState:
    """The state after an audit record; a record already applied changes nothing.
    Raises (ValueError) for a record that is not a silence's audit record."""
    action, silence = read_record(record)
    return apply_read(state, action, silence)


def apply_read(state: SilenceState, action: AuditAction, silence: Silence) -> SilenceState:
    """The state after an audit record already read (`read_record`)."""
    known = state.silences.get(silence.id)
    if action == "create":
        if known is not None:
            return state
        updated = silence
    elif action == "lift":
        base = known or silence
        if base.lifted_at is not None:
            return state
        updated = base.model_copy(
            update={
                "lifted_at": silence.lifted_at,
                "lifted_by": silence.lifted_by,
                "lift_reason": silence.lift_reason,
            }
        )
    else:  # expire
        base = known or silence
        if base.expired_at is not None:
            return state
        updated = base.model_copy(update={"expired_at": silence.expired_at or silence.ends_at})
    return SilenceState(silences={**state.silences, silence.id: updated})


def matching(state: SilenceState, alert: Mapping[str, Any], at: datetime) -> Silence | None:
    """The silence holding `alert` at `at` (the earliest created, if several), or None."""
    for silence in sorted(state.silences.values(), key=lambda s: (s.created_at, s.id)):
        if silence.holds(at) and silence.matches(alert):
            return silence
    return None


def listing(state: SilenceState, now: datetime) -> list[tuple[Silence, Status]]:
    """Every silence kept, with its status at `now`: active and pending first (by end),
    then the ended ones, most recent first."""
    live = [s for s in state.silences.values() if s.status(now) in ("active", "pending")]
    ended = [s for s in state.silences.values() if s.status(now) in ("expired", "lifted")]
    live.sort(key=lambda s: (s.ends_at, s.id))
    ended.sort(key=lambda s: (s.ended_at, s.id), reverse=True)
    return [(s, s.status(now)) for s in live + ended]


def is_record(record: Mapping[str, Any]) -> bool:
    return record.get("kind") == KIND


def _record(
    action: AuditAction, silence: Silence, by: Mapping[str, str], at: datetime, reason: str
) -> Record:
    return {
        "kind": KIND,
        "action": action,
        "silence_id": silence.id,
        "silence": silence.model_dump(mode="json"),
        "by": dict(by),
        "at": at.isoformat(timespec="seconds"),
        "reason": reason,
    }


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {value!r}")
