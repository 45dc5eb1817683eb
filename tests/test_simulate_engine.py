"""A simulated day through the rule engine, judged by the shipped item catalogue.

The demo runs the worker with the simulated Hechi catalogue (contract §8): here the same
stories go through the same engine (`Runner`, event-time clock), and the catalogue's four
rules must each fire, on the stories meant to break them and on no others; the normal
stories must raise nothing at all, stage limits included; and a stage overrun must be an
exception, not the rule.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from supervisor.centers import CenterRegistry
from supervisor.core.alerts import Alert
from supervisor.core.calendar import WorkCalendar
from supervisor.core.catalogue import Catalogue as CoreCatalogue
from supervisor.core.engine import Engine
from supervisor.core.events import from_document
from supervisor.core.rules import RuleBook
from supervisor.core.runner import Runner
from supervisor.simulate import CaseStory, Catalogue, Scenario

ROOT = Path(__file__).resolve().parents[1]
CN = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 8, 30, tzinfo=CN)
#: Long enough after the day for every story to end and every complaint to run out.
UNTIL = datetime(2027, 3, 1, tzinfo=CN)
CATALOGUE_RULES = (
    "catalogue.unknown_item",
    "catalogue.limit_mismatch",
    "stage.overdue",
    "complaint.unanswered",
)


def catalogued_engine() -> Engine:
    """The shipped rules, judged by the shipped catalogue (what the demo's worker runs)."""
    rules = RuleBook.load(ROOT / "rules")
    catalogue = CoreCatalogue.load(ROOT / "supervisor/data/catalogue")
    assert rules.catalogue is None and catalogue is not None
    book = RuleBook({rule.id: rule for rule in rules}, catalogue)
    return Engine(book, WorkCalendar("Asia/Shanghai"))


@cache
def simulated_day() -> tuple[dict[str, CaseStory], list[Alert]]:
    """2,400 cases taken in over one working day (Monday 08:30 to about 18:30, with the
    official calendar), followed through to their end, every event through the engine
    in time order, the clock advancing as the events come and then to `UNTIL`."""
    calendar = WorkCalendar("Asia/Shanghai")
    scenario = Scenario(
        random.Random(2026),
        CenterRegistry.load(),
        Catalogue.load(),
        is_workday=calendar.is_working_day,
    )
    stories = [scenario.new_story(MONDAY + timedelta(seconds=15 * i)) for i in range(2400)]
    timed = sorted(
        (datetime.fromisoformat(event["occurred_at"]), n, event)
        for n, event in enumerate(e for story in stories for e in story.events)
    )
    runner = Runner(catalogued_engine())
    alerts: list[Alert] = []
    for at, _, event in timed:
        alerts += runner.advance(at)
        alerts += runner.feed(from_document(event))
    alerts += runner.advance(UNTIL)
    assert runner.errors == []
    return {story.case_id: story for story in stories}, alerts


def cases_of(alerts: list[Alert], rule_id: str) -> set[str]:
    return {alert.case_id for alert in alerts if alert.rule_id == rule_id}


def meant(stories: dict[str, CaseStory], irregularity: str) -> set[str]:
    return {case for case, story in stories.items() if story.irregularity == irregularity}


def test_each_catalogue_rule_fires_on_the_stories_meant_to_break_it() -> None:
    stories, alerts = simulated_day()
    counts = Counter(alert.rule_id for alert in alerts)
    assert all(counts[rule] >= 1 for rule in CATALOGUE_RULES), counts
    for rule in ("catalogue.unknown_item", "catalogue.limit_mismatch", "complaint.unanswered"):
        assert cases_of(alerts, rule) == meant(stories, rule), rule
        assert counts[rule] == len(meant(stories, rule))  # once per case
    stage = cases_of(alerts, "stage.overdue")
    assert meant(stories, "stage.overdue") <= stage
    late = {case for case, story in stories.items() if story.kind == "late"}
    assert stage <= late | meant(stories, "stage.overdue")


def test_stage_overruns_are_an_exception_not_the_rule() -> None:
    stories, alerts = simulated_day()
    stage = cases_of(alerts, "stage.overdue")
    assert len(stage) < 0.25 * len(stories)  # the late share (15%) and a few more
    late_stage = meant(stories, "stage.overdue")
    # a late stage in a case concluded in time: never the case's deadline
    assert not late_stage & cases_of(alerts, "deadline.overdue")


def test_normal_stories_raise_nothing() -> None:
    """Steps in their stages, the catalogue's limits declared, complaints answered in
    time: a normal story (most of the day) gives the wall no alert at all."""
    stories, alerts = simulated_day()
    normal = {case for case, story in stories.items() if story.kind == "normal"}
    assert len(normal) > 0.7 * len(stories)
    assert [a for a in alerts if a.case_id in normal] == []


def test_complaints_are_mostly_answered_in_time() -> None:
    stories, alerts = simulated_day()
    complained: Counter[str] = Counter()
    for story in stories.values():
        types = [event["type"] for event in story.events]
        complained["complained"] += types.count("complained")
        complained["complaint_answered"] += types.count("complaint_answered")
    unanswered = complained["complained"] - complained["complaint_answered"]
    assert unanswered == len(cases_of(alerts, "complaint.unanswered")) > 0
    assert complained["complaint_answered"] > 2 * unanswered


def test_staff_events_name_who_handled_them_as_alerts_do() -> None:
    """Contract §7: every staff event carries department, window and staff member, and the
    catalogue's alerts carry them into their details."""
    stories, alerts = simulated_day()
    for story in stories.values():
        for event in story.events:
            assert event["department"], event
            if event["type"] not in {"evaluated", "complained"}:
                assert event["staff_id"] and event["window_id"], event
    for alert in alerts:
        if alert.rule_id in CATALOGUE_RULES:
            assert alert.details.get("department"), alert
            assert alert.details.get("staff_id"), alert
