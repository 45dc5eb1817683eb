"""Contract §8 against the calendar: each rule's firing case and its near miss to the
second where the counted span crosses a weekend, a public holiday, a make-up working day
(调休上班日) and a suspension inside a stage; then properties (hypothesis) checked against
an oracle of this file's own.

The engine is the pure one, time passed in (a `Runner` fed events, `advance(now)`), with
the calendars replay and the worker build: the national schedule plus
`rules/calendar/regions.yaml` (Guangxi's 壮族三月三, 19-20 April 2026, for centers 45…).

The oracle counts working time day by day from the 2026 schedule written out below (the
State Council's, published 2025-11-04), not from the engine's calendar or its index:
`test_the_calendar_this_file_assumes` checks once that both agree on every day of 2026.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.core.alerts import Alert
from supervisor.core.calendar import CalendarBook
from supervisor.core.engine import Engine
from supervisor.core.events import CaseEvent
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner

from .factories import ROOT, event

CN = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
DAY_S = 86400.0
GUANGXI = "451221"  # 南丹县: Guangxi's regional days apply
ELSEWHERE = "440100"  # 广州市: the national schedule only
CODE = "451221-S8-0001"
LONG = "451221-S8-0002"  # its last step's limit outlasts the steps before it
CATALOGUE = f"""\
items:
  - item_code: {CODE}
    name: 食品经营许可（新办）
    department: 南丹县市场监督管理局
    promised_limit: {{value: 3, unit: working_day}}
    statutory_limit: {{value: 20, unit: working_day}}
    fee_standard: 0
    steps:
      - {{step: review, name: 审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: site_inspection, name: 现场核查, limit: {{value: 2, unit: natural_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 0.5, unit: working_day}}}}
  - item_code: {LONG}
    name: 农村建房用地审查
    promised_limit: {{value: 10, unit: working_day}}
    steps:
      - {{step: review, name: 受理审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: site_inspection, name: 实地踏勘, limit: {{value: 2, unit: natural_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 3, unit: working_day}}}}
"""
#: The steps above: (step, limit in seconds of working time, or None for natural days).
STEPS = {"review": 1.0, "site_inspection": None, "approval": 0.5}
SECTION8 = ("catalogue.unknown_item", "catalogue.limit_mismatch", "stage.overdue")

# -- the 2026 schedule, written out (the oracle's only source of days) --------------------


def _days(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


HOLIDAYS_2026 = (
    _days("2026-01-01", "2026-01-03")  # 元旦
    | _days("2026-02-15", "2026-02-23")  # 春节
    | _days("2026-04-04", "2026-04-06")  # 清明
    | _days("2026-05-01", "2026-05-05")  # 劳动节
    | _days("2026-06-19", "2026-06-21")  # 端午
    | _days("2026-09-25", "2026-09-27")  # 中秋
    | _days("2026-10-01", "2026-10-07")  # 国庆
)
MAKE_UP_2026 = {date.fromisoformat(f"2026-{d}") for d in ("01-04", "02-14", "02-28", "05-09")} | {
    date(2026, 9, 20),  # a Sunday
    date(2026, 10, 10),  # a Saturday
}
SANYUESAN_2026 = {date(2026, 4, 19), date(2026, 4, 20)}  # Guangxi only (rules/calendar)


def is_working(day: date, center: str = GUANGXI) -> bool:
    assert day.year in (2026, 2027) and day <= date(2027, 1, 10), day  # the oracle's range
    if center.startswith("45") and day in SANYUESAN_2026:
        return False
    if day in MAKE_UP_2026:
        return True
    return day.weekday() < 5 and day not in HOLIDAYS_2026 and day != date(2027, 1, 1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CN)


def working_end(start: datetime, seconds: float, center: str = GUANGXI) -> datetime:
    """The earliest instant at which `seconds` of working time have passed since `start`,
    counted day by day (a limit used up at the end of a working day ends at its 24:00)."""
    position = start.astimezone(CN)
    day = position.date()
    left = seconds
    while True:
        if is_working(day, center):
            available = (midnight(day + timedelta(days=1)) - position).total_seconds()
            if left <= available:
                return position + timedelta(seconds=left)
            left -= available
        day += timedelta(days=1)
        position = midnight(day)


def working_seconds(start: datetime, end: datetime, center: str = GUANGXI) -> float:
    """Seconds of working time in [start, end), day by day."""
    total, position = 0.0, start.astimezone(CN)
    while position < end:
        day = position.date()
        following = min(midnight(day + timedelta(days=1)), end)
        if is_working(day, center):
            total += (following - position).total_seconds()
        position = following
    return total


def nth_working_day_end(after: datetime, n: int, center: str = GUANGXI) -> datetime:
    """24:00 of the n-th working day after the local day of `after` (that day not counted)."""
    day, counted = after.astimezone(CN).date(), 0
    while counted < n:
        day += timedelta(days=1)
        counted += is_working(day, center)
    return midnight(day + timedelta(days=1))


def natural_end(after: datetime, n: int, center: str = GUANGXI) -> datetime:
    """24:00 of the n-th calendar day after the day of `after`, or of the next working day
    when that one is off."""
    day = after.astimezone(CN).date() + timedelta(days=n)
    while not is_working(day, center):
        day += timedelta(days=1)
    return midnight(day + timedelta(days=1))


# -- the engine ---------------------------------------------------------------------------


@cache
def engine() -> Engine:
    """The shipped rules with this file's catalogue, and the shipped calendars: what replay
    builds from such a rules directory. It keeps no case state, so one serves all."""
    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules"
        shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
        (rules / "catalogue").mkdir()
        (rules / "catalogue" / "items.yaml").write_text(CATALOGUE, encoding="utf-8")
        book = RuleBook.load(rules)
    return Engine(book, CalendarBook.load(ROOT / "rules" / "calendar"))


def t(text: str) -> datetime:
    """A local time written without its offset: "2026-10-08T10:00" or with seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=CN)


def iso(instant: datetime) -> str:
    return instant.isoformat()


class Case:
    """One case's events, written in local time."""

    serial = 0

    def __init__(self, center: str = GUANGXI) -> None:
        Case.serial += 1
        self.center = center
        self.case_id = f"{center}-2026-8{Case.serial:06d}"
        self.events: list[CaseEvent] = []

    def add(self, kind: str, at: datetime | str, **payload: Any) -> Case:
        when = t(at) if isinstance(at, str) else at
        self.events.append(
            event(kind, iso(when), case_id=self.case_id, center_id=self.center, **payload)
        )
        return self

    def accepted(
        self,
        at: datetime | str,
        value: float = 3,
        unit: str = "working_day",
        statutory: tuple[float, str] = (20, "working_day"),
        item_code: str = CODE,
    ) -> Case:
        return self.add(
            "accepted",
            at,
            item_code=item_code,
            promised_limit={"value": value, "unit": unit},
            statutory_limit={"value": statutory[0], "unit": statutory[1]},
        )

    def step(self, at: datetime | str, step: str) -> Case:
        return self.add("step_completed", at, step=step)

    def ident(self, rule_id: str, occurrence: str | None = None) -> str:
        return f"{rule_id}:{self.case_id}" + (f":{occurrence}" if occurrence else "")

    def run(self, until: datetime | str | None = None) -> dict[str, Alert]:
        """Every alert the case raises by `until` (what a worker knows then: the events up
        to that instant, its clock at that instant), by id; without `until`, what its
        events alone raise."""
        if until is None:
            return judge(self.events)
        now = t(until) if isinstance(until, str) else until
        return judge([e for e in self.events if e.occurred_at <= now], now)


def judge(events: Sequence[CaseEvent], until: datetime | str | None = None) -> dict[str, Alert]:
    runner = Runner(engine())
    alerts: list[Alert] = []
    for item in events:
        alerts += runner.feed(item)
    if until is not None:
        alerts += runner.advance(t(until) if isinstance(until, str) else until)
    by_id = {alert.alert_id: alert for alert in alerts}
    assert len(by_id) == len(alerts), "an alert id was raised twice"
    return by_id


def near_miss(case: Case, ident: str, due: datetime) -> Alert:
    """Advanced to one second before `due`: no alert `ident`; to `due`: the alert, raised
    at `due` exactly. Returns it."""
    assert ident not in case.run(due - SECOND), f"{ident} fired before {due}"
    alert = case.run(due).get(ident)
    assert alert is not None, f"{ident} did not fire at {due}"
    assert alert.raised_at == due
    assert alert.raised_at.utcoffset() == timedelta(hours=8)
    return alert


def human(instant: datetime) -> str:
    """How alerts write a deadline: a midnight is 24:00 of the day before."""
    if (instant.hour, instant.minute, instant.second) == (0, 0, 0):
        return f"{(instant - timedelta(days=1)).date().isoformat()} 24:00"
    return instant.strftime("%Y-%m-%d %H:%M")


# -- the calendar itself -------------------------------------------------------------------


def test_the_calendar_this_file_assumes() -> None:
    """The oracle's schedule is the engine's, day for day, in Guangxi and elsewhere; the
    regional days come from the shipped calendar file."""
    regions = yaml.safe_load((ROOT / "rules/calendar/regions.yaml").read_text(encoding="utf-8"))
    [guangxi] = [r for r in regions["regions"] if r["prefix"] == "45"]
    assert {d for d in guangxi["days_off"] if d.year == 2026} == SANYUESAN_2026
    book = engine().calendar
    for center in (GUANGXI, ELSEWHERE):
        calendar = book.for_center(center)
        day = date(2026, 1, 1)
        while day.year == 2026:
            assert calendar.is_working_day(day) == is_working(day, center), (center, day)
            day += timedelta(days=1)
    assert 2026 not in book.unconfirmed_years_seen


# -- catalogue.unknown_item -------------------------------------------------------------


@pytest.mark.parametrize(
    "accepted_at",
    [
        "2026-11-25T10:00:07+08:00",  # a Wednesday
        "2026-10-03T02:00:07Z",  # National Day, written in UTC: 10:00:07 local
        "2026-10-10T10:00:07+08:00",  # the make-up Saturday
        "2026-04-20T10:00:07+08:00",  # 三月三 in Guangxi
    ],
)
def test_an_unknown_item_fires_at_the_acceptance_to_the_second(accepted_at: str) -> None:
    when = datetime.fromisoformat(accepted_at.replace("Z", "+00:00")).astimezone(CN)
    # the same family catalogued by another county is not this item: unknown
    case = Case().accepted(when, item_code="451222-S8-0001")
    alert = case.run()[case.ident("catalogue.unknown_item")]
    assert (alert.raised_at, alert.severity) == (when, "yellow")
    assert alert.raised_at.isoformat() == when.isoformat()  # +08:00, the seconds kept
    assert alert.details["item_code"] == "451222-S8-0001"
    known = Case().accepted(when)
    assert known.ident("catalogue.unknown_item") not in known.run()


def test_no_catalogue_rule_judges_a_case_never_accepted() -> None:
    case = (
        Case()
        .add("submitted", "2026-09-30T09:00")
        .add("not_accepted", "2026-09-30T10:00", reason="材料不全", legal_basis="第三十二条")
    )
    assert not {a.rule_id for a in case.run("2026-12-31T00:00").values()} & set(SECTION8)


# -- catalogue.limit_mismatch -------------------------------------------------------------

# The contract's example (§2) as the catalogue's limit: accepted Wednesday 2026-09-30 10:00
# with 3 working days ends 2026-10-11T00:00 (1-7 October off, Saturday 10 October on).
EXAMPLE_ACCEPTED = "2026-09-30T10:00:00"
EXAMPLE_END = t("2026-10-11T00:00")


@pytest.mark.parametrize(
    ("value", "unit", "declared_end"),
    [
        (3, "working_day", None),  # the catalogue's own
        (2, "working_day", None),  # a shorter promise is no mismatch
        (3 - 1 / 86400, "working_day", None),  # a second shorter
        # 10 calendar days end on the make-up Saturday, a working day: the same instant
        (10, "natural_day", None),
        # a second more of working time: Sunday is off, so it is Monday's first second
        (3 + 1 / 86400, "working_day", "2026-10-12T00:00:01"),
        (4, "working_day", "2026-10-13T00:00"),
        # 11 calendar days end on Sunday 11 October, off: rolled to Monday's 24:00
        (11, "natural_day", "2026-10-13T00:00"),
    ],
)
def test_a_declared_promise_against_the_contracts_example(
    value: float, unit: str, declared_end: str | None
) -> None:
    assert nth_working_day_end(t(EXAMPLE_ACCEPTED), 3) == EXAMPLE_END  # the oracle agrees
    case = Case().accepted(EXAMPLE_ACCEPTED, value=value, unit=unit)
    alerts = case.run()
    ident = case.ident("catalogue.limit_mismatch")
    if declared_end is None:
        assert ident not in alerts
        return
    alert = alerts[ident]
    assert (alert.raised_at, alert.severity) == (t(EXAMPLE_ACCEPTED), "red")
    assert alert.details["limit"] == "promised"
    assert alert.details["catalogue_deadline"] == "2026-10-10 24:00"
    assert alert.details["declared_deadline"] == human(t(declared_end))


def test_a_declared_statutory_limit_over_national_day() -> None:
    same = Case().accepted(EXAMPLE_ACCEPTED, statutory=(20, "working_day"))
    assert same.ident("catalogue.limit_mismatch") not in same.run()
    longer = Case().accepted(EXAMPLE_ACCEPTED, statutory=(20 + 1 / 86400, "working_day"))
    alert = longer.run()[longer.ident("catalogue.limit_mismatch")]
    assert alert.details["limit"] == "statutory"
    # 20 working days from 30 September: 8-10 October, 12-16, 19-23, 26-30, 2-3 November
    assert nth_working_day_end(t(EXAMPLE_ACCEPTED), 20) == t("2026-11-04T00:00")
    assert alert.details["catalogue_deadline"] == "2026-11-03 24:00"
    assert alert.details["declared_deadline"] == "2026-11-04 00:00"


@pytest.mark.parametrize(
    ("days", "fires"),
    [(5, False), (6, True)],  # Friday + 5 calendar days is Wednesday 24:00, as 3 working days
)
def test_a_natural_day_promise_over_a_weekend(days: int, fires: bool) -> None:
    case = Case().accepted("2026-11-20T16:00", value=days, unit="natural_day")
    assert (case.ident("catalogue.limit_mismatch") in case.run()) is fires


@pytest.mark.parametrize(("center", "fires"), [(GUANGXI, False), (ELSEWHERE, True)])
def test_a_regional_holiday_decides_a_mismatch(center: str, fires: bool) -> None:
    """Friday 17 April, 3 working days: in Guangxi Monday 20 April is 三月三 (off), so they
    end Thursday 23 April 24:00, as 6 calendar days do; elsewhere a day earlier."""
    case = Case(center).accepted("2026-04-17T10:00", value=6, unit="natural_day")
    alerts = case.run()
    assert (case.ident("catalogue.limit_mismatch") in alerts) is fires
    if fires:
        assert alerts[case.ident("catalogue.limit_mismatch")].details["catalogue_deadline"] == (
            "2026-04-22 24:00"
        )


# -- stage.overdue --------------------------------------------------------------------------


def working_fridays() -> list[date]:
    day, found = date(2026, 1, 2), []
    while day.year == 2026:
        if is_working(day):
            found.append(day)
        day += timedelta(days=7)
    return found


def next_working_day(day: date, center: str = GUANGXI) -> date:
    day += timedelta(days=1)
    while not is_working(day, center):
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize("friday", working_fridays(), ids=str)
def test_the_contracts_stage_example_on_every_friday_of_2026(friday: date) -> None:
    """§8: "a 1-working-day stage that starts on a Friday at 10:00 ends on the next
    working day at 10:00" — a Monday, a make-up Saturday or Sunday (13 February, 18
    September, 9 October), or after a holiday (3 April: Tuesday 7 April; 17 April in
    Guangxi: Tuesday 21 April)."""
    start = datetime(friday.year, friday.month, friday.day, 10, tzinfo=CN)
    due = datetime.combine(next_working_day(friday), start.timetz())
    case = Case().accepted(start)
    alert = near_miss(case, case.ident("stage.overdue", "review"), due)
    assert alert.severity == "yellow"
    assert alert.details["step"] == "review" and alert.details["deadline"] == human(due)


@pytest.mark.parametrize(
    ("accepted_at", "due"),
    [
        ("2026-11-20T10:00", "2026-11-23T10:00"),  # a weekend
        ("2026-09-30T10:00", "2026-10-08T10:00"),  # National Day
        ("2026-09-24T10:00", "2026-09-28T10:00"),  # Mid-Autumn Friday, then a weekend
        ("2026-10-09T10:00", "2026-10-10T10:00"),  # to the make-up Saturday
        ("2026-09-18T16:30", "2026-09-20T16:30"),  # to the make-up Sunday
        ("2026-10-10T15:00", "2026-10-12T15:00"),  # from the make-up Saturday
        ("2026-10-03T10:00", "2026-10-09T00:00"),  # accepted on a holiday: 8 October whole
        ("2026-04-17T10:00", "2026-04-21T10:00"),  # 三月三 in Guangxi
        ("2026-12-31T10:00", "2027-01-04T10:00"),  # 元旦 2027 (not yet published)
    ],
)
def test_a_stage_ends_after_24_working_hours(accepted_at: str, due: str) -> None:
    case = Case().accepted(accepted_at)
    near_miss(case, case.ident("stage.overdue", "review"), t(due))
    # completed on the last second: in time; a second later: overdue, raised at the limit
    ident = case.ident("stage.overdue", "review")
    in_time = Case().accepted(accepted_at).step(t(due), "review")
    assert in_time.ident("stage.overdue", "review") not in in_time.run(t(due) + timedelta(days=30))
    late = Case().accepted(accepted_at).step(t(due) + SECOND, "review")
    assert late.run()[late.ident("stage.overdue", "review")].raised_at == t(due)
    assert ident.endswith(":review")


def test_the_regional_holiday_is_a_center_matter() -> None:
    case = Case(ELSEWHERE).accepted("2026-04-17T10:00")
    near_miss(case, case.ident("stage.overdue", "review"), t("2026-04-20T10:00"))


def test_a_natural_day_stage_is_calendar_time_even_over_a_holiday() -> None:
    """review done 30 September 11:00: site inspection (2 calendar days) ends on National
    Day itself, 2 October 11:00, not rolled. Approval (3 working days) has not started
    while site inspection is under way; once site inspection is done on the holiday, it
    runs from then: 8, 9 and 10 October whole, ending at 24:00 of the make-up Saturday."""
    base = Case().accepted("2026-09-30T10:00", item_code=LONG).step("2026-09-30T11:00", "review")
    near_miss(base, base.ident("stage.overdue", "site_inspection"), t("2026-10-02T11:00"))
    assert base.ident("stage.overdue", "approval") not in base.run("2026-10-20T00:00")
    done = Case().accepted("2026-09-30T10:00", item_code=LONG).step("2026-09-30T11:00", "review")
    done.step("2026-10-02T11:00", "site_inspection")  # on its last second: in time
    assert done.ident("stage.overdue", "site_inspection") not in done.run("2026-10-20T00:00")
    near_miss(done, done.ident("stage.overdue", "approval"), t("2026-10-11T00:00"))


def test_a_later_stage_starts_when_the_step_before_it_is_completed() -> None:
    """§8: "each next one starts when the step before it is completed": approval's half
    working day does not run while site inspection is under way (past half a working day
    from acceptance), and runs from site inspection's completion on the holiday of 2
    October: 12 working hours of Thursday 8 October."""
    case = Case().accepted("2026-09-30T10:00").step("2026-09-30T11:00", "review")
    approval = case.ident("stage.overdue", "approval")
    assert approval not in case.run("2026-10-02T10:59:59")
    case.step("2026-10-02T11:00", "site_inspection")
    alert = near_miss(case, approval, t("2026-10-08T12:00"))
    assert working_seconds(t("2026-10-02T11:00"), alert.raised_at) == 0.5 * DAY_S


@pytest.mark.parametrize(
    ("done", "late"), [("2026-09-30T22:00", False), ("2026-10-08T09:00", True)]
)
def test_a_stage_whose_step_before_is_never_completed_runs_from_acceptance(
    done: str, late: bool
) -> None:
    """§8: "or at acceptance, if that step is never completed": approval completed without
    site inspection ran from acceptance, half a working day to 22:00; completed after
    that, its alert is raised at that instant, once the skip is known: when the case is
    concluded without site inspection (on 8 October, after every limit here)."""
    case = Case().accepted("2026-09-30T10:00").step("2026-09-30T11:00", "review")
    case.step(done, "approval")
    case.add("concluded", "2026-10-08T10:00")
    alerts = case.run("2026-10-31T00:00")
    approval = alerts.get(case.ident("stage.overdue", "approval"))
    assert (approval.raised_at if approval else None) == (t("2026-09-30T22:00") if late else None)
    # site inspection itself ran from review's completion: 2 calendar days, 2 October 11:00
    assert alerts[case.ident("stage.overdue", "site_inspection")].raised_at == t("2026-10-02T11:00")


@pytest.mark.parametrize("last", ["concluded", "withdrawn"])
def test_a_case_closed_judges_the_stages_after_a_step_never_completed(last: str) -> None:
    """Closed with site inspection never completed: approval ran from acceptance and its
    limit (30 September 22:00) was reached while the case was open."""
    case = Case().accepted("2026-09-30T10:00").step("2026-09-30T11:00", "review")
    case.add(last, "2026-10-01T09:00")
    found = {i: a.raised_at for i, a in case.run("2026-10-31T00:00").items()}
    assert found[case.ident("stage.overdue", "approval")] == t("2026-09-30T22:00")
    assert case.ident("stage.overdue", "site_inspection") not in found  # ends 2 October


def suspended_over_national_day() -> Case:
    """Accepted Tuesday 29 September 09:00; suspended from 15:00 (6 working hours of
    review used) until Friday 9 October 09:00."""
    return (
        Case()
        .accepted("2026-09-29T09:00")
        .add("suspended", "2026-09-29T15:00", reason_code="expert_review", reason="专家评审")
        .add("resumed", "2026-10-09T09:00")
    )


@pytest.mark.parametrize(
    ("step", "due"),
    [
        # 18 working hours left from Friday 09:00: 15 on Friday, 3 on the make-up Saturday
        ("review", "2026-10-10T03:00"),
        # 6 working hours left (half a day, 6 used): Friday 15:00
        ("approval", "2026-10-09T15:00"),
        # 2 calendar days from acceptance, plus the 9 days 18 hours suspended: a Sunday
        ("site_inspection", "2026-10-11T03:00"),
    ],
)
def test_a_suspension_inside_a_stage_over_national_day(step: str, due: str) -> None:
    case = suspended_over_national_day()
    if step == "review":
        alert = near_miss(case, case.ident("stage.overdue", step), t(due))
    else:  # review never completed: the later stages run from acceptance, known at the close
        alert = case.add("concluded", "2026-10-12T12:00").run()[case.ident("stage.overdue", step)]
        assert alert.raised_at == t(due)
    assert alert.details["deadline"] == human(t(due))
    # the oracle: the working time used is the limit plus the working time suspended
    limit = STEPS[step]
    if limit is not None:
        start, paused, resumed = t("2026-09-29T09:00"), t("2026-09-29T15:00"), t("2026-10-09T09:00")
        assert working_seconds(paused, resumed) == 66 * 3600
        assert working_seconds(start, t(due)) == limit * DAY_S + 66 * 3600


def test_no_stage_fires_while_suspended_past_its_end_and_it_fires_after_the_resumption() -> None:
    case = (
        Case()
        .accepted("2026-09-29T09:00")
        .add("suspended", "2026-09-29T15:00", reason_code="expert_review", reason="专家评审")
    )
    assert not [a for a in case.run("2026-10-31T00:00").values() if a.rule_id == "stage.overdue"]
    case.add("resumed", "2026-10-09T09:00")
    near_miss(case, case.ident("stage.overdue", "review"), t("2026-10-10T03:00"))


def test_a_suspension_counts_only_inside_the_stage() -> None:
    """Review done Monday 23 November 12:00 (in time), then suspended 14:00 until Tuesday
    10:00 (20 working hours) and again Wednesday 00:00-06:00 (6 more): review's stage is
    over and is not moved; site inspection (2 calendar days from 12:00 Monday) moves by
    the 26 hours of calendar time. Closed with site inspection never completed, approval
    (from acceptance, half a day) moves too, by 26 working hours."""
    case = (
        Case()
        .accepted("2026-11-23T09:00")
        .step("2026-11-23T12:00", "review")
        .add("suspended", "2026-11-23T14:00", reason_code="testing", reason="检验检测")
        .add("resumed", "2026-11-24T10:00")
        .add("suspended", "2026-11-25T00:00", reason_code="testing", reason="检验检测")
        .add("resumed", "2026-11-25T06:00")
    )
    assert case.ident("stage.overdue", "review") not in case.run("2026-12-31T00:00")
    near_miss(case, case.ident("stage.overdue", "site_inspection"), t("2026-11-26T14:00"))
    # approval from acceptance: 12 working hours from 09:00 Monday, 5 used before the first
    # suspension, 7 left from Tuesday 10:00: Tuesday 17:00, before the second suspension
    closed = case.add("concluded", "2026-11-27T09:00").run()
    assert closed[case.ident("stage.overdue", "approval")].raised_at == t("2026-11-24T17:00")


def test_a_suspension_straddling_the_stage_start_counts_from_the_start() -> None:
    """Suspended Monday 09:30, review completed 10:00 while suspended, resumed 12:00: the
    site inspection stage began at 10:00 and lost the two hours to 12:00."""
    case = (
        Case()
        .accepted("2026-11-23T09:00")
        .add("suspended", "2026-11-23T09:30", reason_code="hearing", reason="听证")
        .step("2026-11-23T10:00", "review")
        .add("resumed", "2026-11-23T12:00")
    )
    near_miss(case, case.ident("stage.overdue", "site_inspection"), t("2026-11-25T12:00"))


@pytest.mark.parametrize("last", ["concluded", "withdrawn"])
def test_a_case_closed_a_second_before_its_stage_ends_is_not_judged(last: str) -> None:
    due = t("2026-10-08T10:00")
    early = Case().accepted("2026-09-30T10:00").add(last, due - SECOND)
    assert early.ident("stage.overdue", "review") not in early.run("2026-12-31T00:00")
    late = Case().accepted("2026-09-30T10:00").add(last, due + SECOND)
    alerts = late.run("2026-12-31T00:00")
    assert alerts[late.ident("stage.overdue", "review")].raised_at == due


# -- complaint.unanswered -----------------------------------------------------------------

COMPLAINTS = [
    # (center, complained at, 24:00 of the 15th working day after its day)
    (GUANGXI, "2026-11-25T08:30", "2026-12-17T00:00"),  # weekends only
    (GUANGXI, "2026-09-29T15:00", "2026-10-27T00:00"),  # National Day, make-up Saturday
    (GUANGXI, "2026-10-03T11:00", "2026-10-28T00:00"),  # complained on a holiday
    (GUANGXI, "2026-10-10T10:00", "2026-10-31T00:00"),  # on the make-up Saturday
    (GUANGXI, "2026-04-17T10:00", "2026-05-14T00:00"),  # 三月三, Labour Day, 9 May on
    (ELSEWHERE, "2026-04-17T10:00", "2026-05-13T00:00"),  # the same without 三月三
]


def complained(center: str, at: datetime | str) -> Case:
    """A case accepted and concluded before the complaint, then the complaint."""
    when = t(at) if isinstance(at, str) else at
    return (
        Case(center)
        .accepted(when - timedelta(days=3))
        .add("concluded", when - timedelta(days=1))
        .add("complained", when)
    )


@pytest.mark.parametrize(("center", "at", "due"), COMPLAINTS)
def test_a_complaint_unanswered_for_15_working_days(center: str, at: str, due: str) -> None:
    assert nth_working_day_end(t(at), 15, center) == t(due)  # the oracle agrees
    case = complained(center, at)
    alert = near_miss(case, case.ident("complaint.unanswered"), t(due))
    assert alert.severity == "red" and alert.details["complaint_number"] == 1
    assert alert.details["deadline"] == human(t(due))
    in_time = complained(center, at).add("complaint_answered", t(due) - SECOND)
    assert in_time.ident("complaint.unanswered") not in in_time.run(t(due) + timedelta(days=60))
    late = complained(center, at).add("complaint_answered", t(due) + SECOND)
    assert late.run()[late.ident("complaint.unanswered")].raised_at == t(due)


def test_three_complaints_over_national_day_each_counted_on_its_own() -> None:
    """Complaints on 29 September, 3 October (a holiday) and 10 October (make-up day): an
    answer answers the earliest one still unanswered, so two answers leave the third."""

    def case(second_answer: datetime) -> Case:
        return (
            complained(GUANGXI, "2026-09-29T15:00")
            .add("complained", "2026-10-03T11:00")
            .add("complained", "2026-10-10T10:00")
            .add("complaint_answered", "2026-10-26T23:59:59")
            .add("complaint_answered", second_answer)
        )

    in_time = case(t("2026-10-27T23:59:59"))
    alerts = in_time.run("2026-12-31T00:00")
    found = {i: a.raised_at for i, a in alerts.items() if a.rule_id == "complaint.unanswered"}
    assert found == {in_time.ident("complaint.unanswered", "3"): t("2026-10-31T00:00")}
    assert alerts[in_time.ident("complaint.unanswered", "3")].details["complaint_number"] == 3
    # the second answer a second after the second complaint's limit
    late = case(t("2026-10-28T00:00:01"))
    alerts = late.run("2026-12-31T00:00")
    found = {i: a.raised_at for i, a in alerts.items() if a.rule_id == "complaint.unanswered"}
    assert found == {
        late.ident("complaint.unanswered", "2"): t("2026-10-28T00:00"),
        late.ident("complaint.unanswered", "3"): t("2026-10-31T00:00"),
    }


# -- properties -----------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Instants of 2026 to the second (the oracle's range, with room for the limits).
instants = st.integers(0, 360 * 86400 - 1).map(
    lambda s: datetime(2026, 1, 1, tzinfo=CN) + timedelta(seconds=s)
)
centers = st.sampled_from([GUANGXI, ELSEWHERE])


def running_stages(start: datetime, center: str) -> dict[str, datetime]:
    """Each step's stage end when it starts at `start`: accepted then (review), or the
    steps before it completed then."""
    dues: dict[str, datetime] = {}
    case = Case(center).accepted(start)
    for step in STEPS:
        dues[step] = stage_dues(case)[step]
        case.step(start, step)
    return dues


def stage_dues(case: Case) -> dict[str, datetime]:
    """The case's pending stage timers by step, as the engine computes them."""
    runner = Runner(engine())
    for item in case.events:
        runner.feed(item)
    state = runner.store[case.case_id]
    prefix = f"stage.overdue:{case.case_id}:"
    return {
        ident.removeprefix(prefix): due
        for ident, due in engine().timers(state).items()
        if ident.startswith(prefix)
    }


@PROPERTY
@given(start=instants, center=centers)
def test_stages_end_where_the_oracle_says_and_fire_there(start: datetime, center: str) -> None:
    assert running_stages(start, center) == {
        "review": working_end(start, 1.0 * DAY_S, center),
        "site_inspection": start + timedelta(days=2),
        "approval": working_end(start, 0.5 * DAY_S, center),
    }
    case = Case(center).accepted(start)
    [(step, due)] = stage_dues(case).items()  # the later stages wait for review
    assert step == "review"
    before = case.run(due - SECOND)
    assert not [a for a in before.values() if a.rule_id == "stage.overdue"]
    at_due = case.run(due)
    assert [i for i, a in at_due.items() if a.rule_id == "stage.overdue"] == [
        case.ident("stage.overdue", "review")
    ]


@PROPERTY
@given(a=instants, b=instants, center=centers)
def test_a_stage_deadline_is_monotone_in_its_start(a: datetime, b: datetime, center: str) -> None:
    early, late = min(a, b), max(a, b)
    before, after = running_stages(early, center), running_stages(late, center)
    for step in STEPS:
        assert before[step] <= after[step], step


@PROPERTY
@given(
    start=instants.filter(lambda s: s < datetime(2026, 10, 25, tzinfo=CN)),
    center=centers,
    used=st.integers(1, 86399),  # working seconds of review used before the suspension
    days=st.integers(1, 20 * 86400),  # working seconds suspended: up to 20 working days
)
def test_a_suspension_moves_the_stage_by_exactly_the_working_time_suspended(
    start: datetime, center: str, used: int, days: int
) -> None:
    paused = working_end(start, used, center)
    resumed = working_end(paused, days, center)
    assert working_seconds(paused, resumed, center) == days
    plain = stage_dues(Case(center).accepted(start))["review"]
    case = (
        Case(center)
        .accepted(start)
        .add("suspended", paused, reason_code="expert_review", reason="专家评审")
        .add("resumed", resumed)
    )
    moved = stage_dues(case)["review"]
    assert moved == working_end(start, DAY_S + days, center)
    assert working_seconds(plain, moved, center) == days


@PROPERTY
@given(at=instants, center=centers)
def test_a_complaint_is_due_at_24_00_of_the_15th_working_day(at: datetime, center: str) -> None:
    if at > datetime(2026, 12, 1, tzinfo=CN):
        at -= timedelta(days=60)  # keep its limit inside the oracle's calendar
    case = complained(center, at)
    due = nth_working_day_end(at, 15, center)
    near_miss(case, case.ident("complaint.unanswered"), due)


@PROPERTY
@given(
    at=instants,
    center=centers,
    value=st.integers(1, 12),
    unit=st.sampled_from(["working_day", "natural_day"]),
)
def test_a_mismatch_is_a_declared_deadline_later_than_the_catalogues(
    at: datetime, center: str, value: int, unit: str
) -> None:
    if at > datetime(2026, 12, 1, tzinfo=CN):
        at -= timedelta(days=60)
    declared = (
        nth_working_day_end(at, value, center)
        if unit == "working_day"
        else natural_end(at, value, center)
    )
    listed = nth_working_day_end(at, 3, center)
    case = Case(center).accepted(at, value=value, unit=unit)
    alerts = case.run()
    ident = case.ident("catalogue.limit_mismatch")
    assert (ident in alerts) is (declared > listed)
    if declared > listed:
        assert alerts[ident].raised_at == at
        assert alerts[ident].details["declared_deadline"] == human(declared)
