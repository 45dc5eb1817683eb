"""The outbox: one `Pending` delivery per (notification, channel), with its attempts.

Pure (no Kafka, no network, no clock): the service keeps these records in its compacted
state topic, under `out:<notification id>|<channel>`, next to the planner's state under
`planner`; see service.py. A delivery is `pending` (an attempt is due at `next_at`),
`delivered`, or `dead` (given up: a dead-letter record says why). Ops put a dead one back
with a higher `generation` (`replay`): its retry budget starts anew, the attempts of the
earlier generations stay in `earlier`.

`restore` reads the state topic back at start: a record that cannot be trusted (not
JSON, a delivery of the wrong shape or with instants out of range, a saved planner state
that does not validate) is skipped and reported, never raised: the topic is read again
at every start, so a record that raised would stop the notifier for good.

`followed` decides what the active notifier does with a delivery record that someone
else wrote on the state topic while it runs (a replay from the CLI, the last record of a
notifier that was active before it); its own records, read back, are never considered
(the service knows them by the `writer` header, WRITER_HEADER).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supervisor.notify import records as rec
from supervisor.notify.plan import Notification, NotifyState
from supervisor.notify.records import BadRecord, Moment, Reason
from supervisor.notify.retry import Attempt, Delivery, Random, RetryPolicy

Channel = Literal["webhook", "email"]
Status = Literal["pending", "delivered", "dead"]
PLANNER_KEY: Final = "planner"
OUT_PREFIX: Final = "out:"
#: The Kafka header naming who wrote a state-topic record: a notifier's writer id (one per
#: process), or REPLAY_WRITER for `supervisor notify replay-dead-letter`. In a header, not
#: in the value: the value's schema (and the notifiers of an older version) stay as they are.
WRITER_HEADER: Final = "writer"
REPLAY_WRITER: Final = "replay-dead-letter"
#: What the follower does with a record of another writer (`followed`).
Verdict = Literal["replay", "adopt", "ignore"]


class Pending(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: <notification id>|<channel>: what ops name a dead letter by
    key: str = Field(max_length=rec.NOTIFICATION_ID + 10)
    notification: Notification
    channel: Channel
    status: Status = "pending"
    generation: int = Field(default=0, ge=0, le=1_000_000)
    created_at: Moment
    next_at: Moment | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)  # this generation's
    earlier: list[dict[str, Any]] = Field(default_factory=list)  # earlier generations'
    finished_at: Moment | None = None

    @field_validator("attempts", "earlier")
    @classmethod
    def _attempts(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each attempt readable (`Attempt.from_dict`, which `after` and `dead_letter`
        call) with its instants in range: checked when the record is read, not when the
        next attempt would fail on it, again and again."""
        for entry in value:
            try:
                attempt = Attempt.from_dict(entry)
            except (KeyError, TypeError, ValueError, OverflowError):
                raise ValueError("an attempt that cannot be read") from None
            times = [attempt.at] if attempt.next_at is None else [attempt.at, attempt.next_at]
            if not all(rec.in_range(t) for t in times):
                raise ValueError("an attempt with an instant out of range")
        return value

    def to_json(self) -> dict[str, Any]:
        return {"kind": "outgoing", **self.model_dump(mode="json")}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pending:
        return cls.model_validate({k: v for k, v in data.items() if k != "kind"})

    @property
    def state_key(self) -> str:
        return OUT_PREFIX + self.key

    def last(self) -> Attempt | None:
        return Attempt.from_dict(self.attempts[-1]) if self.attempts else None

    def due(self, now: datetime) -> bool:
        return self.status == "pending" and (self.next_at is None or self.next_at <= now)

    def after(self, delivery: Delivery, policy: RetryPolicy, rng: Random) -> Attempt:
        """Record one attempt's `delivery`; returns the attempt (its `next_at`/`dead`)."""
        first = Attempt.from_dict(self.attempts[0]).at if self.attempts else delivery.at
        attempt = policy.record(len(self.attempts) + 1, delivery, rng, first_at=first)
        self.attempts.append(attempt.as_dict())
        if attempt.outcome.value == "delivered":
            self.status = "delivered"
            self.next_at = None
            self.finished_at = delivery.at
        elif attempt.next_at is None:
            self.status = "dead"
            self.next_at = None
            self.finished_at = delivery.at
        else:
            self.next_at = attempt.next_at
        return attempt

    def replayed(self) -> Pending:
        """The dead letter put back: a new generation, due at once, a fresh budget."""
        return self.model_copy(
            update={
                "status": "pending",
                "generation": self.generation + 1,
                "next_at": None,  # at once, whatever the notifier's clock reads
                "attempts": [],
                "earlier": [*self.earlier, *self.attempts],
                "finished_at": None,
            },
            deep=True,
        )

    def dead_letter(self) -> dict[str, Any]:
        """The record for the dead-letter topic (keyed by `key`)."""
        last = self.last()
        return {
            "kind": "dead_letter",
            "key": self.key,
            "generation": self.generation,
            "notification_id": self.notification.id,
            "channel": self.channel,
            "recipient_id": self.notification.recipient.id,
            "center_id": self.notification.center_id,
            "severity": self.notification.severity,
            "alert_ids": [a.alert_id for a in self.notification.alerts],
            "attempts": self.attempts,
            "notification": self.notification.to_json(),
            "error": last.error if last is not None else None,
            "at": (self.finished_at or self.created_at).isoformat(),
        }


def channels_of(notification: Notification) -> list[Channel]:
    """The channels the recipient has, webhook first."""
    channels = notification.recipient.channels
    found: list[Channel] = []
    if channels.webhook is not None:
        found.append("webhook")
    if channels.email is not None:
        found.append("email")
    return found


def pending_for(notification: Notification, now: datetime) -> list[Pending]:
    """One pending delivery per channel of the notification's recipient, due at once."""
    return [
        Pending(
            key=f"{notification.id}|{channel}",
            notification=notification,
            channel=channel,
            created_at=now,
            next_at=now,
        )
        for channel in channels_of(notification)
    ]


def followed(current: Pending | None, incoming: Pending, *, busy: bool) -> Verdict:
    """What the active notifier does with `incoming`, a delivery record that another
    writer put on the state topic after this notifier read it back (never one of its own:
    the service drops those first, by their writer header, so that its own new deliveries
    read back cannot be taken for someone else's). `current`: its outbox's entry of that
    key, if any; `busy`: that entry is being attempted, or being saved, right now.

    - `replay`: a higher generation (`replay-dead-letter` put a dead letter back), or a
      put-back delivery this notifier has no trace of (pruned): it replaces the entry and
      is counted as a replay.
    - `adopt`: a delivery this notifier does not have (the previous active one made it
      just before it lost its place; our planner would make the same one, with the same
      key), or the same generation finished (delivered or dead) by the previous active
      notifier while ours still waits: taking it avoids sending it again. Never while
      ours is busy: its attempt is already under way, and its outcome will be saved.
    - `ignore`: anything else (an older or equal record of the same delivery).
    """
    if current is None:
        return "replay" if incoming.generation > 0 else "adopt"
    if incoming.generation > current.generation:
        return "replay"
    if (
        incoming.generation == current.generation
        and current.status == "pending"
        and incoming.status != "pending"
        and not busy
    ):
        return "adopt"
    return "ignore"


def prunable(entry: Pending, now: datetime, keep: timedelta) -> bool:
    """A delivery finished more than `keep` ago: its record can be deleted (a journal
    record read again after that long would not make it again: the planner has forgotten
    it too)."""
    return entry.finished_at is not None and entry.finished_at + keep <= now


@dataclass(frozen=True)
class Skip:
    """A state-topic record (at `offset`) skipped: why (`reason`, the metric's label) and
    what is wrong (`detail`, never the value)."""

    offset: int
    reason: Reason
    detail: str


@dataclass
class Restored:
    """The state topic read from its beginning: the planner's saved state (None: never
    saved), the deliveries, the records skipped and the entries of the saved planner
    state that were dropped (`NotifyState.recover`)."""

    state: NotifyState | None = None
    outbox: dict[str, Pending] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def read_pending(key: str, value: bytes) -> Pending:
    """The delivery a state-topic record holds under `key` (`out:<key>`), or BadRecord:
    not JSON, not a delivery, or filed under another delivery's key."""
    try:
        entry = Pending.from_json(rec.decode(value))
    except ValidationError as exc:
        raise BadRecord("invalid", f"delivery: {rec.explain(exc)}") from None
    if OUT_PREFIX + entry.key != key:
        raise BadRecord("invalid", "delivery: filed under another delivery's key")
    return entry


def restore(records: Iterable[tuple[str, bytes | None, int]]) -> Restored:
    """What the state topic's records (key, value, offset), in order, leave: the latest
    valid planner state and the latest record of each delivery. A record that cannot be
    trusted is skipped (`Restored.skipped`): the one before it under its key stands."""
    found = Restored()
    for key, value, offset in records:
        try:
            if key == PLANNER_KEY:
                if value is None:  # deleted: as if never saved
                    found.state, found.dropped = None, []
                    continue
                saved = rec.decode(value)
                found.state, found.dropped = NotifyState.recover(saved.get("state"))
            elif key.startswith(OUT_PREFIX):
                if value is None:  # pruned
                    found.outbox.pop(key[len(OUT_PREFIX) :], None)
                    continue
                entry = read_pending(key, value)
                found.outbox[entry.key] = entry
            else:
                raise BadRecord("unknown_kind", "a key this notifier does not write")
        except BadRecord as bad:
            found.skipped.append(Skip(offset, bad.reason, bad.detail))
        except Exception as exc:  # a bug, not a reason to stop at every start
            found.skipped.append(Skip(offset, "error", rec.where(exc)))
    return found
