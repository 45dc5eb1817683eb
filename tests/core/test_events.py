"""The models and the project's copy of the JSON Schema accept and reject the same documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from supervisor.core.events import CaseEvent, EventType, InvalidEvent, decode, from_document

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "supervisor/schema/case-event.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
EXAMPLES = [
    json.loads(line)
    for line in (ROOT / "tests/fixtures/contract-examples.jsonl").read_text().splitlines()
    if line.strip()
]
SHARED = ROOT.parent / "shared" / "contract" / "case-event.schema.json"


def _by_type(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(e for e in EXAMPLES if e["type"] == kind))


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    target = document
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return document


_DELETE = object()

# (base event type, path, new value): each makes a variant; most are invalid, some valid.
MUTATIONS: list[tuple[str, str, Any]] = [
    ("submitted", "schema_version", "2"),
    ("submitted", "schema_version", 1),
    ("submitted", "event_id", ""),
    ("submitted", "event_id", "x" * 129),
    ("submitted", "event_id", "x" * 128),
    ("submitted", "event_id", 7),
    ("submitted", "case_id", _DELETE),
    ("submitted", "center_id", "45120"),
    ("submitted", "center_id", "4512001"),
    ("submitted", "center_id", "451224103"),
    ("submitted", "center_id", "45122410a"),
    ("submitted", "type", "approved"),
    ("submitted", "type", 3),
    ("submitted", "occurred_at", "2026-11-27T09:15:00"),
    ("submitted", "occurred_at", "2026-11-27 09:15:00+08:00"),
    ("submitted", "occurred_at", "2026-11-27T09:15:00Z"),
    ("submitted", "occurred_at", "2026-11-27T09:15:00.123+08:00"),
    ("submitted", "occurred_at", "2026-02-30T09:15:00+08:00"),
    ("submitted", "occurred_at", "yesterday"),
    ("submitted", "occurred_at", 1764206100),
    ("submitted", "staff_id", "s" * 65),
    ("submitted", "department", None),
    ("submitted", "applicant.nickname", "小李"),
    ("submitted", "applicant.phone", 13977881234),
    ("submitted", "extra_field", {"anything": True}),
    ("submitted", "payload", "text"),
    ("submitted", "payload", {"free": "form"}),
    ("accepted", "payload", _DELETE),
    ("accepted", "payload.item_code", _DELETE),
    ("accepted", "payload.promised_limit", _DELETE),
    ("accepted", "payload.promised_limit.value", 0),
    ("accepted", "payload.promised_limit.value", -1),
    ("accepted", "payload.promised_limit.value", 0.5),
    ("accepted", "payload.promised_limit.value", True),
    ("accepted", "payload.promised_limit.value", "5"),
    ("accepted", "payload.promised_limit.unit", "hour"),
    ("accepted", "payload.statutory_limit.unit", "natural_day"),
    ("accepted", "payload.immediate", "yes"),
    ("accepted", "payload.immediate", 1),
    ("accepted", "payload.fee_standard", -0.01),
    ("accepted", "payload.fee_standard", 12.5),
    ("accepted", "payload.required_steps", "review"),
    ("accepted", "payload.required_steps", [1, 2]),
    ("accepted", "payload.local_code", "kept"),
    ("not_accepted", "payload", _DELETE),
    ("not_accepted", "payload.reason", 5),
    ("supplement_requested", "payload.missing_materials", "身份证"),
    ("step_completed", "payload", _DELETE),
    ("step_completed", "payload.step", _DELETE),
    ("suspended", "payload.reason_code", "holiday"),
    ("suspended", "payload.reason_code", _DELETE),
    ("suspended", "payload", _DELETE),
    ("extended", "payload.value", 0),
    ("extended", "payload.unit", _DELETE),
    ("extended", "payload.approved_by", _DELETE),
    ("fee_charged", "payload.amount", -1),
    ("fee_charged", "payload.amount", _DELETE),
    ("fee_charged", "payload.currency", "USD"),
    ("decided", "payload.outcome", "maybe"),
    ("decided", "payload", _DELETE),
    ("evaluated", "payload.level", 0),
    ("evaluated", "payload.level", 6),
    ("evaluated", "payload.level", 4.5),
    ("evaluated", "payload.level", 4.0),
    ("evaluated", "payload.level", "4"),
    ("evaluated", "payload.level", False),
    ("complained", "payload", _DELETE),
]


def _schema_accepts(document: Any) -> bool:
    return VALIDATOR.is_valid(document)


def _model_accepts(document: Any) -> bool:
    try:
        decode(json.dumps(document, ensure_ascii=False).encode())
    except InvalidEvent:
        return False
    return True


def test_the_shipped_schema_is_the_contracts() -> None:
    """The project ships its own copy; it must not drift from the contract."""
    if not SHARED.exists():
        pytest.skip(reason="the shared contract folder is not beside this checkout")
    assert json.loads(SHARED.read_text()) == SCHEMA


@pytest.mark.parametrize("document", EXAMPLES, ids=[e["event_id"] for e in EXAMPLES])
def test_every_contract_example_is_accepted_by_both(document: dict[str, Any]) -> None:
    assert _schema_accepts(document)
    assert _model_accepts(document)


def test_examples_cover_every_event_type() -> None:
    assert {e["type"] for e in EXAMPLES} | {"resumed"} >= {t.value for t in EventType} - {"resumed"}


@pytest.mark.parametrize(
    "kind,path,value", MUTATIONS, ids=[f"{k}:{p}={v!r:.20}" for k, p, v in MUTATIONS]
)
def test_models_and_schema_agree(kind: str, path: str, value: Any) -> None:
    base = _by_type(kind)
    if path.startswith("payload.") and "payload" not in base:
        base["payload"] = {}
    if path.startswith("applicant.") and "applicant" not in base:
        base["applicant"] = {}
    document = _set(base, path, value)
    assert _model_accepts(document) == _schema_accepts(document), json.dumps(document)


@pytest.mark.parametrize("document", [[], "text", 3, None, {"schema_version": "1"}])
def test_non_objects_and_empty_objects_are_rejected_by_both(document: Any) -> None:
    assert not _schema_accepts(document)
    assert not _model_accepts(document)


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1]", "must be a JSON object"),
        (
            b'{"schema_version":"1","event_id":"e","case_id":"c","center_id":"451200",'
            b'"type":"accepted","occurred_at":"2026-11-27T09:00:00+08:00",'
            b'"payload":{"item_code":"x","promised_limit":{"value":5,"unit":"hour"}}}',
            "payload.promised_limit.unit",
        ),
        (
            b'{"schema_version":"1","event_id":"e","case_id":"c","center_id":"451200",'
            b'"type":"submitted","occurred_at":"2026-11-27T09:00:00"}',
            "offset",
        ),
    ],
)
def test_rejections_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert reason in caught.value.reason


def test_unknown_payload_fields_are_kept() -> None:
    document = _by_type("accepted")
    document["payload"]["local_code"] = "GX-01"
    event = from_document(document)
    assert isinstance(event, CaseEvent)
    assert event.payload is not None
    assert event.payload.model_dump()["local_code"] == "GX-01"
