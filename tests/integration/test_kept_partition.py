"""A partition a worker keeps through a rebalance, on the real broker: what it had read
back and judged, but not written, is read back again (supervisor/worker/continuity.py).

The scale-out test once saw it fail (one run in many): worker b had read back a span
below Faust's committed offset, a second worker joined, and b, keeping the partition,
went on from where it had judged instead of from where it had written: every rebalance
revokes all partitions and drops the states not written yet, and Faust resumes at the
committed offset, so the span was never read again, and a `decided` was judged without
the steps before it (a false `workflow.step_skipped`).

Recreated here on purpose, as tests/integration/test_read_back.py recreates a span
Faust acknowledged unhandled: one case per partition, accepted and written by a first
worker; its required step produced while no worker runs, and the group's offset moved
past it; a second worker (batches of a minute, so nothing it judges is written) reads
the step back when the case's `decided` arrives; then a third joins. Whichever worker
owns each partition after that judges the step and the decision again, and no
`workflow.step_skipped` is raised.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from supervisor.worker.ticks import partition_of
from tests.core.factories import event_doc

from .conftest import events_consumed, free_port, running_worker, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for

pytestmark = pytest.mark.integration

CENTER = "451228"


def one_case_per_partition(partitions: int) -> list[str]:
    cases: dict[int, str] = {}
    while len(cases) < partitions:
        case = f"{CENTER}-2026-{uuid.uuid4().int % 10**7:07d}"
        cases.setdefault(partition_of(case, partitions), case)
    return [cases[p] for p in range(partitions)]


def doc(case: str, kind: str, at: str, **payload: Any) -> dict[str, Any]:
    return event_doc(kind, f"2026-11-26T{at}:00+08:00", case_id=case, center_id=CENTER, **payload)


def accepted(case: str) -> dict[str, Any]:
    return doc(
        case,
        "accepted",
        "09:00",
        item_code=f"{CENTER}-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": 5, "unit": "working_day"},
        required_steps=["审查"],
    )


async def test_a_kept_partition_reads_back_again_what_it_had_not_written(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    first = {**worker_env(kafka_bootstrap, tmp_path, run), "SUPERVISOR_BATCH_SECONDS": "0.5"}
    partitions = int(first["SUPERVISOR_PARTITIONS"])
    cases = one_case_per_partition(partitions)
    events = first["SUPERVISOR_TOPIC_EVENTS"]

    # 1. Each case accepted and written, and where the worker had got to recorded.
    with running_worker(first, tmp_path / "worker-1.log") as worker:
        await produce(worker.bootstrap, events, [(case, accepted(case)) for case in cases])
        assert await wait_for(lambda: events_consumed(worker.web_port) >= len(cases), 60)
        await asyncio.sleep(1.5)  # the batch, and the offset it records, are written

    # 2. The required step of each case, acknowledged while no worker handled it.
    steps = [(case, doc(case, "step_completed", "10:00", step="审查")) for case in cases]
    await produce(kafka_bootstrap, events, steps)
    group = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=first["SUPERVISOR_APP_ID"])
    await group.start()
    try:
        tps = [TopicPartition(events, p) for p in range(partitions)]
        group.assign(tps)
        await group.commit(await group.end_offsets(tps))
    finally:
        await group.stop()

    # 3. A worker that writes nothing within the test reads the steps back at the
    #    decisions, then a second joins: a rebalance, in which it keeps some partitions.
    slow = {
        **first,
        "SUPERVISOR_BATCH_SECONDS": "60",
        "SUPERVISOR_TICK_SECONDS": "60",  # no timer's tick writes the batches either
    }
    joining = {
        **slow,
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data-3"),
        "SUPERVISOR_WORKER_WEB_PORT": str(free_port()),
    }
    with running_worker(slow, tmp_path / "worker-2.log") as keeper:
        decisions = [
            (case, doc(case, "decided", "11:00", outcome="approve", legal_basis="许可法"))
            for case in cases
        ]
        await produce(kafka_bootstrap, events, decisions)
        judged = 2 * len(cases)  # each step, read back, and each decision
        assert await wait_for(lambda: events_consumed(keeper.web_port) >= judged, 60)
        assert "never reached the agent" in keeper.log.read_text()
        with running_worker(joining, tmp_path / "worker-3.log") as joiner:
            # judged again, the steps first, by whoever owns each partition now
            again = await wait_for(
                lambda: (
                    events_consumed(keeper.web_port) + events_consumed(joiner.web_port)
                    >= 2 * judged
                ),
                90,
            )
            records = await collect(
                kafka_bootstrap, first["SUPERVISOR_TOPIC_ALERTS"], lambda _: False, 3
            )
    skipped = [a["alert_id"] for a in alerts_of(records) if "step_skipped" in a["alert_id"]]
    assert skipped == [], "a decision judged without the step read back before the rebalance"
    assert again, "every step and decision judged again after the rebalance"
