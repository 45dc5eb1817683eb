"""The engine's caches (issue 6) never change a result: each is proved here against the
same computation without it, where it could go stale.

- the calendar's memo (deadlines by day of acceptance, working time added by instant);
- the engine's deadline and warning memos, its shared limits, and the timers a case
  remembers (`Engine._pending`): a new engine (a rules reload) computes afresh, and so
  does a case changed in any way;
- the history document an event keeps from its decoding (`history_document`);
- `CaseState.new`, `copy_for_update` and the compact history of `to_json`.
"""

from __future__ import annotations

import shutil
from dataclasses import fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.core import calendar as calendar_module
from supervisor.core.calendar import DAY, WorkCalendar
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent, from_document, history_document
from supervisor.core.rules import RuleBook
from supervisor.core.state import CaseState, LimitState

from .factories import ROOT, accepted, engine, event, event_doc

CN = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
ACCEPTED = "2026-09-30T10:00:00+08:00"  # 3 working days: deadline 2026-10-11T00:00+08:00

instants = st.datetimes(
    min_value=datetime(2025, 12, 1),  # noqa: DTZ001
    max_value=datetime(2027, 2, 1),  # noqa: DTZ001
    timezones=st.sampled_from([CN, UTC]),
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- the calendar's memo ------------------------------------------------------------------

SHARED = WorkCalendar("Asia/Shanghai")  # its memo fills up across the examples


@settings(max_examples=300, deadline=None)
@given(
    instants,
    st.sampled_from([0.5, 1, 3, 5, 20]),
    st.sampled_from(["working_day", "natural_day"]),
    st.floats(0, 40 * DAY),
)
def test_the_calendar_memo_gives_what_a_fresh_calendar_computes(
    start: datetime, value: float, unit: str, seconds: float
) -> None:
    fresh = WorkCalendar("Asia/Shanghai")
    assert SHARED.deadline(start, value, unit) == fresh.deadline(start, value, unit)
    assert SHARED.add(start, seconds) == fresh.add(start, seconds)
    assert SHARED.extend(start, value, unit) == fresh.extend(start, value, unit)
    # same instant written in another offset: the same answer, in local time
    again = SHARED.add(start.astimezone(UTC), seconds)
    assert again == fresh.add(start, seconds) and again.tzinfo == fresh.zone


def test_every_time_of_one_day_of_acceptance_shares_its_deadline() -> None:
    cal = WorkCalendar()
    morning = cal.working_deadline(at("2026-09-30T00:00:01+08:00"), 3)
    evening = cal.working_deadline(at("2026-09-30T23:59:59+08:00"), 3)
    assert morning is evening == at("2026-10-11T00:00:00+08:00")
    # the next day is another key: one more working day
    assert cal.working_deadline(at("2026-10-08T00:00:00+08:00"), 3) == at(
        "2026-10-11T00:00:00+08:00"
    ) + timedelta(days=2)


def test_a_full_memo_starts_afresh_and_stays_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar_module, "MEMO_SIZE", 8)
    cal, fresh = WorkCalendar(), WorkCalendar()
    start = at("2026-09-01T10:00:00+08:00")
    for day in range(40):
        when = start + timedelta(days=day)
        assert cal.working_deadline(when, 5) == fresh.working_deadline(when, 5)
        assert cal.add(when, 3.5 * DAY) == fresh.add(when, 3.5 * DAY)
    assert len(cal._memo) <= 8


def test_a_memoised_deadline_still_notes_the_unconfirmed_year() -> None:
    cal = WorkCalendar()
    first = cal.working_deadline(at("2026-12-28T10:00:00+08:00"), 5)
    assert cal.unconfirmed_years_seen == {2027}
    assert cal.working_deadline(at("2026-12-28T18:00:00+08:00"), 5) is first


def test_an_impossible_deadline_is_refused_every_time_not_remembered() -> None:
    cal = WorkCalendar()
    for _ in range(2):
        with pytest.raises(ValueError):
            cal.working_deadline(at("2199-12-20T10:00:00+08:00"), 60)
        with pytest.raises(ValueError, match="naive"):
            cal.add(datetime(2026, 11, 27, 10), DAY)  # noqa: DTZ001


# -- the engine's caches ------------------------------------------------------------------


def rules_with_share(tmp_path: Path, share: str) -> Path:
    folder = tmp_path / f"rules-{share}"
    shutil.copytree(ROOT / "rules", folder)
    path = folder / "canonical.yaml"
    text = path.read_text(encoding="utf-8")
    assert "share: 0.8" in text
    path.write_text(text.replace("share: 0.8", f"share: {share}"), encoding="utf-8")
    return folder


def fresh_due(eng: Engine, state: CaseState) -> datetime | None:
    """next_due on a copy that remembers nothing (as a restarted worker reads it)."""
    return eng.next_due(CaseState.from_json(state.to_json()))


def test_a_rules_reload_gives_an_engine_that_remembers_nothing_of_the_old(
    tmp_path: Path,
) -> None:
    cal = WorkCalendar("Asia/Shanghai")  # one calendar for both: only the rules change
    old = Engine(RuleBook.load(rules_with_share(tmp_path, "0.8")), cal)
    new = Engine(RuleBook.load(rules_with_share(tmp_path, "0.5")), cal)
    state = old.apply(None, accepted("2026-11-02T10:00:00+08:00", 10)).state
    before = old.next_due(state)  # remembered by the case, computed under share 0.8
    after = new.next_due(state)  # the same case object under the reloaded rules
    assert after == fresh_due(new, state) and before == fresh_due(old, state)
    assert after is not None and before is not None and after < before
    # and back: the old engine's answer is not the new one's either
    assert old.next_due(state) == before
    assert new.timers(state) == new.timers(CaseState.from_json(state.to_json()))


def test_a_late_event_rebuilding_a_case_does_not_reuse_its_old_deadlines() -> None:
    eng = engine()
    case = eng.apply(None, accepted(ACCEPTED, 3, statutory=None)).state
    assert eng.next_due(case) is not None  # the case now remembers its timers
    warning_before = eng.timers(case)["deadline.warning:451221-2026-0000001"]
    late = eng.apply(
        eng.apply(case, event("step_completed", "2026-10-09T10:00:00+08:00", step="审查")).state,
        event(
            "extended", "2026-10-08T09:00:00+08:00", value=5, unit="working_day", approved_by="x"
        ),
    )
    timers = eng.timers(late.state)
    assert timers == eng.timers(CaseState.from_json(late.state.to_json()))
    assert timers["deadline.warning:451221-2026-0000001"] > warning_before
    assert timers["deadline.overdue:451221-2026-0000001"] == eng._deadline(
        late.state, LimitState(value=3, unit="working_day")
    )


@pytest.mark.parametrize(
    "change",
    [
        {"suspended_seconds": 3 * DAY},
        {"approved_extensions": [LimitState(value=2, unit="working_day")]},
        {"status": "concluded"},
        {"accepted_at": at("2026-10-09T10:00:00+08:00")},
        {"fired": {"deadline.warning:451221-2026-0000001": at("2026-10-09T00:00:00+08:00")}},
        {"retracted": ["deadline.overdue:451221-2026-0000001"]},
        {"promised": LimitState(value=1, unit="natural_day")},
    ],
)
def test_a_case_changed_in_any_field_a_timer_reads_is_computed_afresh(
    change: dict[str, object],
) -> None:
    eng = engine()
    state = eng.apply(None, accepted(ACCEPTED, 3)).state
    before = eng.timers(state)
    for name, value in change.items():
        setattr(state, name, value)  # in place: the remembered timers must not be used
    assert eng.timers(state) == eng.timers(CaseState.from_json(state.to_json()))
    assert eng.timers(state) != before


def test_copy_for_update_leaves_the_original_as_it_was() -> None:
    """The engine changes no container of a state in place (copies share them): every
    handler that changes one, applied to a copy, leaves the original as it was."""
    eng = engine()
    first = eng.apply(None, accepted(ACCEPTED, 3, required_steps=["审查"], fee_standard=0)).state
    stored, timers = first.to_json(), eng.timers(first)
    state = first
    for item in (
        event("step_completed", "2026-10-08T10:00:00+08:00", step="审查"),
        event(
            "extended", "2026-10-08T11:00:00+08:00", value=2, unit="working_day", approved_by="x"
        ),
        event("suspended", "2026-10-08T12:00:00+08:00"),  # no reason: raised per occurrence
        event("resumed", "2026-10-08T13:00:00+08:00"),
        event("fee_charged", "2026-10-08T14:00:00+08:00", amount=5),
        event("decided", "2026-10-09T10:00:00+08:00", outcome="approve"),
        event("concluded", "2026-10-09T11:00:00+08:00"),
        event("evaluated", "2026-10-09T12:00:00+08:00", level=1),
        event("evaluated", "2026-10-09T13:00:00+08:00", level=2),
        event("rectified", "2026-10-09T14:00:00+08:00"),
    ):
        before = state.to_json()
        after = eng.apply(state, item).state
        assert state.to_json() == before and after.to_json() != before
        state = after
    eng.advance(state, at("2026-12-01T00:00:00+08:00"))
    eng.apply(state, event("extended", "2026-10-08T09:00:00+08:00", value=1, unit="working_day"))
    assert first.to_json() == stored and eng.timers(first) == timers
    copy = first.copy_for_update()
    assert copy == first and copy.engine_memo is first.engine_memo
    assert copy.history is not first.history


UNREMEMBERING = WorkCalendar("Asia/Shanghai")


def fresh_deadline(state: CaseState, limit: LimitState) -> datetime:
    """The promised deadline as the engine computed it before it remembered any (limit
    from acceptance, then extensions, then time suspended), on a calendar whose memo is
    emptied first."""
    assert state.accepted_at is not None
    cal = UNREMEMBERING
    cal._memo.clear()
    deadline = cal.deadline(state.accepted_at, limit.value, limit.unit)
    for extension in state.approved_extensions:
        deadline = cal.extend(deadline, extension.value, extension.unit)
    if state.suspended_seconds:
        deadline = cal.add(deadline, state.suspended_seconds)
    return deadline


LIMITS = st.builds(
    LimitState,
    value=st.sampled_from([0.5, 1, 3, 5, 20]),
    unit=st.sampled_from(["working_day", "natural_day"]),
)
SHARED_ENGINE = engine()  # its deadline memo fills up across the examples


@settings(max_examples=300, deadline=None)
@given(
    instants,
    LIMITS,
    st.lists(LIMITS, max_size=2),
    st.sampled_from([0.0, 3600.0, 1.5 * DAY, 4 * DAY]),
)
def test_the_deadline_memo_gives_what_the_calendar_computes(
    accepted_at: datetime, limit: LimitState, extensions: list[LimitState], suspended: float
) -> None:
    state = CaseState(
        case_id="451221-2026-0000001",
        center_id="451221",
        accepted_at=accepted_at,
        approved_extensions=extensions,
        suspended_seconds=suspended,
    )
    expected = fresh_deadline(state, limit)
    assert SHARED_ENGINE._deadline(state, limit) == expected
    assert SHARED_ENGINE._deadline(state, limit) == expected  # remembered now
    # the same day of acceptance, another time of it: the same deadline
    other = replace(state, accepted_at=accepted_at.replace(hour=23, minute=59))
    assert SHARED_ENGINE._deadline(other, limit) == fresh_deadline(other, limit)
    # without the time suspended (the warning's total)
    unsuspended = replace(state, suspended_seconds=0.0)
    assert SHARED_ENGINE._deadline(state, limit, suspensions=False) == fresh_deadline(
        unsuspended, limit
    )


def test_an_impossible_deadline_is_refused_by_the_engine_every_time() -> None:
    eng = engine()
    state = CaseState(
        case_id="451221-2026-0000001",
        center_id="451221",
        accepted_at=at("2199-12-20T10:00:00+08:00"),
    )
    for _ in range(2):
        with pytest.raises(ValueError):
            eng._deadline(state, LimitState(value=60, unit="working_day"))


def test_cases_with_one_limit_share_it_and_it_is_what_a_new_one_is() -> None:
    eng = engine()
    first = eng.apply(None, accepted(ACCEPTED, 3)).state
    second = eng.apply(None, accepted(ACCEPTED, 3, case_id="451221-2026-0000002")).state
    assert first.promised is second.promised and first.statutory is second.statutory
    new = LimitState(value=3, unit="working_day")
    assert first.promised == new and type(first.promised.value) is float
    assert first.to_json() == CaseState.from_json(first.to_json()).to_json()
    other = eng.apply(None, accepted(ACCEPTED, 3, unit="natural_day")).state
    assert other.promised == LimitState(value=3, unit="natural_day")


def test_a_new_state_has_containers_of_its_own() -> None:
    built = CaseState(case_id="451221-2026-0000001", center_id="451221")
    new = CaseState.new("451221-2026-0000001", "451221")
    assert new == built and repr(new) == repr(built)
    assert new.to_json() == built.to_json() == {"case_id": built.case_id, "center_id": "451221"}
    other = CaseState.new("451221-2026-0000002", "451221")
    for item in fields(CaseState):
        value = getattr(new, item.name)
        if isinstance(value, list | dict):
            assert value is not getattr(other, item.name)
            assert value is not getattr(built, item.name)
    new.fired["x"] = at(ACCEPTED)  # in place: the others are unchanged
    assert other.fired == {} and CaseState.new("a", "b").fired == {}


def test_a_field_set_on_a_copy_leaves_the_original_as_it_was() -> None:
    """The engine sets fields on copies."""
    first = engine().apply(None, accepted(ACCEPTED, 3)).state
    stored = first.to_json()
    copy = first.copy_for_update()
    copy.suspensions = 1
    copy.decided_outcome = "approve"
    assert first.to_json() == stored and first.suspensions == 0
    assert first.decided_outcome is None
    assert CaseState.from_json(copy.to_json()) == copy


# -- the history document -----------------------------------------------------------------


def test_a_decoded_event_keeps_its_document_without_the_applicant() -> None:
    doc = {
        **event_doc("submitted", "2026-11-16t09:00:00z"),
        "applicant": {"name": "张三丰", "phone": "13800001111"},
        "department": "市场监管局",
    }
    item = from_document(doc)
    kept = history_document(item)
    assert "applicant" not in kept and "applicant" in doc  # the caller's dict is untouched
    assert kept["occurred_at"] == "2026-11-16T09:00:00+00:00"  # readable by fromisoformat
    assert datetime.fromisoformat(kept["occurred_at"]) == item.occurred_at
    assert from_document(kept) == item.model_copy(update={"applicant": None})
    dumped = item.model_dump(mode="json", exclude_none=True, exclude={"applicant"})
    assert from_document(dumped) == from_document(kept)


#: Wall times (naive: each is written out with an offset below), away from the ends of
#: Python's range, where an offset can carry the instant out of it.
_WALL_TIMES = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9000, 12, 31))  # noqa: DTZ001
_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+08:00", "-05:30", "+14:00"])


@settings(max_examples=300)
@given(
    when=_WALL_TIMES,
    separator=st.sampled_from(["T", "t"]),
    fraction=st.sampled_from(["", ".5", ".123456", ".1234567"]),
    offset=_OFFSETS,
)
def test_the_kept_time_is_written_as_python_writes_it_whatever_the_sender_wrote(
    when: datetime, separator: str, fraction: str, offset: str
) -> None:
    written = when.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction + offset
    item = from_document(event_doc("submitted", written))
    kept = history_document(item)
    assert kept["occurred_at"] == item.occurred_at.isoformat()


def test_a_kept_document_is_a_copy_also_without_an_applicant() -> None:
    doc = event_doc("submitted", "2026-11-16T09:00:00+08:00")
    kept = history_document(from_document(doc))
    assert kept == doc and kept is not doc


def test_an_event_changed_by_model_copy_is_dumped_not_taken_from_its_old_document() -> None:
    item = event("submitted", "2026-11-16T09:00:00+08:00")
    moved = item.model_copy(update={"occurred_at": at("2026-11-17T09:00:00+08:00")})
    assert history_document(moved)["occurred_at"] == "2026-11-17T09:00:00+08:00"
    built = CaseEvent.model_validate(event_doc("submitted", "2026-11-16T09:00:00+08:00"))
    assert history_document(built) == built.model_dump(mode="json", exclude_none=True)


# -- the stored state ---------------------------------------------------------------------


def test_the_stored_history_leaves_out_what_the_state_says_and_reads_back_whole() -> None:
    eng = engine()
    state = eng.apply(None, accepted(ACCEPTED, 3)).state
    state = eng.apply(
        state, event("step_completed", "2026-10-08T10:00:00+08:00", step="审查")
    ).state
    stored = state.to_json()
    assert all(
        "case_id" not in doc and "center_id" not in doc and "schema_version" not in doc
        for doc in stored["history"]
    )
    back = CaseState.from_json(stored)
    assert back == state and back.history == state.history
    # a state stored in full by an earlier version (history documents whole) reads the same
    full = {**stored, "history": state.history}
    assert CaseState.from_json(full) == state


def test_the_engine_memo_is_neither_stored_nor_compared() -> None:
    eng = engine()
    state = eng.apply(None, accepted(ACCEPTED, 3)).state
    eng.timers(state)
    assert state.engine_memo is not None
    back = CaseState.from_json(state.to_json())
    assert back.engine_memo is None and back == state and "engine_memo" not in repr(state)
