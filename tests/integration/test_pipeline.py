"""Case events through the real broker and a real `supervisor worker` to the alerts topic."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from supervisor.worker.ticks import partition_of
from tests.core.factories import event_doc

from .conftest import CLOCK_START, RunningWorker
from .kafka_io import alerts_of, collect, produce

pytestmark = pytest.mark.integration


def case_id(center: str = "451221") -> str:
    return f"{center}-2026-{uuid.uuid4().int % 10**7:07d}"


def accepted_doc(case: str, at: str, value: float, **extra: Any) -> dict[str, Any]:
    return event_doc(
        "accepted",
        at,
        case_id=case,
        center_id=case.split("-")[0],
        item_code="451221-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": value, "unit": "working_day"},
        **extra,
    )


async def test_a_late_case_yields_warning_and_overdue_at_their_deadlines(
    worker: RunningWorker,
) -> None:
    case = case_id("451224103")
    await produce(
        worker.bootstrap,
        worker.events,
        [(case, accepted_doc(case, "2026-11-16T10:00:00+08:00", 3))],
    )
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: sum(1 for a in alerts_of(rs) if a["case_id"] == case) >= 2,
    )
    mine = {a["rule_id"]: a for a in alerts_of(records) if a["case_id"] == case}
    assert mine["deadline.overdue"]["raised_at"] == "2026-11-20T00:00:00+08:00"
    assert mine["deadline.overdue"]["severity"] == "red"
    assert mine["deadline.overdue"]["center_id"] == "451224103"
    assert mine["deadline.warning"]["raised_at"] == "2026-11-19T09:36:00+08:00"
    keys = {r.key.decode() for r in records if r.key and case in r.key.decode()}
    assert keys == {f"deadline.overdue:{case}", f"deadline.warning:{case}"}


def limit_due_in(worker: RunningWorker, seconds: float) -> tuple[float, datetime]:
    """A promised limit (working days) for a case accepted Thursday whose deadline falls
    `seconds` from now or just after, on the worker's clock, and that deadline. The limit
    runs from 00:00 Friday 27th; k/65536 working day (k a multiple of 8) is a whole number
    of microseconds, so the deadline is exact."""
    started = datetime.fromisoformat(CLOCK_START)
    elapsed = time.monotonic() - worker_started_at(worker)
    target = started + timedelta(seconds=elapsed + seconds)
    seconds_into_day = (target - started.replace(hour=0)).total_seconds()
    step = 86400 * 8 / 65536
    k = 8 * (int(seconds_into_day / step) + 1)
    return k / 65536, started.replace(hour=0) + timedelta(seconds=k * 86400 / 65536)


async def test_a_deadline_in_the_future_fires_from_the_timer(worker: RunningWorker) -> None:
    limit, deadline = limit_due_in(worker, 8)
    case = case_id()
    sent = time.time()
    await produce(
        worker.bootstrap,
        worker.events,
        [(case, accepted_doc(case, "2026-11-26T10:00:00+08:00", limit))],
    )
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(
            a["case_id"] == case and a["rule_id"] == "deadline.overdue" for a in alerts_of(rs)
        ),
    )
    overdue = next(r for r in records if r.key == f"deadline.overdue:{case}".encode())
    assert alerts_of([overdue])[0]["raised_at"] == deadline.isoformat(timespec="seconds")
    assert overdue.timestamp / 1000 - sent > 3, "fired on arrival, not when the deadline came"


async def test_a_case_on_another_partition_than_murmur2_still_gets_its_deadline(
    worker: RunningWorker,
) -> None:
    """A center whose producer does not use murmur2 (librdkafka's default partitioner):
    the case's state is on the partition its events came on, so its deadline ticks must go
    there, not to the one murmur2 gives (they would find no state and fire nothing). The
    README requires murmur2; the worker counts such events and still supervises them."""
    limit, _ = limit_due_in(worker, 6)
    case = case_id()
    partitions = int(worker.env["SUPERVISOR_PARTITIONS"])
    wrong = (partition_of(case, partitions) + 1) % partitions
    producer = AIOKafkaProducer(bootstrap_servers=worker.bootstrap, acks="all")
    await producer.start()
    try:
        body = json.dumps(accepted_doc(case, "2026-11-26T10:00:00+08:00", limit))
        await producer.send_and_wait(
            worker.events, key=case.encode(), value=body.encode(), partition=wrong
        )
    finally:
        await producer.stop()
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a["alert_id"] == f"deadline.overdue:{case}" for a in alerts_of(rs)),
    )
    assert any(a["alert_id"] == f"deadline.overdue:{case}" for a in alerts_of(records))
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics") as response:
        text = response.read().decode()
    assert re.search(r"^supervisor_worker_events_misrouted_total [1-9]", text, re.M)


async def test_a_case_whose_events_come_on_several_partitions_is_judged_whole(
    worker: RunningWorker,
) -> None:
    """A producer that keys a case's events otherwise than by case_id (none, another key)
    spreads them over partitions: within one batch the case is staged on several, and
    each partition's write must leave it whole. Three events of each case on three
    partitions: the second `supplement_requested` of each is judged on the first
    (supplement.repeated), and the agent never crashes on the writes."""
    partitions = int(worker.env["SUPERVISOR_PARTITIONS"])
    cases = [case_id() for _ in range(8)]
    producer = AIOKafkaProducer(bootstrap_servers=worker.bootstrap, acks="all")
    await producer.start()
    try:
        for case in cases:
            home = partition_of(case, partitions)
            documents = [
                accepted_doc(case, "2026-11-26T10:00:00+08:00", 5),
                event_doc("supplement_requested", "2026-11-26T10:10:00+08:00", case_id=case),
                event_doc("supplement_requested", "2026-11-26T10:20:00+08:00", case_id=case),
            ]
            for shift, document in enumerate(documents):
                await producer.send_and_wait(
                    worker.events,
                    key=None,
                    value=json.dumps(document).encode(),
                    partition=(home + shift) % partitions,
                )
    finally:
        await producer.stop()
    wanted = {f"supplement.repeated:{case}" for case in cases}
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: wanted <= {a["alert_id"] for a in alerts_of(rs)},
    )
    assert wanted <= {a["alert_id"] for a in alerts_of(records)}
    # every batch written: only then are its events committed (a write that failed
    # would leave its partition's events uncommitted)
    assert await wait_for_async(lambda: committed_to_the_end(worker), timeout=60)
    log = worker.log.read_text(encoding="utf-8", errors="replace")
    assert "Crashed" not in log and "KeyError" not in log


async def committed_to_the_end(worker: RunningWorker) -> bool:
    """Whether the worker's group committed every events partition to its end."""
    partitions = [
        TopicPartition(worker.events, p) for p in range(int(worker.env["SUPERVISOR_PARTITIONS"]))
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=worker.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(worker.env["SUPERVISOR_APP_ID"])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=worker.bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return all(tp in committed and committed[tp].offset >= ends[tp] for tp in partitions)


async def wait_for_async(
    condition: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.5
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(every)
    return False


async def test_malformed_messages_go_to_the_dead_letter_topic_and_the_rest_flows(
    worker: RunningWorker,
) -> None:
    case = case_id("451202")
    bad_payload = accepted_doc(case, "2026-11-27T08:00:00+08:00", 5)
    bad_payload["payload"]["promised_limit"]["unit"] = "fortnight"
    garbage = "这不是JSON {".encode()
    await produce(
        worker.bootstrap,
        worker.events,
        [
            (case, garbage),
            (case, bad_payload),
            (case, accepted_doc(case, "2026-11-27T08:00:00+08:00", 5, fee_standard=0)),
            (
                case,
                event_doc(
                    "fee_charged",
                    "2026-11-27T08:05:00+08:00",
                    case_id=case,
                    center_id="451202",
                    amount=50,
                ),
            ),
        ],
    )
    alerts = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a["alert_id"] == f"fee.overcharge:{case}" for a in alerts_of(rs)),
    )
    assert any(a["alert_id"] == f"fee.overcharge:{case}" for a in alerts_of(alerts))
    dead = await collect(
        worker.bootstrap,
        worker.dlq,
        lambda rs: sum(1 for r in rs if r.key == case.encode()) >= 2,
        timeout=30,
    )
    mine = [r for r in dead if r.key == case.encode()]
    assert [r.value for r in mine] == [garbage, _json(bad_payload)]
    reasons = [dict(r.headers)["reason"].decode() for r in mine]
    assert reasons[0].startswith("not JSON")
    assert "payload.promised_limit.unit" in reasons[1]


async def test_a_redelivered_event_changes_nothing(worker: RunningWorker) -> None:
    case = case_id("451203")
    first = event_doc(
        "supplement_requested",
        "2026-11-27T08:10:00+08:00",
        case_id=case,
        center_id="451203",
        missing_materials=["身份证明"],
    )
    second = event_doc(
        "supplement_requested",
        "2026-11-27T08:30:00+08:00",
        case_id=case,
        center_id="451203",
        missing_materials=["营业执照"],
    )
    submitted = event_doc(
        "submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id="451203"
    )
    await produce(
        worker.bootstrap,
        worker.events,
        [(case, submitted), (case, first), (case, first), (case, second), (case, second)],
    )
    records = await collect(
        worker.bootstrap, worker.alerts, lambda rs: any(a["case_id"] == case for a in alerts_of(rs))
    )
    time.sleep(2)  # anything more the duplicates could raise would arrive by now
    records = await collect(worker.bootstrap, worker.alerts, lambda rs: False, timeout=3)
    mine = [a for a in alerts_of(records) if a["case_id"] == case]
    assert [a["alert_id"] for a in mine] == [f"supplement.repeated:{case}"]
    assert "第 2 次" in mine[0]["message"]


def _json(document: dict[str, Any]) -> bytes:
    import json

    return json.dumps(document, ensure_ascii=False).encode()


def worker_started_at(worker: RunningWorker) -> float:
    return worker.started_monotonic


async def test_a_late_batch_is_applied_whole_before_past_deadlines_fire(
    worker: RunningWorker,
) -> None:
    """A township uploads last week's events at once: the case concluded in time, and
    another was never concluded. Only the second is overdue."""
    on_time, forgotten = case_id("451225101"), case_id("451225101")
    batch = [
        (on_time, accepted_doc(on_time, "2026-11-16T10:00:00+08:00", 3)),
        (forgotten, accepted_doc(forgotten, "2026-11-16T10:30:00+08:00", 3)),
        (
            on_time,
            event_doc(
                "decided",
                "2026-11-18T15:00:00+08:00",
                case_id=on_time,
                center_id="451225101",
                outcome="approve",
            ),
        ),
        (
            on_time,
            event_doc(
                "concluded", "2026-11-18T15:05:00+08:00", case_id=on_time, center_id="451225101"
            ),
        ),
    ]
    await produce(worker.bootstrap, worker.events, batch)
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a["alert_id"] == f"deadline.overdue:{forgotten}" for a in alerts_of(rs)),
    )
    time.sleep(3)
    records = await collect(worker.bootstrap, worker.alerts, lambda rs: False, timeout=3)
    assert any(a["alert_id"] == f"deadline.overdue:{forgotten}" for a in alerts_of(records))
    assert [a for a in alerts_of(records) if a["case_id"] == on_time] == []


async def test_a_deadline_in_an_unconfirmed_year_is_flagged(worker: RunningWorker) -> None:
    import urllib.request

    from .kafka_io import wait_for

    case = case_id()
    await produce(
        worker.bootstrap,
        worker.events,
        [(case, accepted_doc(case, "2026-11-27T08:00:00+08:00", 30))],  # due in 2027
    )

    def flagged() -> bool:
        url = f"http://127.0.0.1:{worker.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return (
                'supervisor_calendar_unconfirmed_year{year="2027"} 1.0' in response.read().decode()
            )

    assert await wait_for(flagged, 30)
    assert "no official holiday schedule for 2027" in worker.log.read_text()
