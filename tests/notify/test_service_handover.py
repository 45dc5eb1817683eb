"""The notifier service's own records, its lease and its role (supervisor/notify/service.py),
with the broker stood in for (fakes.py) so that its tasks interleave as each test says: a
real broker cannot hold an acknowledgement while a consumer reads the record.

- Its own new deliveries, read back from the state topic while `commit` waits for the
  broker, were taken for dead-letter replays and put in the outbox a second time: sent
  twice (the first test fails on the code before).
- A notifier sends only under a lease that the group confirms; one that gives up its role
  lets the attempts in flight finish and save their outcome, then forgets its state.
- Its role follows the control partition, and /healthz and `supervisor_notify_active`
  say which it has.
- Stopping is bounded whatever the broker does (nothing answers).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError

from supervisor.notify import service
from supervisor.notify.outbox import OUT_PREFIX, WRITER_HEADER, Pending, pending_for
from supervisor.notify.plan import NotifyState
from supervisor.notify.retry import Delivery
from supervisor.notify.retry import Outcome as Result
from supervisor.notify.service import Notifier, control_topic, state_topic
from supervisor.settings import Settings

from .factories import COUNTY, alert, planner, t
from .fakes import FakeBroker, FakeProducer, FakeTail, owning

NOW = "2026-11-23T09:00:00+08:00"
SETTINGS = Settings.from_env({"SUPERVISOR_TOPIC_ALERTS": "alerts-x", "SUPERVISOR_APP_ID": "t"})
STATE = state_topic(SETTINGS)


class Channels:
    """The recipients' channels: each attempt counted by key; delivered, unless held."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.attempts: Counter[str] = Counter()
        self.hold: asyncio.Event | None = None

    async def attempt(self, entry: Pending) -> Delivery:
        self.attempts[entry.key] += 1
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(0)
        return Delivery(entry.channel, Result.DELIVERED, self.notifier.clock())


def make(broker: FakeBroker) -> tuple[Notifier, Channels]:
    """An active notifier on the fake broker, following its state topic from its end."""
    notifier = Notifier(SETTINGS, planner(), clock=lambda: t(NOW), rng=random.Random(1))
    notifier._producer = cast(AIOKafkaProducer, FakeProducer(broker))
    notifier._tail = cast(AIOKafkaConsumer, FakeTail(broker, STATE))
    owning(notifier)
    channels = Channels(notifier)
    notifier.attempt = channels.attempt  # type: ignore[method-assign]
    return notifier, channels


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.005)
    return condition()


@contextmanager
def running(*loops: Any) -> Iterator[None]:
    """The notifier's loops as tasks for the duration of the block."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


def metric(notifier: Notifier, name: str) -> float:
    return notifier.registry.get_sample_value(name) or 0.0


def out_records(broker: FakeBroker) -> list[Any]:
    return [r for r in broker.records(STATE) if (r.key or b"").startswith(OUT_PREFIX.encode())]


# -- (A) its own deliveries, read back, are not taken for someone else's ----------------


async def test_its_own_deliveries_read_back_while_commit_waits_are_sent_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: `commit` waited for the broker before it put the new deliveries in the
    outbox; the follower read them back first, counted each as a dead-letter replay and
    inserted a copy, which the delivery loop sent; `commit` then put its own entry in its
    place, sent again: every key twice here."""
    monkeypatch.setattr(service, "DELIVERY_POLL", 0.001)  # as forced in the field: 60 of 100
    broker = FakeBroker()
    notifier, channels = make(broker)
    alerts = [alert(n, center=COUNTY) for n in range(1, 11)]
    with running(notifier.follow_replays(), notifier.deliver_loop()):
        broker.hold_acks()
        step = asyncio.ensure_future(
            notifier.step([(n, record) for n, record in enumerate(alerts)], t(NOW))
        )
        # the broker has the new deliveries: the follower reads them, the delivery loop
        # looks at the outbox every millisecond, while `commit` waits for the acks
        assert await until(lambda: len(out_records(broker)) >= len(alerts))
        tail = cast(FakeTail, notifier._tail)
        assert await until(lambda: tail.position >= len(broker.records(STATE)))
        await asyncio.sleep(0.05)
        broker.release_acks()
        await step
        keys = set(notifier.outbox)
        assert len(keys) >= len(alerts)
        assert await until(lambda: set(channels.attempts) >= keys)
        await asyncio.sleep(0.1)  # time for a second attempt, if one were to come
    assert channels.attempts == Counter(dict.fromkeys(keys, 1))
    assert metric(notifier, "supervisor_notify_replays_total") == 0
    assert all(e.status == "delivered" for e in notifier.outbox.values())


async def test_a_new_delivery_is_attempted_only_once_the_broker_has_saved_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the outbox at once (the follower finds it there), attempted only once it is
    saved: a delivery is never sent before the record that says it is owed."""
    monkeypatch.setattr(service, "DELIVERY_POLL", 0.001)
    broker = FakeBroker()
    notifier, channels = make(broker)
    with running(notifier.deliver_loop()):
        broker.hold_acks()
        step = asyncio.ensure_future(notifier.step([(0, alert(1, center=COUNTY))], t(NOW)))
        assert await until(lambda: bool(notifier.outbox))
        await asyncio.sleep(0.05)
        assert not channels.attempts
        broker.release_acks()
        await step
        assert await until(lambda: set(channels.attempts) == set(notifier.outbox))


def _record(entry: Pending, writer: str, offset: int = 0) -> Any:
    from aiokafka.structs import ConsumerRecord

    value = json.dumps(entry.to_json()).encode()
    key = entry.state_key.encode()
    headers = ((WRITER_HEADER, writer.encode()),)
    return ConsumerRecord(STATE, 0, offset, 0, 0, key, value, None, len(key), len(value), headers)


def _dead(notifier: Notifier) -> Pending:
    notification = planner().apply(NotifyState(), alert(1, center=COUNTY), t(NOW), seq=0).outbox[0]
    entry = pending_for(notification, t(NOW))[0]
    entry.status = "dead"
    return entry


def test_the_follower_skips_its_own_records_whatever_they_say() -> None:
    notifier, _ = make(FakeBroker())
    entry = _dead(notifier)
    notifier.outbox[entry.key] = entry
    mine = entry.replayed()  # even a higher generation: we wrote it, we know it
    notifier.take_state_record(_record(mine, notifier.writer))
    assert notifier.outbox[entry.key] is entry
    other = entry.replayed()
    notifier.take_state_record(_record(other, "replay-dead-letter"))
    assert notifier.outbox[entry.key].generation == 1
    assert metric(notifier, "supervisor_notify_replays_total") == 1


def test_the_previous_active_notifiers_last_outcome_is_taken_unless_busy() -> None:
    """The notifier active before this one (paused, then back) finished an attempt:
    taken, so it is not sent again; but not while ours is being attempted."""
    notifier, _ = make(FakeBroker())
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    finished = entry.model_copy(update={"status": "delivered"}, deep=True)
    notifier._in_flight.add(entry.key)
    notifier.take_state_record(_record(finished, "host/1/old"))
    assert notifier.outbox[entry.key] is entry
    notifier._in_flight.clear()
    notifier.take_state_record(_record(finished, "host/1/old"))
    assert notifier.outbox[entry.key].status == "delivered"
    assert metric(notifier, "supervisor_notify_replays_total") == 0


# -- (B) the lease -------------------------------------------------------------------------


async def test_no_attempt_starts_until_the_group_confirms_this_notifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "DELIVERY_POLL", 0.001)
    notifier, channels = make(FakeBroker())
    confirmed = False
    asked = 0

    async def confirm() -> bool:
        nonlocal asked
        asked += 1
        return confirmed

    notifier.confirm_owner = confirm  # type: ignore[method-assign]
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    with running(notifier.deliver_loop()):
        assert await until(lambda: asked >= 3)
        assert not channels.attempts
        confirmed = True
        assert await until(lambda: channels.attempts[entry.key] == 1)


async def test_a_notifier_back_from_a_pause_finds_its_lease_expired_and_sends_nothing() -> None:
    """The lease is checked right before each attempt, without waiting: an attempt
    scheduled before a pause longer than the lease does not go out after it, and the
    group, asked again, has moved on."""
    notifier, channels = make(FakeBroker())
    answers = [True, False]

    async def confirm() -> bool:
        return answers.pop(0)

    notifier.confirm_owner = confirm  # type: ignore[method-assign]
    assert await notifier._renew_lease()
    assert await notifier._renew_lease()  # more than half of it left: not asked again
    assert answers == [False]
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    notifier._lease_until = time.monotonic() - 0.001  # as after a pause of LEASE_SECONDS
    notifier._in_flight.add(entry.key)
    await notifier._deliver(entry)
    assert not channels.attempts and entry.key not in notifier._in_flight
    assert not await notifier._renew_lease()  # asked: refused
    assert not notifier._holds_lease()


class FakeControl:
    """The control consumer's `commit`, as the group coordinator answers it: after
    `answer` is set, with `refusal` raised if there is one."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.refusal: Exception | None = None
        self.requests = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.requests += 1
        await self.answer.wait()
        if self.refusal is not None:
            raise self.refusal


async def test_the_lease_counts_from_the_request_and_a_refusal_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An answer that arrives late (the request left before a pause) grants a lease
    counted from when the request left: expired already. A refusal (the group moved on)
    grants nothing, and is logged once, not at every poll."""
    notifier = Notifier(SETTINGS, planner(), clock=lambda: t(NOW))
    notifier.active = True
    control = FakeControl()
    notifier._control = cast(AIOKafkaConsumer, control)
    assert not await notifier._renew_lease()  # no answer within half a lease
    assert notifier._confirm_sent is not None
    notifier._confirm_sent -= service.LEASE_SECONDS + 1  # as if paused since it left
    control.answer.set()
    assert await notifier._renew_lease()  # the same request, answered: yes
    assert control.requests == 1 and not notifier._holds_lease()
    control.refusal = CommitFailedError("the group has already rebalanced")
    caplog.clear()
    for _ in range(3):
        assert not await notifier._renew_lease()
    assert control.requests == 4
    refusals = [r.getMessage() for r in caplog.records if "does not confirm" in r.getMessage()]
    assert refusals == ["the group does not confirm this notifier as active: CommitFailedError"]


async def test_the_journal_outcome_waits_for_the_lease_and_skips_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A coordinator that does not confirm for a while holds the journal up: nothing is
    written meanwhile, and nothing is skipped once it confirms."""
    monkeypatch.setattr(service, "LEASE_RETRY", 0.01)
    broker = FakeBroker()
    notifier, _ = make(broker)
    confirmed = False

    async def confirm() -> bool:
        return confirmed

    notifier.confirm_owner = confirm  # type: ignore[method-assign]
    step = asyncio.ensure_future(notifier.step([(0, alert(1, center=COUNTY))], t(NOW)))
    await asyncio.sleep(0.1)
    assert not step.done() and broker.records(STATE) == [] and notifier.state.head == -1
    confirmed = True
    await asyncio.wait_for(step, 2)
    assert notifier.state.head == 0 and out_records(broker)


async def test_giving_up_the_role_lets_attempts_in_flight_finish_and_save_then_forgets() -> None:
    broker = FakeBroker()
    notifier, channels = make(broker)
    channels.hold = asyncio.Event()
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    notifier.metrics.active.set(1)
    loop = asyncio.ensure_future(notifier.deliver_loop())
    notifier._activation = loop
    assert await until(lambda: channels.attempts[entry.key] == 1)
    handover = asyncio.ensure_future(notifier._deactivate(drain=2.0))
    await asyncio.sleep(0.05)
    assert not notifier._holds_lease() and not handover.done()  # no new attempt from now
    channels.hold.set()
    await asyncio.wait_for(handover, 3)
    saved = [json.loads(r.value) for r in out_records(broker) if r.key == entry.state_key.encode()]
    assert saved and saved[-1]["status"] == "delivered"
    assert notifier.outbox == {} and not notifier.active and loop.cancelled()
    assert metric(notifier, "supervisor_notify_active") == 0


async def test_an_attempt_that_does_not_end_is_cut_short_at_the_drain_bound() -> None:
    """Cut short, unsaved: whoever is active next attempts it again, same key."""
    broker = FakeBroker()
    notifier, channels = make(broker)
    channels.hold = asyncio.Event()  # never set
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    loop = asyncio.ensure_future(notifier.deliver_loop())
    notifier._activation = loop
    assert await until(lambda: channels.attempts[entry.key] == 1)
    started = time.monotonic()
    await notifier._deactivate(drain=0.2)
    assert time.monotonic() - started < 1.0
    assert out_records(broker) == [] and notifier._deliveries == set()


# -- (B) the role, /healthz and the gauge -----------------------------------------------


async def test_the_role_follows_the_control_partition_and_healthz_says_which() -> None:
    broker = FakeBroker()
    notifier = Notifier(SETTINGS, planner(), clock=lambda: t(NOW))
    notifier.confirm_owner = owning.__globals__["_confirmed"]  # type: ignore[method-assign]
    notifier._producer = cast(AIOKafkaProducer, FakeProducer(broker))

    async def restore() -> None:  # what `_restore` sets up, on the fake broker
        notifier.state = NotifyState(head=41)
        notifier._journal = cast(AIOKafkaConsumer, FakeTail(broker, SETTINGS.topic_alerts))
        notifier._tail = cast(AIOKafkaConsumer, FakeTail(broker, STATE))

    notifier._restore = restore  # type: ignore[method-assign]
    control = TopicPartition(control_topic(SETTINGS), 0)
    async with TestClient(TestServer(notifier.web_app())) as client:

        async def health() -> tuple[int, dict[str, Any]]:
            response = await client.get("/healthz")
            return response.status, await response.json()

        status, body = await health()
        assert (status, body["role"], body["active"]) == (503, "starting", False)
        notifier.on_assigned(set())
        status, body = await health()
        assert (status, body["role"], body["active"]) == (200, "standby", False)
        await notifier.on_revoked(set())
        notifier.on_assigned({control})
        assert await until(lambda: notifier.active)
        status, body = await health()
        assert (status, body["role"], body["active"]) == (200, "active", True)
        assert body["journal_position"] == 41 and body["writer"] == notifier.writer
        assert metric(notifier, "supervisor_notify_active") == 1
        text = await (await client.get("/metrics")).text()
        assert "supervisor_notify_active 1.0" in text
        await notifier.on_revoked({control})
        status, body = await health()
        assert (status, body["role"], body["active"]) == (503, "starting", False)
        assert metric(notifier, "supervisor_notify_active") == 0
        assert not notifier.stopping.is_set()


# -- (C) stopping ----------------------------------------------------------------------


class Hanging:
    """A client whose stop never ends (a broker that does not answer)."""

    async def stop(self) -> None:
        await asyncio.Event().wait()


async def test_stop_is_bounded_when_nothing_answers() -> None:
    notifier, channels = make(FakeBroker())
    channels.hold = asyncio.Event()  # an attempt that never ends
    entry = _dead(notifier)
    entry.status = "pending"
    notifier.outbox[entry.key] = entry
    loop = asyncio.ensure_future(notifier.deliver_loop())
    notifier._activation = loop
    assert await until(lambda: channels.attempts[entry.key] == 1)
    notifier._producer = cast(AIOKafkaProducer, Hanging())
    notifier._control = cast(AIOKafkaConsumer, Hanging())
    notifier.stopping.set()
    started = time.monotonic()
    await notifier.stop()
    assert time.monotonic() - started < service.STOP_SECONDS - 1.0
    assert notifier.outbox == {} and loop.cancelled()


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_notifier_waits_for_a_broker_that_does_not_answer_and_stops_when_asked() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_unused_port()}"})
    notifier = Notifier(settings, planner(), clock=lambda: t(NOW))
    connecting = asyncio.ensure_future(notifier.connect())
    await asyncio.sleep(1.5)
    assert not connecting.done() and not notifier.ready
    notifier.stopping.set()
    started = time.monotonic()
    assert await asyncio.wait_for(connecting, 5) is False
    await notifier.stop()
    assert time.monotonic() - started < 3
