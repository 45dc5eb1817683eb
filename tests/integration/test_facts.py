"""Case facts from a real `supervisor worker` on the real broker: one per applied event
that changes a figure of its case, with the case's status, promised deadline and on-time
judgement, framed per events partition (a record holds a JSON array of them, keyed by
the partition's number)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from supervisor.store.db import Database
from supervisor.store.projection import Projection, Record, Topics
from supervisor.store.queries import ReadModel
from tests.core.factories import event_doc

from .conftest import CLOCK_START, running_worker, worker_env
from .kafka_io import collect, collect_until_quiet, produce

pytestmark = pytest.mark.integration

APPLICANT = {"name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}


def case_id(center: str) -> str:
    return f"{center}-2026-{uuid.uuid4().int % 10**7:07d}"


def doc(kind: str, at: str, case: str, **payload: Any) -> dict[str, Any]:
    return event_doc(kind, at, case_id=case, center_id=case.split("-")[0], **payload)


def facts_of(records: list[Any]) -> list[dict[str, Any]]:
    """The facts of the frames `records`, in order."""
    return [item for record in records for item in json.loads(record.value or b"")]


def accepted(case: str, at: str, days: float) -> dict[str, Any]:
    return doc(
        "accepted",
        at,
        case,
        item_code="451221-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": days, "unit": "working_day"},
    )


async def test_the_worker_publishes_a_fact_per_event_that_changes_a_figure(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    suspended = case_id("451221")  # on time thanks to a suspension
    late = case_id("451224103")  # concluded after its deadline
    acceptance = accepted(suspended, "2026-11-16T10:00:00+08:00", 3)
    first: list[tuple[str, bytes | dict[str, Any]]] = [
        (suspended, doc("submitted", "2026-11-16T09:30:00+08:00", suspended) | {
            "applicant": APPLICANT
        }),
        (suspended, acceptance),
        (suspended, acceptance),  # re-delivered: no second fact
        (suspended, b"{not json"),  # dead letter: no fact
        (suspended, doc("suspended", "2026-11-17T10:00:00+08:00", suspended,
                        reason_code="testing")),
        (suspended, doc("resumed", "2026-11-18T10:00:00+08:00", suspended)),
        (suspended, doc("decided", "2026-11-19T15:00:00+08:00", suspended, outcome="approve")),
        (suspended, doc("concluded", "2026-11-20T16:00:00+08:00", suspended)),
        (late, accepted(late, "2026-11-16T10:00:00+08:00", 1)),
        (late, doc("decided", "2026-11-19T15:00:00+08:00", late, outcome="approve")),
        (late, doc("concluded", "2026-11-19T16:00:00+08:00", late)),
    ]  # fmt: skip
    # not the suspension (the deadline moves only once it is resumed) nor the decisions:
    # the case's figures stay as its last fact said
    expected = 4 + 2
    with running_worker(env, tmp_path / "worker.log") as worker:
        await produce(worker.bootstrap, worker.events, first)
        await collect(worker.bootstrap, worker.facts, lambda rs: len(facts_of(rs)) >= expected)
        records = await collect_until_quiet(
            worker.bootstrap, worker.facts, not_before=time.monotonic(), quiet=3
        )

    facts = facts_of(records)
    assert len(facts) == expected, [r.value for r in records]
    raw = b"".join(r.value or b"" for r in records)
    assert not any(value.encode() in raw for value in APPLICANT.values())
    # each case's facts in frames of its events partition, keyed by the partition
    keys: dict[str, set[bytes]] = {item["case_id"]: set() for item in facts}
    for record in records:
        assert record.key is not None and record.key.isdigit()
        for item in json.loads(record.value or b""):
            keys[item["case_id"]].add(record.key)
    assert all(len(found) == 1 for found in keys.values()), keys

    mine = [f for f in facts if f["case_id"] == suspended]
    assert [(f["event_type"], f["status"], f["deadline"], f["on_time"]) for f in mine] == [
        ("submitted", "received", None, None),
        ("accepted", "open", "2026-11-20T00:00:00+08:00", None),
        # one working day suspended: the deadline moves a working day later
        ("resumed", "open", "2026-11-21T00:00:00+08:00", None),
        ("concluded", "concluded", "2026-11-21T00:00:00+08:00", True),
    ]
    assert mine[-1] == {
        "case_id": suspended,
        "center_id": "451221",
        "event_type": "concluded",
        "occurred_at": "2026-11-20T16:00:00+08:00",
        "status": "concluded",
        "accepted_at": "2026-11-16T10:00:00+08:00",
        "concluded_at": "2026-11-20T16:00:00+08:00",
        "deadline": "2026-11-21T00:00:00+08:00",
        "statutory_deadline": None,
        "on_time": True,
        "department": None,
        "window_id": None,
        "staff_id": None,
    }
    theirs = [f for f in facts if f["case_id"] == late]
    assert [(f["event_type"], f["status"], f["on_time"]) for f in theirs] == [
        ("accepted", "open", None),
        ("concluded", "concluded", False),
    ]
    assert theirs[-1]["deadline"] == "2026-11-18T00:00:00+08:00"
    assert theirs[-1]["center_id"] == "451224103"

    # What the web service's read model makes of them.
    database = Database(f"sqlite:///{tmp_path / 'read-model.db'}")
    try:
        await database.upgrade()
        topics = Topics("alerts", worker.facts, worker.events)
        await Projection(database, topics).apply(
            [Record(worker.facts, r.partition, r.offset, r.value, r.timestamp) for r in records]
        )
        read = ReadModel(database, "Asia/Shanghai")
        figures = await read.figures(*read.day_range(date(2026, 11, 1), date(2026, 11, 30)))
        headline = await read.headline(datetime.fromisoformat(CLOCK_START))
    finally:
        await database.dispose()
    stats = {str(c.key[0]): c for c in figures}
    nandan = stats["451221"]
    assert (nandan.accepted, nandan.concluded, nandan.on_time, nandan.overdue) == (1, 1, 1, 0)
    assert (nandan.not_accepted, nandan.withdrawn, nandan.on_time_rate) == (0, 0, 1.0)
    assert (stats["451224103"].concluded, stats["451224103"].on_time_rate) == (1, 0.0)
    assert headline["open_cases"] == 0
