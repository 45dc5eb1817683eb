"""Ops' way back from the dead-letter topic: list what the worker refused and why, export
it, correct it, send it again, and the worker judges it like any late event."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.core.factories import event_doc

from .conftest import RunningWorker
from .kafka_io import alerts_of, collect, produce

pytestmark = pytest.mark.integration


def supervisor(worker: RunningWorker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor.cli", "dlq", *args],
        env=worker.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_refused_events_are_listed_exported_fixed_and_sent_again(
    worker: RunningWorker, tmp_path: Path
) -> None:
    case = f"451228-2026-{uuid.uuid4().int % 10**7:07d}"
    first = event_doc(
        "supplement_requested",
        "2026-11-27T08:10:00+08:00",
        case_id=case,
        center_id="451228",
        missing_materials=["户口簿"],
    )
    # The second request names its materials as a string: the schema wants a list.
    broken = event_doc(
        "supplement_requested",
        "2026-11-27T08:30:00+08:00",
        case_id=case,
        center_id="451228",
        missing_materials="结婚证",
    )
    await produce(
        worker.bootstrap,
        worker.events,
        [(case, first), (case, broken), (case, b"\xff\xfe not text " + case.encode())],
    )
    await collect(  # the worker moved both to the DLQ
        worker.bootstrap,
        worker.dlq,
        lambda rs: sum(case.encode() in (r.value or b"") for r in rs) >= 2,
    )

    listed = supervisor(worker, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = [json.loads(line) for line in listed.stdout.splitlines() if case in line]
    assert sorted(d["kind"] for d in mine) == ["invalid", "malformed"]
    invalid = next(d for d in mine if d["kind"] == "invalid")
    assert "missing_materials" in invalid["reason"]
    assert invalid["source"].startswith(f"{worker.events}/")

    export = tmp_path / "fixed.jsonl"
    exported = supervisor(worker, "export", str(export), "--kind", "invalid")
    assert exported.returncode == 0, exported.stderr
    assert export.stat().st_mode & 0o777 == 0o600  # applicants' data
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    ours = [doc for doc in lines if doc.get("case_id") == case]
    assert [doc["event_id"] for doc in ours] == [broken["event_id"]]

    ours[0]["payload"]["missing_materials"] = ["结婚证"]  # the correction
    export.write_text(
        json.dumps(ours[0], ensure_ascii=False) + "\n" + '{"not": "an event"}\n', encoding="utf-8"
    )
    sent = supervisor(worker, "resend", str(export))
    assert sent.returncode == 1  # the second line is refused, with its line number
    assert f"{export}:2:" in sent.stderr and "1 events sent" in sent.stderr

    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
    )
    raised = [a for a in alerts_of(records) if a.get("case_id") == case]
    assert [a["alert_id"] for a in raised] == [f"supplement.repeated:{case}"]
    assert raised[0]["raised_at"] == "2026-11-27T08:30:00+08:00"  # the event's own time
