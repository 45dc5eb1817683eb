"""Case state lives in the changelog-backed table: it survives a restart of the worker,
even one that lost its local RocksDB files."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.core.factories import event_doc

from .conftest import events_consumed, running_worker, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for

pytestmark = pytest.mark.integration


async def test_state_survives_a_restart_without_local_files(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    case = f"451228-2026-{uuid.uuid4().int % 10**7:07d}"
    first = [
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, center_id="451228"),
        event_doc(
            "supplement_requested",
            "2026-11-27T08:10:00+08:00",
            case_id=case,
            center_id="451228",
            missing_materials=["户口簿"],
        ),
    ]
    with running_worker(env, tmp_path / "worker-1.log") as worker:
        await produce(worker.bootstrap, worker.events, [(case, d) for d in first])
        assert await wait_for(lambda: events_consumed(worker.web_port) >= 2, 60), (
            "events not consumed"
        )
    shutil.rmtree(tmp_path / "data")  # the RocksDB files: only the changelog remains
    second = event_doc(
        "supplement_requested",
        "2026-11-27T08:50:00+08:00",
        case_id=case,
        center_id="451228",
        missing_materials=["结婚证"],
    )
    with running_worker(env, tmp_path / "worker-2.log") as worker:
        await produce(worker.bootstrap, worker.events, [(case, second)])
        records = await collect(
            worker.bootstrap,
            worker.alerts,
            lambda rs: any(a["case_id"] == case for a in alerts_of(rs)),
        )
    mine = [a for a in alerts_of(records) if a["case_id"] == case]
    assert [a["alert_id"] for a in mine] == [f"supplement.repeated:{case}"]
    assert mine[0]["raised_at"] == "2026-11-27T08:50:00+08:00"
