"""The simulator's stories: valid events, the contract's order, the violations it means.

The checks here are written from the contract, not from the generator: an independent
order checker and independent detectors of each violation (the canonical rules' and the
item catalogue's, §4 and §8), run over large samples.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from supervisor.centers import CenterRegistry
from supervisor.core.catalogue import Catalogue as CoreCatalogue
from supervisor.simulate import IRREGULARITIES, CaseStory, Catalogue, Scenario
from supervisor.simulate.catalogue import Item, Limit
from supervisor.simulate.people import check_digit
from supervisor.simulate.producer import encode
from supervisor.simulate.worktime import OFFICE_HOURS, WorkCalendar

CN = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "supervisor/schema/case-event.schema.json"
VALIDATOR = Draft202012Validator(json.loads(SCHEMA_PATH.read_text("utf-8")))
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
FRIDAY_MORNING = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=CN)

Event = dict[str, Any]
REGISTRY = CenterRegistry.load()
CATALOGUE = Catalogue.load()
_LOADED = CoreCatalogue.load(ROOT / "supervisor/data/catalogue")
assert _LOADED is not None, "the shipped catalogue is missing"
SHIPPED = _LOADED
CAL = WorkCalendar(CN)


def scenario(seed: int = 1, late_share: float = 0.15, irregular_share: float = 0.1) -> Scenario:
    return Scenario(
        random.Random(seed),
        REGISTRY,
        CATALOGUE,
        late_share=late_share,
        irregular_share=irregular_share,
    )


def when(event: Event) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


# -- independent checkers, from the contract --------------------------------------------

BEFORE = {"submitted", "supplement_requested", "supplement_received", "not_accepted", "withdrawn"}
AFTER = {"delivered", "evaluated", "rectified", "complained", "complaint_answered"}
#: The item catalogue's rules (contract §8); the other irregularities are §4's.
CATALOGUE_RULES = {
    "catalogue.unknown_item",
    "catalogue.limit_mismatch",
    "stage.overdue",
    "complaint.unanswered",
}
#: Events only the applicant writes (no staff_id); all the others, the window's receipt of
#: the application (`submitted`) included, are staff's (§7).
BY_APPLICANT = {"evaluated", "complained"}


def order_problems(events: Sequence[Event]) -> list[str]:
    """Contract §1, "The order a case may take"."""
    problems: list[str] = []
    status = "received"
    for event in events:
        kind = event["type"]
        if status == "received":
            if kind == "accepted":
                status = "open"
            elif kind in {"not_accepted", "withdrawn"}:
                status = "ended"
            elif kind not in BEFORE:
                problems.append(f"{kind} before accepted")
        elif status == "open":
            if kind in {"submitted", "accepted", "not_accepted"}:
                problems.append(f"{kind} after accepted")
            elif kind == "concluded":
                status = "closed"
            elif kind == "withdrawn":
                status = "ended"
        elif status == "closed":
            if kind not in AFTER:
                problems.append(f"{kind} after concluded")
        else:
            problems.append(f"{kind} after the case ended")
    return problems


def violations(events: Sequence[Event]) -> set[str]:
    """Which of the canonical event rules this case breaks (deadlines aside)."""
    found: set[str] = set()
    types = [e["type"] for e in events]
    accepted = next((e for e in events if e["type"] == "accepted"), None)
    terms = accepted["payload"] if accepted else {}
    immediate = bool(terms.get("immediate", False))
    if types.count("supplement_requested") >= 2:
        found.add("supplement.repeated")
    late_from = CAL.midnight(CAL.add_workdays(when(events[0]).date(), 5) + timedelta(1))
    if any(e["type"] == "supplement_requested" and when(e) > late_from for e in events):
        found.add("supplement.late")
    fees = sum(e["payload"]["amount"] for e in events if e["type"] == "fee_charged")
    if fees > terms.get("fee_standard", 0):
        found.add("fee.overcharge")
    if "concluded" in types and not immediate and "decided" not in types:
        found.add("workflow.no_decision")
    if "decided" in types:
        done = {
            e["payload"]["step"]
            for e in events[: types.index("decided")]
            if e["type"] == "step_completed"
        }
        if not set(terms.get("required_steps", [])) <= done:
            found.add("workflow.step_skipped")
    extensions = [e for e in events if e["type"] == "extended"]
    if any("approved_by" not in e["payload"] for e in extensions):
        found.add("extension.unapproved")
    if len(extensions) > 1 or any(e["payload"]["value"] > 10 for e in extensions):
        found.add("extension.repeated")
    if any(
        e["type"] == "suspended" and "reason_code" not in (e.get("payload") or {}) for e in events
    ):
        found.add("suspension.no_reason")
    if any(e["type"] == "evaluated" and e["payload"]["level"] <= 2 for e in events):
        found.add("evaluation.negative")
    if (
        accepted
        and "concluded" in types
        and not immediate
        and when(events[types.index("concluded")]) - when(accepted) < timedelta(minutes=10)
    ):
        found.add("conclusion.too_fast")
    for event in events:
        refused = event["type"] == "not_accepted" or (
            event["type"] == "decided" and event["payload"]["outcome"] == "deny"
        )
        if refused and not (event.get("payload") or {}).get("reason"):
            found.add("rejection.no_reason")
    return found


def elapsed_end(start: datetime, limit: dict[str, Any]) -> datetime:
    """Contract §8: a stage's end, as elapsed time from its start (a working day is 24
    hours of working days; natural days are calendar time)."""
    if limit["unit"] == "natural_day":
        return start + timedelta(days=limit["value"])
    left = timedelta(days=limit["value"])
    at = start
    while True:
        midnight = CAL.midnight(at.date() + timedelta(days=1))
        if CAL.is_workday(at.date()):
            if left <= midnight - at:
                return at + left
            left -= midnight - at
        at = midnight


def overdue_stages(events: Sequence[Event], steps: Sequence[dict[str, Any]]) -> list[str]:
    """Contract §8, read over the whole story: a stage starts at acceptance (the first) or
    when the step before it is completed, at acceptance when that step is never completed
    (a later step completed, or the case ended without it); it is overdue when its step is
    not completed (and the case not ended) when it ends. A stage whose step before it is
    still under way has not started. Suspensions are not counted out (no story here
    suspends inside a late stage)."""
    accepted = next(when(e) for e in events if e["type"] == "accepted")
    done: dict[str, datetime] = {}
    for event in events:
        if event["type"] == "step_completed":
            done.setdefault(event["payload"]["step"], when(event))
    never = datetime.max.replace(tzinfo=CN)
    ended = min((when(e) for e in events if e["type"] in {"concluded", "withdrawn"}), default=never)
    reached = max((i for i, step in enumerate(steps) if step["step"] in done), default=-1)
    late: list[str] = []
    for index, step in enumerate(steps):
        name = step["step"]
        finished = min(done.get(name, ended), ended)
        before = done.get(steps[index - 1]["step"]) if index else accepted
        if before is None and (index <= reached or ended != never):
            before = accepted  # the step before it was never completed
        if before is not None and elapsed_end(before, step["limit"]) < finished:
            late.append(name)
    return late


def catalogue_violations(events: Sequence[Event]) -> set[str]:
    """Which of the item catalogue's rules (contract §8) this case breaks, judged by the
    shipped catalogue as `supervisor.core.catalogue` loads it."""
    found: set[str] = set()
    accepted = next((e for e in events if e["type"] == "accepted"), None)
    if accepted is not None:
        terms = accepted["payload"]
        entry = SHIPPED.get(terms["item_code"])
        if entry is None:
            found.add("catalogue.unknown_item")
        else:
            listed = Limit(entry.promised_limit.value, entry.promised_limit.unit)
            declared = Limit(terms["promised_limit"]["value"], terms["promised_limit"]["unit"])
            if CAL.deadline(when(accepted), declared) > CAL.deadline(when(accepted), listed):
                found.add("catalogue.limit_mismatch")
            steps = [s.model_dump() for s in entry.steps]
            if overdue_stages(events, steps):
                found.add("stage.overdue")
    complaints = [when(e) for e in events if e["type"] == "complained"]
    answers = [when(e) for e in events if e["type"] == "complaint_answered"]
    for number, complained in enumerate(complaints):
        answered = answers[number] if number < len(answers) else None
        limit = CAL.midnight(CAL.add_workdays(complained.date(), 15) + timedelta(days=1))
        if answered is None or answered > limit:
            found.add("complaint.unanswered")
    return found


def concluded_at(story: CaseStory) -> datetime | None:
    for event, at in zip(story.events, story.times, strict=True):
        if event["type"] == "concluded":
            return at
    return None


@pytest.fixture(scope="module")
def sample() -> list[CaseStory]:
    """Live stories started over two weeks, plus a backlog: a broad sample."""
    scen = scenario(seed=11)
    starts = [FRIDAY_MORNING + timedelta(minutes=37 * i) for i in range(1500)]
    return [scen.new_story(start) for start in starts] + scen.backlog_stories(FRIDAY_MORNING, 500)


# -- events ---------------------------------------------------------------------------


def test_every_event_is_valid_against_the_schema(sample: list[CaseStory]) -> None:
    ids: set[str] = set()
    for story in sample:
        for event in story.events:
            errors = [e.message for e in VALIDATOR.iter_errors(event)]
            assert not errors, (event, errors)
            assert RFC3339.match(event["occurred_at"]), event["occurred_at"]
            assert event["case_id"] == story.case_id
            assert event["center_id"] == story.center_id
            assert story.case_id.startswith(f"{story.center_id}-20")
            assert re.fullmatch(r"\d{6}(\d{3})?-\d{4}-\d{7}", story.case_id)
            ids.add(event["event_id"])
    assert len(ids) == sum(len(s.events) for s in sample)
    assert len({s.case_id for s in sample}) == len(sample)


def test_times_within_a_story_strictly_increase(sample: list[CaseStory]) -> None:
    for story in sample:
        assert list(story.times) == sorted(set(story.times))
        assert [when(e) for e in story.events] == list(story.times)


def test_applicants_look_real_and_only_appear_on_submission(sample: list[CaseStory]) -> None:
    for story in sample[:300]:
        first = story.events[0]
        assert first["type"] == "submitted"
        person = first["applicant"]
        assert 2 <= len(person["name"]) <= 3
        assert person["id_number"][:6] in {"451202", story.center_id[:6]}
        assert person["id_number"][17] == check_digit(person["id_number"][:17])
        assert re.fullmatch(r"1[3-9]\d{9}", person["phone"])
        assert all("applicant" not in e for e in story.events[1:])


def test_every_story_follows_the_contract_order(sample: list[CaseStory]) -> None:
    for story in sample:
        assert order_problems(story.events) == [], story.events


def test_each_story_commits_exactly_the_violation_it_is_meant_to(
    sample: list[CaseStory],
) -> None:
    seen: Counter[str] = Counter()
    for story in sample:
        meant = {story.irregularity} if story.irregularity else set()
        assert violations(story.events) == meant - CATALOGUE_RULES, (story.kind, story.events)
        expected = meant & CATALOGUE_RULES
        if story.kind == "late" and story.item.steps:
            expected = {"stage.overdue"}  # the step under way overruns its stage
        assert catalogue_violations(story.events) == expected, (story.kind, story.events)
        seen[story.irregularity or story.kind] += 1
    assert set(IRREGULARITIES) <= seen.keys()


def test_steps_are_completed_in_the_catalogues_order(sample: list[CaseStory]) -> None:
    """`step_completed` reports the catalogue's steps, each once, in order: all of them
    before a decision, but for the story meant to skip the last one."""
    for story in sample:
        accepted = next((e for e in story.events if e["type"] == "accepted"), None)
        if accepted is None:
            continue
        required = accepted["payload"]["required_steps"]
        listed = SHIPPED.get(accepted["payload"]["item_code"])
        if listed is not None:
            assert required == [step.step for step in listed.steps]
        done = [e["payload"]["step"] for e in story.events if e["type"] == "step_completed"]
        assert done == required[: len(done)], story.events
        decided = any(e["type"] == "decided" for e in story.events)
        if decided and story.irregularity == "workflow.step_skipped":
            assert done == required[:-1]
        elif decided:
            assert done == required


def test_every_staff_event_names_department_window_and_staff(sample: list[CaseStory]) -> None:
    """Contract §7: who handled it. The applicant's own events name no staff member."""
    for story in sample:
        department = story.events[0]["department"]
        for event in story.events:
            assert event["department"] == department
            if event["type"] in BY_APPLICANT:
                assert "staff_id" not in event and "applicant" not in event
            else:
                assert event["staff_id"].startswith(story.center_id), event
                assert event["window_id"], event


def test_normal_cases_conclude_in_time_and_late_ones_after_the_deadline(
    sample: list[CaseStory],
) -> None:
    for story in sample:
        if story.accepted_at is None:
            assert story.ending == "not_accepted"
            continue
        declared = next(e for e in story.events if e["type"] == "accepted")["payload"]
        promised = Limit(declared["promised_limit"]["value"], declared["promised_limit"]["unit"])
        assert story.deadline == CAL.deadline(story.accepted_at, promised)
        done = concluded_at(story)
        if story.kind == "late":
            assert not story.item.immediate
            assert done is not None and done > story.deadline
        elif story.ending == "concluded":
            assert done is not None
            # handled within the catalogue's limit, whatever the center declared
            listed = CAL.deadline(story.accepted_at, story.item.promised_limit)
            share = CAL.fraction_elapsed(story.accepted_at, story.item.promised_limit, done)
            assert done < min(story.deadline, listed), story.events
            if story.irregularity != "stage.overdue":  # a late stage eats into the rest
                assert share <= 0.6 + 1e-9, story.events


def test_office_hours_are_respected_where_staff_plan_their_work(
    sample: list[CaseStory],
) -> None:
    """Steps and decisions of items not handled on the spot fall on weekdays in office
    hours (a few may not: a 1-day limit accepted after hours leaves no office time)."""
    planned = [
        at
        for s in sample
        if not s.item.immediate
        for e, at in zip(s.events, s.times, strict=True)
        if e["type"] in {"step_completed", "decided"}
    ]
    in_hours = [
        at
        for at in planned
        if at.weekday() < 5 and any(lo <= at.time() <= hi for lo, hi in OFFICE_HOURS)
    ]
    assert len(in_hours) >= 0.99 * len(planned)


# -- shares and backlog -------------------------------------------------------------------


@pytest.mark.parametrize(("late", "irregular"), [(0.15, 0.1), (0.3, 0.3), (0.0, 0.0)])
def test_the_configured_shares_roughly_hold(late: float, irregular: float) -> None:
    scen = scenario(seed=5, late_share=late, irregular_share=irregular)
    stories = [scen.new_story(FRIDAY_MORNING + timedelta(minutes=i)) for i in range(3000)]
    kinds = Counter(s.kind for s in stories)
    assert abs(kinds["late"] / 3000 - late) < 0.025
    assert abs(kinds["irregular"] / 3000 - irregular) < 0.025
    if irregular:
        per_kind = Counter(s.irregularity for s in stories if s.irregularity)
        assert set(per_kind) == set(IRREGULARITIES)


def test_shares_are_checked() -> None:
    with pytest.raises(ValueError):
        scenario(late_share=0.7, irregular_share=0.4)
    with pytest.raises(ValueError):
        scenario(late_share=-0.1)


@pytest.mark.parametrize(
    "now",
    [
        FRIDAY_MORNING,
        datetime(2026, 11, 30, 8, 45, tzinfo=CN),  # Monday, before much of the day passed
        datetime(2026, 11, 28, 15, 0, tzinfo=CN),  # Saturday
        datetime(2026, 12, 2, 21, 30, tzinfo=CN),  # Wednesday evening
    ],
)
def test_the_backlog_is_cases_under_way_with_red_and_yellow_ones(now: datetime) -> None:
    scen = scenario(seed=3)
    stories = scen.backlog_stories(now, 300)
    red, yellow = [], []
    for story in stories:
        assert story.open_at(now)  # cases under way: accepted, not ended
        assert story.accepted_at is not None and story.accepted_at < now
        assert story.deadline is not None
        done = concluded_at(story)
        assert done is None or done > now
        back = sum(
            1
            for d in range(1, 40)
            if CAL.workdays_before(now.date(), d) >= story.accepted_at.date()
        )
        assert 1 <= back <= (20 if story.kind == "late" else 15)
        if story.kind != "late":
            share = CAL.fraction_elapsed(story.accepted_at, story.item.promised_limit, now)
            assert share < 0.6  # no warning yet for a case handled in time
            continue
        if story.deadline <= now:
            red.append(story)
            assert back <= 15
        else:
            share = CAL.fraction_elapsed(story.accepted_at, story.item.promised_limit, now)
            assert 0.8 <= share < 1
            yellow.append(story)
    assert len(red) >= 20
    assert len(yellow) >= 3
    assert len({s.center_id for s in red + yellow}) >= 15
    assert len({s.center_id[:6] for s in red + yellow}) >= 8  # most counties


def test_backlog_events_are_past_grouped_by_center_and_the_rest_waits() -> None:
    scen = scenario(seed=4)
    stories = scen.backlog_stories(FRIDAY_MORNING, 200)
    past = scen.schedule(stories, FRIDAY_MORNING)
    assert past and all(when(e) <= FRIDAY_MORNING for e in past)
    assert len(past) + scen.pending == sum(len(s.events) for s in stories)
    centers = [e["center_id"] for e in past]
    runs = [c for i, c in enumerate(centers) if i == 0 or centers[i - 1] != c]
    assert len(runs) == len(set(runs))  # each center's batch is contiguous
    cases = [e["case_id"] for e in past]
    case_runs = [c for i, c in enumerate(cases) if i == 0 or cases[i - 1] != c]
    assert len(case_runs) == len(set(case_runs))  # and each case's events within it
    for story in stories:
        mine = [e for e in past if e["case_id"] == story.case_id]
        assert mine == story.until(FRIDAY_MORNING)
    accepted_late = {e["case_id"] for e in past if e["type"] == "accepted"}
    assert {s.case_id for s in stories if s.kind == "late"} <= accepted_late


# -- release over time -------------------------------------------------------------------


def run_live(seed: int, steps: int, step: timedelta) -> list[Event]:
    scen = scenario(seed=seed)
    now = FRIDAY_MORNING
    out = scen.backlog(now, 50)
    for _ in range(steps):
        now += step
        out += scen.due(now)
        out += scen.start_case(now)
    return out


def test_same_seed_same_events_and_another_seed_others() -> None:
    first = run_live(21, 200, timedelta(seconds=7))
    assert first == run_live(21, 200, timedelta(seconds=7))
    assert first != run_live(22, 200, timedelta(seconds=7))


def test_no_event_is_released_before_its_time_and_each_exactly_once() -> None:
    scen = scenario(seed=8)
    now = FRIDAY_MORNING
    released = [(now, e) for e in scen.backlog(now, 100)]
    for _ in range(40):
        released += [(now, e) for e in scen.start_case(now)]
        now += timedelta(minutes=3)
        released += [(now, e) for e in scen.due(now)]
    while scen.pending:  # let weeks pass
        now += timedelta(hours=5)
        batch = scen.due(now)
        assert [when(e) for e in batch] == sorted(when(e) for e in batch)
        released += [(now, e) for e in batch]
    assert all(when(event) <= at for at, event in released)
    ids = [e["event_id"] for _, e in released]
    assert len(ids) == len(set(ids))
    per_case: dict[str, list[datetime]] = {}
    for _, event in released:
        per_case.setdefault(event["case_id"], []).append(when(event))
    assert all(times == sorted(times) for times in per_case.values())


def test_a_live_case_starts_now() -> None:
    scen = scenario(seed=9)
    events = scen.start_case(FRIDAY_MORNING)
    assert [e["type"] for e in events] == ["submitted"]
    assert events[0]["occurred_at"] == "2026-11-27T10:15:30+08:00"
    assert scen.pending >= 1
    assert scen.due(FRIDAY_MORNING) == []
    next_at = scen.next_due_at()
    assert next_at is not None and next_at > FRIDAY_MORNING


def test_due_respects_a_limit() -> None:
    scen = scenario(seed=10)
    for minute in range(20):
        scen.start_case(FRIDAY_MORNING + timedelta(minutes=minute))
    later = FRIDAY_MORNING + timedelta(hours=2)
    first = scen.due(later, limit=5)
    assert len(first) == 5
    rest = scen.due(later)
    assert all(when(a) <= when(b) for a in first for b in rest)


# -- pieces -----------------------------------------------------------------------------


def test_every_center_takes_a_realistic_mix_of_its_places_items() -> None:
    """Each center files cases under its own place's catalogued items: a mix of immediate
    and procedural ones; a township center takes a handful of its county's."""
    assert len(CATALOGUE) == 655
    for center in REGISTRY.all():
        items = CATALOGUE.offered_at(center)
        assert all(i.item_code.startswith(f"{center.code[:6]}-") for i in items), center
        assert any(i.immediate for i in items) and any(not i.immediate for i in items)
        assert any(len(i.steps) >= 2 for i in items)
        assert len(items) >= (40 if center.level != "township" else 10), center
        if center.level == "township":
            assert all(i.township_office for i in items)
        for item in items:
            assert item.department_at(center).startswith(center.name[:2]), item
            assert item.weight > 0 and item.materials and item.legal_basis
            if item.immediate:
                assert item.promised_limit == Limit(1, "working_day")
    fees = [i.fee_standard for i in CATALOGUE]
    assert sum(1 for fee in fees if fee == 0) > len(fees) / 2 and max(fees) > 0


def test_a_case_of_another_places_item_is_filed_under_its_own_places_code() -> None:
    """`catalogue.unknown_item` stories: a center files a case under an item its place
    does not catalogue, with its own place's prefix, handled by its own department."""
    center = REGISTRY.get("451221")
    assert center is not None
    strangers = CATALOGUE.strangers(center)
    assert strangers
    for item in strangers:
        assert f"451221-{item.base_code}" not in CATALOGUE
        assert item.department_at(center).startswith("南丹县")


def test_items_carry_the_catalogues_steps_as_required_steps() -> None:
    item: Item | None = CATALOGUE.get("451221-XK-2001-01")
    assert item is not None and item.item_name == "食品经营许可（新办）"
    payload = item.accepted_payload()
    assert payload["item_code"] == "451221-XK-2001-01"
    assert payload["required_steps"] == ["review", "site_inspection", "approval"]
    declared = item.accepted_payload(item_code="451222-X", promised=Limit(9, "working_day"))
    assert declared["item_code"] == "451222-X"
    assert declared["promised_limit"] == {"value": 9, "unit": "working_day"}


def test_contract_example_deadline_with_a_holiday_calendar() -> None:
    off = {date(2026, 10, d) for d in range(1, 8)}
    on = {date(2026, 10, 10)}

    def is_workday(day: date) -> bool:
        return day in on or (day.weekday() < 5 and day not in off)

    cal = WorkCalendar(CN, is_workday)
    accepted = datetime(2026, 9, 30, 10, 0, tzinfo=CN)
    assert cal.deadline(accepted, Limit(3, "working_day")) == datetime(2026, 10, 11, tzinfo=CN)
    # natural days: 3 days after 09-30 is 10-03, a holiday: moves to 10-08, ends 24:00
    assert cal.deadline(accepted, Limit(3, "natural_day")) == datetime(2026, 10, 9, tzinfo=CN)


def test_warning_point_matches_the_contract_reading() -> None:
    # Accepted Mon 2026-11-16 10:00 with 3 working days: 80% is reached at 09:36 on Thu.
    accepted = datetime(2026, 11, 16, 10, 0, tzinfo=CN)
    point = CAL.fraction_point(accepted, Limit(3, "working_day"), 0.8)
    assert point == datetime(2026, 11, 19, 9, 36, tzinfo=CN)
    assert CAL.fraction_elapsed(accepted, Limit(3, "working_day"), point) == pytest.approx(0.8)


def test_office_points_stay_in_office_hours() -> None:
    rng = random.Random(1)
    start = datetime(2026, 11, 27, 17, 0, tzinfo=CN)
    end = datetime(2026, 12, 1, 0, 0, tzinfo=CN)
    points = CAL.office_points(rng, start, end, 50)
    assert points == sorted(points)
    for at in points:
        assert start <= at <= end and at.weekday() < 5
        assert any(lo <= at.time() <= hi for lo, hi in OFFICE_HOURS)
    assert time(17, 30) >= min(p.time() for p in points if p.date() == start.date())


def test_encode_gives_the_case_id_key_and_utf8_json() -> None:
    event = scenario().start_case(FRIDAY_MORNING)[0]
    key, value = encode(event)
    assert key == event["case_id"].encode()
    assert json.loads(value.decode("utf-8")) == event
    assert event["department"].encode("utf-8") in value  # not \u-escaped
