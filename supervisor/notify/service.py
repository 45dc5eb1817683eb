"""`supervisor notify`: the notification service.

It reads the alert journal (the alerts topic: one partition, offsets are positions, see
supervisor/web/journal.py) in order, feeds the pure `Planner` (plan.py), delivers the
notifications it makes through the recipients' channels (webhook.py, email.py) with
retries (retry.py), writes each escalation step back to the journal (so the wall and the
alert's history show it), and gives up on a delivery after its retry budget with a
dead-letter record on `<app_id>-notifications.dlq` that ops list and replay
(`supervisor notify dead-letters`, `supervisor notify replay-dead-letter KEY`).

Why plain aiokafka and a compacted state topic, not a Faust app with tables:

- the journal has one partition and one reader must apply it in order; Faust's unit of
  ownership (a table co-partitioned with its source topic) buys nothing here, and its
  tables cannot be written from a timer (shared notes), while most of this service's
  work is timed: digests, repeats and escalations fall due, retries come back;
- the state is two kinds of record, both JSON, in `<app_id>-notify-state` (1 partition,
  `cleanup.policy=compact`): `planner` (the `NotifyState`, whose `head` is the last journal
  position applied: where to resume) and `out:<notification id>|<channel>` (one delivery:
  the notification, its status and its attempts; `outbox.Pending`). The active notifier
  reads the topic to its end before it does anything, then follows it (that is how a
  replay from the CLI arrives). Each record it writes there carries its writer id in a
  Kafka header (`outbox.WRITER_HEADER`): following the topic, it skips its own records;
- so what a restart needs is exactly what is written, in this order, each write
  acknowledged by the broker (acks=all) before the next step: (1) the new deliveries,
  (2) the escalation records on the journal, (3) the planner state with its new head.
  A crash between them makes the journal records after the saved head be applied again:
  the planner is deterministic, so it makes the same notification ids, and a delivery
  whose key is already in the outbox is not made twice. An escalation record can then
  be written twice (the planner, reading its own record back, ignores the second; a
  reader of the journal sees the same step twice, with the same notification id).
- the new deliveries enter the outbox before they are written (nothing is awaited between
  the planner's outcome and that), marked unsaved until the broker has them: the delivery
  loop does not attempt one before it is saved, and the follower of the state topic finds
  each in the outbox already, besides skipping it as our own. (Before, `commit` waited for
  the broker first; the follower read the new records back meanwhile, took them for
  dead-letter replays and put copies in the outbox: deliveries sent twice.)
- a delivery is saved after each attempt. A crash after an attempt but before its
  record is saved repeats that attempt, with the same idempotency key (the webhook's
  `Idempotency-Key`, the email's `Message-ID`): at-least-once delivery, at most the
  attempts in flight (`SUPERVISOR_NOTIFY_CONCURRENCY`) repeated per crash.

- any record of either topic may be one nobody should have written (not JSON, nested too
  deep, too large, of the wrong shape, an instant in year 9999, an unknown kind): each is
  checked (records.py) and, when it cannot be trusted, skipped: counted in
  `supervisor_notify_records_skipped_total{source, reason}`, logged with its topic,
  partition and offset (never its value), and the position moves past it. An exception
  the planner raises on a record (a bug) skips that record the same way (`error`). One
  record must not stop the notifier: read again from the same position, it would stop
  it at every restart.

Several notifiers, one active (high availability). Two notifiers sending would send
everything twice, so however many run, one is active:

- each joins the consumer group `<app_id>-notify` on `<app_id>-notify-control`, a topic
  of one partition on which nothing is written. Whoever the group assigns that partition
  to is active; the others stand by: they answer /metrics and /healthz, hold no state and
  send nothing. The sticky assignor keeps the partition where it is when a notifier joins.
- when the active one dies, the group coordinator notices after SESSION_TIMEOUT_MS
  without a heartbeat and gives the partition to a standby, which reads the state topic
  to its end (the outbox, and the planner state with its journal position) before it
  sends anything, then follows the journal from the saved position. An active notifier
  that is stopped (SIGTERM) hands over at once: it stops sending, lets its attempts in
  flight finish and save their outcome (DRAIN_SECONDS), and leaves the group.
- in a rebalance (a notifier joins or leaves) the active one gives up its role before
  the group assigns the partition anew (`on_partitions_revoked`, which the group waits
  for), the same way, and takes it up again, from the state topic, if it is chosen again.
- fencing a notifier that was paused (SIGSTOP, a frozen VM, a debugger) rather than dead,
  and whose partition went to another one meanwhile: it sends only under a lease. The
  lease lasts LEASE_SECONDS from the moment it asked the coordinator whether it still
  holds the partition (an offset commit on the control partition, with its member id and
  generation, which the coordinator refuses once the group has moved on, or while it
  rebalances). It is renewed before each batch of attempts and before the outcome of
  journal records is written, and checked, without waiting, right before each attempt.
  Since the partition cannot go to another notifier before this one has been silent for
  SESSION_TIMEOUT_MS (three times the lease), a notifier that comes back from a pause
  finds its lease expired, asks, is refused and sends nothing. What remains (the window):
  an attempt that had passed its check when the process froze (its request about to
  leave, or half sent) goes out when it resumes, possibly after the new active notifier
  sent the same notification: at most SUPERVISOR_NOTIFY_CONCURRENCY attempts, each with
  its idempotency key. The broker does not fence writes (no transactions): the resumed
  notifier still saves the outcome of those attempts, and the active one takes a finished
  outcome of a delivery it has not attempted yet (`outbox.followed`).

Stopping (SIGTERM, SIGINT) takes at most STOP_SECONDS whatever the broker does, even when
it does not answer: each step is bounded (attempts in flight, the producer's flush, the
group's goodbye), and a watchdog ends the process by force at HARD_STOP_SECONDS. What a
bound cuts short is not lost: the state topic holds what the broker acknowledged, the
journal records after the saved position are applied again, and an attempt cut short is
made again with the same idempotency key. A notifier started before its broker answers
waits for it (`/healthz` 503) rather than exiting.

On a first start with no saved state the notifier starts at the journal's end
(`SUPERVISOR_NOTIFY_START=end`; `beginning` notifies the journal's history). Time comes
from an injected clock (`--clock-start`, as the worker's), which tests use to drive
escalations in office hours; the webhook signature and the email's Date carry the real
time (a receiver checks the signature's timestamp against its own clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from supervisor.core.calendar import CalendarBook
from supervisor.kafka.admin import ensure_topics
from supervisor.masking import mask_text
from supervisor.notify import records as rec
from supervisor.notify.email import send_email
from supervisor.notify.metrics import NotifyMetrics
from supervisor.notify.outbox import (
    OUT_PREFIX,
    PLANNER_KEY,
    REPLAY_WRITER,
    WRITER_HEADER,
    Pending,
    Restored,
    followed,
    pending_for,
    prunable,
    read_pending,
    restore,
)
from supervisor.notify.plan import Notification, NotifyState, Outcome, Planner
from supervisor.notify.records import BadRecord, Reason, Source
from supervisor.notify.retry import Delivery, RetryPolicy
from supervisor.notify.retry import Outcome as Result
from supervisor.notify.routing import known_rule_ids, load_routing
from supervisor.notify.texts import Message, render
from supervisor.notify.webhook import send_webhook
from supervisor.settings import Settings, secret_from_env
from supervisor.shutdown import ShutdownDeadline

log = logging.getLogger("supervisor.notify")

Clock = Callable[[], datetime]
_T = TypeVar("_T")
#: Seconds between two looks at the outbox for deliveries that fell due.
DELIVERY_POLL: Final = 0.2
#: Seconds between two prunings of finished deliveries.
PRUNE_EVERY: Final = 60.0
#: The group of notifiers (see the module's docstring). 6 s is the least session a broker
#: accepts by default (group.min.session.timeout.ms): a dead active notifier is replaced
#: within about SESSION_TIMEOUT_MS + a rebalance + reading the state topic. A heartbeat a
#: second; a rebalance waits up to REBALANCE_TIMEOUT_MS for the members (the active one
#: drains its attempts in flight meanwhile, DRAIN_SECONDS).
SESSION_TIMEOUT_MS: Final = 6000
HEARTBEAT_INTERVAL_MS: Final = 1000
REBALANCE_TIMEOUT_MS: Final = 10000
#: How long a confirmation that this notifier holds the control partition lets it send:
#: well under the session, so that a notifier paused long enough to lose the partition
#: comes back with its lease expired. Renewed when less than half of it is left.
LEASE_SECONDS: Final = 2.0
#: Seconds between two requests for the lease while the coordinator does not grant it.
LEASE_RETRY: Final = 0.5
#: Seconds the attempts in flight have to finish and save their outcome when the notifier
#: gives up its active role (a rebalance, a stop); what is left is attempted again, with
#: the same idempotency key, by whoever is active next.
DRAIN_SECONDS: Final = 3.0
#: A stop ends within STOP_SECONDS (each step bounded); past HARD_STOP_SECONDS after the
#: signal, the process is ended by force (a step that ignored its bound).
STOP_SECONDS: Final = 7.0
HARD_STOP_SECONDS: Final = 9.0
#: Seconds between two attempts to reach a broker that does not answer at start.
START_RETRY_SECONDS: Final = 2.0
#: What a notifier is doing, as /healthz says: `starting` (connecting, joining the group,
#: or between two roles in a rebalance), `standby`, `activating` (reading the state topic
#: after it was given the control partition), `active`.
Role = Literal["starting", "standby", "activating", "active"]


def state_topic(settings: Settings) -> str:
    return f"{settings.app_id}-notify-state"


def control_topic(settings: Settings) -> str:
    """The topic whose one partition makes a notifier active: nothing is written to it;
    the consumer group `group_id` assigns its partition to one notifier at a time."""
    return f"{settings.app_id}-notify-control"


def group_id(settings: Settings) -> str:
    """The consumer group every notifier of a deployment joins on `control_topic`."""
    return f"{settings.app_id}-notify"


def dlq_topic(settings: Settings) -> str:
    return settings.notify_topic_dlq or f"{settings.app_id}-notifications.dlq"


def wall_clock(zone: str) -> Clock:
    tz = ZoneInfo(zone)
    return lambda: datetime.now(tz)


def shifted_clock(start: datetime) -> Clock:
    """A clock that reads `start` now and advances in real time from there."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=settings.notify_retry_base_seconds,
        cap=max(settings.notify_retry_cap_seconds, settings.notify_retry_base_seconds),
        max_attempts=settings.notify_retry_max_attempts,
        budget=timedelta(seconds=settings.notify_retry_budget_seconds),
    )


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def payload(notification: Notification, message: Message) -> dict[str, Any]:
    """The webhook's JSON body: the notification's data, its zh-CN subject and text, and
    the alerts with every free text masked."""
    step = notification.escalation
    return {
        "id": notification.id,
        "kind": notification.kind,
        "severity": notification.severity,
        "center_id": notification.center_id,
        "recipient": {
            "id": notification.recipient.id,
            "name": notification.recipient.name,
            "role": notification.recipient.role,
        },
        "subject": message.subject,
        "text": message.text(),
        "due_at": notification.due_at.isoformat(),
        "repeat": notification.repeat,
        "escalation": step.model_dump(mode="json") if step is not None else None,
        "alerts": [
            {  # the alert's own case id kept readable (masking.mask_text)
                key: mask_text(value, keep=(alert.case_id,)) if isinstance(value, str) else value
                for key, value in alert.model_dump(mode="json").items()
            }
            for alert in notification.alerts
        ],
    }


# -- topics and the state topic --------------------------------------------------------


async def ensure_notify_topics(settings: Settings) -> None:
    """The state topic (compacted), the control topic, the dead-letter topic and the
    journal (1 partition each; an existing topic is left alone)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if state_topic(settings) not in existing:
            topic = NewTopic(
                state_topic(settings),
                1,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"},
            )
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([topic])
    finally:
        await admin.close()
    await ensure_topics(
        settings.bootstrap_servers,
        {
            state_topic(settings): 1,
            control_topic(settings): 1,
            dlq_topic(settings): 1,
            settings.topic_alerts: 1,
        },
        replication_factor=settings.replication_factor,
    )


async def read_topic(bootstrap: str, topic: str) -> tuple[list[tuple[str, bytes | None, int]], int]:
    """Every (key, value as stored, offset) of a one-partition topic, in order, up to its
    end when asked; and that end offset. Values are left for the caller to decode: a
    record that is not JSON is the caller's to skip, not a reason to fail the read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    part = TopicPartition(topic, 0)
    found: list[tuple[str, bytes | None, int]] = []
    try:
        consumer.assign([part])
        end = (await consumer.end_offsets([part]))[part]
        await consumer.seek_to_beginning(part)
        while await consumer.position(part) < end:
            batch = await consumer.getmany(part, timeout_ms=500)
            for record in batch.get(part, []):
                key = (record.key or b"").decode("utf-8", "replace")
                found.append((key, record.value, record.offset))
    finally:
        await consumer.stop()
    return found, end


async def load_state(settings: Settings) -> tuple[Restored, int]:
    """The state topic read back (`outbox.restore`: the saved planner state, None when
    never saved, the outbox, what was skipped) and its end."""
    records, end = await read_topic(settings.bootstrap_servers, state_topic(settings))
    return restore(records), end


# -- the service -----------------------------------------------------------------------


async def _bounded(work: Awaitable[Any], seconds: float, what: str) -> None:
    """Await `work` for at most `seconds`; a failure or a timeout is logged, not raised:
    for the steps of a stop, each of which must not hold up the next."""
    try:
        await asyncio.wait_for(work, seconds)
    except TimeoutError:
        log.warning("%s: not done within %.1f s; going on", what, seconds)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this stop itself is cancelled
        # a client's own task cancelled inside its stop (aiokafka's fetcher, when the
        # broker is gone, lets that escape): a failed step, not ours to end on
        log.warning("%s was cut short", what)
    except Exception as exc:
        log.warning("%s failed: %s", what, exc)


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a finished task's outcome as seen (whoever awaited it may have gone)."""
    if not done.cancelled():
        done.exception()


def _writer_of(record: ConsumerRecord[Any, Any]) -> str | None:
    """The writer id a state-topic record carries in its header (None: none, e.g. a
    record of a notifier of an earlier version)."""
    for name, value in record.headers or ():
        if name == WRITER_HEADER:
            return bytes(value).decode("utf-8", "replace")
    return None


class _Handover(ConsumerRebalanceListener):  # type: ignore[misc]
    """The group's rebalances, told to the notifier: the control partition given to it
    (it becomes active) or taken (it gives up its role before the group goes on)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.notifier.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.notifier.on_assigned(assigned)


class Notifier:
    """One notifier process: its place in the group (active or standby) and, while
    active, the journal follower, the delivery loop and the state-topic follower; the
    health page either way."""

    def __init__(
        self,
        settings: Settings,
        planner: Planner,
        *,
        clock: Clock,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.planner = planner
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = NotifyMetrics.create(self.registry)
        self.policy = retry_policy(settings)
        self.rng = rng or random.Random()
        #: Who wrote a state-topic record (its `writer` header): this process, uniquely.
        self.writer = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.state = NotifyState()
        self.outbox: dict[str, Pending] = {}
        self.role: Role = "starting"
        #: True while this notifier holds the control partition and has read the state
        #: topic: it may send (under its lease, `_holds_lease`).
        self.active = False
        self.stopping = asyncio.Event()
        self._in_flight: set[str] = set()  # keys being attempted
        self._unsaved: set[str] = set()  # keys in the outbox not yet acknowledged by the broker
        self._deliveries: set[asyncio.Task[None]] = set()
        self._activation: asyncio.Task[None] | None = None
        self._activated_at = 0.0
        self._lease_until = 0.0  # time.monotonic(): may send until then
        self._refused = False  # the last request for the lease was refused (logged once)
        self._confirming: asyncio.Future[None] | None = None  # that request, while unanswered
        self._confirm_sent: float | None = None  # time.monotonic() when it was sent
        self._lease_lock = asyncio.Lock()
        self._role_lock = asyncio.Lock()
        self._producer: AIOKafkaProducer | None = None
        self._control: AIOKafkaConsumer | None = None
        self._journal: AIOKafkaConsumer | None = None
        self._tail: AIOKafkaConsumer | None = None
        self._http: httpx.AsyncClient | None = None

    @property
    def ready(self) -> bool:
        """Settled in a role: active with its state read, or standing by."""
        return self.role in ("active", "standby")

    # -- start and stop -----------------------------------------------------------------

    async def connect(self) -> bool:
        """`start`, again every START_RETRY_SECONDS while the broker does not answer (a
        notifier started before its broker waits for it, rather than exiting); False
        when asked to stop first."""
        while not self.stopping.is_set():
            try:
                if await self._unless_stopping(self.start()):
                    return True
            except Exception as exc:
                log.warning(
                    "cannot reach Kafka at %s (%s); trying again in %.0f s",
                    self.settings.bootstrap_servers,
                    exc or type(exc).__name__,
                    START_RETRY_SECONDS,
                )
            await self._close_clients()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), START_RETRY_SECONDS)
        return False

    async def _unless_stopping(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` until it ends (True; its error raised) or `stopping` is set first
        (False: `work` is cancelled)."""
        task = asyncio.create_task(work)
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        await _bounded(asyncio.gather(task, return_exceptions=True), 1.0, "cancelling the start")
        return False

    async def start(self) -> None:
        """The topics, the producer, the HTTP client, and a place in the group: the role
        follows from the group's assignment (`on_assigned`)."""
        s = self.settings
        await ensure_notify_topics(s)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await self._producer.start()
        self._http = httpx.AsyncClient(
            timeout=s.notify_timeout_seconds, follow_redirects=False, trust_env=False
        )
        self._control = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=group_id(s),
            client_id=f"supervisor-notify-{self.writer}",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            partition_assignment_strategy=(StickyPartitionAssignor,),
        )
        await self._control.start()
        self._control.subscribe([control_topic(s)], listener=_Handover(self))
        log.info("joining the group %s as %s", group_id(s), self.writer)

    async def run(self) -> None:
        """Until `stopping` is set: stay in the group (the control consumer must poll to
        stay a member); the active role starts and stops with the partition."""
        control = asyncio.create_task(self._guard(self._poll_control), name="control")
        try:
            await self.stopping.wait()
        finally:
            control.cancel()
            await asyncio.gather(control, return_exceptions=True)

    async def _poll_control(self) -> None:
        assert self._control is not None
        while True:
            await self._control.getmany(timeout_ms=1000)  # nothing is written there

    async def stop(self) -> None:
        """Hand over and disconnect, within STOP_SECONDS whatever the broker does: stop
        sending and drain the attempts in flight (`_deactivate`), then flush the
        producer and leave the group (a standby takes over at once, without waiting for
        the session to expire)."""
        await _bounded(self._deactivate(DRAIN_SECONDS), DRAIN_SECONDS + 2.0, "handing over")
        await self._close_clients()

    async def _close_clients(self) -> None:
        """Stop the producer, the control consumer and the HTTP client, each bounded."""
        producer, control, http = self._producer, self._control, self._http
        self._producer = self._control = self._http = None
        steps = []
        if producer is not None:
            steps.append(_bounded(producer.stop(), 2.0, "flushing the producer"))
        if control is not None:
            steps.append(_bounded(control.stop(), 2.0, "leaving the group"))
        if http is not None:
            steps.append(_bounded(http.aclose(), 1.0, "closing the HTTP client"))
        await asyncio.gather(*steps)

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run one loop; an unexpected error stops the process (a restart resumes from the
        saved state, another notifier takes over meanwhile) rather than leaving it half
        working."""
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the notifier's %s failed; stopping", getattr(loop, "__name__", loop))
            self.stopping.set()

    # -- the role: active or standby ----------------------------------------------------

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """The group's new assignment: with the control partition, become active (in a
        task of its own: the group's heartbeats wait while this callback runs); without
        it, stand by."""
        self._tell_the_assignor_the_generation()
        if TopicPartition(control_topic(self.settings), 0) in assigned:
            if self._activation is not None or self.stopping.is_set():
                return  # not revoked first: the role goes on; or leaving anyway
            self.role = "activating"
            self._activation = asyncio.create_task(self._guard(self._activate), name="active")
        else:
            self.role = "standby"
            log.info("standing by: another notifier is active")

    def _tell_the_assignor_the_generation(self) -> None:
        """aiokafka gives the sticky assignor the partitions it got but not the group's
        generation it got them in (kafka-python does both). Without it, every claim to
        the control partition is of the same generation, and a notifier back from a pause
        would claim it as strongly as the one that took it over meanwhile, and might get
        it back (a needless handover): with it, the later claim wins."""
        coordinator = getattr(self._control, "_coordinator", None)
        generation = getattr(coordinator, "generation", None)
        if isinstance(generation, int) and generation >= 0:
            StickyPartitionAssignor.on_generation_assignment(generation)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """A rebalance begins: give up the active role (if held) before the group goes
        on, so that the next active notifier starts after this one stopped sending."""
        await self._deactivate(DRAIN_SECONDS)
        if not self.stopping.is_set():
            self.role = "starting"

    async def _activate(self) -> None:
        """The active role: read the state topic to its end, then follow the journal,
        deliver and follow the state topic until the role is taken away (cancelled)."""
        started = time.monotonic()
        await self._restore()
        self.active = True
        self.role = "active"
        self._activated_at = time.monotonic()
        self.metrics.active.set(1)
        log.info(
            "active (writer %s): state read in %.1f s, journal position %d, "
            "%d deliveries (%d pending)",
            self.writer,
            self._activated_at - started,
            self.state.head,
            len(self.outbox),
            sum(1 for e in self.outbox.values() if e.status == "pending"),
        )
        await asyncio.gather(
            self._guard(self.follow_journal),
            self._guard(self.deliver_loop),
            self._guard(self.follow_replays),
        )

    async def _deactivate(self, drain: float) -> None:
        """Stop sending at once (no new attempt starts: the lease is dropped), give the
        attempts in flight up to `drain` seconds to finish and save their outcome, stop
        the loops and forget the state: whoever is active next reads it again."""
        async with self._role_lock:
            task, self._activation = self._activation, None
            was_active = self.active
            self.active = False
            self._lease_until = 0.0
            self._confirming = self._confirm_sent = None  # an answer to come is of no use
            self.metrics.active.set(0)
            if task is None:
                return
            if self._deliveries:
                await asyncio.wait(set(self._deliveries), timeout=drain)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            left = list(self._deliveries)  # cut short: attempted again by the next one
            for delivery in left:
                delivery.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            journal, tail, self._journal, self._tail = self._journal, self._tail, None, None
            await asyncio.gather(
                *(_bounded(c.stop(), 1.0, "stopping a consumer") for c in (journal, tail) if c)
            )
            self.outbox = {}
            self.state = NotifyState()
            self._in_flight.clear()
            self._unsaved.clear()
            self.metrics.outbox.set(0)
            if was_active:
                log.info(
                    "no longer active after %.1f s (writer %s)",
                    time.monotonic() - self._activated_at,
                    self.writer,
                )

    async def _restore(self) -> None:
        """The state topic read to its end (the outbox, and the planner state with the
        journal position to resume from), then the journal and the state topic followed
        from there."""
        s = self.settings
        restored, end = await load_state(s)
        saved, self.outbox = restored.state, restored.outbox
        for skip in restored.skipped:
            self._skipped("state", skip.reason, state_topic(s), 0, skip.offset, skip.detail)
        for entry in restored.dropped:
            self.metrics.skipped.labels("state", "invalid").inc()
            log.warning("saved planner state: dropped %s", entry)
        journal = TopicPartition(s.topic_alerts, 0)
        self._journal = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._journal.start()
        self._journal.assign([journal])
        if saved is None:
            if s.notify_start == "beginning":
                self.state = NotifyState()
                await self._journal.seek_to_beginning(journal)
            else:  # the history is not notified: start after the journal's last record
                head = (await self._journal.end_offsets([journal]))[journal] - 1
                self.state = NotifyState(head=head)
                self._journal.seek(journal, head + 1)
            await self._save_planner(self.state)
            log.info("no saved state: starting at journal position %d", self.state.head + 1)
        else:
            self.state = saved
            self._journal.seek(journal, saved.head + 1)
        tail = TopicPartition(state_topic(s), 0)
        self._tail = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False
        )
        await self._tail.start()
        self._tail.assign([tail])
        self._tail.seek(tail, end)
        self.metrics.position.set(self.state.head)
        self._count_outbox()

    # -- the lease: may this notifier send now? -----------------------------------------

    def _holds_lease(self) -> bool:
        """Checked right before each attempt, without waiting: active, and the last
        confirmation that it holds the control partition is less than LEASE_SECONDS
        old (a notifier resuming from a pause finds it expired)."""
        return self.active and not self.stopping.is_set() and time.monotonic() < self._lease_until

    async def _renew_lease(self) -> bool:
        """True when this notifier may send for a while: its lease has more than half
        of its time left, or the coordinator confirmed it anew (`confirm_owner`)."""
        if not self.active or self.stopping.is_set():
            return False  # stopping: no new attempt, the ones in flight finish
        async with self._lease_lock:
            asked = time.monotonic()
            if asked < self._lease_until - LEASE_SECONDS / 2:
                return True
            if await self.confirm_owner() and self.active:
                if self._refused:
                    log.info("the group confirms this notifier as active again")
                self._refused = False
                # counted from when the confirmed request left (an answer to a request
                # sent before a pause says nothing of the time after it)
                sent = self._confirm_sent
                self._lease_until = (asked if sent is None else min(asked, sent)) + LEASE_SECONDS
                return True
            self._lease_until = 0.0
            return False

    async def _await_lease(self) -> None:
        """Wait until the lease is granted: a broker that does not answer for a while
        holds the notifier up, it does not skip anything; a notifier that lost the
        partition is stopped meanwhile (its role's tasks cancelled)."""
        while not await self._renew_lease():
            await asyncio.sleep(LEASE_RETRY)

    async def confirm_owner(self) -> bool:
        """Ask the group coordinator whether this notifier still holds the control
        partition: an offset commit carries its member id and generation, and is refused
        once the group has moved on (the partition may be another's) or while it
        rebalances. No answer within half a lease counts as a refusal."""
        control = self._control
        if control is None:
            return False
        # The request is a task of its own, never cancelled from here (aiokafka shields
        # it: cancelled from outside, its answer would be logged as an unretrieved
        # error), and one at a time: a request still unanswered is awaited again.
        if self._confirming is None or self._confirming.done():
            part = TopicPartition(control_topic(self.settings), 0)
            self._confirming = asyncio.ensure_future(control.commit({part: 0}))
            self._confirming.add_done_callback(_retrieve)
            self._confirm_sent = time.monotonic()
        commit = self._confirming
        await asyncio.wait({commit}, timeout=LEASE_SECONDS / 2)
        if not commit.done():
            failure = f"no answer within {LEASE_SECONDS / 2} s"
        elif commit.cancelled():
            failure = "cancelled"
        elif (error := commit.exception()) is not None:
            if not isinstance(error, KafkaError):
                raise error
            cause = error.__cause__
            failure = type(error).__name__ + (f" ({type(cause).__name__})" if cause else "")
        else:
            return True
        if not self._refused:  # once, not at every poll until it changes
            log.warning("the group does not confirm this notifier as active: %s", failure)
        self._refused = True
        return False

    # -- the journal --------------------------------------------------------------------

    async def follow_journal(self) -> None:
        assert self._journal is not None
        wait_ms = int(max(0.05, self.settings.notify_tick_seconds) * 1000)
        while not self.stopping.is_set():
            batch = await self._journal.getmany(timeout_ms=wait_ms)
            records = sorted((r for part in batch.values() for r in part), key=lambda r: r.offset)
            await self.step([(r.offset, self._decoded(r)) for r in records], self.clock())

    def _decoded(self, record: ConsumerRecord[Any, Any]) -> dict[str, Any] | None:
        """A journal record's value as a JSON object; None (counted and logged) when it is
        not one, or larger than any writer of the journal makes."""
        try:
            return rec.decode(record.value, limit=rec.MAX_JOURNAL_RECORD)
        except BadRecord as bad:
            self._skipped(
                "journal", bad.reason, record.topic, record.partition, record.offset, bad.detail
            )
            return None

    def _skipped(
        self, source: Source, reason: Reason, topic: str, partition: int, offset: int, detail: str
    ) -> None:
        """Count and log one record skipped: where it is, why; never its value."""
        self.metrics.skipped.labels(source, reason).inc()
        log.warning(
            "skipped the record at %s partition %d offset %d: %s (%s)",
            topic,
            partition,
            offset,
            reason,
            detail,
        )

    async def step(self, records: list[tuple[int, dict[str, Any] | None]], now: datetime) -> None:
        """Apply journal records (position, record; None: unreadable, already counted)
        read at `now`, and whatever fell due by `now`; save what changed, in the order the
        docstring says. A record the planner skips, or fails on, is counted and logged,
        and the position moves past it."""
        state = self.state
        outcomes: list[Outcome] = []
        journal = self.settings.topic_alerts
        for seq, record in records:
            if record is None:
                state = state.model_copy(update={"head": max(state.head, seq)})
                continue
            try:
                outcome = self.planner.apply(state, record, now, seq=seq)
            except Exception as exc:  # a bug; the record must not stop the notifier
                self._skipped("journal", "error", journal, 0, seq, rec.where(exc))
                state = state.model_copy(update={"head": max(state.head, seq)})
                continue
            if outcome.skipped is not None:
                self._skipped("journal", outcome.skipped, journal, 0, seq, outcome.ignored or "")
            outcomes.append(outcome)
            state = outcome.state
        due = self.planner.next_due(state)
        if due is not None and due <= now:
            outcome = self.planner.advance(state, now)
            outcomes.append(outcome)
            state = outcome.state
        if not records and not outcomes:
            return
        await self.commit(state, outcomes, now)

    async def commit(self, state: NotifyState, outcomes: list[Outcome], now: datetime) -> None:
        """Save what the journal records and the time did, in the order the module's
        docstring says; only under the lease (a notifier that lost the control partition
        writes nothing more of the journal's outcomes). The new deliveries enter the
        outbox before anything is awaited, marked unsaved until the broker has them."""
        producer = self._producer
        assert producer is not None
        await self._await_lease()
        fresh: list[Pending] = []
        for outcome in outcomes:
            for notification in outcome.outbox:
                for entry in pending_for(notification, now):
                    if entry.key not in self.outbox and all(e.key != entry.key for e in fresh):
                        fresh.append(entry)
        for entry in fresh:  # before the first await: the follower finds them here
            self.outbox[entry.key] = entry
            self._unsaved.add(entry.key)
        sent = [await self._write_state(e.state_key, _dumps(e.to_json())) for e in fresh]
        escalations = [e for outcome in outcomes for e in outcome.escalations]
        for escalation in escalations:
            sent.append(
                await producer.send(
                    self.settings.topic_alerts,
                    key=escalation.alert_id.encode(),
                    value=_dumps(escalation.to_record()),
                )
            )
        await asyncio.gather(*sent)
        self._unsaved.difference_update(e.key for e in fresh)
        await self._save_planner(state)
        self.state = state
        for escalation in escalations:
            self.metrics.escalations.inc()
            log.info(
                "escalation %s level %d to %s",
                escalation.alert_id,
                escalation.level,
                escalation.recipient_id,
            )
        for outcome in outcomes:
            for held in outcome.suppressed:
                self.metrics.suppressed.labels(held.kind).inc()
        self.metrics.position.set(state.head)
        self._count_outbox()

    async def _save_planner(self, state: NotifyState) -> None:
        value = _dumps({"kind": "planner", "state": state.to_json()})
        await (await self._write_state(PLANNER_KEY, value))

    async def _write_state(self, key: str, value: bytes | None) -> asyncio.Future[Any]:
        """Send one record to the state topic, with this notifier's writer id in its
        header (the follower skips its own records by it); returns the acknowledgement
        to await."""
        assert self._producer is not None
        future: asyncio.Future[Any] = await self._producer.send(
            state_topic(self.settings),
            key=key.encode(),
            value=value,
            headers=[(WRITER_HEADER, self.writer.encode())],
        )
        return future

    # -- delivery -----------------------------------------------------------------------

    def _due(self, now: datetime, limit: int) -> list[Pending]:
        """At most `limit` deliveries to attempt now, the longest waiting first: due,
        saved, and not being attempted already."""
        due = (
            e
            for e in self.outbox.values()
            if e.key not in self._in_flight and e.key not in self._unsaved and e.due(now)
        )
        return sorted(due, key=lambda e: (e.next_at or e.created_at, e.key))[: max(0, limit)]

    async def deliver_loop(self) -> None:
        """Every DELIVERY_POLL: the deliveries due, at most SUPERVISOR_NOTIFY_CONCURRENCY
        attempts at once, each batch under a lease renewed just before it (not queued
        behind one another: an attempt starts right after its check)."""
        running = self._deliveries
        concurrency = max(1, self.settings.notify_concurrency)
        pruned_at = time.monotonic()
        try:
            while True:  # until the role ends (cancelled), after the attempts in flight
                now = self.clock()
                if self._due(now, concurrency - len(running)) and await self._renew_lease():
                    for entry in self._due(now, concurrency - len(running)):
                        self._in_flight.add(entry.key)
                        task = asyncio.create_task(self._deliver(entry))
                        running.add(task)
                        task.add_done_callback(running.discard)
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self._prune(now)
                await asyncio.sleep(DELIVERY_POLL)
        finally:
            for task in list(running):
                task.cancel()

    async def _deliver(self, entry: Pending) -> None:
        """One attempt and its bookkeeping (outcome saved, dead letter, journal record).
        The lease is checked right before the attempt, with nothing awaited between."""
        try:
            if not self._holds_lease():
                return  # lost, or expired during a pause: the next batch asks again
            delivery = await self.attempt(entry)
            if self.outbox.get(entry.key) is not entry:
                return  # replaced meanwhile (a replay): that one goes its own way
            attempt = entry.after(delivery, self.policy, self.rng)
            channel = entry.channel
            if attempt.outcome is Result.DELIVERED:
                self.metrics.sent.labels(channel).inc()
                log.info("delivered %s (attempt %d)", entry.key, attempt.number)
            else:
                self.metrics.failed.labels(channel).inc()
                if attempt.next_at is not None:
                    self.metrics.retried.labels(channel).inc()
                log.warning(
                    "attempt %d of %s failed: %s%s",
                    attempt.number,
                    entry.key,
                    attempt.error,
                    "" if attempt.next_at is None else f"; next at {attempt.next_at.isoformat()}",
                )
            if entry.status == "dead":
                await self._dead_letter(entry)
            await self._save(entry)
            await self._journal_attempt(entry, attempt)
            self._count_outbox()
        except Exception:
            log.exception("delivery of %s failed unexpectedly; it stays pending", entry.key)
            if self.outbox.get(entry.key) is entry and entry.status == "pending":
                entry.next_at = self.clock() + timedelta(seconds=self.policy.base)
        finally:
            self._in_flight.discard(entry.key)

    async def attempt(self, entry: Pending) -> Delivery:
        """One attempt on the entry's channel. The signature and the email's Date carry
        the real time; the Delivery carries the notifier's clock (retries count on it)."""
        s = self.settings
        notification = entry.notification
        at = self.clock()
        message = render(notification, wall_url=s.notify_wall_url or None, zone=s.timezone)
        channels = notification.recipient.channels
        if entry.channel == "webhook":
            hook = channels.webhook
            assert hook is not None
            secret = secret_from_env(hook.secret_env)
            if secret is None:
                return Delivery(
                    "webhook",
                    Result.FAILED,
                    at,
                    error=f"the webhook secret {hook.secret_env} is not set in the environment",
                )
            delivery = await send_webhook(
                hook.url,
                payload(notification, message),
                secret=secret,
                idempotency_key=notification.id,
                timeout=s.notify_timeout_seconds,
                client=self._http,
            )
        else:
            mail = channels.email
            assert mail is not None
            delivery = await send_email(
                s.smtp_host,
                s.smtp_port,
                s.smtp_sender,
                mail.address,
                message.subject,
                message.text(),
                message.html(),
                message_id=notification.id,
                starttls=s.smtp_security == "starttls",
                implicit_tls=s.smtp_security == "tls",
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                timeout=s.notify_timeout_seconds,
            )
        return replace(delivery, at=at)

    async def _save(self, entry: Pending) -> None:
        await (await self._write_state(entry.state_key, _dumps(entry.to_json())))

    async def _journal_attempt(self, entry: Pending, attempt: Any) -> None:
        """Each attempt goes into the history of the alerts it is about (the journal), so
        an inspector sees who was notified, when, and what the channel answered."""
        assert self._producer is not None
        notification = entry.notification
        for info in notification.alerts:
            record = {
                "kind": "delivery",
                "alert_id": info.alert_id,
                "notification_id": notification.id,
                "notification_kind": notification.kind,
                "channel": entry.channel,
                "recipient_name": notification.recipient.name,
                "attempt": attempt.number,
                "outcome": attempt.outcome.value,
                "at": attempt.at.isoformat(timespec="seconds"),
                "error": attempt.error,
                "next_at": attempt.next_at.isoformat(timespec="seconds")
                if attempt.next_at
                else None,
                "dead": entry.status == "dead",
            }
            await self._producer.send(
                self.settings.topic_alerts, key=info.alert_id.encode(), value=_dumps(record)
            )

    async def _dead_letter(self, entry: Pending) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            dlq_topic(self.settings), key=entry.key.encode(), value=_dumps(entry.dead_letter())
        )
        self.metrics.dead_letters.labels(entry.channel).inc()
        log.error("dead letter %s after %d attempts", entry.key, len(entry.attempts))

    async def _prune(self, now: datetime) -> None:
        assert self._producer is not None
        keep = timedelta(days=self.planner.settings.keep_closed_days)
        for key in [k for k, e in self.outbox.items() if prunable(e, now, keep)]:
            entry = self.outbox.pop(key)
            await (await self._write_state(entry.state_key, None))

    def _count_outbox(self) -> None:
        self.metrics.outbox.set(sum(1 for e in self.outbox.values() if e.status == "pending"))

    # -- replays ------------------------------------------------------------------------

    async def follow_replays(self) -> None:
        """Follow the state topic from where `_restore` read it to: a delivery put back
        by `supervisor notify replay-dead-letter` (a higher generation), or the last
        records of a notifier that was active before this one (`outbox.followed`)."""
        assert self._tail is not None
        while not self.stopping.is_set():
            batch = await self._tail.getmany(timeout_ms=500)
            for record in (r for part in batch.values() for r in part):
                self.take_state_record(record)

    def take_state_record(self, record: ConsumerRecord[Any, Any]) -> None:
        """One record of the state topic, read while active. Our own records (by their
        writer header) are skipped first: this notifier knows what it wrote, and taking
        its own new deliveries for someone else's would send them twice."""
        key = (record.key or b"").decode("utf-8", "replace")
        if not key.startswith(OUT_PREFIX) or record.value is None:
            return
        if _writer_of(record) == self.writer:
            return
        try:
            incoming = read_pending(key, record.value)
        except BadRecord as bad:
            self._skipped(
                "state", bad.reason, record.topic, record.partition, record.offset, bad.detail
            )
            return
        current = self.outbox.get(incoming.key)
        busy = incoming.key in self._in_flight or incoming.key in self._unsaved
        verdict = followed(current, incoming, busy=busy)
        if verdict == "ignore":
            return
        self.outbox[incoming.key] = incoming
        if verdict == "replay":
            self.metrics.replays.inc()
            log.info("replay of %s (generation %d)", incoming.key, incoming.generation)
        else:
            log.info(
                "%s %s, as written by %s",
                incoming.status,
                incoming.key,
                _writer_of(record) or "another notifier",
            )
        self._count_outbox()

    # -- /metrics and /healthz ----------------------------------------------------------

    def web_app(self) -> web.Application:
        async def metrics(request: web.Request) -> web.Response:
            response = web.Response(body=generate_latest(self.registry))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        async def healthz(request: web.Request) -> web.Response:
            """200 once settled in a role: active (its state read) or standby; 503 while
            starting, waiting for the broker, or between two roles in a rebalance."""
            body = {
                "status": "ok" if self.ready else "starting",
                "role": self.role,
                "active": self.active,
                "writer": self.writer,
                "journal_position": self.state.head,
                "outbox": sum(1 for e in self.outbox.values() if e.status == "pending"),
            }
            return web.json_response(body, status=200 if self.ready else 503)

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        return app


def create_notifier(settings: Settings, clock: Clock | None = None) -> Notifier:
    from supervisor.core.rules import RuleBook

    rules_dir = settings.rules_dir
    known = known_rule_ids(rule.id for rule in RuleBook.load(rules_dir))
    routing = load_routing(settings.notify_routing, known)
    calendars = CalendarBook.load(rules_dir / "calendar", settings.timezone)
    return Notifier(
        settings, Planner(routing, calendars), clock=clock or wall_clock(settings.timezone)
    )


#: Ends the process by force HARD_STOP_SECONDS after it was asked to stop, unless it has
#: ended by then (a daemon timer: it works even when the event loop is stuck, e.g. in a
#: step that ignores its bound). What was acknowledged is saved; the rest is derived again.
_stop_deadline = ShutdownDeadline(
    HARD_STOP_SECONDS,
    log=log,
    message="the notifier did not stop within %.0f s of being asked: ending it",
)


async def serve(settings: Settings, clock: Clock | None = None) -> None:
    """The notifier process: its health page at once, then the broker (waited for), the
    group and the role it gives, until SIGTERM or SIGINT; then a stop bounded in time
    (the module's docstring: within STOP_SECONDS, by force at HARD_STOP_SECONDS)."""
    notifier = create_notifier(settings, clock)
    loop = asyncio.get_running_loop()

    def asked_to_stop() -> None:
        _stop_deadline.arm()
        notifier.stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, asked_to_stop)
    runner = web.AppRunner(notifier.web_app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.notify_port)
    await site.start()
    log.info("notifier on port %d, writer %s", settings.notify_port, notifier.writer)
    try:
        if await notifier.connect():
            await notifier.run()
    finally:
        _stop_deadline.arm()
        stopped = time.monotonic()
        await _bounded(notifier.stop(), STOP_SECONDS - 1.0, "stopping the notifier")
        await _bounded(runner.cleanup(), 1.0, "closing the health page")
        log.info("stopped in %.1f s", time.monotonic() - stopped)


def run(settings: Settings, clock_start: datetime | None = None) -> None:
    from supervisor import masking

    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    masking.install()
    asyncio.run(serve(settings, shifted_clock(clock_start) if clock_start else None))


# -- ops: dead letters -----------------------------------------------------------------


async def dead_letters(settings: Settings) -> list[dict[str, Any]]:
    """The latest dead-letter record of each delivery, with `now`: what its delivery is
    now (dead, pending again after a replay, delivered, or unknown once pruned)."""
    records, _ = await read_topic(settings.bootstrap_servers, dlq_topic(settings))
    outbox = (await load_state(settings))[0].outbox
    latest: dict[str, dict[str, Any]] = {}
    for key, raw, offset in records:
        if raw is None:
            continue
        try:
            latest[key] = rec.decode(raw)
        except BadRecord as bad:
            log.warning("dead letter at offset %d skipped: %s (%s)", offset, bad.reason, bad.detail)
    for key, value in latest.items():
        entry = outbox.get(key)
        generation = value.get("generation", 0)
        if entry is None:
            value["now"] = "unknown"
        elif entry.generation > (generation if type(generation) is int else 0):
            value["now"] = f"replayed ({entry.status})"
        else:
            value["now"] = entry.status
    return sorted(latest.values(), key=lambda v: (str(v.get("at")), str(v.get("key"))))


async def replay_dead_letter(settings: Settings, ident: str) -> list[str]:
    """Put the dead deliveries named by `ident` (a key `<notification id>|<channel>`, or
    a notification id for all its channels) back in the outbox; returns their keys."""
    outbox = (await load_state(settings))[0].outbox
    letters = {v["key"]: v for v in await dead_letters(settings) if isinstance(v.get("key"), str)}
    keys = [k for k in {*outbox, *letters} if k == ident or k.split("|", 1)[0] == ident]
    chosen: list[Pending] = []
    for key in sorted(keys):
        entry = outbox.get(key)
        if entry is None:
            letter = letters[key]
            entry = Pending(
                key=key,
                notification=Notification.model_validate(letter["notification"]),
                channel=letter["channel"],
                status="dead",
                generation=int(letter.get("generation", 0)),
                created_at=datetime.fromisoformat(letter["at"]),
                attempts=list(letter.get("attempts", [])),
            )
        if entry.status != "dead":
            continue
        chosen.append(entry.replayed())
    if not chosen:
        return []
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for entry in chosen:
            await producer.send_and_wait(
                state_topic(settings),
                key=entry.state_key.encode(),
                value=_dumps(entry.to_json()),
                headers=[(WRITER_HEADER, REPLAY_WRITER.encode())],
            )
    finally:
        await producer.stop()
    return [e.key for e in chosen]
