"""The stored form of a case state (state.py's codec).

The golden documents are what the state wrote when it was a pydantic model
(`model_dump(mode="json", exclude_defaults=True)`, history compacted), captured from that
code: a worker reads a changelog written before the codec was written by hand, and the
code before reads what it writes, so the bytes must not change.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from supervisor.core.state import (
    CaseState,
    Complaint,
    LimitState,
    Rating,
    StateDecodeError,
    Status,
    iso_datetime,
)

CN = ZoneInfo("Asia/Shanghai")
P8 = timezone(timedelta(hours=8))

#: A state with every field set, as the pydantic model wrote it (see FULL_STATE).
FULL_JSON = r"""{"case_id": "451221-2026-0000001", "center_id": "451221", "status": "open", "last_event_at": "2026-11-16T10:00:00+08:00", "advanced_to": "2026-11-17T02:00:00.123456Z", "item_code": "X1", "item_name": "许可", "department": "局", "window_id": "W1", "staff_id": "S1", "immediate": true, "promised": {"value": 5.0, "unit": "working_day"}, "statutory": {"value": 20.5, "unit": "natural_day"}, "fee_standard": 0.0, "required_steps": ["review", "approve"], "submitted_at": "2026-11-16T09:00:00+08:00", "accepted_at": "2026-11-16T10:00:30+08:00", "decided_at": "2026-11-18T01:00:00Z", "decided_outcome": "approve", "concluded_at": "2026-11-18T09:00:00.000500+08:00", "delivered_at": "2026-11-19T09:00:00-05:30", "completed_steps": ["review"], "supplement_requests": 2, "fees_charged": 5.0, "extension_count": 1, "approved_extensions": [{"value": 3.0, "unit": "working_day"}, {"value": 1.5, "unit": "natural_day"}], "suspended_since": "2026-11-17T09:00:00+08:00", "suspended_seconds": 3600.0, "suspensions": 1, "unrectified_ratings": [{"number": 1, "at": "2026-11-20T09:00:00+08:00"}], "complaints": [{"number": 2, "at": "2026-11-21T09:00:00Z"}], "occurrences": {"deadline.overdue": 1, "x": 2}, "fired": {"a1": "2026-11-20T09:00:00+08:00", "a2": "2026-11-20T01:00:00Z"}, "retracted": ["a0"], "changed": {"a1": "closed"}, "history": [{"event_id": "e1", "type": "submitted", "occurred_at": "2026-11-16T09:00:00+08:00"}, {"event_id": "e2", "case_id": "other", "type": "accepted", "occurred_at": "2026-11-16T10:00:00+08:00", "payload": {"x": 1}}]}"""  # noqa: E501


def full_state() -> CaseState:
    """The state FULL_JSON was written from: aware datetimes in +08:00, UTC (with
    microseconds) and -05:30; ints in float fields; a history document of another case."""
    return CaseState(
        case_id="451221-2026-0000001",
        center_id="451221",
        status="open",
        history=[
            {
                "schema_version": "1",
                "event_id": "e1",
                "case_id": "451221-2026-0000001",
                "center_id": "451221",
                "type": "submitted",
                "occurred_at": "2026-11-16T09:00:00+08:00",
            },
            {
                "schema_version": "1",
                "event_id": "e2",
                "case_id": "other",
                "center_id": "451221",
                "type": "accepted",
                "occurred_at": "2026-11-16T10:00:00+08:00",
                "payload": {"x": 1},
            },
        ],
        last_event_at=datetime(2026, 11, 16, 10, 0, tzinfo=CN),
        advanced_to=datetime(2026, 11, 17, 2, 0, 0, 123456, tzinfo=UTC),
        item_code="X1",
        item_name="许可",
        department="局",
        window_id="W1",
        staff_id="S1",
        immediate=True,
        promised=LimitState(5, "working_day"),
        statutory=LimitState(20.5, "natural_day"),
        fee_standard=0,
        required_steps=["review", "approve"],
        submitted_at=datetime(2026, 11, 16, 9, 0, tzinfo=P8),
        accepted_at=datetime(2026, 11, 16, 10, 0, 30, tzinfo=CN),
        decided_at=datetime(2026, 11, 18, 1, 0, tzinfo=UTC),
        decided_outcome="approve",
        concluded_at=datetime(2026, 11, 18, 9, 0, 0, 500, tzinfo=CN),
        delivered_at=datetime(
            2026, 11, 19, 9, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))
        ),
        completed_steps=["review"],
        supplement_requests=2,
        fees_charged=5,
        extension_count=1,
        approved_extensions=[LimitState(3, "working_day"), LimitState(1.5, "natural_day")],
        suspended_since=datetime(2026, 11, 17, 9, 0, tzinfo=CN),
        suspended_seconds=3600,
        suspensions=1,
        unrectified_ratings=[Rating(1, datetime(2026, 11, 20, 9, 0, tzinfo=CN))],
        complaints=[Complaint(2, datetime(2026, 11, 21, 9, 0, tzinfo=UTC))],
        occurrences={"deadline.overdue": 1, "x": 2},
        fired={
            "a1": datetime(2026, 11, 20, 9, 0, tzinfo=CN),
            "a2": datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
        },
        retracted=["a0"],
        changed={"a1": "closed"},
    )


#: Other states and what the pydantic model wrote for each: defaults (empty containers,
#: False, 0, 0.0, -0.0) left out, the required ids kept even when empty, float fields as
#: floats.
GOLDEN: list[tuple[CaseState, str]] = [
    (CaseState(case_id="c", center_id="451221"), '{"case_id": "c", "center_id": "451221"}'),
    (
        CaseState(
            case_id="c",
            center_id="z",
            immediate=False,
            fees_charged=0.0,
            suspended_seconds=0,
            required_steps=[],
            fired={},
            supplement_requests=0,
        ),
        '{"case_id": "c", "center_id": "z"}',
    ),
    (
        CaseState(
            case_id="",
            center_id="",
            fee_standard=0.0,
            suspended_seconds=1e-7,
            fees_charged=-0.0,
            status="withdrawn",
        ),
        '{"case_id": "", "center_id": "", "status": "withdrawn", "fee_standard": 0.0, '
        '"suspended_seconds": 1e-07}',
    ),
    (
        CaseState(
            case_id="c",
            center_id="z",
            fees_charged=1e20,
            suspended_seconds=1.5e-5,
            fee_standard=float(10**16),
        ),
        '{"case_id": "c", "center_id": "z", "fee_standard": 1e+16, "fees_charged": 1e+20, '
        '"suspended_seconds": 1.5e-05}',
    ),
]


def written(state: CaseState) -> str:
    return json.dumps(state.to_json(), ensure_ascii=False)


def test_a_state_with_every_field_is_written_as_the_pydantic_model_wrote_it() -> None:
    assert written(full_state()) == FULL_JSON


def test_the_golden_full_state_reads_back_and_writes_the_same_bytes() -> None:
    back = CaseState.from_json(json.loads(FULL_JSON))
    # the compacted history's other case id moves behind the implied keys, as it did
    assert back == CaseState.from_json(full_state().to_json())
    assert back.history[0] == full_state().history[0]
    assert written(CaseState.from_json(json.loads(written(back)))) == written(back)


@pytest.mark.parametrize(("state", "text"), GOLDEN)
def test_defaults_are_left_out_exactly_as_before(state: CaseState, text: str) -> None:
    assert written(state) == text
    assert written(CaseState.from_json(json.loads(text))) == text


def test_a_state_written_in_full_by_an_earlier_version_reads_the_same() -> None:
    state = full_state()
    full = {
        **json.loads(FULL_JSON),
        "history": state.history,
        "immediate": True,
        "window_id": "W1",
        "extension_count": 1,
    }
    assert CaseState.from_json(full) == state
    # what the golden document gives back (a document of another case: keys reordered)
    assert written(CaseState.from_json(full)) == written(CaseState.from_json(json.loads(FULL_JSON)))
    with_defaults: dict[str, Any] = {
        "case_id": "c",
        "center_id": "z",
        "status": "received",
        "history": [],
        "last_event_at": None,
        "fired": {},
        "fees_charged": 0.0,
        "promised": None,
    }
    assert CaseState.from_json(with_defaults) == CaseState("c", "z")


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"center_id": "z"},
        {"case_id": "c"},
        {"case_id": 1, "center_id": "z"},
        {"case_id": "c", "center_id": "z", "status": "lost"},
        {"case_id": "c", "center_id": "z", "status": None},
        {"case_id": "c", "center_id": "z", "history": None},
        {"case_id": "c", "center_id": "z", "history": "x"},
        {"case_id": "c", "center_id": "z", "history": [1]},
        {"case_id": "c", "center_id": "z", "history": [{"event_id": "e"}, "x"]},
        {"case_id": "c", "center_id": "z", "last_event_at": "yesterday"},
        {"case_id": "c", "center_id": "z", "last_event_at": 5},
        {"case_id": "c", "center_id": "z", "fees_charged": "5"},
        {"case_id": "c", "center_id": "z", "fees_charged": None},
        {"case_id": "c", "center_id": "z", "suspensions": 1.5},
        {"case_id": "c", "center_id": "z", "immediate": "yes"},
        {"case_id": "c", "center_id": "z", "promised": {"value": 1}},
        {"case_id": "c", "center_id": "z", "promised": {"value": 1, "unit": "week"}},
        {"case_id": "c", "center_id": "z", "fired": {"a": "never"}},
        {"case_id": "c", "center_id": "z", "fired": []},
        {"case_id": "c", "center_id": "z", "complaints": [{"number": 1}]},
        {"case_id": "c", "center_id": "z", "required_steps": ["a", 2]},
    ],
)
def test_a_malformed_state_is_refused_as_a_value_error(document: Any) -> None:
    with pytest.raises(StateDecodeError) as caught:
        CaseState.from_json(document)
    assert isinstance(caught.value, ValueError)  # the worker's report of it (refusals.py)
    assert str(caught.value).startswith("case state")


def test_keys_it_does_not_know_are_ignored() -> None:
    assert CaseState.from_json({"case_id": "c", "center_id": "z", "later": 1}) == CaseState(
        "c", "z"
    )


# -- properties ---------------------------------------------------------------------------

_PYDANTIC_DATETIME = TypeAdapter(datetime)
#: Bounds for hypothesis's datetimes (naive: it adds the time zones itself).
_FIRST, _LAST = datetime(1, 1, 2), datetime(9999, 12, 30)  # noqa: DTZ001
_TO_2999 = datetime(2999, 12, 30)  # noqa: DTZ001


@given(
    st.datetimes(
        min_value=_FIRST,
        max_value=_LAST,
        timezones=st.one_of(st.none(), st.timezones()),
    )
    | st.datetimes(
        min_value=_FIRST,
        max_value=_LAST,
        timezones=st.builds(
            timezone,
            st.timedeltas(
                min_value=timedelta(hours=-23, minutes=-59),
                max_value=timedelta(hours=23, minutes=59),
            ),
        ),
    )
)
def test_a_datetime_is_written_as_pydantic_wrote_it(value: datetime) -> None:
    assert iso_datetime(value) == _PYDANTIC_DATETIME.dump_python(value, mode="json")


_text = st.text(max_size=8)
# From 1992: China kept summer time from 1986 to 1991, and a time in an autumn fold is not
# equal to itself read back with a fixed offset (PEP 495); no case is from then.
_aware = st.datetimes(
    min_value=datetime(1992, 1, 1),  # noqa: DTZ001
    max_value=_TO_2999,
    timezones=st.sampled_from([CN, UTC, P8, timezone(timedelta(hours=-5, minutes=-30))]),
)
_number = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6).map(float)
_limit = st.builds(
    LimitState,
    _number,
    st.sampled_from(["working_day", "natural_day"]),
    st.one_of(st.just(0.0), _number),  # suspended_before: kept only when not 0
)
_document = st.fixed_dictionaries(
    {"event_id": _text, "type": _text, "occurred_at": _text},
    optional={
        "schema_version": st.sampled_from(["1", "2"]),
        "case_id": st.sampled_from(["c", "other"]),
        "center_id": st.sampled_from(["451221", "x"]),
        "payload": st.dictionaries(_text, st.integers() | _text, max_size=3),
    },
)


def _with_schema_first(document: dict[str, Any]) -> dict[str, Any]:
    """A document as the codec gives one back: the ids and schema version first."""
    first = {key: document[key] for key in ("schema_version", "case_id", "center_id")}
    return {**first, **document}


states = st.builds(
    CaseState,
    case_id=st.just("c"),
    center_id=st.just("451221"),
    status=st.sampled_from(get_args(Status)),
    history=st.lists(
        _document.map(
            lambda d: _with_schema_first(
                {"schema_version": "1", "case_id": "c", "center_id": "451221", **d}
            )
        ),
        max_size=4,
    ),
    last_event_at=st.none() | _aware,
    advanced_to=st.none() | _aware,
    item_code=st.none() | _text,
    item_name=st.none() | _text,
    department=st.none() | _text,
    window_id=st.none() | _text,
    staff_id=st.none() | _text,
    immediate=st.booleans(),
    promised=st.none() | _limit,
    statutory=st.none() | _limit,
    fee_standard=st.none() | _number,
    required_steps=st.lists(_text, max_size=3),
    submitted_at=st.none() | _aware,
    accepted_at=st.none() | _aware,
    decided_at=st.none() | _aware,
    decided_outcome=st.none() | _text,
    concluded_at=st.none() | _aware,
    delivered_at=st.none() | _aware,
    completed_steps=st.lists(_text, max_size=3),
    supplement_requests=st.integers(0, 1000),
    fees_charged=_number,
    extension_count=st.integers(0, 1000),
    approved_extensions=st.lists(_limit, max_size=3),
    suspended_since=st.none() | _aware,
    suspended_seconds=_number,
    suspensions=st.integers(0, 1000),
    unrectified_ratings=st.lists(st.builds(Rating, st.integers(1, 99), _aware), max_size=3),
    complaints=st.lists(st.builds(Complaint, st.integers(1, 99), _aware), max_size=3),
    occurrences=st.dictionaries(_text, st.integers(0, 99), max_size=3),
    fired=st.dictionaries(_text, _aware, max_size=3),
    retracted=st.lists(_text, max_size=3),
    changed=st.dictionaries(_text, _text, max_size=3),
    applicant_marks=st.lists(_text, max_size=3),
)


@given(states)
def test_a_state_reads_back_field_for_field(state: CaseState) -> None:
    stored = state.to_json()
    text = json.dumps(stored, ensure_ascii=False, allow_nan=False)  # JSON as it is
    back = CaseState.from_json(json.loads(text))
    assert back == state
    for name in ("history", "fired", "promised", "approved_extensions", "complaints"):
        assert getattr(back, name) == getattr(state, name)
    assert json.dumps(back.to_json(), ensure_ascii=False) == text


@given(states)
def test_a_copy_for_update_is_equal_and_has_its_own_history(state: CaseState) -> None:
    copy = state.copy_for_update()
    assert copy == state and copy.history is not state.history
    assert copy.to_json() == state.to_json()
    assert not math.isnan(copy.fees_charged)
