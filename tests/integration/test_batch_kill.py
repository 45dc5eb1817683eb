"""A worker killed in the middle of a batch (supervisor/worker/case_agent.py), on the real
broker: it has judged the events and published their alerts, but written no case state
and acknowledged no offset. The next worker reads the same events again, judges them
again, publishes the same alerts (same ids, same content: readers de-duplicate by
alert_id) and writes each case once, with every event; nothing is lost."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from tests.core.factories import event_doc
from tests.processes import kill

from .conftest import running_worker, worker_env
from .kafka_io import alerts_of, collect, collect_until_quiet, produce, wait_for

pytestmark = pytest.mark.integration

CENTER = "451229"
CASES = 12


def metric(port: int, name: str, labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def story(case: str) -> list[dict[str, Any]]:
    """Two requests for materials: the second raises `supplement.repeated` at once."""
    return [
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id=CENTER),
        *(
            event_doc(
                "supplement_requested",
                f"2026-11-27T08:{minute}:00+08:00",
                case_id=case,
                center_id=CENTER,
                missing_materials=[material],
            )
            for minute, material in (("10", "户口簿"), ("50", "结婚证"))
        ),
    ]


def written(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, dict[str, Any]]:
    """The last value of each case in the table's changelog."""
    return {
        json.loads(r.key): json.loads(r.value)
        for r in records
        if r.key is not None and r.value is not None
    }


async def test_a_worker_killed_mid_batch_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    env = worker_env(kafka_bootstrap, tmp_path, run)
    cases = [f"{CENTER}-2026-{run[:4]}{n:03d}" for n in range(CASES)]
    expected = {f"supplement.repeated:{case}" for case in cases}
    changelog = f"{env['SUPERVISOR_APP_ID']}-cases-changelog"
    events = [(case, document) for case in cases for document in story(case)]

    # 1. A batch that would be written only after two minutes: the worker judges the
    #    events and publishes their alerts, and is killed before the write.
    long_batch = {**env, "SUPERVISOR_BATCH_EVENTS": "100000", "SUPERVISOR_BATCH_SECONDS": "120"}
    with running_worker(long_batch, tmp_path / "worker-1.log") as worker:
        await produce(worker.bootstrap, worker.events, events)
        first = await collect(
            worker.bootstrap,
            worker.alerts,
            lambda rs: {a["alert_id"] for a in alerts_of(rs)} >= expected,
        )
        assert {a["alert_id"] for a in alerts_of(first)} == expected
        staged = '{step="staged"}'
        assert await wait_for(
            lambda: (
                metric(worker.web_port, "supervisor_worker_case_states_total", staged)
                == len(events)
            ),
            30,
        )
        assert (
            metric(worker.web_port, "supervisor_worker_case_states_total", '{step="written"}') == 0
        )
        assert worker.process is not None
        kill(worker.process)  # in the middle of the batch
    assert written(await collect(kafka_bootstrap, changelog, lambda rs: False, timeout=3)) == {}

    # 2. The next worker (batches as by default) reads the same events again.
    with running_worker(env, tmp_path / "worker-2.log") as worker:
        records = await collect(
            worker.bootstrap,
            changelog,
            lambda rs: (
                len(written(rs)) == CASES
                and all(len(v["history"]) == 3 for v in written(rs).values())
            ),
            timeout=60,
        )
        states = written(records)
        assert sorted(states) == sorted(cases)
        assert all(len(state["history"]) == 3 for state in states.values())
        again = await collect_until_quiet(
            worker.bootstrap, worker.alerts, not_before=0.0, quiet=3.0, timeout=60
        )
    alerts = alerts_of(again)
    assert {a["alert_id"] for a in alerts} == expected  # none lost, none new
    by_id: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_id.setdefault(alert["alert_id"], []).append(alert)
    for copies in by_id.values():  # a copy sent again is the same alert
        assert len(copies) == 2 and copies[0] == copies[1]
