"""Fuzzing what the notifier reads: any record, as an attacker able to write the journal
or the state topic would shape it, must be applied or skipped, never raise; and the
planner must go on working afterwards (its timer, its saved state, the next records).

Records are drawn three ways: arbitrary JSON objects; valid records of every kind with
some fields replaced by nasty values (instants in years 1 and 9999 and with extreme
offsets, huge and tiny numbers, NaN and infinities, long texts, wrong types, nested
structures) or removed; and arbitrary bytes for the decoders.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.notify import records, silences
from supervisor.notify.outbox import OUT_PREFIX, PLANNER_KEY, pending_for, restore
from supervisor.notify.plan import NotifyState
from supervisor.notify.records import BadRecord
from supervisor.notify.silences import SilenceState

from .factories import COUNTY, INSPECTOR, TOWNSHIP, Run, alert, change, planner, t, withdrawal

NOW = t("2026-11-27T09:00:00+08:00")  # a Friday: the weekend comes

EXTREME_TIMES = [
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T23:59:59+08:00",
]
NASTY_TIMES = [
    *EXTREME_TIMES,
    "1999-12-31T23:59:59+08:00",
    "2200-01-01T00:00:00+00:00",
    "2026-11-27T09:00:00",
    "2026-11-27",
    "2026-13-45T99:00:00+08:00",
    "",
    "now",
    "2026-11-27T09:00:00+08:00",
    "2026-11-27T10:00:00+08:00",
]
nasty_time = st.sampled_from(EXTREME_TIMES) | st.sampled_from(NASTY_TIMES)
nasty = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([0, -1, 10**30, -(10**30), 2**63, 2**64]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(NASTY_TIMES),
        st.builds(lambda n: "x" * n, st.sampled_from([201, 5_000, 300_000])),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
json_object = st.dictionaries(st.text(max_size=12), nasty, max_size=8)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@lru_cache(maxsize=1)
def templates() -> tuple[dict[str, Any], ...]:
    """One valid record of every kind the journal holds (alerts first)."""
    red, yellow = alert(1, center=TOWNSHIP), alert(2, severity="yellow", center=COUNTY)
    _, created = silences.create(
        SilenceState(),
        by=INSPECTOR,
        reason="迁移",
        now=NOW,
        until=NOW + timedelta(hours=2),
        center_id=COUNTY,
    )
    _, lifted = silences.lift(
        silences.apply_record(SilenceState(), created),
        created["silence_id"],
        by=INSPECTOR,
        now=NOW + timedelta(hours=1),
    )
    at = "2026-11-27T10:00:00+08:00"
    return (
        red,
        yellow,
        change(red["alert_id"], "acknowledge", at),
        change(red["alert_id"], "appeal", at),
        withdrawal(yellow, at),
        {
            "kind": "case_change",
            "change": "concluded_late",
            "alert_id": red["alert_id"],
            "rule_id": red["rule_id"],
            "case_id": red["case_id"],
            "center_id": red["center_id"],
            "at": at,
            "case_concluded_at": at,
            "late_working_days": 2.42,
            "details": {},
        },
        {
            "kind": "case_change",
            "change": "closed",
            "status": "closed",
            "reason": "concluded_in_time",
            "alert_id": yellow["alert_id"],
            "rule_id": yellow["rule_id"],
            "case_id": yellow["case_id"],
            "center_id": yellow["center_id"],
            "at": at,
            "details": {},
        },
        created,
        lifted,
        {
            "kind": "escalation",
            "alert_id": red["alert_id"],
            "rule_id": red["rule_id"],
            "center_id": red["center_id"],
            "level": 1,
            "to_center": COUNTY,
            "recipient_id": "director-451221",
            "recipient_name": "主任",
            "at": "2026-11-27T11:00:00+08:00",
            "waited_working_hours": 2,
            "notification_id": f"{red['alert_id']}:director-451221:escalation:1",
        },
        {"kind": "delivery", "alert_id": red["alert_id"], "at": at, "attempt": 1},
    )


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid record (`template`, or one of any kind), with its dates often replaced by
    nasty ones, and fields replaced, removed or added; the silence inside a silence
    record is mutated the same way."""
    chosen = template if template is not None else draw(st.sampled_from(templates()))
    record: dict[str, Any] = json.loads(json.dumps(chosen))
    target = record
    if isinstance(record.get("silence"), dict) and draw(st.booleans()):
        target = record["silence"]
    dates = [  # the dates, most often: one for sure, the others now and then
        (holder, key)
        for holder in (record, record.get("silence"))
        if isinstance(holder, dict)
        for key in sorted(k for k in holder if k == "at" or k.endswith("_at"))
    ]
    if dates:
        chosen_date = draw(st.integers(0, len(dates) - 1))
        for n, (holder, key) in enumerate(dates):
            if n == chosen_date or draw(st.integers(0, 3)) == 0:
                holder[key] = draw(nasty_time)
    keys = sorted(target)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.integers(0, 4)) == 0:
            del target[key]
        else:
            target[key] = draw(nasty)
    for key, value in draw(
        st.dictionaries(st.sampled_from(["kind", "x", "details"]), nasty)
    ).items():
        record[key] = value
    if draw(st.integers(0, 20)) == 0:
        record["details"] = _deep(draw(st.sampled_from([50, 500, 900])))
    return record


any_record = st.one_of(st.sampled_from(templates()), mutated(), json_object)
step = st.tuples(st.integers(0, 600), st.booleans(), any_record)  # minutes, tick?, record


def _assert_working(state: NotifyState, minutes: int) -> NotifyState:
    """The planner goes on: its timer, its saved state read back, a fresh alert."""
    plan = planner()
    state = plan.advance(state, NOW + timedelta(minutes=minutes)).state
    plan.next_due(state)
    text = json.dumps(state.to_json(), ensure_ascii=False, allow_nan=False)
    again, dropped = NotifyState.recover(json.loads(text))
    assert dropped == [] and again == state
    return state


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(step, max_size=25))
def test_no_journal_record_raises_and_the_planner_goes_on(steps: list[Any]) -> None:
    run = Run()
    run.apply(templates()[0], NOW.isoformat())  # the alerts the other records are about
    run.apply(templates()[1], NOW.isoformat())
    minutes = 0
    for seq, (wait, tick, record) in enumerate(steps):
        minutes += wait
        now = NOW + timedelta(minutes=minutes)
        out = run.apply(record, now.isoformat(), seq=seq)
        assert out.state.head == seq
        if out.skipped is not None:
            assert out.outbox == [] and out.escalations == []
        if tick:
            run.advance(now.isoformat())
    state = _assert_working(run.state, minutes + 3 * 24 * 60)
    fresh = alert(99, center=TOWNSHIP)
    assert planner().apply(state, fresh, NOW + timedelta(days=4)).skipped is None


KINDS = {
    f"{n}-{record.get('kind', 'alert')}-{record.get('action', record.get('change', ''))}": record
    for n, record in enumerate(templates())
}


@pytest.mark.parametrize("name", sorted(KINDS))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_mutation_of_a_record_of_any_kind_raises(name: str, data: st.DataObject) -> None:
    """Each kind in turn, mutated, read by a planner that knows the alerts it is about
    (so that a change reaches the code that acts on it), then its timer over 40 days."""
    record = data.draw(mutated(KINDS[name]))
    run = Run()
    for known in (*templates()[:2], templates()[7]):  # the alerts, a silence
        run.apply(known, NOW.isoformat())
    out = run.apply(record, (NOW + timedelta(minutes=30)).isoformat(), seq=10)
    assert out.state.head == 10
    _assert_working(run.state, 40 * 24 * 60)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda o: json.dumps(o).encode(), nasty))
def test_decoding_any_bytes_gives_an_object_or_says_why(value: bytes) -> None:
    try:
        found = records.decode(value, limit=records.MAX_JOURNAL_RECORD)
    except BadRecord as bad:
        assert bad.reason == "malformed"
    else:
        assert isinstance(found, dict)


@lru_cache(maxsize=1)
def saved() -> tuple[dict[str, Any], dict[str, Any]]:
    """A planner state with an alert, a digest bucket and a silence; and one delivery."""
    run = Run()
    for record in templates()[:2] + templates()[7:8]:
        run.apply(record, NOW.isoformat())
    notification = run.outcomes[0].outbox[0]
    return run.state.to_json(), pending_for(notification, NOW)[0].to_json()


@st.composite
def state_record(draw: st.DrawFn) -> tuple[str, bytes | None, int]:
    """A state-topic record: the planner's state or a delivery, valid or mutated at any
    depth, or arbitrary bytes, under a known key or another."""
    planner_state, delivery = saved()
    key = draw(st.sampled_from([PLANNER_KEY, OUT_PREFIX + delivery["key"], "junk"]))
    base: Any = {"kind": "planner", "state": planner_state} if key == PLANNER_KEY else delivery
    value: Any = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 3))):  # walk down a random path, replace what is there
        holder = value
        while isinstance(holder, dict | list) and holder and draw(st.booleans()):
            inner = draw(
                st.sampled_from(sorted(holder) if isinstance(holder, dict) else range(len(holder)))
            )
            if not isinstance(holder[inner], dict | list):
                holder[inner] = draw(nasty)
                break
            holder = holder[inner]
        else:
            if isinstance(holder, dict) and holder:
                holder[draw(st.sampled_from(sorted(holder)))] = draw(nasty)
    raw = draw(
        st.one_of(
            st.just(json.dumps(value).encode()),
            st.binary(max_size=50),
            st.none(),
        )
    )
    return key, raw, draw(st.integers(0, 100))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(state_record(), max_size=8))
def test_no_state_topic_record_raises_and_what_is_restored_works(
    found_records: list[tuple[str, bytes | None, int]],
) -> None:
    found = restore(found_records)
    assert all(s.reason != "error" for s in found.skipped), found.skipped
    if found.state is not None:
        _assert_working(found.state, 60)
    for entry in found.outbox.values():
        entry.due(NOW)
        entry.dead_letter()
        entry.last()
