"""`supervisor notify`: the notification service (issue 5 items 2, 3 and 5).

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
  the notification, its status and its attempts; `outbox.Pending`). At start the topic
  is read to its end, then followed (that is how a replay from the CLI arrives);
- so what a restart needs is exactly what is written, in this order, each write
  acknowledged by the broker (acks=all) before the next step: (1) the new deliveries,
  (2) the escalation records on the journal, (3) the planner state with its new head.
  A crash between them makes the journal records after the saved head be applied again:
  the planner is deterministic, so it makes the same notification ids, and a delivery
  whose key is already in the outbox is not made twice. An escalation record can then
  be written twice (the planner, reading its own record back, ignores the second; a
  reader of the journal sees the same step twice, with the same notification id).
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

One notifier runs at a time (a second would send everything twice, with the same keys).
On a first start with no saved state it starts at the journal's end
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
import random
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
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
    Pending,
    Restored,
    pending_for,
    prunable,
    read_pending,
    restore,
)
from supervisor.notify.plan import Notification, NotifyState, Outcome, Planner
from supervisor.notify.records import BadRecord, Reason, Source
from supervisor.notify.retry import Delivery, RetryPolicy
from supervisor.notify.retry import Outcome as Result
from supervisor.notify.routing import load_routing
from supervisor.notify.texts import Message, render
from supervisor.notify.webhook import send_webhook
from supervisor.settings import Settings, secret_from_env

log = logging.getLogger("supervisor.notify")

Clock = Callable[[], datetime]
#: Seconds between two looks at the outbox for deliveries that fell due.
DELIVERY_POLL: Final = 0.2
#: Seconds between two prunings of finished deliveries.
PRUNE_EVERY: Final = 60.0


def state_topic(settings: Settings) -> str:
    return f"{settings.app_id}-notify-state"


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
            {
                key: mask_text(value) if isinstance(value, str) else value
                for key, value in alert.model_dump(mode="json").items()
            }
            for alert in notification.alerts
        ],
    }


# -- topics and the state topic --------------------------------------------------------


async def ensure_notify_topics(settings: Settings) -> None:
    """The state topic (compacted), the dead-letter topic and the journal (1 partition
    each; an existing topic is left alone)."""
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
        {state_topic(settings): 1, dlq_topic(settings): 1, settings.topic_alerts: 1},
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


class Notifier:
    """One notifier process: the journal follower, the delivery loop, the health page."""

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
        self.state = NotifyState()
        self.outbox: dict[str, Pending] = {}
        self.ready = False
        self.stopping = asyncio.Event()
        self._in_flight: set[str] = set()
        self._producer: AIOKafkaProducer | None = None
        self._journal: AIOKafkaConsumer | None = None
        self._tail: AIOKafkaConsumer | None = None
        self._http: httpx.AsyncClient | None = None

    # -- start and stop -----------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        await ensure_notify_topics(s)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await self._producer.start()
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
            log.info(
                "state recovered: journal position %d, %d deliveries (%d pending)",
                saved.head,
                len(self.outbox),
                sum(1 for e in self.outbox.values() if e.status == "pending"),
            )
        tail = TopicPartition(state_topic(s), 0)
        self._tail = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False
        )
        await self._tail.start()
        self._tail.assign([tail])
        self._tail.seek(tail, end)
        self._http = httpx.AsyncClient(
            timeout=s.notify_timeout_seconds, follow_redirects=False, trust_env=False
        )
        self.metrics.position.set(self.state.head)
        self._count_outbox()
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for client in (self._journal, self._tail):
            if client is not None:
                await client.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._http is not None:
            await self._http.aclose()

    async def run(self) -> None:
        """Until `stopping` is set: follow the journal, deliver, follow replays."""
        tasks = [
            asyncio.create_task(self._guard(self.follow_journal), name="journal"),
            asyncio.create_task(self._guard(self.deliver_loop), name="deliver"),
            asyncio.create_task(self._guard(self.follow_replays), name="replays"),
        ]
        try:
            await self.stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, loop: Callable[[], Any]) -> None:
        """Run one loop; an unexpected error stops the process (a restart resumes from the
        saved state) rather than leaving it half working."""
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the notifier's %s loop failed; stopping", loop.__name__)
            self.ready = False
            self.stopping.set()

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
        producer = self._producer
        assert producer is not None
        fresh: list[Pending] = []
        for outcome in outcomes:
            for notification in outcome.outbox:
                for entry in pending_for(notification, now):
                    if entry.key not in self.outbox and all(e.key != entry.key for e in fresh):
                        fresh.append(entry)
        sent = [
            await producer.send(
                state_topic(self.settings), key=e.state_key.encode(), value=_dumps(e.to_json())
            )
            for e in fresh
        ]
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
        for entry in fresh:
            self.outbox[entry.key] = entry
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
        assert self._producer is not None
        await self._producer.send_and_wait(
            state_topic(self.settings),
            key=PLANNER_KEY.encode(),
            value=_dumps({"kind": "planner", "state": state.to_json()}),
        )

    # -- delivery -----------------------------------------------------------------------

    async def deliver_loop(self) -> None:
        limit = asyncio.Semaphore(max(1, self.settings.notify_concurrency))
        running: set[asyncio.Task[None]] = set()
        pruned_at = time.monotonic()
        try:
            while not self.stopping.is_set():
                now = self.clock()
                due = sorted(
                    (
                        e
                        for e in self.outbox.values()
                        if e.key not in self._in_flight and e.due(now)
                    ),
                    key=lambda e: (e.next_at or e.created_at, e.key),
                )
                for entry in due:
                    self._in_flight.add(entry.key)
                    task = asyncio.create_task(self._deliver(entry, limit))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if time.monotonic() - pruned_at > PRUNE_EVERY:
                    pruned_at = time.monotonic()
                    await self._prune(now)
                await asyncio.sleep(DELIVERY_POLL)
        finally:
            for task in running:
                task.cancel()

    async def _deliver(self, entry: Pending, limit: asyncio.Semaphore) -> None:
        try:
            async with limit:
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
                        ""
                        if attempt.next_at is None
                        else f"; next at {attempt.next_at.isoformat()}",
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
        assert self._producer is not None
        await self._producer.send_and_wait(
            state_topic(self.settings), key=entry.state_key.encode(), value=_dumps(entry.to_json())
        )

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
            await self._producer.send_and_wait(
                state_topic(self.settings), key=entry.state_key.encode(), value=None
            )

    def _count_outbox(self) -> None:
        self.metrics.outbox.set(sum(1 for e in self.outbox.values() if e.status == "pending"))

    # -- replays ------------------------------------------------------------------------

    async def follow_replays(self) -> None:
        """Follow the state topic: a delivery of a higher generation than ours was put
        back by `supervisor notify replay-dead-letter`; our own writes change nothing."""
        assert self._tail is not None
        while not self.stopping.is_set():
            batch = await self._tail.getmany(timeout_ms=500)
            for record in (r for part in batch.values() for r in part):
                key = (record.key or b"").decode("utf-8", "replace")
                if not key.startswith(OUT_PREFIX) or record.value is None:
                    continue
                try:
                    incoming = read_pending(key, record.value)
                except BadRecord as bad:
                    self._skipped(
                        "state",
                        bad.reason,
                        record.topic,
                        record.partition,
                        record.offset,
                        bad.detail,
                    )
                    continue
                current = self.outbox.get(incoming.key)
                if current is None or incoming.generation > current.generation:
                    self.outbox[incoming.key] = incoming
                    self.metrics.replays.inc()
                    log.info("replay of %s (generation %d)", incoming.key, incoming.generation)
                    self._count_outbox()

    # -- /metrics and /healthz ----------------------------------------------------------

    def web_app(self) -> web.Application:
        async def metrics(request: web.Request) -> web.Response:
            response = web.Response(body=generate_latest(self.registry))
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        async def healthz(request: web.Request) -> web.Response:
            body = {
                "status": "ok" if self.ready else "starting",
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
    known = [rule.id for rule in RuleBook.load(rules_dir)]
    routing = load_routing(settings.notify_routing, known)
    calendars = CalendarBook.load(rules_dir / "calendar", settings.timezone)
    return Notifier(
        settings, Planner(routing, calendars), clock=clock or wall_clock(settings.timezone)
    )


async def serve(settings: Settings, clock: Clock | None = None) -> None:
    notifier = create_notifier(settings, clock)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stopping.set)
    runner = web.AppRunner(notifier.web_app())
    await runner.setup()
    site = web.TCPSite(runner, settings.web_host, settings.notify_port)
    await site.start()
    try:
        await notifier.start()
        log.info("notifier ready on port %d", settings.notify_port)
        await notifier.run()
    finally:
        await notifier.stop()
        await runner.cleanup()


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
                state_topic(settings), key=entry.state_key.encode(), value=_dumps(entry.to_json())
            )
    finally:
        await producer.stop()
    return [e.key for e in chosen]
