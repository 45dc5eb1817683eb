"""The worker's timers (supervisor/worker/timers.py) and recovery
(supervisor/worker/recovery.py) without a broker."""

from __future__ import annotations

import asyncio
import json
from collections import namedtuple
from typing import Any

from supervisor.core.events import decode
from supervisor.worker import ticks as tick_batches
from supervisor.worker.case_store import HOME
from supervisor.worker.continuity import Continuity
from supervisor.worker.outbox import UNACKNOWLEDGED
from supervisor.worker.recovery import Recovery
from supervisor.worker.timers import SETTLE_WRITE_SECONDS, Timers

from .fakes import EVENTS, Consumer, Parts
from .test_case_agent import CASE, accepted, event_message

TP = namedtuple("TP", "topic partition")


def timers(parts: Parts) -> Timers:
    return Timers(
        send_tick=parts.producer.send_tick,
        partitions=3,
        engine=lambda: parts.engine,
        store=parts.store,
        gate=parts.gate,
        offsets=Consumer(),
        outbox=parts.outbox,
        alert_log=parts.alert_log,
        continuity=Continuity(EVENTS),
        assignment=lambda: [],
        committed=lambda tp: None,
        released=parts.released,
        metrics=parts.metrics,
        now=parts.clock,
    )


def recovery(parts: Parts, assignment: list[Any] | None = None) -> Recovery:
    return Recovery(
        events_topic=EVENTS,
        store=parts.store,
        handled=parts.handled,
        gate=parts.gate,
        continuity=Continuity(EVENTS),
        assignment=lambda: assignment or [],
        engine=lambda: parts.engine,
    )


async def test_a_due_deadline_is_released_as_a_tick_to_its_partition() -> None:
    parts = Parts()
    await parts.agent.handle(event_message(accepted(days=1)))
    the_timers = timers(parts)
    await the_timers.fire_due_deadlines()
    assert parts.producer.ticks == []  # not due yet
    parts.clock.move(days=3)
    await the_timers.fire_due_deadlines()  # the gate notes the barrier (nothing owned)
    await the_timers.fire_due_deadlines()
    [(key, value, partition)] = parts.producer.ticks
    assert tick_batches.decode(key, value) == [CASE]
    assert partition == tick_batches.partition_of(CASE, 3)
    assert parts.released == {CASE}


async def test_a_case_still_settling_waits_for_the_next_tick() -> None:
    parts = Parts(settle_seconds=3600)
    await parts.agent.handle(event_message(accepted(days=1)))
    parts.clock.move(days=3)
    the_timers = timers(parts)
    for _ in range(3):
        await the_timers.fire_due_deadlines()
    assert parts.producer.ticks == [] and parts.released == set()
    assert len(parts.index) == 1  # scheduled again, to be looked at later


async def test_a_partition_with_settled_cases_and_no_message_gets_an_empty_tick() -> None:
    parts = Parts()
    parts.producer.hold = True
    await parts.outbox.send(CASE, [({"alert_id": "a:1", "rule_id": "a"}, None)])
    state = parts.engine.apply(None, decode(json.dumps(accepted()))).state
    parts.store.keep(state, 2, by_event=False)
    parts.producer.pending[0].set_result(None)
    await asyncio.sleep(0)  # the outbox hears of it
    the_timers = timers(parts)
    # waited long enough (the settle-write interval) for a message of partition 2
    await asyncio.sleep(SETTLE_WRITE_SECONDS)
    await the_timers.write_settled()
    assert parts.producer.ticks == [(b"", b"[]", 2)]


async def test_reindex_schedules_every_case_and_sends_again_what_was_not_acknowledged() -> None:
    parts = Parts()
    await parts.agent.handle(event_message(accepted(days=1)))
    listed = {"alert_id": "deadline.warning:" + CASE, "rule_id": "deadline.warning"}
    parts.table[CASE] = {**parts.table[CASE], UNACKNOWLEDGED: [listed], HOME: 2}
    fresh = Parts(table=parts.table)  # another worker, taking the partition over
    count = await recovery(fresh).reindex(recovered=True)
    assert count == 1 and len(fresh.index) == 1
    assert fresh.producer.documents() == [listed]
    assert fresh.store.homes == {CASE: 2}


async def test_where_the_last_owner_had_got_to_is_restored_and_revoked_partitions_forgotten() -> (
    None
):
    parts = Parts(handled={"1": 42})
    continuity = Continuity(EVENTS)
    restore = recovery(parts, [TP(EVENTS, 1), TP("other", 1)])
    restore.continuity = continuity
    continuity.assigned([TP(EVENTS, 1)])
    await restore.restore_handled()
    assert continuity.unhandled(TP(EVENTS, 1), 50) == (42, 50)
    parts.store.homes[CASE] = 1
    continuity.handled(TP(EVENTS, 1), 60)  # judged since, not written
    restore.revoked([TP(EVENTS, 1)])
    assert parts.store.homes == {}
    continuity.assigned([TP(EVENTS, 1)])  # kept by this worker
    await restore.restore_handled()
    assert continuity.unhandled(TP(EVENTS, 1), 50) == (42, 50)  # from what was written
