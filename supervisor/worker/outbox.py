"""Alerts handed to the producer and not yet acknowledged, written down with the case.

Why: the worker used to wait for the broker to acknowledge a message's alerts before
writing the case state that records them (a state saying "fired" with the alert lost in
a crash would never raise it again: the re-delivered event is a duplicate). That wait
is a produce round trip per alert-raising event, behind the changelog and facts messages
of the events before it (~6 ms here): the agent raised ~160 alerts a second at most,
and an event → alert latency at 1,000 events/s was the queue that built up.

Now the agent hands the alerts to the producer and writes the state at once, with the
alerts not yet acknowledged beside it in the stored value (`UNACKNOWLEDGED`). So
whenever the state is in the changelog, so are its unacknowledged alerts: a worker that
recovers the case (a restart, or another worker after a rebalance) sends them again
(`Outbox.recovered`). Once every alert of a case is acknowledged, the agent writes the
value again without them (`settled`, from inside stream iteration: Faust writes a table
only there; a partition with nothing to read is sent an empty tick to get there), so a
later recovery does not send them again. Offsets stay safe as before: Faust flushes the
producer before it commits an offset, so an event is never committed before its alerts
and state were delivered, or found undeliverable.

What it costs: at most one more changelog write per alert-raising event, and copies of
an alert after a crash (consumers de-duplicate by `alert_id`, as they always had to: the
topic is at least once). Alerts and resolutions of one case go out in the order they
were raised; one the producer failed to deliver (the broker away longer than its
delivery timeout) is sent again every `retry` call until it is acknowledged, and stays
written down with its case meanwhile, so a crash does not lose it either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("supervisor.worker.outbox")

#: The key of the stored value (beside the state's own fields) that lists the alert and
#: resolution messages of the case not yet acknowledged by the broker.
UNACKNOWLEDGED = "unacknowledged"
#: Ids acknowledged in this process, remembered so that a recovery does not send them
#: again (bounded: older ones are merely sent again, harmlessly).
CONFIRMED_MAX = 100_000

Document = dict[str, Any]
#: Hands (key, value) to the producer; returns what completes on acknowledgement (for
#: Faust, a FutureMessage: an asyncio future).
Send = Callable[[bytes, bytes], Awaitable[Awaitable[Any]]]
#: Called once a message is acknowledged (metrics, logs).
Delivered = Callable[[], None]


def overdue(
    since: Mapping[int, float], nudged: dict[int, float], older_than: float, now: float | None
) -> list[int]:
    """The partitions waiting `older_than` seconds or more since `since[partition]`
    (monotonic), each returned once per `older_than` (`nudged` remembers when): those a
    timer sends an empty tick, for a write only a message of the partition can make."""
    now = time.monotonic() if now is None else now
    due = []
    for partition, began in since.items():
        if now - began >= older_than and now - nudged.get(partition, -1e18) >= older_than:
            nudged[partition] = now
            due.append(partition)
    return due


def split(stored: dict[str, Any]) -> tuple[dict[str, Any], list[Document]]:
    """The state's JSON and the unacknowledged messages of a stored value (the value
    itself is not changed: a memory store hands out what it keeps)."""
    if UNACKNOWLEDGED not in stored:
        return stored, []
    state = {key: value for key, value in stored.items() if key != UNACKNOWLEDGED}
    documents = stored[UNACKNOWLEDGED]
    if not isinstance(documents, list):
        return state, []
    return state, [document for document in documents if isinstance(document, dict)]


def identity(document: Document) -> tuple[str, str]:
    """An alert and its resolution share the alert_id: the status tells them apart."""
    return str(document.get("alert_id")), str(document.get("status", "raised"))


def encode(document: Document) -> tuple[bytes, bytes]:
    """Kafka key and value of an alert or resolution message (as the contract's alert
    format: UTF-8 JSON, keyed by alert_id); the same bytes when sent again, also from
    the table (orjson both ways: json_table.py)."""
    body = orjson.dumps(document)
    return str(document["alert_id"]).encode(), body


@dataclass(eq=False)
class _Message:
    case_id: str
    document: Document
    delivered: Delivered | None
    failed: bool = False
    future: asyncio.Future[Any] | None = None


class Outbox:
    """The alert messages of each case handed to the producer and not yet acknowledged,
    and the cases whose stored value must be written again without them."""

    def __init__(self, send: Send, sent_again: Callable[[str, int], None] | None = None) -> None:
        """`sent_again(reason, count)` is told of messages sent again: "failed" or
        "recovered" (for the metrics)."""
        self._send = send
        self._sent_again = sent_again or (lambda reason, count: None)
        self._unacked: dict[str, list[_Message]] = {}  # case_id -> in the order sent
        self._failed: list[_Message] = []
        # case_id -> (partition, state JSON) of a value stored with unacknowledged messages
        self._written: dict[str, tuple[int, dict[str, Any]]] = {}
        # partition -> case ids whose stored value lists only acknowledged messages
        self._settled: dict[int, dict[str, None]] = {}
        self._settled_since: dict[int, float] = {}  # monotonic
        self._nudged: dict[int, float] = {}
        self._confirmed: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __len__(self) -> int:
        """Messages handed to the producer and not acknowledged yet."""
        return sum(len(messages) for messages in self._unacked.values())

    async def send(
        self, case_id: str, messages: Iterable[tuple[Document, Delivered | None]]
    ) -> None:
        """Hand the case's messages to the producer, in order, without waiting for the
        acknowledgement; `stored` then lists them with the case until it comes."""
        for document, delivered in messages:
            message = _Message(case_id, document, delivered)
            self._unacked.setdefault(case_id, []).append(message)
            await self._dispatch(message)

    async def _dispatch(self, message: _Message) -> None:
        try:
            key, value = encode(message.document)
            pending = await self._send(key, value)
        except Exception as exc:  # the producer refused it at once: try again later
            self._fail(message, exc)
            return
        message.future = asyncio.ensure_future(pending)
        message.future.add_done_callback(lambda done: self._done(message, done))

    def _done(self, message: _Message, done: asyncio.Future[Any]) -> None:
        error: BaseException | None = None
        if done.cancelled():
            error = asyncio.CancelledError()
        elif done.exception() is not None:
            error = done.exception()
        if error is not None:
            self._fail(message, error)
            return
        messages = self._unacked.get(message.case_id, [])
        if message in messages:
            messages.remove(message)
        if not messages:
            self._unacked.pop(message.case_id, None)
            self._settle(message.case_id)
        self._confirm(identity(message.document))
        if message.delivered is not None:
            try:
                message.delivered()
            except Exception:  # metrics or a log line must not lose the acknowledgement
                log.exception("after the acknowledgement of %s", message.document.get("alert_id"))

    def _fail(self, message: _Message, error: BaseException) -> None:
        if not message.failed:  # counted and logged once; sent again until acknowledged
            message.failed = True
            log.error(
                "alert message %s of case %s not delivered (%r): kept with the case and sent again",
                message.document.get("alert_id"),
                message.case_id,
                error,
            )
        self._failed.append(message)

    def _confirm(self, ident: tuple[str, str]) -> None:
        self._confirmed[ident] = None
        self._confirmed.move_to_end(ident)
        while len(self._confirmed) > CONFIRMED_MAX:
            self._confirmed.popitem(last=False)

    def _settle(self, case_id: str) -> None:
        written = self._written.get(case_id)
        if written is None:
            return
        partition = written[0]
        self._settled.setdefault(partition, {})[case_id] = None
        self._settled_since.setdefault(partition, time.monotonic())

    async def acknowledged(self, case_ids: Iterable[str], timeout: float | None = None) -> None:
        """Wait until the messages of these cases handed to the producer so far are
        acknowledged or failed (at most `timeout` seconds). For a batch: one round trip
        for the whole batch costs less than writing each case twice (with, then without
        them)."""
        futures = [
            message.future
            for case_id in case_ids
            for message in self._unacked.get(case_id, [])
            if message.future is not None and not message.future.done()
        ]
        if futures:
            await asyncio.wait(futures, timeout=timeout)

    def unacknowledged(self, case_id: str) -> list[Document]:
        return [message.document for message in self._unacked.get(case_id, [])]

    def stored(self, case_id: str, partition: int, state: dict[str, Any]) -> dict[str, Any]:
        """The value to write for the case (its state's JSON, `state`, on `partition`):
        with its unacknowledged messages, if any; remembered so that it is written again
        without them once they are acknowledged."""
        documents = self.unacknowledged(case_id)
        settled = self._settled.get(partition)
        if settled is not None:
            settled.pop(case_id, None)
        if not documents:
            self._written.pop(case_id, None)
            return state
        self._written[case_id] = (partition, state)
        return {**state, UNACKNOWLEDGED: documents}

    def settled(self, partition: int) -> list[tuple[str, dict[str, Any]]]:
        """The cases of `partition` to write again, without their messages now all
        acknowledged: (case_id, state JSON). Called inside stream iteration of that
        partition, where the table may be written."""
        cases = self._settled.pop(partition, None)
        self._settled_since.pop(partition, None)
        if not cases:
            return []
        values = []
        for case_id in cases:
            written = self._written.pop(case_id, None)
            if written is not None and not self._unacked.get(case_id):
                values.append((case_id, written[1]))
        return values

    def waiting(self, older_than: float, now: float | None = None) -> list[int]:
        """Partitions whose settled cases have waited `older_than` seconds for a message
        of the partition to write them in (each returned once per `older_than`): the
        caller sends them an empty tick."""
        return overdue(self._settled_since, self._nudged, older_than, now)

    def revoked(self, partitions: Iterable[int]) -> None:
        """Partitions handed to another worker: their values are no longer ours to write
        (the new owner sends their messages again at its recovery, if still listed)."""
        gone = set(partitions)
        for partition in gone:
            self._settled.pop(partition, None)
            self._settled_since.pop(partition, None)
        for case_id in [c for c, (p, _) in self._written.items() if p in gone]:
            del self._written[case_id]

    async def recovered(self, case_id: str, documents: list[Document]) -> int:
        """A recovered case's stored messages that this process has not seen
        acknowledged, sent again (their copies may be on the topic already: consumers
        de-duplicate by alert_id). The stored value keeps them until the case is next
        written. Returns how many were sent."""
        pending = {identity(message.document) for message in self._unacked.get(case_id, [])}
        again = [
            document
            for document in documents
            if identity(document) not in self._confirmed and identity(document) not in pending
        ]
        if again:
            self._sent_again("recovered", len(again))
        await self.send(case_id, [(document, None) for document in again])
        return len(again)

    async def retry(self) -> int:
        """Send again what the producer failed to deliver, in the order it was sent."""
        failed, self._failed = self._failed, []
        again = [m for m in failed if m in self._unacked.get(m.case_id, [])]
        if again:
            self._sent_again("failed", len(again))
        for message in again:
            await self._dispatch(message)
        return len(again)
