"""When to try a notification again, and the records of its attempts.

Pure: no clock, no randomness of its own, no I/O. The channels (`webhook.py`,
`email.py`) make one attempt each and return a `Delivery`; the caller turns it into an
`Attempt` with `RetryPolicy.record`, which says when to try again (`next_at`) or that
the notification is finished: delivered, failed for good, or out of budget (a dead
letter, for ops to see and replay).

Backoff is exponential with *full jitter*: the n-th retry waits a uniformly random time
between 0 and min(`cap`, `base` × `factor`^(n-1)) seconds, so that many notifications
failing together (a gateway that was down) do not come back together. A receiver's
`Retry-After` (HTTP 429 or 503) is honoured: never earlier than it asks. The budget is
both a number of attempts and a time from the first attempt; whichever runs out first
ends the retries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """What one attempt came to."""

    DELIVERED = "delivered"  # the receiver took it (HTTP 2xx, SMTP accepted)
    RETRY = "retry"  # a failure that may pass: try again later (5xx, 408, 429, SMTP 4xx, network)
    FAILED = "failed"  # a failure that will not pass by retrying (HTTP 4xx, SMTP 5xx, bad address)


@dataclass(frozen=True)
class Delivery:
    """The result of one attempt on one channel, as the channel saw it.

    `status` is the HTTP status or the SMTP reply code when there was one; `retry_after`
    the seconds the receiver asked to wait (HTTP `Retry-After`); `error` a short, masked
    explanation (never a secret, a URL's query or personal data), None when delivered
    cleanly; `elapsed` the seconds the attempt took."""

    channel: str  # "webhook" | "email"
    outcome: Outcome
    at: datetime  # when the attempt started (timezone-aware)
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    elapsed: float = 0.0

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @property
    def retryable(self) -> bool:
        return self.outcome is Outcome.RETRY


@dataclass(frozen=True)
class Attempt:
    """One attempt in a notification's history: what the channel said and what comes next.

    `next_at` is when the next attempt is due; None when there is none: delivered, failed
    for good, or the retry budget is spent. `dead` says the notification ended undelivered
    (it goes to the dead-letter record)."""

    number: int  # 1 for the first attempt
    at: datetime
    outcome: Outcome
    error: str | None = None
    next_at: datetime | None = None
    status: int | None = None
    channel: str = ""

    @property
    def dead(self) -> bool:
        return self.outcome is not Outcome.DELIVERED and self.next_at is None

    @property
    def final(self) -> bool:
        """No attempt follows this one."""
        return self.next_at is None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times ISO 8601 with their offset), for a durable store and history."""
        return {
            "number": self.number,
            "at": self.at.isoformat(),
            "outcome": self.outcome.value,
            "error": self.error,
            "next_at": self.next_at.isoformat() if self.next_at is not None else None,
            "status": self.status,
            "channel": self.channel,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        next_at = data.get("next_at")
        status = data.get("status")
        return cls(
            number=int(data["number"]),
            at=datetime.fromisoformat(data["at"]),
            outcome=Outcome(data["outcome"]),
            error=data.get("error"),
            next_at=datetime.fromisoformat(next_at) if next_at is not None else None,
            status=int(status) if status is not None else None,
            channel=str(data.get("channel", "")),
        )


class Random(Protocol):
    """What the policy needs of a random source: `random.Random` or a stub in tests."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, a number of attempts and a time budget.

    With the defaults, the retry ceilings are 5 s, 10 s, 20 s … doubling up to 30 min;
    16 attempts in all, within 12 hours of the first: a receiver that is down for an
    hour or two still gets every notification."""

    base: float = 5.0  # seconds: the ceiling of the first retry's wait
    factor: float = 2.0
    cap: float = 1800.0  # seconds: no wait is drawn above this
    max_attempts: int = 16  # attempts in all, the first included
    budget: timedelta = timedelta(hours=12)  # from the first attempt; none starts after

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap < self.base:
            raise ValueError("RetryPolicy needs base > 0, factor >= 1 and cap >= base")
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy needs max_attempts >= 1")
        if self.budget < timedelta(0):
            raise ValueError("RetryPolicy needs a budget >= 0")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (1-based), in seconds."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, not {attempt}")
        # base * factor**(attempt-1) without overflowing for large attempt numbers
        exponent = attempt - 1
        if self.factor > 1 and exponent * math.log(self.factor) > math.log(self.cap / self.base):
            return self.cap
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempt: int, rng: Random) -> float:
        """The wait after failed attempt `attempt`: uniform in [0, ceiling(attempt))."""
        return rng.random() * self.ceiling(attempt)

    def next_attempt(
        self,
        attempt: int,
        now: datetime,
        rng: Random,
        *,
        first_at: datetime | None = None,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to make attempt `attempt + 1`, after attempt `attempt` failed at `now`;
        None when the budget is spent (the notification becomes a dead letter).

        `first_at` is when the first attempt was made (the time budget counts from it;
        without it, from `now`, which is right only for the first attempt).
        `retry_after` (seconds, from the receiver) is a lower bound on the wait; if it
        reaches beyond the budget, there is no next attempt."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, not {attempt}")
        if attempt >= self.max_attempts:
            return None
        wait = self.delay(attempt, rng)
        if retry_after is not None and retry_after > wait:
            wait = retry_after
        due = now + timedelta(seconds=wait)
        deadline = (first_at if first_at is not None else now) + self.budget
        if due > deadline:
            return None
        return due

    def record(
        self,
        number: int,
        delivery: Delivery,
        rng: Random,
        *,
        first_at: datetime | None = None,
    ) -> Attempt:
        """The history record of attempt `number` that ended in `delivery`, with its
        next attempt when it failed in a way that may pass and the budget allows one
        (the wait counts from the end of the attempt: `at` + `elapsed`)."""
        next_at = None
        if delivery.outcome is Outcome.RETRY:
            next_at = self.next_attempt(
                number,
                delivery.at + timedelta(seconds=delivery.elapsed),
                rng,
                first_at=first_at,
                retry_after=delivery.retry_after,
            )
        return Attempt(
            number=number,
            at=delivery.at,
            outcome=delivery.outcome,
            error=delivery.error,
            next_at=next_at,
            status=delivery.status,
            channel=delivery.channel,
        )
