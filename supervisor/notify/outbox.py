"""The outbox: one `Pending` delivery per (notification, channel), with its attempts.

Pure (no Kafka, no network, no clock): the service keeps these records in its compacted
state topic, under `out:<notification id>|<channel>`, next to the planner's state under
`planner`; see service.py. A delivery is `pending` (an attempt is due at `next_at`),
`delivered`, or `dead` (given up: a dead-letter record says why). Ops put a dead one back
with a higher `generation` (`replay`): its retry budget starts anew, the attempts of the
earlier generations stay in `earlier`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from supervisor.notify.plan import Notification
from supervisor.notify.retry import Attempt, Delivery, Random, RetryPolicy

Channel = Literal["webhook", "email"]
Status = Literal["pending", "delivered", "dead"]
PLANNER_KEY: Final = "planner"
OUT_PREFIX: Final = "out:"


class Pending(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str  # <notification id>|<channel>: what ops name a dead letter by
    notification: Notification
    channel: Channel
    status: Status = "pending"
    generation: int = 0
    created_at: datetime
    next_at: datetime | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)  # this generation's
    earlier: list[dict[str, Any]] = Field(default_factory=list)  # earlier generations'
    finished_at: datetime | None = None

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


def prunable(entry: Pending, now: datetime, keep: timedelta) -> bool:
    """A delivery finished more than `keep` ago: its record can be deleted (a journal
    record read again after that long would not make it again: the planner has forgotten
    it too)."""
    return entry.finished_at is not None and entry.finished_at + keep <= now
