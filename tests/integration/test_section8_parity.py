"""Contract §8 with an item catalogue, through Kafka and through `supervisor replay`: the
same alerts (ids, rules, times, every field).

The rules directory is the shipped one plus a catalogue: the simulated Hechi catalogue
(`supervisor/data/catalogue/hechi.yaml`, 655 items with steps) and two items of this
test's own. The events: simulated stories started from mid-September to mid-November (so
Mid-Autumn, National Day and its make-up days fall inside many of them), with a high
share of irregular ones (late stages, promises longer than the catalogue's, unknown
items, unanswered complaints among them), cases under way on 20 November cut there, and
hand-written cases whose §8 alerts are known to the second: a suspension inside a stage
over National Day, a stage ending on the make-up Saturday missed by one second, limit
mismatches around the contract's example, an unknown item accepted on a holiday, three
complaints of one case, a regional holiday, and stages the worker's clock fires.

The same file goes to `supervisor replay FILE --rules DIR --until <the worker's clock
start>` and to a fresh `supervisor worker` with `SUPERVISOR_RULES_DIR=DIR` on the real
broker (the machinery of test_replay_parity.py: its comparison, its precondition that no
deadline races the worker's running clock), in the file's order and interleaved otherwise
across cases.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from supervisor.centers import CenterRegistry
from supervisor.core.calendar import WorkCalendar
from supervisor.core.events import InvalidEvent, decode
from supervisor.core.runner import Runner
from supervisor.replay import build_engine
from supervisor.simulate import Catalogue, Scenario
from supervisor.simulate.catalogue import DEFAULT_DIR as HECHI
from tests.core.factories import event_doc

from .conftest import CLOCK_START
from .test_replay_parity import (
    CLOCK,
    CN,
    MARGIN,
    Output,
    assert_same_alerts,
    shuffled,
    summary,
    through_kafka,
    write_lines,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECTION8 = ("catalogue.unknown_item", "catalogue.limit_mismatch", "stage.overdue")
COMPLAINT = "complaint.unanswered"
CODE = "451221-S8-0001"
LONG = "451221-S8-0002"
PLAIN = "451221-S8-0003"  # no steps: no stage timer
OWN_ITEMS = f"""\
items:
  - item_code: {CODE}
    name: 食品经营许可（新办）
    department: 南丹县市场监督管理局
    promised_limit: {{value: 3, unit: working_day}}
    statutory_limit: {{value: 20, unit: working_day}}
    steps:
      - {{step: review, name: 审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: site_inspection, name: 现场核查, limit: {{value: 2, unit: natural_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 0.5, unit: working_day}}}}
  - item_code: {LONG}
    name: 农村建房用地审查
    promised_limit: {{value: 10, unit: working_day}}
    statutory_limit: {{value: 20, unit: working_day}}
    steps:
      - {{step: review, name: 受理审查, limit: {{value: 1, unit: working_day}}}}
      - {{step: site_inspection, name: 实地踏勘, limit: {{value: 2, unit: natural_day}}}}
      - {{step: approval, name: 审批, limit: {{value: 3, unit: working_day}}}}
  - item_code: {PLAIN}
    name: 个体工商户登记
    promised_limit: {{value: 3, unit: working_day}}
    statutory_limit: {{value: 20, unit: working_day}}
"""
STORIES_FROM = datetime(2026, 9, 14, 8, 30, tzinfo=CN)
STORIES_END_BY = datetime(2026, 11, 25, 0, 0, tzinfo=CN)
BACKLOG_AT = datetime(2026, 11, 20, 16, 30, tzinfo=CN)

Doc = dict[str, Any]


def rules_with_catalogue(folder: Path) -> Path:
    shutil.copytree(ROOT / "rules", folder, ignore=shutil.ignore_patterns("catalogue"))
    (folder / "catalogue").mkdir()
    shutil.copy(HECHI / "hechi.yaml", folder / "catalogue" / "hechi.yaml")
    (folder / "catalogue" / "own.yaml").write_text(OWN_ITEMS, encoding="utf-8")
    return folder


def simulated(seed: int = 88) -> list[Doc]:
    scenario = Scenario(
        random.Random(seed),
        CenterRegistry.load(),
        Catalogue.load(),
        late_share=0.2,
        irregular_share=0.6,
        tz=CN,
        is_workday=WorkCalendar("Asia/Shanghai").is_working_day,
    )
    rng = random.Random(seed)
    events: list[Doc] = []
    span = (STORIES_END_BY - STORIES_FROM).days - 14
    for _ in range(60):
        start = STORIES_FROM + timedelta(minutes=rng.randrange(0, span * 24 * 60))
        story = scenario.new_story(start)
        if story.times[-1] < STORIES_END_BY:
            events += story.events
    for story in scenario.backlog_stories(BACKLOG_AT, 20):
        events += story.until(BACKLOG_AT)
    return events


class Case:
    """One hand-written case; times local, written "MM-DDTHH:MM[:SS]" (2026)."""

    def __init__(self, serial: int, center: str = "451221") -> None:
        self.case_id = f"{center}-2026-7{serial:06d}"
        self.center = center
        self.docs: list[Doc] = []

    def add(self, kind: str, at: str, **payload: Any) -> Case:
        when = f"2026-{at}" + (":00" if at.count(":") == 1 else "") + "+08:00"
        event_id = f"{self.case_id}/{len(self.docs) + 1}"
        self.docs.append(
            event_doc(kind, when, self.case_id, self.center, event_id=event_id, **payload)
        )
        return self

    def accepted(
        self, at: str, value: float = 3, unit: str = "working_day", code: str = CODE
    ) -> Case:
        return self.add(
            "accepted",
            at,
            item_code=code,
            promised_limit={"value": value, "unit": unit},
            statutory_limit={"value": 20, "unit": "working_day"},
        )

    def ident(self, rule_id: str, occurrence: str | None = None) -> str:
        return f"{rule_id}:{self.case_id}" + (f":{occurrence}" if occurrence else "")


def concluded(case: Case, at: str) -> Case:
    return (
        case.add("decided", at, outcome="approve", legal_basis="《行政许可法》第三十八条")
        .add("concluded", at[:-2] + "30")
        .add("delivered", at[:-5] + "23:00")
    )


def crafted() -> tuple[list[Doc], dict[str, str]]:
    """The hand-written cases, and the §8 alerts they must raise: id -> raised_at."""
    expected: dict[str, str] = {}
    cases: list[Case] = []

    # A suspension inside the stages over National Day (6 working hours of review used):
    # review ends on the make-up Saturday 03:00 and is completed late, on Monday; site
    # inspection and approval start as the step before each is completed, and are in time.
    suspended = (
        Case(1)
        .accepted("09-29T09:00")
        .add("suspended", "09-29T15:00", reason_code="expert_review", reason="专家评审")
        .add("resumed", "10-09T09:00")
        .add("step_completed", "10-12T09:00", step="review")
        .add("step_completed", "10-12T10:00", step="site_inspection")
        .add("step_completed", "10-12T11:00", step="approval")
    )
    cases.append(concluded(suspended, "10-12T14:00"))
    expected[suspended.ident("stage.overdue", "review")] = "2026-10-10T03:00:00+08:00"
    # Friday 9 October 10:00: review ends on the make-up Saturday 10:00; completed a
    # second late. Its next stages run from then, completed in time.
    missed = (
        Case(2, "451222")
        .accepted("10-09T10:00", code=LONG, value=10)
        .add("step_completed", "10-10T10:00:01", step="review")
        .add("step_completed", "10-12T09:00", step="site_inspection")
        .add("step_completed", "10-13T09:00", step="approval")
    )
    cases.append(concluded(missed, "10-13T10:00"))
    expected[missed.ident("stage.overdue", "review")] = "2026-10-10T10:00:00+08:00"
    # ...and one completed on the last second: in time (no alert).
    cases.append(
        concluded(
            Case(3, "451222")
            .accepted("10-09T10:00", code=LONG, value=10)
            .add("step_completed", "10-10T10:00", step="review")
            .add("step_completed", "10-12T09:00", step="site_inspection")
            .add("step_completed", "10-13T09:00", step="approval"),
            "10-13T10:00",
        )
    )
    # The contract's example as the catalogue's limit (3 working days from Wednesday 30
    # September 10:00 end 2026-10-11T00:00): 10 calendar days end then too; 11 do not,
    # nor does a promise one second of working time longer. Left open.
    for serial, value, unit, fires in (
        (4, 10, "natural_day", False),
        (5, 11, "natural_day", True),
        (6, 3 + 1 / 86400, "working_day", True),
        (7, 3, "working_day", False),
    ):
        case = Case(serial).accepted("09-30T10:00", value=value, unit=unit, code=PLAIN)
        cases.append(case)
        if fires:
            expected[case.ident("catalogue.limit_mismatch")] = "2026-09-30T10:00:00+08:00"
    # An item the catalogue does not list, accepted on a holiday (to the second).
    unknown = Case(8).accepted("10-03T10:00:07", code="451222-S8-0001")
    cases.append(unknown)
    expected[unknown.ident("catalogue.unknown_item")] = "2026-10-03T10:00:07+08:00"
    # Three complaints of one case (29 September, 3 October a holiday, 10 October the
    # make-up day); the second answered a second after its limit, so it and the third
    # (never answered) fire.
    complaints = concluded(Case(9).accepted("09-24T10:00", code=PLAIN), "09-28T10:00")
    (
        complaints.add("complained", "09-29T15:00")
        .add("complained", "10-03T11:00")
        .add("complained", "10-10T10:00")
        .add("complaint_answered", "10-26T23:59:59")
        .add("complaint_answered", "10-28T00:00:01")
    )
    cases.append(complaints)
    expected |= {
        complaints.ident(COMPLAINT, "2"): "2026-10-28T00:00:00+08:00",
        complaints.ident(COMPLAINT, "3"): "2026-10-31T00:00:00+08:00",
    }
    # 三月三 in Guangxi (20 April off), Labour Day and the make-up 9 May: elsewhere a day
    # earlier.
    for serial, center, due in ((10, "451221", "05-14"), (11, "440100", "05-13")):
        case = concluded(Case(serial, center).accepted("04-14T10:00", code=PLAIN), "04-16T10:00")
        case.add("complained", "04-17T10:00")
        cases.append(case)
        expected[case.ident(COMPLAINT)] = f"2026-{due}T00:00:00+08:00"
    # Open cases whose stages only the clock fires: one just before the worker's clock
    # start (Thursday 08:59:59 + 1 working day), one the day before; one after (not yet).
    edge = Case(12).accepted("11-26T08:59:59", code=LONG, value=10)
    before = Case(13).accepted("11-25T11:00", code=LONG, value=10)
    after = Case(14).accepted("11-26T17:00", code=LONG, value=10)
    cases += [edge, before, after]
    expected[edge.ident("stage.overdue", "review")] = "2026-11-27T08:59:59+08:00"
    expected[before.ident("stage.overdue", "review")] = "2026-11-26T11:00:00+08:00"
    # Suspended (never resumed): no stage fires while the clock is stopped.
    cases.append(
        Case(15)
        .accepted("11-02T09:00", code=LONG, value=10)
        .add("suspended", "11-02T10:00", reason_code="testing", reason="检验检测")
    )
    return [doc for case in cases for doc in case.docs], expected


def event_set() -> tuple[list[Doc], dict[str, str]]:
    docs, expected = crafted()
    return simulated() + docs, expected


def reference(rules: Path, docs: list[Doc]) -> tuple[list[str], list[tuple[str, datetime]]]:
    """What the in-process engine raises by CLOCK, and the timers still pending."""
    runner = Runner(build_engine(rules, "Asia/Shanghai"))
    raised = []
    for doc in docs:
        try:
            raised += runner.feed(decode(json.dumps(doc)))
        except InvalidEvent:
            continue
    raised += runner.advance(CLOCK)
    pending = [
        (alert, due)
        for state in runner.store.values()
        for alert, due in runner.engine.timers(state).items()
    ]
    return [a.rule_id for a in raised], pending


def at_the_end_of_input(rules: Path, docs: list[Doc]) -> set[str]:
    """The alerts replay raises only because its input ended (`Runner.finish`: a stage
    after a step the file never completes runs from acceptance, contract §8): the live
    worker, for which a step under way may still be completed, raises them only once the
    case closes. Each is a `stage.overdue`."""
    runner = Runner(build_engine(rules, "Asia/Shanghai"))
    for doc in docs:
        try:
            runner.feed(decode(json.dumps(doc)))
        except InvalidEvent:
            continue
    runner.advance(CLOCK)
    ended = runner.finish()
    assert {a.rule_id for a in ended} <= {"stage.overdue"}, ended
    return {a.alert_id for a in ended}


def as_the_worker_sees_it(replayed: Output, ended: set[str]) -> Output:
    """Replay's output without what only the end of its input raised."""
    assert ended <= replayed.alerts.keys()
    alerts = {i: a for i, a in replayed.alerts.items() if i not in ended}
    return Output(alerts, replayed.resolutions, replayed.changes, replayed.records)


def through_replay(path: Path, rules: Path) -> Output:
    """The real command: `supervisor replay FILE --rules DIR --until <clock start>`."""
    command = Path(sys.executable).with_name("supervisor")
    result = subprocess.run(
        [str(command), "replay", str(path), "--rules", str(rules), "--until", CLOCK_START],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "line " not in result.stderr, result.stderr  # every line a valid event
    return Output.of([json.loads(line) for line in result.stdout.splitlines()], "replay")


def test_the_section8_event_set_is_rich_and_clear_of_the_clock(tmp_path: Path) -> None:
    """The preconditions, in-process: every §8 rule fires, and no deadline races the
    worker's running clock."""
    rules = rules_with_catalogue(tmp_path / "rules")
    docs, _ = event_set()
    assert max(datetime.fromisoformat(d["occurred_at"]) for d in docs) < CLOCK
    raised, pending = reference(rules, docs)
    counts = Counter(raised)
    for rule_id in (*SECTION8, COMPLAINT):
        assert counts[rule_id] >= 3, counts
    racing = [(i, due) for i, due in pending if CLOCK <= due < CLOCK + MARGIN]
    assert not racing, f"deadlines racing the worker's clock: {racing}"


async def test_section8_alerts_are_the_same_through_kafka_and_replay(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules = rules_with_catalogue(tmp_path / "rules")
    docs, expected = event_set()
    lines = [json.dumps(d, ensure_ascii=False) for d in docs]
    ended = at_the_end_of_input(rules, docs)
    assert ended, "no case is cut with a step under way and a later stage past due"
    replayed = as_the_worker_sees_it(
        through_replay(write_lines(tmp_path / "events.jsonl", lines), rules), ended
    )
    print(f"replay: {len(replayed.alerts)} alerts (and {len(ended)} at the end of its input)")
    print(summary(replayed.alerts))
    # the hand-written cases' §8 alerts, to the second, and no other §8 alert of theirs
    crafted_ids = {d["case_id"] for d in crafted()[0]}
    found = {
        ident: alert["raised_at"]
        for ident, alert in replayed.alerts.items()
        if alert["case_id"] in crafted_ids and alert["rule_id"] in (*SECTION8, COMPLAINT)
    }
    assert found == expected
    simulated_rules = Counter(
        a["rule_id"] for a in replayed.alerts.values() if a["case_id"] not in crafted_ids
    )
    for rule_id in (*SECTION8, COMPLAINT):
        assert simulated_rules[rule_id] >= 1, simulated_rules

    kafka = await through_kafka(
        kafka_bootstrap, tmp_path / "worker", lines, "section 8", SUPERVISOR_RULES_DIR=str(rules)
    )
    assert_same_alerts(kafka, replayed)

    # the cases interleaved otherwise (each case's events in order, as its key keeps them)
    mixed = [json.dumps(d, ensure_ascii=False) for d in shuffled(docs, seed=8)]
    assert mixed != lines
    across = await through_kafka(
        kafka_bootstrap, tmp_path / "shuffled", mixed, "shuffled", SUPERVISOR_RULES_DIR=str(rules)
    )
    assert_same_alerts(across, replayed)
