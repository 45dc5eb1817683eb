"""Ops' way back from the dead-letter topic: list what the worker refused and why, export
it, correct it, send it again, and the worker judges it like any late event."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from supervisor.kafka.admin import ensure_topics
from supervisor.settings import Settings
from tests.core.factories import event_doc

from .conftest import RunningWorker, running_worker, worker_env
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
    assert all(d["at"].endswith("+08:00") for d in mine)  # local time, as the wall says it

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


# -- no poison message: what cannot be stored whole is dead-lettered bounded ---------------

NAME = "欧阳娜娜"  # an applicant's name sent in wrong fields: never in a reason or the log


def engine_errors(worker: RunningWorker) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics") as response:
        text = response.read().decode()
    found = re.search(
        r'^supervisor_worker_events_rejected_total\{reason="engine_error"\} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


async def test_messages_too_large_or_too_deep_are_dead_lettered_and_supervision_goes_on(
    worker: RunningWorker, tmp_path: Path
) -> None:
    """Items 1-3 of the live probe, on the real broker: a 1 MB message that is not JSON, a
    `type` that is a 900 KB string and the 600 KB `accepted` could not be dead-lettered
    (each letter as large as the message, over the producer's limit: the agent crashed,
    again at every restart); JSON 5,000 deep was an engine error with a traceback; a
    name sent in a wrong field was quoted in the reason and the log. Now each goes to
    the dead letters once, bounded, with a reason that quotes nothing of it, and the
    partition goes on: the case's next events raise their alert."""
    case = f"451229-2026-{uuid.uuid4().int % 10**7:07d}"
    before = engine_errors(worker)

    def doc(kind: str, at: str = "2026-11-27T08:00:00+08:00", **payload: Any) -> bytes:
        return json.dumps(
            event_doc(kind, at, case_id=case, center_id="451229", **payload), ensure_ascii=False
        ).encode()

    def typed(kind: str) -> bytes:  # a submitted event whose `type` is `kind`
        document = json.loads(doc("submitted"))
        return json.dumps({**document, "type": kind}, ensure_ascii=False).encode()

    megabyte = (b"\xff\x00 not json " * 83_334)[:1_000_000]
    huge_type = typed(NAME * 75_000)  # 900,000 bytes of it
    big_name = doc(
        "accepted",
        item_code="X",
        item_name="大" * 200_000,
        promised_limit={"value": 5, "unit": "working_day"},
    )
    deep = b"[" * 5_000 + b"]" * 5_000
    named_type = typed(NAME)
    named_level = doc("evaluated", level=NAME)
    refused = [megabyte, huge_type, big_name, deep, named_type, named_level]
    probes = [
        doc("supplement_requested", f"2026-11-27T08:{m}:00+08:00", missing_materials=["户口簿"])
        for m in (10, 30)
    ]
    await produce(worker.bootstrap, worker.events, [(case, v) for v in [*refused, *probes]])

    alerts = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
    )
    assert [a["alert_id"] for a in alerts_of(alerts) if a.get("case_id") == case] == [
        f"supplement.repeated:{case}"
    ]
    dead = await collect(
        worker.bootstrap,
        worker.dlq,
        lambda rs: sum(r.key == case.encode() for r in rs) >= len(refused),
    )
    mine = [r for r in dead if r.key == case.encode()]
    assert len({dict(r.headers)["source"] for r in mine}) == len(refused)  # each once
    letters = {dict(r.headers)["source"]: r for r in mine}.values()
    assert [r.value for r in letters] == [v[:65_536] for v in refused]
    headers = [dict(r.headers) for r in letters]
    assert [h.get("truncated") for h in headers] == [
        str(len(refused[0])).encode(),
        str(len(refused[1])).encode(),
        str(len(refused[2])).encode(),
        None,
        None,
        None,
    ]
    reasons = [h["reason"].decode() for h in headers]
    assert reasons == [
        f"event is {len(megabyte):,} bytes; at most 65,536 allowed",
        f"event is {len(huge_type):,} bytes; at most 65,536 allowed",
        f"event is {len(big_name):,} bytes; at most 65,536 allowed",
        "not JSON: nested too deeply (more than 64 levels)",
        "type: unknown event type",
        "payload.level: must be an integer",
    ]
    assert engine_errors(worker) == before  # malformed input does not page ops
    assert NAME not in worker.log.read_text(encoding="utf-8", errors="replace")

    listed = supervisor(worker, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = [json.loads(line) for line in listed.stdout.splitlines() if case in line]
    assert [d["kind"] for d in shown] == ["invalid"] * 3 + ["malformed"] + ["invalid"] * 2
    assert [d["truncated"] for d in shown[:3]] == [len(v) for v in refused[:3]]
    assert "[truncated (the first 65,536 of 1,000,000 bytes kept)]" in shown[0]["value"]
    export = tmp_path / "all.jsonl"
    exported = supervisor(worker, "export", str(export))
    assert exported.returncode == 0, exported.stderr
    assert "大大大" not in export.read_text(encoding="utf-8")  # a truncated body: left out
    assert NAME * 2 not in export.read_text(encoding="utf-8")


async def test_a_dead_letter_the_broker_refuses_for_its_size_is_kept_without_its_body(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A dead-letter topic created by someone with a smaller max.message.bytes than ours:
    the bounded letter (here 50 KB) is refused by the broker; it is stored again without
    its body (its reason, source and original size kept) and the worker goes on."""
    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    settings = Settings.from_env(env)
    await ensure_topics(
        settings.bootstrap_servers,
        {settings.topic_dlq: settings.partitions},
        configs={settings.topic_dlq: {"max.message.bytes": "10000"}},
    )
    case = f"451229-2026-{uuid.uuid4().int % 10**7:07d}"
    bad = json.dumps(
        event_doc("submitted", "2026-11-27T08:00:00+08:00", case_id=case, note="x" * 50_000)
    ).replace('"submitted"', '"teleported"')
    probes = [
        event_doc(
            "supplement_requested",
            f"2026-11-27T08:{m}:00+08:00",
            case_id=case,
            missing_materials=["户口簿"],
        )
        for m in (10, 30)
    ]
    with running_worker(env, tmp_path / "worker.log") as running:
        await produce(running.bootstrap, running.events, [(case, bad.encode())])
        await produce(running.bootstrap, running.events, [(case, p) for p in probes])
        alerts = await collect(
            running.bootstrap,
            running.alerts,
            lambda rs: any(a.get("case_id") == case for a in alerts_of(rs)),
        )
        assert any(a.get("case_id") == case for a in alerts_of(alerts))
        dead = await collect(running.bootstrap, running.dlq, lambda rs: len(rs) >= 1)
    [letter] = [r for r in dead if r.key == case.encode()]
    headers = dict(letter.headers)
    assert letter.value == b""
    assert headers["truncated"] == str(len(bad.encode())).encode()
    assert headers["reason"] == b"type: unknown event type"
    assert headers["source"].startswith(f"{settings.topic_events}/".encode())
    assert "refused for its size" in (tmp_path / "worker.log").read_text(errors="replace")
