"""The wall's state in memory: the recent alerts, and the sockets that watch them.

Nothing here is saved: the alerts topic is the durable record, and the web process
rebuilds this state by reading the topic from the beginning at every start
(`consumer.py`). The hub only has to be a correct, bounded view of that topic.

Order. Alerts are kept and shown newest first by `raised_at` (event time), ties broken
by `alert_id`. Event time and not arrival order, because a restart reads the topic's
partitions in whatever order the broker serves them: ordering by the alert itself gives
the same wall after every restart, and an alert pushed out of the bounded list can never
come back when the topic is read again (its key stays below every key kept).

De-duplication. The contract makes `alert_id` deterministic, so a second message with a
known id is the same alert delivered again (replay, restart, at-least-once). The first
copy wins; the repeat changes nothing and is not broadcast.

Slow clients. `publish()` never waits: it puts one pre-encoded text message on each
subscriber's bounded queue with `put_nowait`. When a subscriber's queue is full, that
subscriber is marked overflowed and gets nothing more; the socket handler then closes it
(code 1013, "try again later") and the browser reconnects and receives a fresh snapshot.
Disconnecting rather than silently dropping messages means a wall is never left showing
an incomplete list without knowing it, and one slow or stuck screen never delays the
Kafka consumer or the other screens.

Threading. The hub is not thread-safe: call it from the event loop that serves the
sockets (handlers are `async def` for that reason; tests use the TestClient's portal).
"""

from __future__ import annotations

import asyncio
import json
from bisect import insort
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any, Final

#: One alert, as the contract's JSON object (README §3).
Alert = dict[str, Any]

SEVERITIES: Final = frozenset({"yellow", "red"})
_REQUIRED_TEXT: Final = ("alert_id", "rule_id", "case_id", "center_id", "title", "message")

#: Default per-client queue length: a wall screen falls this many alerts behind before it
#: is disconnected. Far above any live rate, reached only by a stuck or very slow client
#: (or one connected during a catch-up burst, which then reconnects to a snapshot).
DEFAULT_CLIENT_QUEUE: Final = 256


class MalformedAlert(ValueError):
    """A message that is not an alert of the contract; the reason is the message."""


def validate_alert(obj: object) -> Alert:
    """Return `obj` as an alert if it has the contract's shape, else raise MalformedAlert.

    Checks only what the wall relies on (ids, texts, severity, an aware `raised_at`);
    unknown extra keys are kept, so the worker may add fields without breaking the wall.
    """
    if not isinstance(obj, dict):
        raise MalformedAlert(f"an alert is a JSON object, not {type(obj).__name__}")
    for key in _REQUIRED_TEXT:
        value = obj.get(key)
        if not isinstance(value, str):
            raise MalformedAlert(f"{key!r} must be a string")
    if not obj["alert_id"]:
        raise MalformedAlert("'alert_id' must not be empty")
    if obj.get("severity") not in SEVERITIES:
        raise MalformedAlert(f"'severity' must be yellow or red, not {obj.get('severity')!r}")
    parse_raised_at(obj)
    details = obj.get("details", {})
    if not isinstance(details, dict):
        raise MalformedAlert("'details' must be an object")
    return obj


def parse_raised_at(alert: Mapping[str, Any]) -> datetime:
    """The alert's `raised_at` as an aware datetime; MalformedAlert if absent or naive."""
    raw = alert.get("raised_at")
    if not isinstance(raw, str):
        raise MalformedAlert("'raised_at' must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise MalformedAlert(f"'raised_at' is not ISO 8601: {raw!r}") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MalformedAlert(f"'raised_at' has no UTC offset: {raw!r}")
    return moment


def decode_alert(data: bytes | str | None) -> Alert:
    """Decode one Kafka message value into a validated alert, or raise MalformedAlert."""
    if data is None:
        raise MalformedAlert("empty message (tombstone)")
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedAlert(f"not JSON: {exc}") from exc
    return validate_alert(obj)


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode_snapshot(alerts: Iterable[Alert]) -> str:
    """The first message on a socket: `{"type": "snapshot", "alerts": [...]}`."""
    return _dumps({"type": "snapshot", "alerts": list(alerts)})


def encode_alert(alert: Alert) -> str:
    """A live message on a socket: `{"type": "alert", "alert": {...}}`."""
    return _dumps({"type": "alert", "alert": alert})


class SubscriptionEnded(Exception):
    """Raised by `Subscription.get()` once the subscription will deliver nothing more."""

    def __init__(self, reason: str, *, overflowed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.overflowed = overflowed


class Subscription:
    """One socket's share of the broadcast: a bounded queue of encoded messages.

    The socket handler loops on `await get()` and sends what it returns. `get()` raises
    SubscriptionEnded when the client fell `maxsize` messages behind (`overflowed` is
    True: close the socket so the client reconnects to a snapshot) or when the hub shut
    down (`overflowed` is False: close the socket as going away).
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize)
        self._ended: SubscriptionEnded | None = None

    @property
    def overflowed(self) -> bool:
        return self._ended is not None and self._ended.overflowed

    @property
    def pending(self) -> int:
        """Messages queued and not yet taken by the socket handler."""
        return self._queue.qsize()

    def offer(self, text: str) -> None:
        """Queue `text` without waiting; a full queue ends the subscription instead."""
        if self._ended is not None:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            # Nobody waits in get() while the queue is full, so the flag is enough: the
            # handler sees it at its next get(), without draining the backlog first.
            self._ended = SubscriptionEnded("client too slow", overflowed=True)

    def end(self, reason: str) -> None:
        """End the subscription (hub shutting down); wakes a handler waiting in get()."""
        if self._ended is None:
            self._ended = SubscriptionEnded(reason, overflowed=False)
            # A full queue means the handler is not waiting: it will see the flag.
            with suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def get(self) -> str:
        """Next message to send; raises SubscriptionEnded when there will be none."""
        self._raise_if_ended()
        text = await self._queue.get()
        self._raise_if_ended()
        if text is None:  # only end() queues None, and it sets _ended first
            raise SubscriptionEnded("ended", overflowed=False)
        return text

    def _raise_if_ended(self) -> None:
        if self._ended is not None:
            # A fresh exception each time, so tracebacks do not pile up on one object.
            raise SubscriptionEnded(self._ended.reason, overflowed=self._ended.overflowed)


class AlertHub:
    """The bounded, de-duplicated list of recent alerts, and their broadcast.

    `capacity` is how many alerts the wall keeps (settings.wall_recent); `client_queue`
    how many messages one socket may fall behind before it is disconnected.
    """

    def __init__(self, capacity: int, *, client_queue: int = DEFAULT_CLIENT_QUEUE) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        if client_queue < 1:
            raise ValueError(f"client_queue must be at least 1, not {client_queue}")
        self.capacity = capacity
        self.client_queue = client_queue
        self._keys: list[tuple[datetime, str]] = []  # ascending: oldest first
        self._alerts: dict[str, Alert] = {}
        self._subscribers: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._alerts

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, alert: Mapping[str, Any]) -> bool:
        """Add one alert and broadcast it; return whether it was new and kept.

        Returns False, changing nothing and sending nothing, for an alert_id already
        kept, and for an alert older than every kept one when the list is full (it would
        be evicted at once). Raises MalformedAlert for an alert without the contract's
        shape. Never waits (see the module docstring for slow subscribers).
        """
        item = validate_alert(dict(alert))
        alert_id: str = item["alert_id"]
        if alert_id in self._alerts:
            return False
        key = (parse_raised_at(item), alert_id)
        if len(self._keys) >= self.capacity and key < self._keys[0]:
            return False
        insort(self._keys, key)
        self._alerts[alert_id] = item
        if len(self._keys) > self.capacity:
            _, evicted = self._keys.pop(0)
            del self._alerts[evicted]
        text = encode_alert(item)
        for subscriber in self._subscribers:
            subscriber.offer(text)
        return True

    def recent(
        self,
        *,
        limit: int | None = None,
        severity: str | None = None,
        center_id: str | None = None,
    ) -> list[Alert]:
        """Kept alerts, newest first, optionally filtered; at most `limit` of them."""
        result: list[Alert] = []
        for _, alert_id in reversed(self._keys):
            if limit is not None and len(result) >= limit:
                break
            alert = self._alerts[alert_id]
            if severity is not None and alert["severity"] != severity:
                continue
            if center_id is not None and alert["center_id"] != center_id:
                continue
            result.append(alert)
        return result

    def subscribe(self) -> Subscription:
        """A new subscriber that receives every alert published from now on.

        Take the snapshot (`recent()`) right after subscribing, with no `await` between:
        then no alert falls between the snapshot and the live messages.
        """
        subscription = Subscription(self.client_queue)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def close(self, reason: str = "server shutting down") -> None:
        """End every subscription (at shutdown) so their handlers return."""
        for subscription in self._subscribers:
            subscription.end(reason)
        self._subscribers.clear()
