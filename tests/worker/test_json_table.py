"""The table `cases` with each value encoded once (supervisor/worker/json_table.py): the
same JSON Faust's codec wrote, so changelogs of before and after read alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faust.serializers import codecs

from supervisor.worker import json_table
from supervisor.worker.json_table import JsonTable
from supervisor.worker.outbox import UNACKNOWLEDGED
from supervisor.worker.parts import Parts

from .fakes import Parts as FakeParts
from .test_case_agent import accepted, event_message
from .test_wiring import settings

#: A stored value as the case store writes one: a state with non-ASCII text, nested
#: objects and fractions, and an alert not acknowledged yet.
STORED: dict[str, Any] = {
    "case_id": "451221-2026-0000001",
    "item_name": "食品经营许可（新办）",
    "promised": {"value": 1.5, "unit": "working_day"},
    "history": [{"event_id": "e-1", "type": "accepted", "payload": {"fee_standard": 0}}],
    UNACKNOWLEDGED: [{"alert_id": "fee.overcharge:451221-2026-0000001", "severity": "red"}],
}


def test_values_go_in_as_bytes_and_come_out_as_objects() -> None:
    raw: dict[str, Any] = {}
    table = JsonTable(raw)
    table["a"] = STORED
    assert isinstance(raw["a"], bytes)
    assert table.get("a") == STORED
    assert table.get("missing") is None
    assert list(table.keys()) == ["a"]


def test_the_bytes_are_what_fausts_json_codec_writes_and_reads() -> None:
    """A worker upgraded over a changelog (or a RocksDB store) of before reads it, and a
    worker of before reads what this one writes."""
    assert json_table.dumps(STORED) == codecs.dumps("json", STORED)
    assert codecs.loads("json", json_table.dumps(STORED)) == STORED
    assert JsonTable({"a": codecs.dumps("json", STORED)}).get("a") == STORED


async def test_the_case_store_works_through_it() -> None:
    raw: dict[str, Any] = {}
    parts = FakeParts(table=JsonTable(raw))  # type: ignore[arg-type]
    document = accepted()
    await parts.agent.handle(event_message(document))
    [(case_id, value)] = raw.items()
    assert isinstance(value, bytes)
    parts.store.assigned()  # read from the table again, not from the store's cache
    state = parts.store.load(case_id)
    assert state is not None and [d["event_id"] for d in state.history] == [document["event_id"]]


def test_the_worker_stores_raw_values_and_encodes_them_itself(tmp_path: Path) -> None:
    parts = Parts.build(settings(tmp_path))
    assert parts.channels.cases.value_serializer == "raw"
    assert isinstance(parts.store.table, JsonTable)
    assert parts.store.table.table is parts.channels.cases
