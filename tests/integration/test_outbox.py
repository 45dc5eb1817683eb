"""Alerts are written down with their case until acknowledged (supervisor/worker/outbox.py),
on the real broker. By default a batch's write waits for its alerts to be acknowledged,
so the case is written once, listing none; a broker slower than that wait (here: no wait
at all) has the stored value list them, then written again without them; a worker that
recovers a case whose alerts were never acknowledged sends them again."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from supervisor.worker.outbox import UNACKNOWLEDGED
from tests.core.factories import event_doc

from .conftest import running_worker, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for

pytestmark = pytest.mark.integration

CENTER = "451228"


def changelog(env: dict[str, str]) -> str:
    return f"{env['SUPERVISOR_APP_ID']}-cases-changelog"


def stored_values(
    records: list[ConsumerRecord[bytes, bytes]], case: str
) -> list[tuple[ConsumerRecord[bytes, bytes], dict[str, Any]]]:
    """The case's values in the table's changelog (keys are JSON strings), in order."""
    return [
        (r, json.loads(r.value))
        for r in records
        if r.key is not None and json.loads(r.key) == case and r.value is not None
    ]


def metric(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def repeated_supplements(case: str) -> list[dict[str, Any]]:
    """Two requests for materials: the second raises `supplement.repeated` at once."""
    return [
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id=CENTER),
        event_doc(
            "supplement_requested",
            "2026-11-27T08:10:00+08:00",
            case_id=case,
            center_id=CENTER,
            missing_materials=["户口簿"],
        ),
        event_doc(
            "supplement_requested",
            "2026-11-27T08:50:00+08:00",
            case_id=case,
            center_id=CENTER,
            missing_materials=["结婚证"],
        ),
    ]


async def test_alerts_are_written_down_until_acknowledged_and_sent_again_after_a_crash(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    env = worker_env(kafka_bootstrap, tmp_path, run)
    case = f"{CENTER}-2026-{uuid.uuid4().int % 10**7:07d}"
    ident = f"supplement.repeated:{case}"

    # 0. By default: the three events are judged in one batch, whose write waits for
    #    the alert's acknowledgement: the case is written once, listing nothing.
    first = f"{CENTER}-2026-{uuid.uuid4().int % 10**7:07d}"
    with running_worker(env, tmp_path / "worker-0.log") as worker:
        await produce(
            worker.bootstrap, worker.events, [(first, d) for d in repeated_supplements(first)]
        )
        records = await collect(
            worker.bootstrap, changelog(env), lambda rs: bool(stored_values(rs, first)), timeout=30
        )
        text = scrape(worker.web_port)
    [(_, value)] = stored_values(records, first)
    assert UNACKNOWLEDGED not in value and len(value["history"]) == 3
    assert metric(text, "supervisor_worker_case_states_total", '{step="staged"}') == 3
    assert metric(text, "supervisor_worker_case_states_total", '{step="written"}') == 1

    # 1. A broker slower than the batch's wait (none here): the value stored with the
    #    event that raised the alert lists it; once the broker acknowledged it, the case
    #    is written again without it.
    env = {**env, "SUPERVISOR_BATCH_ACK_WAIT_SECONDS": "0", "SUPERVISOR_BATCH_EVENTS": "1"}
    with running_worker(env, tmp_path / "worker-1.log") as worker:
        await produce(
            worker.bootstrap, worker.events, [(case, d) for d in repeated_supplements(case)]
        )
        raised = await collect(
            worker.bootstrap,
            worker.alerts,
            lambda rs: any(a["alert_id"] == ident for a in alerts_of(rs)),
        )
        first_bytes = [r.value for r in raised if r.key == ident.encode()]
        published = [
            a
            for a in alerts_of(raised)
            if a["case_id"] == case  # not the first case's of step 0
        ]
        assert [a["alert_id"] for a in published] == [ident]

        def settled(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
            values = stored_values(records, case)
            return len(values) >= 4 and UNACKNOWLEDGED not in values[-1][1]

        records = await collect(worker.bootstrap, changelog(env), settled, timeout=30)
        values = stored_values(records, case)
        listed = [value[UNACKNOWLEDGED] for _, value in values if UNACKNOWLEDGED in value]
        assert listed == [published], "the state of the event that raised it lists the alert"
        assert UNACKNOWLEDGED not in values[-1][1], "written again once acknowledged"
        assert values[-1][1]["fired"] == values[-2][1]["fired"]  # the same state otherwise
        text = scrape(worker.web_port)
        assert metric(text, "supervisor_worker_alerts_unacknowledged") == 0
        assert (
            metric(text, "supervisor_worker_alerts_sent_again_total", '{reason="recovered"}') == 0
        )

    # 2. A crash between the state write and the acknowledgement, recreated: the case's
    #    last stored value lists an alert that the alerts topic never received (the next
    #    worker writes to a fresh alerts topic, so only a copy sent again can reach it).
    last_record, last_value = values[-1]
    crashed = {**last_value, UNACKNOWLEDGED: published}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            changelog(env),
            key=last_record.key,
            value=json.dumps(crashed, ensure_ascii=False).encode(),
            partition=last_record.partition,
        )
    finally:
        await producer.stop()
    env2 = {**env, "SUPERVISOR_TOPIC_ALERTS": f"alerts-again-{run}"}
    with running_worker(env2, tmp_path / "worker-2.log") as worker:
        again = await collect(
            worker.bootstrap,
            worker.alerts,
            lambda rs: any(a["alert_id"] == ident for a in alerts_of(rs)),
            timeout=60,
        )
        copies = [r for r in again if r.key == ident.encode()]
        assert len(copies) == 1, "the unacknowledged alert is sent again, once"
        # the same bytes as the first publication (the stored document, re-encoded)
        assert copies[0].value == first_bytes[0]
        assert await wait_for(
            lambda: (
                metric(
                    scrape(worker.web_port),
                    "supervisor_worker_alerts_sent_again_total",
                    '{reason="recovered"}',
                )
                == 1
            ),
            30,
        )
