"""The models and the project's copy of the JSON Schema accept and reject the same documents."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BeforeValidator, TypeAdapter, ValidationError

from supervisor.core.events import (
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    MAX_REASON,
    AcceptedPayload,
    CaseEvent,
    EventType,
    InvalidEvent,
    decode,
    from_document,
    history_document,
    numbered,
)

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
    ("submitted", "occurred_at", "2026-11-27T09:15:00+08:60"),  # minutes 00-59 only
    ("submitted", "occurred_at", "2026-11-27T09:15:00-00:60"),
    ("submitted", "occurred_at", "2026-11-27T09:15:00+23:59"),
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
    return bool(VALIDATOR.is_valid(document))


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
        (b'{"a": 1} x', "not JSON: Extra data at character 10"),
        (b"", "not JSON: the message is empty"),
        (b"\xef\xbb\xbf{}", "not JSON: it begins with a byte order mark (BOM)"),
        (b'{"type": "accepted"}', "payload: required for an accepted event"),
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


# -- bounds: size, nesting, numbers, text (contract §1: at most 64 KiB as encoded) -------


def _padded(size: int, kind: str = "submitted") -> bytes:
    """A valid event of exactly `size` bytes (compact JSON; the padding is an unknown
    payload field of CJK text and ASCII, which the schema allows)."""
    document = _by_type(kind)
    document.setdefault("payload", {})["note"] = ""
    base = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    room = size - base
    document["payload"]["note"] = "大" * (room // 3) + "x" * (room % 3)
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(raw) == size
    return raw


def test_an_event_of_exactly_64_kib_is_valid_and_one_byte_more_is_not() -> None:
    assert MAX_EVENT_BYTES == 65_536
    assert decode(_padded(65_536)).type == EventType.SUBMITTED
    with pytest.raises(InvalidEvent) as caught:
        decode(_padded(65_537))
    assert caught.value.reason == "event is 65,537 bytes; at most 65,536 allowed"


def test_the_size_is_counted_in_utf8_bytes_also_for_text() -> None:
    """Replay and resend hand text lines to decode: the bound is the same in bytes."""
    exact = _padded(65_536).decode()
    assert len(exact) < 65_536  # fewer characters than bytes: CJK is 3 bytes each
    assert decode(exact).type == EventType.SUBMITTED
    with pytest.raises(InvalidEvent, match=r"^event is 65,537 bytes"):
        decode(_padded(65_537).decode())


def test_the_200000_big_item_name_the_probe_sent_is_refused_by_its_size() -> None:
    """The live stack's probe: a valid `accepted` whose item_name is 200,000 × 大
    (~600 KB) stopped the worker for good; it is now an invalid event, whose reason
    names its size and quotes nothing of it."""
    document = _by_type("accepted")
    document["payload"]["item_name"] = "大" * 200_000
    raw = json.dumps(document, ensure_ascii=False).encode()
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert caught.value.reason == f"event is {len(raw):,} bytes; at most 65,536 allowed"


def test_a_megabyte_of_garbage_is_refused_by_its_size_before_any_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(orjson, "loads", no_parse)
    monkeypatch.setattr(json, "loads", no_parse)
    with pytest.raises(InvalidEvent, match=r"^event is 1,048,576 bytes; at most 65,536"):
        decode(bytes(range(256)) * 4096)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_a_replay_line_is_bounded_without_its_line_ending(ending: bytes) -> None:
    lines = [_padded(65_536) + ending, _padded(65_537) + ending]
    results = list(numbered(lines))
    assert isinstance(results[0][2], CaseEvent)
    refused = results[1][2]
    assert isinstance(refused, InvalidEvent)
    assert refused.reason == "event is 65,537 bytes; at most 65,536 allowed"
    assert [number for number, _, _ in results] == [1, 2]


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    "raw",
    [
        _nested(5_000),  # an array 5,000 deep: orjson refuses it, the stdlib overflows
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        # within an event's payload, also through the standard library (a 19-digit number)
        json.dumps(_by_type("submitted"))[:-1] + ',"payload":{"x":' + _nested(5_000) + "}}",
        json.dumps(_by_type("submitted"))[:-1]
        + ',"payload":{"n":1234567890123456789,"x":'
        + _nested(5_000)
        + "}}",
        # deeper than MAX_DEPTH but within what orjson (1,024) and the stdlib (~1,000) read:
        # the changelog's encoder would fail on it (254 levels)
        json.dumps(_by_type("submitted"))[:-1] + ',"payload":{"x":' + _nested(300) + "}}",
    ],
    ids=["array", "object", "payload", "payload-stdlib", "payload-300"],
)
def test_deep_nesting_is_malformed_input_not_an_engine_error(raw: str) -> None:
    for form in (raw, raw.encode()):
        with pytest.raises(InvalidEvent) as caught:
            decode(form)
        assert caught.value.reason == "not JSON: nested too deeply (more than 64 levels)"


def test_nesting_up_to_the_bound_is_valid_and_one_more_is_not() -> None:
    assert MAX_DEPTH == 64
    document = _by_type("submitted")
    # the event is level 1, its payload level 2, so the payload's field holds 62 more
    document["payload"] = {"x": json.loads(_nested(MAX_DEPTH - 2))}
    event = decode(json.dumps(document))
    assert orjson.dumps({"history": [history_document(event)]})  # storable
    document["payload"] = {"x": json.loads(_nested(MAX_DEPTH - 1))}
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        decode(json.dumps(document))


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("x", 2**64, "payload.x: number out of range (an integer beyond 64 bits)"),
        ("x", -(2**63) - 1, "payload.x: number out of range (an integer beyond 64 bits)"),
        ("amount", 10**400, "payload.amount: number out of range (an integer beyond 64 bits)"),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_integers_beyond_64_bits_are_refused_with_their_field(
    field: str, value: int, reason: str, as_bytes: bool
) -> None:
    document = _by_type("fee_charged")
    document["payload"][field] = value
    raw = json.dumps(document)
    with pytest.raises(InvalidEvent) as caught:
        decode(raw.encode() if as_bytes else raw)
    assert caught.value.reason == reason
    assert str(value)[:12] not in caught.value.reason


def _outcome(raw: bytes | str) -> object:
    try:
        return decode(raw)
    except InvalidEvent as exc:
        return exc.reason


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["", " ", "7", "-", "12345678901234567", "\u5e74"]),
)
def test_an_integer_of_any_size_reads_the_same_from_bytes_as_from_text(
    value: int, beside: str
) -> None:
    """Kafka delivers bytes and replay lines may be text: the check for integers orjson
    would read as floats has a search of each kind, and both decide alike (an integer
    beyond 64 bits is refused, whatever digits stand beside it)."""
    document = _by_type("fee_charged")
    document["payload"]["x"] = value
    document["payload"]["note"] = f"{beside}{abs(value)}{beside}"
    raw = json.dumps(document, ensure_ascii=False)
    outcome = _outcome(raw)
    assert _outcome(raw.encode()) == outcome
    if not -(2**63) <= value < 2**64:
        assert outcome == "payload.x: number out of range (an integer beyond 64 bits)"


def test_the_extreme_numbers_that_fit_are_valid_and_storable() -> None:
    document = _by_type("fee_charged")
    document["payload"].update(
        big=2**64 - 1, small=-(2**63), huge=1.7976931348623157e308, tiny=5e-324, zero=-0.0
    )
    event = decode(json.dumps(document))
    assert orjson.loads(orjson.dumps(history_document(event)))["payload"]["big"] == 2**64 - 1


def test_a_float_beyond_a_double_is_refused_with_its_field() -> None:
    document = _by_type("fee_charged")
    document["payload"]["amount"] = 12345
    raw = json.dumps(document).replace('"amount": 12345', '"amount": 1e400')
    with pytest.raises(InvalidEvent) as caught:
        decode(raw)
    assert caught.value.reason == "payload.amount: number out of range (beyond a 64-bit float)"


def test_a_lone_surrogate_is_refused_and_a_pair_is_not() -> None:
    document = _by_type("accepted")
    raw = json.dumps(document)  # ASCII: escapes as \uXXXX
    pair = raw.replace('"item_code": "', '"item_code": "\\ud83d\\ude00', 1)
    assert decode(pair).payload_as(AcceptedPayload).item_code.startswith("😀")
    lone = raw.replace('"item_code": "', '"item_code": "\\ud83d', 1)
    with pytest.raises(InvalidEvent, match=r"^payload\.item_code: text with a lone surrogate"):
        decode(lone)
    key = raw.replace('"item_code": "', '"\\udc00": 1, "item_code": "', 1)
    with pytest.raises(InvalidEvent, match=r"^payload: a field name with a lone surrogate"):
        decode(key)


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-00:01", "0001-01-01T07:59:59+08:00"]
)
def test_an_instant_outside_the_utc_range_is_refused(at: str) -> None:
    document = _by_type("submitted")
    document["occurred_at"] = at
    with pytest.raises(InvalidEvent, match=r"^occurred_at: out of range"):
        decode(json.dumps(document))


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"])
def test_the_first_and_last_instants_are_valid(at: str) -> None:
    document = _by_type("submitted")
    document["occurred_at"] = at
    assert decode(json.dumps(document)).occurred_at.year in (1, 9999)


# -- reasons name the field and the problem, never the value -----------------------------

SECRET = "李小梅 452727198805060021 13977881234"


def _with(kind: str, path: str, value: Any) -> dict[str, Any]:
    document = _by_type(kind)
    if path.startswith("payload.") and "payload" not in document:
        document["payload"] = {}
    if path.startswith("applicant.") and "applicant" not in document:
        document["applicant"] = {}
    return _set(document, path, value)


@pytest.mark.parametrize(
    "document,reason",
    [
        (_with("submitted", "type", SECRET), "type: unknown event type"),
        (_with("submitted", "type", [SECRET]), "type: must be a string"),
        (
            _with("submitted", "occurred_at", SECRET),
            "occurred_at: must be an RFC 3339 date-time with an offset",
        ),
        (
            _with("submitted", "occurred_at", "2026-02-30T09:00:00+08:00"),
            "occurred_at: not a valid",
        ),
        (_with("submitted", "center_id", SECRET), "center_id: must match ^[0-9]{6}([0-9]{3})?$"),
        (_with("submitted", "event_id", SECRET * 10), "event_id: must have at most 128 characters"),
        (_with("submitted", "schema_version", SECRET), "schema_version: must be '1'"),
        (_with("submitted", "staff_id", [SECRET]), "staff_id: must be a string"),
        (_with("submitted", "applicant.name", SECRET * 10), "applicant.name: must have at most"),
        (_with("submitted", "applicant.李小梅", SECRET), "applicant.<key>: unknown field"),
        (_with("submitted", "applicant.nickname", SECRET), "applicant.nickname: unknown field"),
        (_with("submitted", "payload", SECRET), "payload: must be an object"),
        (_with("evaluated", "payload.level", SECRET), "payload.level: must be an integer"),
        (_with("evaluated", "payload.level", 9), "payload.level: must be at most 5"),
        (
            _with("suspended", "payload.reason_code", SECRET),
            "payload.reason_code: must be 'hearing'",
        ),
        (
            _with("accepted", "payload.promised_limit.unit", SECRET),
            "payload.promised_limit.unit: must be 'working_day' or 'natural_day'",
        ),
        (_with("accepted", "payload.required_steps", [SECRET, 3]), "payload.required_steps.1: "),
        (_with("decided", "payload.outcome", SECRET), "payload.outcome: must be 'approve' or"),
        (_with("fee_charged", "payload.amount", SECRET), "payload.amount: must be a number"),
        (_with("not_accepted", "payload.reason", None), "payload.reason: must not be null"),
        (_with("submitted", "department", None), "department: must not be null"),
        (_with("step_completed", "payload", _DELETE), "payload: required for a step_completed"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_refusal_names_the_field_and_never_echoes_the_value(
    document: dict[str, Any], reason: str
) -> None:
    """Item 3: an applicant's name, ID number or phone sent in a wrong field must not reach
    the dead-letter reason, the worker's log or replay's standard error, masked or not."""
    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(document, ensure_ascii=False))
    assert caught.value.reason.startswith(reason), caught.value.reason
    for part in ("李", "小梅", "4527", "0021", "139", "1234"):
        assert part not in caught.value.reason, caught.value.reason


def test_a_validator_error_that_quotes_its_input_is_not_shown() -> None:
    """Only the project's own problems (`_Problem`) are shown as written; any other
    error's text (a library's, which may quote the value) reads "is not valid"."""
    import supervisor.core.events as events

    def quoting(value: Any) -> float:
        raise ValueError(f"bad value {value!r}")

    adapter: TypeAdapter[float] = TypeAdapter(Annotated[float, BeforeValidator(quoting)])
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(SECRET)
    assert events._describe(caught.value) == "is not valid"


def test_a_long_list_of_problems_is_cut_and_counted() -> None:
    document = _by_type("submitted")
    for field in ("event_id", "case_id", "center_id", "staff_id", "window_id"):
        document[field] = [SECRET]
    with pytest.raises(InvalidEvent) as caught:
        decode(json.dumps(document, ensure_ascii=False))
    assert caught.value.reason.endswith("(and 2 more)")
    assert len(caught.value.reason) <= MAX_REASON


# -- whatever decode accepts, the service can store (property) ---------------------------

_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(codec=None), max_size=20)
)
_JSON = st.recursive(
    _JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=60,
)


@given(extra=_JSON, depth=st.integers(min_value=0, max_value=80))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_event_decode_accepts_can_be_stored_by_the_changelogs_encoder(
    extra: Any, depth: int
) -> None:
    """Bounded by construction: an accepted event's history document is encodable by
    orjson (Faust's JSON codec for the changelog), nested inside a stored state, with its
    bytes within the bound; a refused one has a reason."""
    document = _by_type("accepted")
    document["payload"]["extra"] = json.loads(_nested(depth, json.dumps(extra)))
    raw = json.dumps(document, ensure_ascii=True)  # escapes lone surrogates too
    try:
        event = decode(raw)
    except InvalidEvent as refused:
        assert refused.reason
        return
    stored = {"history": [history_document(event)], "unacknowledged": [{"details": {}}]}
    assert len(orjson.dumps(stored)) > 0
