"""The wall's state in memory: the recent alerts, and the sockets that watch them.

Nothing here is saved: the read model (supervisor/store/) is the durable record the API
reads, and at start the hub is loaded from it (the newest alerts and the journal position
they stand at, supervisor/web/readmodel.py), then follows the journal from there
(`consumer.py`). The hub only has to be a correct, bounded view of that topic.

Order. Alerts are kept and shown newest first by `raised_at` (event time), ties broken
by `alert_id`. Event time and not arrival order, because a restart reads the topic's
partitions in whatever order the broker serves them: ordering by the alert itself gives
the same wall after every restart, and an alert pushed out of the bounded list can never
come back when the topic is read again (its key stays below every key kept).

De-duplication. The contract makes `alert_id` deterministic, so a second message with a
known id is the same alert delivered again (replay, restart, at-least-once). The first
copy wins; the repeat changes nothing and is not broadcast.

Resolutions. An alert that a late event proved wrong is not deleted: the worker sends a
resolution on the alerts topic under the same key, `{"alert_id", "status": "resolved",
"rule_id", "case_id", "center_id", "resolved_at", "reason", "details"}`. The hub keeps
the alert where it was and shows it with `"resolution": {...}` added (in `recent()`, the
snapshot and the API); it no longer counts as open. A resolution for an alert the hub
does not keep (evicted, too old, or not read yet because another producer keyed it
elsewhere) waits in a bounded map, oldest dropped first, so an alert read after its
resolution is kept already resolved. The first resolution of an id wins; a repeat changes
nothing and is not broadcast. A new one is broadcast as `{"type": "resolved",
"resolution": {...}}`, also when its alert is not kept here: a screen may still show it.

Slow clients. `publish()` never waits: it puts one pre-encoded text message on each
subscriber's bounded queue with `put_nowait`. When a subscriber's queue is full, that
subscriber is marked overflowed and gets nothing more; the socket handler then closes it
(code 1013, "try again later") and the browser reconnects and receives a fresh snapshot.
Disconnecting rather than silently dropping messages means a wall is never left showing
an incomplete list without knowing it, and one slow or stuck screen never delays the
Kafka consumer or the other screens.

Hostile records. Whatever is on the topic, decoding either gives a record of the
expected shape or raises MalformedAlert (the feed counts, logs and skips it): a record
larger than `MAX_RECORD_BYTES`, nested deeper than `MAX_DEPTH` (it would be parsed, then
fail to be encoded for every wall and API answer that shows it), not JSON, or of the
wrong types. The reasons name the field, never its value: they go to the log.

Ahead of the read model. The feed applies the journal's records here as soon as they
are read, before their database transaction (a wall is not kept waiting for the
statistics written beside them), and says when the read model holds them too
(`ahead_of_store`, `stored_to`). `stored` is the last position both have; the API's
read-your-write (`wait_for`) waits for it, since it answers from both, and so does
every read of the API (`Services.caught_up`, at most two seconds): an alert a wall was
shown is one the API knows.

Threading. The hub is not thread-safe: call it from the event loop that serves the
sockets (handlers are `async def` for that reason; tests use the TestClient's portal).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any, Final

from supervisor import orders
from supervisor.lifecycle import CASE_CHANGES
from supervisor.masking import mask_text
from supervisor.orders import ORDER
from supervisor.web.journal import (
    ACTIONS,
    CASE_CHANGE,
    DELIVERY,
    ESCALATION,
    LIFECYCLE,
    SILENCE,
    STATUSES,
    Applied,
    Journal,
    check_accountability,
    kind_of,
)

#: One alert, as the contract's JSON object (contract §3); a resolved one carries its
#: resolution under `RESOLUTION_KEY`.
Alert = dict[str, Any]
#: One resolution, as `supervisor.core.alerts.Resolution.to_dict()` writes it.
Resolution = dict[str, Any]

SEVERITIES: Final = frozenset({"yellow", "red"})
#: The `status` of a resolution message; an alert has no `status` (or any other value).
RESOLVED: Final = "resolved"
#: The key under which the hub shows an alert's resolution.
RESOLUTION_KEY: Final = "resolution"
_FREE_TEXT: Final = ("title", "message", "note", "reason")
#: The largest alerts-topic record decoded, in bytes. An alert, a change or a silence is
#: a few hundred bytes to a few kilobytes; a bigger record would be kept in memory and
#: sent to every wall at every snapshot, so it is refused as malformed.
MAX_RECORD_BYTES: Final = 256 * 1024
#: The deepest nesting of objects and arrays a record may have (an alert's `details`
#: are two or three levels deep). JSON nested hundreds deep still parses, but encoding
#: it again for a wall or an answer exhausts the recursion limit.
MAX_DEPTH: Final = 32
#: The longest `rule_id` accepted: it becomes a Prometheus label value.
RULE_ID_MAX: Final = 128
_REQUIRED_TEXT: Final = ("alert_id", "rule_id", "case_id", "center_id", "title", "message")
_RESOLUTION_TEXT: Final = ("alert_id", "rule_id", "center_id", "reason")

#: Which centers a subscriber or a query may see (a director: their subtree).
Scope = Callable[[str], bool]


def _everything(center_id: str) -> bool:
    return True


#: Default per-client queue length: a wall screen falls this many alerts behind before it
#: is disconnected. Far above any live rate, reached only by a stuck or very slow client
#: (or one connected during a catch-up burst, which then reconnects to a snapshot).
DEFAULT_CLIENT_QUEUE: Final = 256


class MalformedAlert(ValueError):
    """A message that is not an alert (nor a resolution) of the contract; the reason is
    the message."""


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
    if len(obj["rule_id"]) > RULE_ID_MAX:
        raise MalformedAlert(f"'rule_id' is longer than {RULE_ID_MAX} characters")
    severity = obj.get("severity")
    if not isinstance(severity, str) or severity not in SEVERITIES:  # a list is unhashable
        raise MalformedAlert("'severity' must be yellow or red")
    parse_raised_at(obj)
    details = obj.get("details", {})
    if not isinstance(details, dict):
        raise MalformedAlert("'details' must be an object")
    return obj


def is_resolution(obj: Mapping[str, Any]) -> bool:
    """Whether a decoded message is a resolution (`"status": "resolved"`), not an alert."""
    return obj.get("status") == RESOLVED


def validate_resolution(obj: object) -> Resolution:
    """Return `obj` as a resolution if it has the shape of `Resolution.to_dict()`, else
    raise MalformedAlert. Unknown extra keys are kept, as for alerts.

    `case_id` may be empty (a `center.silent` alert concerns a whole center) and is not
    required; `reason` may be empty (the wall then says no reason was given).
    """
    if not isinstance(obj, dict):
        raise MalformedAlert(f"a resolution is a JSON object, not {type(obj).__name__}")
    if not is_resolution(obj):
        raise MalformedAlert("a resolution's 'status' is 'resolved'")
    for key in _RESOLUTION_TEXT:
        if not isinstance(obj.get(key), str):
            raise MalformedAlert(f"resolution {key!r} must be a string")
    if not obj["alert_id"]:
        raise MalformedAlert("resolution 'alert_id' must not be empty")
    if len(obj["rule_id"]) > RULE_ID_MAX:
        raise MalformedAlert(f"resolution 'rule_id' is longer than {RULE_ID_MAX} characters")
    if not isinstance(obj.get("case_id", ""), str):
        raise MalformedAlert("resolution 'case_id' must be a string")
    parse_time(obj, "resolved_at")
    if not isinstance(obj.get("details", {}), dict):
        raise MalformedAlert("resolution 'details' must be an object")
    return obj


def validate_message(obj: object) -> Alert | Resolution:
    """An alert or a resolution (told apart by `status`), validated as such."""
    if isinstance(obj, dict) and is_resolution(obj):
        return validate_resolution(obj)
    return validate_alert(obj)


def validate_lifecycle(obj: dict[str, Any]) -> dict[str, Any]:
    """A lifecycle change as `journal.lifecycle_record` writes it."""
    if not isinstance(obj.get("alert_id"), str) or not obj["alert_id"]:
        raise MalformedAlert("a lifecycle change needs an 'alert_id'")
    if obj.get("action") not in ACTIONS:
        raise MalformedAlert("unknown lifecycle action")
    if not isinstance(obj.get("by"), dict):
        raise MalformedAlert("a lifecycle change says who made it ('by')")
    parse_time(obj, "at")
    if "accountability" in obj:
        try:
            check_accountability(obj["accountability"])
        except ValueError as exc:  # our own words, never the value
            raise MalformedAlert(str(exc)) from None
    return obj


def validate_escalation(obj: dict[str, Any]) -> dict[str, Any]:
    """An escalation step as the notifier writes it (`plan.Escalation.to_record`)."""
    if not isinstance(obj.get("alert_id"), str) or not obj["alert_id"]:
        raise MalformedAlert("an escalation needs an 'alert_id'")
    if not isinstance(obj.get("level"), int) or isinstance(obj.get("level"), bool):
        raise MalformedAlert("an escalation needs an integer 'level'")
    parse_time(obj, "at")
    return obj


def validate_case_change(obj: dict[str, Any]) -> dict[str, Any]:
    """What a case's own events did to one of its alerts, as `CaseChange.to_dict` writes
    it (contract §6)."""
    if not isinstance(obj.get("alert_id"), str) or not obj["alert_id"]:
        raise MalformedAlert("a case change needs an 'alert_id'")
    change = obj.get("change")
    if not isinstance(change, str) or change not in CASE_CHANGES:
        raise MalformedAlert("unknown case change")
    parse_time(obj, "at")
    if change == "concluded_late":
        parse_time(obj, "case_concluded_at")
        late = obj.get("late_working_days")
        if isinstance(late, bool) or not isinstance(late, int | float) or late < 0:
            raise MalformedAlert("'late_working_days' must be a number of working days")
    return obj


def validate_silence(obj: dict[str, Any]) -> dict[str, Any]:
    """A silence's audit record as `supervisor.notify.silences` writes it."""
    if obj.get("action") not in ("create", "lift", "expire"):
        raise MalformedAlert("unknown silence action")
    silence = obj.get("silence")
    if not isinstance(silence, dict) or not isinstance(silence.get("id"), str):
        raise MalformedAlert("a silence record carries the silence, with its 'id'")
    return obj


def validate_record(obj: object) -> dict[str, Any]:
    """Any alerts-topic record: an alert, a worker's resolution or case change, a
    lifecycle change, an escalation step, a delivery, a silence's audit record or a
    supervision order's step."""
    kind = kind_of(obj) if isinstance(obj, dict) else "alert"
    if isinstance(obj, dict) and kind == LIFECYCLE:
        return validate_lifecycle(obj)
    if isinstance(obj, dict) and kind == ESCALATION:
        return validate_escalation(obj)
    if isinstance(obj, dict) and kind == DELIVERY:
        if not isinstance(obj.get("alert_id"), str) or not obj["alert_id"]:
            raise MalformedAlert("a delivery record needs an 'alert_id'")
        parse_time(obj, "at")
        return obj
    if isinstance(obj, dict) and kind == SILENCE:
        return validate_silence(obj)
    if isinstance(obj, dict) and kind == CASE_CHANGE:
        return validate_case_change(obj)
    if isinstance(obj, dict) and kind == ORDER:
        try:
            return orders.validated(obj)
        except ValueError as exc:  # our own words, never the value
            raise MalformedAlert(f"an order record: {exc}") from None
    return validate_message(obj)


def clean_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """An alerts-topic record validated (MalformedAlert otherwise) and with its free
    text masked: what the hub and the read model apply, whoever wrote the record."""
    item = validate_record(dict(record))
    case_id = item.get("case_id")
    kept = (case_id,) if isinstance(case_id, str) else ()  # the case's own id stays readable
    for key in _FREE_TEXT:  # personal data never shown, whoever wrote the record
        if isinstance(item.get(key), str):
            item[key] = mask_text(item[key], keep=kept)
    return item


def parse_raised_at(alert: Mapping[str, Any]) -> datetime:
    """The alert's `raised_at` as an aware datetime; MalformedAlert if absent or naive."""
    return parse_time(alert, "raised_at")


def parse_time(obj: Mapping[str, Any], key: str) -> datetime:
    """`obj[key]` as an aware datetime; MalformedAlert if absent, not ISO 8601 or naive."""
    raw = obj.get(key)
    if not isinstance(raw, str):
        raise MalformedAlert(f"{key!r} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedAlert(f"{key!r} is not ISO 8601") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MalformedAlert(f"{key!r} has no UTC offset")
    return moment


def _load_json(data: bytes | str | None) -> object:
    """The JSON value of a record, within MAX_RECORD_BYTES and MAX_DEPTH."""
    if data is None:
        raise MalformedAlert("empty message (tombstone)")
    if len(data) > MAX_RECORD_BYTES:
        raise MalformedAlert(f"larger than {MAX_RECORD_BYTES} bytes ({len(data)})")
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise MalformedAlert("not JSON: not UTF-8") from None
    except ValueError as exc:  # JSONDecodeError's message gives a position, not the text
        raise MalformedAlert(f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedAlert(f"not JSON: nested deeper than {MAX_DEPTH}") from None
    if depth_exceeds(value, MAX_DEPTH):
        raise MalformedAlert(f"nested deeper than {MAX_DEPTH}")
    return value


def depth_exceeds(value: object, limit: int) -> bool:
    """Whether `value` (decoded JSON) nests objects and arrays deeper than `limit`.
    Iterative, so that it cannot itself run out of stack on what it is meant to catch."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def decode_alert(data: bytes | str | None) -> Alert:
    """Decode one Kafka message value into a validated alert, or raise MalformedAlert."""
    return validate_alert(_load_json(data))


def decode_message(data: bytes | str | None) -> Alert | Resolution:
    """Decode one alerts-topic message: a validated alert or resolution (`is_resolution`
    tells which), or raise MalformedAlert."""
    return validate_message(_load_json(data))


def decode_record(data: bytes | str | None) -> dict[str, Any]:
    """Decode any alerts-topic record (see `validate_record`), or raise MalformedAlert."""
    return validate_record(_load_json(data))


def message_center(message: Mapping[str, Any]) -> str:
    """The center a socket message is about ("" when unknown: only those who see every
    center are told)."""
    about = message.get("alert") or message.get("order") or {}
    return str(about.get("center_id") or "")


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


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

    async def get_many(self, limit: int) -> list[str]:
        """The next message and every one queued behind it, up to `limit`: waits for the
        first only. A socket sends them as one frame (`?batch=1`): each frame costs a
        system call and the framing layers, which 500 walls at 1,000 alerts a second
        cannot afford one by one."""
        texts = [await self.get()]
        while len(texts) < limit and not self._queue.empty():
            text = self._queue.get_nowait()
            if text is None:  # end() queued it: send what came before, then stop
                self._queue.put_nowait(None)
                break
            texts.append(text)
        return texts

    def _raise_if_ended(self) -> None:
        if self._ended is not None:
            # A fresh exception each time, so tracebacks do not pile up on one object.
            raise SubscriptionEnded(self._ended.reason, overflowed=self._ended.overflowed)


class AlertHub:
    """The alert journal in memory, and the sockets that follow it.

    `capacity` is how many alerts a wall's snapshot holds (settings.wall_recent);
    `client_queue` how many messages one socket may fall behind before it is
    disconnected; `keep` and `replayable` bound the journal (see journal.py). Each
    subscriber has a scope (a predicate on center ids): a director's socket is never
    offered another center's alert.
    """

    def __init__(
        self,
        capacity: int,
        *,
        client_queue: int = DEFAULT_CLIENT_QUEUE,
        keep: int = 100_000,
        replayable: int = 10_000,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        if client_queue < 1:
            raise ValueError(f"client_queue must be at least 1, not {client_queue}")
        self.capacity = capacity
        self.client_queue = client_queue
        self.journal = Journal(keep=max(keep, capacity), replayable=replayable)
        self._subscribers: dict[Subscription, Scope] = {}
        self._advanced = asyncio.Event()
        #: the first position applied here and not yet held by the read model, if any
        self._unstored: int | None = None

    def __len__(self) -> int:
        return len(self.journal)

    def __contains__(self, alert_id: object) -> bool:
        return isinstance(alert_id, str) and self.journal.get(alert_id) is not None

    @property
    def head(self) -> int:
        """The last journal position applied (-1 before the first)."""
        return self.journal.head

    @property
    def stored(self) -> int:
        """The last position applied here and held by the read model too."""
        return self.head if self._unstored is None else self._unstored - 1

    def ahead_of_store(self, seq: int) -> None:
        """Positions from `seq` on are about to be applied before the read model has
        them (`stored_to` says when it does)."""
        if self._unstored is None and seq > self.head:
            self._unstored = seq

    def stored_to(self, seq: int) -> None:
        """The read model holds every position up to `seq`."""
        if self._unstored is not None and seq >= self._unstored:
            self._unstored = None if seq >= self.head else seq + 1
        self._wake()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def resolved_count(self) -> int:
        """Alerts no longer open: resolved by people or withdrawn."""
        still_open = self.journal.open_alerts(_everything).values()
        return len(self.journal) - sum(sum(counts.values()) for counts in still_open)

    def apply(self, seq: int, record: Mapping[str, Any]) -> Applied:
        """Apply the alerts-topic record at position `seq` and broadcast what it changed.

        Raises MalformedAlert for a record that is neither an alert, a resolution nor a
        lifecycle change; never waits (see the module docstring for slow subscribers)."""
        applied = self.journal.apply(seq, clean_record(record))
        if applied.message is not None:
            center = message_center(applied.message)
            text = _dumps(applied.message)
            for subscription, visible in self._subscribers.items():
                if visible(center):
                    subscription.offer(text)
        self._wake()
        return applied

    def _wake(self) -> None:
        """Tell `wait_for` that a position moved."""
        self._advanced.set()
        self._advanced = asyncio.Event()

    def publish(self, alert: Mapping[str, Any]) -> bool:
        """Apply an alert at the next position (tests and tools without Kafka)."""
        return self.apply(self.head + 1, alert).message is not None

    def resolve(self, resolution: Mapping[str, Any]) -> bool:
        """Apply a worker's resolution at the next position (as `publish`)."""
        return self.apply(self.head + 1, resolution).message is not None

    async def wait_for(self, seq: int, timeout: float) -> bool:
        """Wait until position `seq` has been applied here and stored in the read model
        (a change the API wrote is read back before the API answers); False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.stored < seq:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), left)
        return True

    def recent(
        self,
        *,
        limit: int | None = None,
        severity: str | None = None,
        center_id: str | None = None,
        status: str | None = None,
        visible: Scope = _everything,
    ) -> list[Alert]:
        """Alerts as shown (with their status), newest first by raised_at, filtered."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        entries = self.journal.select(
            visible=visible,
            centers=None if center_id is None else (lambda code: code == center_id),
            severity=severity,
            status=status,
            limit=limit,
        )
        return [entry.view() for entry in entries[:limit]]

    def snapshot(self, visible: Scope = _everything) -> str:
        """The first message on a socket: the newest `capacity` alerts in scope and the
        position they stand at."""
        alerts = self.recent(limit=self.capacity, visible=visible)
        return _dumps({"type": "snapshot", "seq": self.head, "alerts": alerts})

    def missed(self, after: int, visible: Scope = _everything) -> list[str] | None:
        """The messages after position `after`, encoded, or None (too old: snapshot)."""
        messages = self.journal.since(after, visible)
        return None if messages is None else [_dumps(m) for m in messages]

    def subscribe(self, visible: Scope = _everything) -> Subscription:
        """A new subscriber that receives every message in scope from now on.

        Take the snapshot (or `missed`) right after subscribing, with no `await`
        between: then nothing falls between it and the live messages.
        """
        subscription = Subscription(self.client_queue)
        self._subscribers[subscription] = visible
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)

    def close(self, reason: str = "server shutting down") -> None:
        """End every subscription (at shutdown) so their handlers return."""
        for subscription in self._subscribers:
            subscription.end(reason)
        self._subscribers.clear()
